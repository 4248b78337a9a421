//! The commands the listener understands, described once: their arity (which
//! [`super::Command::parse`] checks), and what `COMMAND`, `COMMAND COUNT`, `COMMAND INFO`,
//! `COMMAND DOCS` and `COMMAND LIST` answer about them, in Redis 7's shapes, so client
//! libraries that ask (redis-py's `command_info`, cluster-aware clients) and `redis-cli`'s
//! hints (built from `COMMAND DOCS`) see this server's commands and only those.
//!
//! Arity is Redis's convention: the number of words including the command's name, negative
//! for "at least that many".

use super::Reply;

/// An argument of a command, as `COMMAND DOCS` describes it.
#[derive(Clone, Copy, Debug)]
pub struct Arg {
    pub name: &'static str,
    pub kind: Kind,
    /// The word that introduces it (`NX`, `MATCH`).
    pub token: Option<&'static str>,
    pub optional: bool,
    pub multiple: bool,
}

/// The type of an [`Arg`].
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Key,
    String,
    Integer,
    Pattern,
    /// A word alone (`NX`).
    PureToken,
    /// One of these.
    OneOf(&'static [Arg]),
    /// These, in order.
    Block(&'static [Arg]),
}

impl Kind {
    fn name(&self) -> &'static str {
        match self {
            Kind::Key => "key",
            Kind::String => "string",
            Kind::Integer => "integer",
            Kind::Pattern => "pattern",
            Kind::PureToken => "pure-token",
            Kind::OneOf(_) => "oneof",
            Kind::Block(_) => "block",
        }
    }
}

const fn arg(name: &'static str, kind: Kind) -> Arg {
    Arg {
        name,
        kind,
        token: None,
        optional: false,
        multiple: false,
    }
}
const fn key(name: &'static str) -> Arg {
    arg(name, Kind::Key)
}
const fn string(name: &'static str) -> Arg {
    arg(name, Kind::String)
}
const fn token(name: &'static str, token: &'static str) -> Arg {
    Arg {
        token: Some(token),
        ..arg(name, Kind::PureToken)
    }
}
const fn optional(a: Arg) -> Arg {
    Arg {
        optional: true,
        ..a
    }
}
const fn multiple(a: Arg) -> Arg {
    Arg {
        multiple: true,
        ..a
    }
}
const fn with_token(a: Arg, token: &'static str) -> Arg {
    Arg {
        token: Some(token),
        ..a
    }
}

/// A command (or a subcommand, named `command|sub`).
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// Lower case, as Redis names commands in its errors.
    pub name: &'static str,
    pub arity: i64,
    pub flags: &'static [&'static str],
    /// Where the keys are among the words: first, last (-1: the last word), step.
    pub keys: (i64, i64, i64),
    pub group: &'static str,
    /// The Redis version that brought the command (this service's own commands: `-`).
    pub since: &'static str,
    pub summary: &'static str,
    pub complexity: &'static str,
    pub args: &'static [Arg],
    pub subcommands: &'static [Spec],
}

impl Spec {
    /// Whether `words` words (the name included) are as many as the command takes.
    pub fn arity_ok(&self, words: usize) -> bool {
        let words = words as i64;
        if self.arity >= 0 {
            words == self.arity
        } else {
            words >= -self.arity
        }
    }
}

const NONE: &[Arg] = &[];
const NO_KEYS: (i64, i64, i64) = (0, 0, 0);
const ONE_KEY: (i64, i64, i64) = (1, 1, 1);
const EVERY_KEY: (i64, i64, i64) = (1, -1, 1);

/// One row of the table (the arguments in the order a row reads).
#[allow(clippy::too_many_arguments)]
const fn spec(
    name: &'static str,
    arity: i64,
    flags: &'static [&'static str],
    keys: (i64, i64, i64),
    group: &'static str,
    since: &'static str,
    summary: &'static str,
    args: &'static [Arg],
) -> Spec {
    Spec {
        name,
        arity,
        flags,
        keys,
        group,
        since,
        summary,
        complexity: "",
        args,
        subcommands: &[],
    }
}

const READ_FAST: &[&str] = &["readonly", "fast"];
const WRITE: &[&str] = &["write", "denyoom"];
const WRITE_FAST: &[&str] = &["write", "denyoom", "fast"];
const TRANSACTION: &[&str] = &["noscript", "loading", "stale", "fast", "allow_busy"];

const SET_ARGS: &[Arg] = &[
    key("key"),
    string("value"),
    optional(arg(
        "condition",
        Kind::OneOf(&[token("nx", "NX"), token("xx", "XX")]),
    )),
    optional(token("get", "GET")),
    optional(arg(
        "expiration",
        Kind::OneOf(&[
            with_token(arg("seconds", Kind::Integer), "EX"),
            with_token(arg("milliseconds", Kind::Integer), "PX"),
            with_token(arg("unix-time-seconds", Kind::Integer), "EXAT"),
            with_token(arg("unix-time-milliseconds", Kind::Integer), "PXAT"),
            token("keepttl", "KEEPTTL"),
        ]),
    )),
];

const GETEX_ARGS: &[Arg] = &[
    key("key"),
    optional(arg(
        "expiration",
        Kind::OneOf(&[
            with_token(arg("seconds", Kind::Integer), "EX"),
            with_token(arg("milliseconds", Kind::Integer), "PX"),
            with_token(arg("unix-time-seconds", Kind::Integer), "EXAT"),
            with_token(arg("unix-time-milliseconds", Kind::Integer), "PXAT"),
            token("persist", "PERSIST"),
        ]),
    )),
];

const EXPIRE_CONDITION: Arg = optional(arg(
    "condition",
    Kind::OneOf(&[
        token("nx", "NX"),
        token("xx", "XX"),
        token("gt", "GT"),
        token("lt", "LT"),
    ]),
));

const EXPIRE_ARGS: &[Arg] = &[key("key"), arg("seconds", Kind::Integer), EXPIRE_CONDITION];
const PEXPIRE_ARGS: &[Arg] = &[
    key("key"),
    arg("milliseconds", Kind::Integer),
    EXPIRE_CONDITION,
];
const EXPIREAT_ARGS: &[Arg] = &[
    key("key"),
    arg("unix-time-seconds", Kind::Integer),
    EXPIRE_CONDITION,
];
const PEXPIREAT_ARGS: &[Arg] = &[
    key("key"),
    arg("unix-time-milliseconds", Kind::Integer),
    EXPIRE_CONDITION,
];

const SCAN_ARGS: &[Arg] = &[
    arg("cursor", Kind::Integer),
    optional(with_token(arg("pattern", Kind::Pattern), "MATCH")),
    optional(with_token(arg("count", Kind::Integer), "COUNT")),
    optional(with_token(string("type"), "TYPE")),
];

const COMMAND_SUBCOMMANDS: &[Spec] = &[
    spec(
        "command|count",
        2,
        &["loading", "stale"],
        NO_KEYS,
        "server",
        "2.8.13",
        "Returns a count of commands.",
        NONE,
    ),
    spec(
        "command|docs",
        -2,
        &["loading", "stale"],
        NO_KEYS,
        "server",
        "7.0.0",
        "Returns documentary information about one, multiple or all commands.",
        &[optional(multiple(string("command-name")))],
    ),
    spec(
        "command|info",
        -2,
        &["loading", "stale"],
        NO_KEYS,
        "server",
        "2.8.13",
        "Returns information about one, multiple or all commands.",
        &[optional(multiple(string("command-name")))],
    ),
    spec(
        "command|list",
        2,
        &["loading", "stale"],
        NO_KEYS,
        "server",
        "7.0.0",
        "Returns a list of command names.",
        NONE,
    ),
];

/// Every command, in alphabetical order.
pub const COMMANDS: &[Spec] = &[
    spec(
        "append",
        3,
        WRITE_FAST,
        ONE_KEY,
        "string",
        "2.0.0",
        "Appends a string to the value of a key. Creates the key if it doesn't exist.",
        &[key("key"), string("value")],
    ),
    spec(
        "cas",
        4,
        WRITE,
        ONE_KEY,
        "string",
        "-",
        "Sets the key to new if it holds expected (SofaDB's compare-and-set).",
        &[key("key"), string("expected"), string("new")],
    ),
    Spec {
        subcommands: COMMAND_SUBCOMMANDS,
        ..spec(
            "command",
            -1,
            &["loading", "stale"],
            NO_KEYS,
            "server",
            "2.8.13",
            "Returns detailed information about all commands.",
            NONE,
        )
    },
    spec(
        "dbsize",
        1,
        READ_FAST,
        NO_KEYS,
        "server",
        "1.0.0",
        "Returns the number of keys in the database.",
        NONE,
    ),
    spec(
        "decr",
        2,
        WRITE_FAST,
        ONE_KEY,
        "string",
        "1.0.0",
        "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
        &[key("key")],
    ),
    spec(
        "decrby",
        3,
        WRITE_FAST,
        ONE_KEY,
        "string",
        "1.0.0",
        "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.",
        &[key("key"), arg("decrement", Kind::Integer)],
    ),
    spec(
        "del",
        -2,
        &["write"],
        EVERY_KEY,
        "generic",
        "1.0.0",
        "Deletes one or more keys, at once.",
        &[multiple(key("key"))],
    ),
    spec(
        "discard",
        1,
        TRANSACTION,
        NO_KEYS,
        "transactions",
        "2.0.0",
        "Discards a transaction.",
        NONE,
    ),
    spec(
        "exec",
        1,
        &["noscript", "loading", "stale", "skip_slowlog"],
        NO_KEYS,
        "transactions",
        "1.2.0",
        "Executes all commands in a transaction, as one decree.",
        NONE,
    ),
    spec(
        "exists",
        -2,
        READ_FAST,
        EVERY_KEY,
        "generic",
        "1.0.0",
        "Determines how many of the keys exist.",
        &[multiple(key("key"))],
    ),
    spec(
        "expire",
        -3,
        WRITE_FAST,
        ONE_KEY,
        "generic",
        "1.0.0",
        "Sets the expiration time of a key in seconds.",
        EXPIRE_ARGS,
    ),
    spec(
        "expireat",
        -3,
        WRITE_FAST,
        ONE_KEY,
        "generic",
        "1.2.0",
        "Sets the expiration time of a key to a Unix timestamp.",
        EXPIREAT_ARGS,
    ),
    spec(
        "get",
        2,
        READ_FAST,
        ONE_KEY,
        "string",
        "1.0.0",
        "Returns the string value of a key.",
        &[key("key")],
    ),
    spec(
        "getdel",
        2,
        &["write", "fast"],
        ONE_KEY,
        "string",
        "6.2.0",
        "Returns the string value of a key after deleting the key.",
        &[key("key")],
    ),
    spec(
        "getex",
        -2,
        WRITE_FAST,
        ONE_KEY,
        "string",
        "6.2.0",
        "Returns the string value of a key after setting its expiration time.",
        GETEX_ARGS,
    ),
    spec(
        "getset",
        3,
        WRITE_FAST,
        ONE_KEY,
        "string",
        "1.0.0",
        "Returns the previous string value of a key after setting it to a new value.",
        &[key("key"), string("value")],
    ),
    spec(
        "incr",
        2,
        WRITE_FAST,
        ONE_KEY,
        "string",
        "1.0.0",
        "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
        &[key("key")],
    ),
    spec(
        "incrby",
        3,
        WRITE_FAST,
        ONE_KEY,
        "string",
        "1.0.0",
        "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
        &[key("key"), arg("increment", Kind::Integer)],
    ),
    spec(
        "info",
        -1,
        &["loading", "stale"],
        NO_KEYS,
        "server",
        "1.0.0",
        "Returns what the priest behind this listener is doing.",
        &[optional(string("section"))],
    ),
    spec(
        "keys",
        2,
        &["readonly"],
        NO_KEYS,
        "generic",
        "1.0.0",
        "Returns all key names that match a pattern.",
        &[arg("pattern", Kind::Pattern)],
    ),
    spec(
        "member",
        -1,
        &["admin"],
        NO_KEYS,
        "server",
        "-",
        "Changes or lists the Chamber, by decree (SofaDB's own).",
        &[arg(
            "change",
            Kind::OneOf(&[
                arg(
                    "add",
                    Kind::Block(&[
                        token("add", "ADD"),
                        arg("id", Kind::Integer),
                        string("token"),
                        string("address"),
                    ]),
                ),
                arg(
                    "remove",
                    Kind::Block(&[token("remove", "REMOVE"), arg("id", Kind::Integer)]),
                ),
                arg(
                    "replace",
                    Kind::Block(&[
                        token("replace", "REPLACE"),
                        arg("old", Kind::Integer),
                        arg("id", Kind::Integer),
                        string("token"),
                        string("address"),
                    ]),
                ),
                token("list", "LIST"),
            ]),
        )],
    ),
    spec(
        "mget",
        -2,
        READ_FAST,
        EVERY_KEY,
        "string",
        "1.0.0",
        "Atomically returns the string values of one or more keys.",
        &[multiple(key("key"))],
    ),
    spec(
        "mset",
        -3,
        WRITE,
        (1, -1, 2),
        "string",
        "1.0.1",
        "Atomically creates or modifies the string values of one or more keys.",
        &[multiple(arg(
            "data",
            Kind::Block(&[key("key"), string("value")]),
        ))],
    ),
    spec(
        "multi",
        1,
        TRANSACTION,
        NO_KEYS,
        "transactions",
        "1.2.0",
        "Starts a transaction.",
        NONE,
    ),
    spec(
        "persist",
        2,
        &["write", "fast"],
        ONE_KEY,
        "generic",
        "2.2.0",
        "Removes the expiration time of a key.",
        &[key("key")],
    ),
    spec(
        "pexpire",
        -3,
        WRITE_FAST,
        ONE_KEY,
        "generic",
        "2.6.0",
        "Sets the expiration time of a key in milliseconds.",
        PEXPIRE_ARGS,
    ),
    spec(
        "pexpireat",
        -3,
        WRITE_FAST,
        ONE_KEY,
        "generic",
        "2.6.0",
        "Sets the expiration time of a key to a Unix milliseconds timestamp.",
        PEXPIREAT_ARGS,
    ),
    spec(
        "ping",
        -1,
        &["fast"],
        NO_KEYS,
        "connection",
        "1.0.0",
        "Returns the server's liveliness response.",
        &[optional(string("message"))],
    ),
    spec(
        "psetex",
        4,
        WRITE,
        ONE_KEY,
        "string",
        "2.6.0",
        "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.",
        &[key("key"), arg("milliseconds", Kind::Integer), string("value")],
    ),
    spec(
        "pttl",
        2,
        READ_FAST,
        ONE_KEY,
        "generic",
        "2.6.0",
        "Returns the expiration time in milliseconds of a key.",
        &[key("key")],
    ),
    spec(
        "scan",
        -2,
        &["readonly"],
        NO_KEYS,
        "generic",
        "2.8.0",
        "Iterates over the key names in the database.",
        SCAN_ARGS,
    ),
    spec(
        "set",
        -3,
        WRITE,
        ONE_KEY,
        "string",
        "1.0.0",
        "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
        SET_ARGS,
    ),
    spec(
        "setex",
        4,
        WRITE,
        ONE_KEY,
        "string",
        "2.0.0",
        "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.",
        &[key("key"), arg("seconds", Kind::Integer), string("value")],
    ),
    spec(
        "setnx",
        3,
        WRITE_FAST,
        ONE_KEY,
        "string",
        "1.0.0",
        "Set the string value of a key only when the key doesn't exist.",
        &[key("key"), string("value")],
    ),
    spec(
        "strlen",
        2,
        READ_FAST,
        ONE_KEY,
        "string",
        "2.2.0",
        "Returns the length of a string value.",
        &[key("key")],
    ),
    spec(
        "ttl",
        2,
        READ_FAST,
        ONE_KEY,
        "generic",
        "1.0.0",
        "Returns the expiration time in seconds of a key.",
        &[key("key")],
    ),
    spec(
        "unwatch",
        1,
        TRANSACTION,
        NO_KEYS,
        "transactions",
        "2.2.0",
        "Forgets about all watched keys of a transaction.",
        NONE,
    ),
    spec(
        "watch",
        -2,
        TRANSACTION,
        EVERY_KEY,
        "transactions",
        "2.2.0",
        "Reads keys for the next transaction to check that they hold the same values.",
        &[multiple(key("key"))],
    ),
];

/// The command named `name` (any case).
pub fn find(name: &[u8]) -> Option<&'static Spec> {
    COMMANDS
        .iter()
        .find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
}

/// The subcommand `sub` of `spec` (any case).
pub fn find_sub(spec: &Spec, sub: &[u8]) -> Option<&'static Spec> {
    spec.subcommands.iter().find(|s| {
        s.name
            .split_once('|')
            .is_some_and(|(_, n)| n.as_bytes().eq_ignore_ascii_case(sub))
    })
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(Some(s.as_bytes().to_vec()))
}

fn array(items: Vec<Reply>) -> Reply {
    Reply::Array(Some(items))
}

/// What `COMMAND INFO` says of a command: name, arity, flags, first key, last key, step,
/// ACL categories, tips, key specifications, subcommands.
pub fn info(spec: &Spec) -> Reply {
    let status = |s: &str| Reply::Simple(s.to_string());
    let mut categories = vec![status(&format!("@{}", spec.group))];
    categories.extend(spec.flags.iter().filter_map(|f| match *f {
        "readonly" => Some(status("@read")),
        "write" => Some(status("@write")),
        "fast" => Some(status("@fast")),
        _ => None,
    }));
    array(vec![
        bulk(spec.name),
        Reply::Integer(spec.arity),
        array(spec.flags.iter().map(|f| status(f)).collect()),
        Reply::Integer(spec.keys.0),
        Reply::Integer(spec.keys.1),
        Reply::Integer(spec.keys.2),
        array(categories),
        array(Vec::new()),
        array(Vec::new()),
        array(spec.subcommands.iter().map(info).collect()),
    ])
}

fn arg_doc(a: &Arg) -> Reply {
    let mut m = vec![
        bulk("name"),
        bulk(a.name),
        bulk("type"),
        bulk(a.kind.name()),
    ];
    if let Some(t) = a.token {
        m.extend([bulk("token"), bulk(t)]);
    }
    let mut flags = Vec::new();
    if a.optional {
        flags.push(Reply::Simple("optional".into()));
    }
    if a.multiple {
        flags.push(Reply::Simple("multiple".into()));
    }
    if !flags.is_empty() {
        m.extend([bulk("flags"), array(flags)]);
    }
    if let Kind::OneOf(args) | Kind::Block(args) = a.kind {
        m.extend([bulk("arguments"), array(args.iter().map(arg_doc).collect())]);
    }
    array(m)
}

/// What `COMMAND DOCS` says of a command: a map (in RESP2, a flat array of fields and
/// values) of its summary, since, group, complexity, arguments and subcommands.
pub fn docs(spec: &Spec) -> Reply {
    let mut m = vec![
        bulk("summary"),
        bulk(spec.summary),
        bulk("since"),
        bulk(spec.since),
        bulk("group"),
        bulk(spec.group),
    ];
    if !spec.complexity.is_empty() {
        m.extend([bulk("complexity"), bulk(spec.complexity)]);
    }
    if !spec.args.is_empty() {
        m.extend([
            bulk("arguments"),
            array(spec.args.iter().map(arg_doc).collect()),
        ]);
    }
    if !spec.subcommands.is_empty() {
        let mut subs = Vec::new();
        for s in spec.subcommands {
            subs.extend([bulk(s.name), docs(s)]);
        }
        m.extend([bulk("subcommands"), array(subs)]);
    }
    array(m)
}

/// What a `COMMAND` request asks.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Query {
    /// `COMMAND` and `COMMAND INFO` with no name: every command's info.
    All,
    /// `COMMAND COUNT`.
    Count,
    /// `COMMAND LIST`.
    List,
    /// `COMMAND INFO name ...`: each one's info, nil for a name it does not know.
    Info(Vec<String>),
    /// `COMMAND DOCS [name ...]`: the docs of those it knows (of every command if none is
    /// named).
    Docs(Vec<String>),
}

impl Query {
    /// The answer.
    pub fn reply(&self) -> Reply {
        match self {
            Query::All => array(COMMANDS.iter().map(info).collect()),
            Query::Count => Reply::Integer(COMMANDS.len() as i64),
            Query::List => array(COMMANDS.iter().map(|s| bulk(s.name)).collect()),
            Query::Info(names) => array(
                names
                    .iter()
                    .map(|n| find(n.as_bytes()).map_or(Reply::nil(), info))
                    .collect(),
            ),
            Query::Docs(names) => {
                let specs: Vec<&Spec> = if names.is_empty() {
                    COMMANDS.iter().collect()
                } else {
                    names.iter().filter_map(|n| find(n.as_bytes())).collect()
                };
                let mut m = Vec::new();
                for s in specs {
                    m.extend([bulk(s.name), docs(s)]);
                }
                array(m)
            }
        }
    }

    /// The request's words after `COMMAND`.
    pub fn words(&self) -> Vec<Vec<u8>> {
        let w = |s: &str| s.as_bytes().to_vec();
        match self {
            Query::All => vec![],
            Query::Count => vec![w("COUNT")],
            Query::List => vec![w("LIST")],
            Query::Info(names) => std::iter::once(w("INFO"))
                .chain(names.iter().map(|n| w(n)))
                .collect(),
            Query::Docs(names) => std::iter::once(w("DOCS"))
                .chain(names.iter().map(|n| w(n)))
                .collect(),
        }
    }
}
