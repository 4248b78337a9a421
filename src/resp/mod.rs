//! The client protocol: RESP2, the Redis serialization protocol, so `redis-cli`,
//! `redis-benchmark` and every Redis client library can talk to the parliament.
//!
//! A client sends requests, each an array of words (`SET k v`); the server answers each with
//! one reply, in order, and a client may send many requests before reading any answer
//! (pipelining). This module has these parts:
//!
//! - [`codec`]: bytes to requests and replies to bytes, incremental and bounded ([`Limits`]);
//! - [`Command`]: the typed commands the service understands, parsed from a request's words
//!   with Redis's error texts for unknown commands, wrong arity and bad arguments; [`commands`]
//!   describes each (its arity, and what `COMMAND` answers about it);
//! - [`law`]: each command as an operation of the law ([`crate::kv::Op`]), and the law's
//!   answer as the command's reply: one mapping, used by every backend;
//! - [`server`]: a TCP listener that hands each command to a [`server::Backend`] and writes
//!   the answers back in order, whenever they come (a replicated backend answers once the
//!   command's decree has passed); [`client`] is the other side. The load generator
//!   (`parliament bench`) is in `tools/bench/`, outside the library.
//!
//! # Commands
//!
//! docs/operations.md ("RESP commands") lists every command with its semantics and how it
//! differs from Redis. In short: `PING`; the strings `GET`, `SET` (with `NX`, `XX`, `GET`,
//! `EX`, `PX`, `EXAT`, `PXAT`, `KEEPTTL`), `SETNX`, `GETSET`, `GETDEL`, `MGET`, `MSET`,
//! `INCR`, `INCRBY`, `DECR`, `DECRBY`, `APPEND`, `STRLEN`, `SETEX`, `PSETEX`, `GETEX`; the
//! keyspace `DEL`, `EXISTS`, `DBSIZE`, `KEYS`, `SCAN`, `EXPIRE`, `PEXPIRE`, `EXPIREAT`,
//! `PEXPIREAT`, `TTL`, `PTTL`, `PERSIST`; this service's `CAS` and `MEMBER`; the
//! transactions `MULTI`, `EXEC`, `DISCARD`, `WATCH`, `UNWATCH`; `INFO` and `COMMAND`,
//! answered by the listener itself.
//!
//! Every command that touches the map is one operation of the law, however many keys it
//! names: `MSET`, `MGET` and a several-key `DEL` or `EXISTS` take effect (or read) at one
//! moment. Keys and values are UTF-8 text, as in the law; other bytes get `-ERR keys and
//! values must be UTF-8`. Command names are case-insensitive. `INFO` is answered by the
//! server itself, never through the law: a replicated server reports what its priest is
//! doing (see `service::status`); the section names one section (case-insensitive), `all`,
//! `default` and `everything` every section. `PING` and `COMMAND` are answered by the
//! listener's event loop.

pub mod client;
pub mod codec;
pub mod commands;
pub mod law;
pub mod memory;
pub mod server;

pub use codec::{Decoder, Limits, ProtocolError, Reply};

use crate::kv::{self, When};

/// A key or value: UTF-8 text.
pub type Text = String;

/// A client command the service understands.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// `PING [message]`.
    Ping(Option<Text>),
    /// `GET key`.
    Get { key: Text },
    /// `SET key value`.
    Set { key: Text, value: Text },
    /// `DEL key`.
    Del { key: Text },
    /// `EXISTS key`.
    Exists { key: Text },
    /// `CAS key expected new` (`expected: Some`) or `SET key new NX` (`expected: None`):
    /// write `new` if the key currently holds `expected` (`None`: is absent).
    Cas {
        key: Text,
        expected: Option<Text>,
        new: Text,
    },
    /// `INFO [section]`: what the server is doing, answered locally.
    Info(Option<Text>),
    /// `MEMBER ADD|REMOVE|REPLACE|LIST ...`: changes (or lists) the Chamber, by decree.
    Member(MemberCommand),
    /// `MGET key [key ...]`.
    MGet { keys: Vec<Text> },
    /// `MSET key value [key value ...]`.
    MSet { pairs: Vec<(Text, Text)> },
    /// `INCR`, `INCRBY`, `DECR`, `DECRBY`: add `by` to the key's integer. `name` is the
    /// command's, lower case, for its words.
    IncrBy {
        name: &'static str,
        key: Text,
        by: i64,
    },
    /// `APPEND key value`.
    Append { key: Text, value: Text },
    /// `STRLEN key`.
    Strlen { key: Text },
    /// `GETDEL key`.
    GetDel { key: Text },
    /// `SET key value` with `XX`, or with `GET` (and `NX` or `XX`), and `GETSET key value`
    /// (`when: Always, get: true`): write if `when` allows; answer the value before
    /// (`get`), or whether it wrote.
    SetWith {
        key: Text,
        value: Text,
        when: When,
        get: bool,
    },
    /// `SETNX key value`.
    SetNx { key: Text, value: Text },
    /// `DEL key key [key ...]`: several keys at once.
    DelMany { keys: Vec<Text> },
    /// `EXISTS key key [key ...]`: how many of them exist (a key named twice counts twice).
    ExistsMany { keys: Vec<Text> },
    /// `DBSIZE`.
    DbSize,
    /// `KEYS pattern`.
    Keys { pattern: Text },
    /// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`. Every key holds a string:
    /// `TYPE string` filters nothing out, any other type everything.
    Scan {
        cursor: u64,
        pattern: Option<Text>,
        count: u32,
        kind: Option<Text>,
    },
    /// `COMMAND [COUNT | LIST | INFO [name ...] | DOCS [name ...]]`: about the commands,
    /// answered by the listener.
    Commands(commands::Query),
    /// `MULTI`: the connection queues the commands that follow, until `EXEC` or `DISCARD`
    /// (see [`server`]: "Transactions").
    Multi,
    /// `EXEC`: the queued commands, with the keys watched and the value each held when
    /// watched, as one operation of the law ([`crate::kv::Op::Multi`]). Parsed empty: the
    /// listener fills in its connection's queue and watches.
    Exec {
        watch: Vec<(Text, Option<Text>)>,
        cmds: Vec<Command>,
    },
    /// `DISCARD`: forget the queued commands and the watches.
    Discard,
    /// `WATCH key [key ...]`: read the keys (one linearizable read), for the next `EXEC` to
    /// check that they still hold those values.
    Watch { keys: Vec<Text> },
    /// `UNWATCH`: forget the watches.
    Unwatch,
    /// `EXPIRE`, `PEXPIRE`, `EXPIREAT`, `PEXPIREAT key time [NX|XX|GT|LT]` (`name`: which;
    /// the time in milliseconds).
    Expire {
        name: &'static str,
        key: Text,
        at: kv::Time,
        when: kv::ExpireIf,
    },
    /// `TTL key` or `PTTL key` (`name`: which).
    Ttl { name: &'static str, key: Text },
    /// `PERSIST key`.
    Persist { key: Text },
    /// `SET key value` with `EX`, `PX`, `EXAT`, `PXAT` or `KEEPTTL` (times in milliseconds;
    /// `SETEX` and `PSETEX` too).
    SetTtl {
        key: Text,
        value: Text,
        when: When,
        get: bool,
        ttl: kv::Ttl,
    },
    /// `GETEX key` with `EX`, `PX`, `EXAT`, `PXAT` (`Some`) or `PERSIST` (`None`); without
    /// an option it is `GET`.
    GetEx { key: Text, at: Option<kv::Time> },
}

/// A `MEMBER` command (see docs/membership.md): priest ids are 0 to 63, a token is the 16
/// hex digits a joining priest's ledger was made with (its `INFO` shows it), an address is
/// the joining priest's `IP:PORT`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MemberCommand {
    /// `MEMBER ADD id token address`.
    Add { id: u8, token: u64, address: Text },
    /// `MEMBER REMOVE id`.
    Remove { id: u8 },
    /// `MEMBER REPLACE old id token address`: removes `old` and adds `id` in one change.
    Replace {
        old: u8,
        id: u8,
        token: u64,
        address: Text,
    },
    /// `MEMBER LIST`.
    List,
}

/// Why a request is not a [`Command`]; `Display` is the Redis error text (without `ERR `).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// `unknown command 'X', with args beginning with: ...`
    Unknown { name: String, args: Vec<String> },
    /// `unknown subcommand 'X'. Try COMMAND HELP.`
    UnknownSubcommand { name: String, command: &'static str },
    /// `wrong number of arguments for 'get' command`
    WrongArity { name: &'static str },
    /// `syntax error` (an unknown or conflicting option).
    Syntax,
    /// A key or value that is not UTF-8.
    NotUtf8,
    /// `value is not an integer or out of range`: a number argument that is not one.
    NotAnInteger,
    /// `invalid cursor`: a SCAN cursor that is not a number from 0 to 2^64 - 1.
    InvalidCursor,
    /// `decrement would overflow`: `DECRBY` of -2^63.
    DecrementOverflow,
    /// An argument that is not what the command takes, and what it takes.
    Invalid(String),
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandError::Unknown { name, args } => {
                write!(f, "unknown command '{name}', with args beginning with:")?;
                for a in args {
                    write!(f, " '{a}'")?;
                }
                Ok(())
            }
            CommandError::UnknownSubcommand { name, command } => {
                write!(f, "unknown subcommand '{name}'. Try {command} HELP.")
            }
            CommandError::WrongArity { name } => {
                write!(f, "wrong number of arguments for '{name}' command")
            }
            CommandError::Syntax => f.write_str("syntax error"),
            CommandError::NotUtf8 => f.write_str("keys and values must be UTF-8"),
            CommandError::NotAnInteger => f.write_str("value is not an integer or out of range"),
            CommandError::InvalidCursor => f.write_str("invalid cursor"),
            CommandError::DecrementOverflow => f.write_str("decrement would overflow"),
            CommandError::Invalid(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for CommandError {}

/// How a client's words are shown in an error (at most 128 characters each).
fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).chars().take(128).collect()
}

fn text(b: &[u8]) -> Result<Text, CommandError> {
    String::from_utf8(b.to_vec()).map_err(|_| CommandError::NotUtf8)
}

fn texts(bs: &[Vec<u8>]) -> Result<Vec<Text>, CommandError> {
    bs.iter().map(|b| text(b)).collect()
}

/// Redis's error for a time an expiring command cannot take.
fn invalid_expire(name: &str) -> CommandError {
    CommandError::Invalid(format!("invalid expire time in '{name}' command"))
}

/// A time of `name` given in `unit` milliseconds, in milliseconds: refused past the 64-bit
/// integers, and, when `positive` (`SET`, `SETEX`, `GETEX`), unless above 0, as Redis does.
fn expire_time(name: &str, n: i64, unit: i64, positive: bool) -> Result<i64, CommandError> {
    if positive && n <= 0 {
        return Err(invalid_expire(name));
    }
    n.checked_mul(unit).ok_or_else(|| invalid_expire(name))
}

/// The condition of `EXPIRE` and its kin: `NX`, `XX`, `GT`, `LT` (any case), with Redis's
/// errors for the ones that do not go together.
fn expire_condition(words: &[Vec<u8>]) -> Result<kv::ExpireIf, CommandError> {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for w in words {
        match w.to_ascii_lowercase().as_slice() {
            b"nx" => nx = true,
            b"xx" => xx = true,
            b"gt" => gt = true,
            b"lt" => lt = true,
            _ => {
                return Err(CommandError::Invalid(format!(
                    "Unsupported option {}",
                    show(w)
                )))
            }
        }
    }
    if nx && (xx || gt || lt) {
        return Err(CommandError::Invalid(
            "NX and XX, GT or LT options at the same time are not compatible".into(),
        ));
    }
    if gt && lt {
        return Err(CommandError::Invalid(
            "GT and LT options at the same time are not compatible".into(),
        ));
    }
    // XX with GT: GT already asks for a deadline to compare with.
    Ok(match (nx, xx, gt, lt) {
        (true, ..) => kv::ExpireIf::None,
        (_, _, true, _) => kv::ExpireIf::Later,
        (_, true, _, true) => kv::ExpireIf::SomeSooner,
        (_, _, _, true) => kv::ExpireIf::Sooner,
        (_, true, ..) => kv::ExpireIf::Some,
        _ => kv::ExpireIf::Always,
    })
}

impl Command {
    /// Parses a request's words. `words` is non-empty (the decoder skips empty requests).
    pub fn parse(words: &[Vec<u8>]) -> Result<Command, CommandError> {
        let Some((name, args)) = words.split_first() else {
            return Err(CommandError::Unknown {
                name: String::new(),
                args: Vec::new(),
            });
        };
        let Some(spec) = commands::find(name) else {
            return Err(CommandError::Unknown {
                name: show(name),
                args: args.iter().take(4).map(|a| show(a)).collect(),
            });
        };
        let wrong = CommandError::WrongArity { name: spec.name };
        if !spec.arity_ok(words.len()) {
            return Err(wrong);
        }
        let key = || text(&args[0]);
        let number = |b: &[u8]| crate::kv::integer(b).ok_or(CommandError::NotAnInteger);
        Ok(match spec.name {
            "ping" if args.len() > 1 => return Err(wrong),
            "ping" => Command::Ping(args.first().map(|a| text(a)).transpose()?),
            "info" if args.len() > 1 => return Err(wrong),
            "info" => Command::Info(args.first().map(|a| text(a)).transpose()?),
            "get" => Command::Get { key: key()? },
            "set" => Command::parse_set(key()?, text(&args[1])?, &args[2..])?,
            "setex" | "psetex" => {
                let unit = if spec.name == "setex" { 1000 } else { 1 };
                let ms = expire_time(spec.name, number(&args[1])?, unit, true)?;
                Command::SetTtl {
                    key: key()?,
                    value: text(&args[2])?,
                    when: When::Always,
                    get: false,
                    ttl: kv::Ttl::Expire(kv::Time::In(ms)),
                }
            }
            "expire" | "pexpire" | "expireat" | "pexpireat" => {
                let unit = if spec.name.starts_with('p') { 1 } else { 1000 };
                let ms = expire_time(spec.name, number(&args[1])?, unit, false)?;
                Command::Expire {
                    name: spec.name,
                    key: key()?,
                    at: if spec.name.ends_with("at") {
                        kv::Time::At(ms)
                    } else {
                        kv::Time::In(ms)
                    },
                    when: expire_condition(&args[2..])?,
                }
            }
            "ttl" | "pttl" => Command::Ttl {
                name: spec.name,
                key: key()?,
            },
            "persist" => Command::Persist { key: key()? },
            "getex" => match Command::parse_expiry("getex", &args[1..], b"persist")? {
                None => Command::Get { key: key()? },
                Some(kv::Ttl::Expire(at)) => Command::GetEx {
                    key: key()?,
                    at: Some(at),
                },
                Some(kv::Ttl::Keep) => Command::GetEx {
                    key: key()?,
                    at: None,
                },
            },
            "setnx" => Command::SetNx {
                key: key()?,
                value: text(&args[1])?,
            },
            "getset" => Command::SetWith {
                key: key()?,
                value: text(&args[1])?,
                when: When::Always,
                get: true,
            },
            "getdel" => Command::GetDel { key: key()? },
            "mget" => Command::MGet { keys: texts(args)? },
            "mset" if args.len() % 2 != 0 => return Err(wrong),
            "mset" => Command::MSet {
                pairs: args
                    .chunks(2)
                    .map(|kv| Ok((text(&kv[0])?, text(&kv[1])?)))
                    .collect::<Result<_, CommandError>>()?,
            },
            "incr" | "decr" => Command::IncrBy {
                name: spec.name,
                key: key()?,
                by: if spec.name == "incr" { 1 } else { -1 },
            },
            "incrby" => Command::IncrBy {
                name: spec.name,
                key: key()?,
                by: number(&args[1])?,
            },
            "decrby" => Command::IncrBy {
                name: spec.name,
                key: key()?,
                by: number(&args[1])?
                    .checked_neg()
                    .ok_or(CommandError::DecrementOverflow)?,
            },
            "append" => Command::Append {
                key: key()?,
                value: text(&args[1])?,
            },
            "strlen" => Command::Strlen { key: key()? },
            "del" if args.len() == 1 => Command::Del { key: key()? },
            "del" => Command::DelMany { keys: texts(args)? },
            "exists" if args.len() == 1 => Command::Exists { key: key()? },
            "exists" => Command::ExistsMany { keys: texts(args)? },
            "dbsize" => Command::DbSize,
            "keys" => Command::Keys { pattern: key()? },
            "scan" => Command::parse_scan(args)?,
            "cas" => Command::Cas {
                key: key()?,
                expected: Some(text(&args[1])?),
                new: text(&args[2])?,
            },
            "member" => Command::Member(MemberCommand::parse(args)?),
            "command" => Command::Commands(Command::parse_query(spec, args)?),
            "multi" => Command::Multi,
            "exec" => Command::Exec {
                watch: Vec::new(),
                cmds: Vec::new(),
            },
            "discard" => Command::Discard,
            "watch" => Command::Watch { keys: texts(args)? },
            "unwatch" => Command::Unwatch,
            other => unreachable!("{other} is in the command table and parsed above"),
        })
    }

    /// `SET key value` and its options, in any order and any case: `NX` or `XX` (not both;
    /// either may repeat), `GET`.
    fn parse_set(key: Text, value: Text, options: &[Vec<u8>]) -> Result<Command, CommandError> {
        let mut when = When::Always;
        let mut get = false;
        let mut expiry: Vec<Vec<u8>> = Vec::new();
        let mut rest = options;
        while let [opt, more @ ..] = rest {
            let lower = opt.to_ascii_lowercase();
            match (lower.as_slice(), when) {
                (b"nx", When::Always | When::Absent) => when = When::Absent,
                (b"xx", When::Always | When::Present) => when = When::Present,
                (b"get", _) => get = true,
                (b"keepttl", _) if expiry.is_empty() => expiry.push(lower),
                (b"ex" | b"px" | b"exat" | b"pxat", _) if expiry.is_empty() => {
                    let [time, more @ ..] = more else {
                        return Err(CommandError::Syntax);
                    };
                    expiry = vec![lower, time.clone()];
                    rest = more;
                    continue;
                }
                _ => return Err(CommandError::Syntax),
            }
            rest = more;
        }
        if let Some(ttl) = Command::parse_expiry("set", &expiry, b"keepttl")? {
            return Ok(Command::SetTtl {
                key,
                value,
                when,
                get,
                ttl,
            });
        }
        Ok(match (when, get) {
            (When::Always, false) => Command::Set { key, value },
            (When::Absent, false) => Command::Cas {
                key,
                expected: None,
                new: value,
            },
            _ => Command::SetWith {
                key,
                value,
                when,
                get,
            },
        })
    }

    /// The expiry option of `SET` (`keep`: `KEEPTTL`) or `GETEX` (`keep`: `PERSIST`, read
    /// as [`kv::Ttl::Keep`]): `EX`, `PX`, `EXAT` or `PXAT` and its time, or `keep`, or
    /// nothing (`None`).
    fn parse_expiry(
        name: &'static str,
        words: &[Vec<u8>],
        keep: &[u8],
    ) -> Result<Option<kv::Ttl>, CommandError> {
        let Some((opt, rest)) = words.split_first() else {
            return Ok(None);
        };
        let opt = opt.to_ascii_lowercase();
        if opt == keep && rest.is_empty() {
            return Ok(Some(kv::Ttl::Keep));
        }
        let [time] = rest else {
            return Err(CommandError::Syntax);
        };
        let unit = match opt.as_slice() {
            b"ex" | b"exat" => 1000,
            b"px" | b"pxat" => 1,
            _ => return Err(CommandError::Syntax),
        };
        let n = kv::integer(time).ok_or(CommandError::NotAnInteger)?;
        let ms = expire_time(name, n, unit, true)?;
        Ok(Some(kv::Ttl::Expire(if opt.ends_with(b"at") {
            kv::Time::At(ms)
        } else {
            kv::Time::In(ms)
        })))
    }

    fn parse_scan(args: &[Vec<u8>]) -> Result<Command, CommandError> {
        let cursor = &args[0];
        let cursor = std::str::from_utf8(cursor)
            .ok()
            .filter(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|c| c.parse::<u64>().ok())
            .ok_or(CommandError::InvalidCursor)?;
        let (mut pattern, mut count, mut kind) = (None, crate::kv::SCAN_COUNT, None);
        let mut rest = &args[1..];
        while let [opt, value, more @ ..] = rest {
            match opt.to_ascii_lowercase().as_slice() {
                b"match" => pattern = Some(text(value)?),
                b"count" => {
                    let n = crate::kv::integer(value).ok_or(CommandError::NotAnInteger)?;
                    if n < 1 {
                        return Err(CommandError::Syntax);
                    }
                    count = u32::try_from(n).unwrap_or(u32::MAX);
                }
                b"type" => kind = Some(text(value)?),
                _ => return Err(CommandError::Syntax),
            }
            rest = more;
        }
        if !rest.is_empty() {
            return Err(CommandError::Syntax);
        }
        // MATCH * filters nothing (as Redis too decides).
        let pattern = pattern.filter(|p| p != "*");
        Ok(Command::Scan {
            cursor,
            pattern,
            count,
            kind,
        })
    }

    /// `COMMAND` and its subcommands.
    fn parse_query(
        spec: &commands::Spec,
        args: &[Vec<u8>],
    ) -> Result<commands::Query, CommandError> {
        use commands::Query;
        let Some((sub, names)) = args.split_first() else {
            return Ok(Query::All);
        };
        let Some(sub_spec) = commands::find_sub(spec, sub) else {
            return Err(CommandError::UnknownSubcommand {
                name: show(sub),
                command: "COMMAND",
            });
        };
        if !sub_spec.arity_ok(args.len() + 1) {
            return Err(CommandError::WrongArity {
                name: sub_spec.name,
            });
        }
        Ok(match sub_spec.name {
            "command|count" => Query::Count,
            "command|list" => Query::List,
            "command|info" if names.is_empty() => Query::All,
            "command|info" => Query::Info(texts(names)?),
            "command|docs" => Query::Docs(texts(names)?),
            other => unreachable!("{other} is a subcommand parsed above"),
        })
    }

    /// The request's words, for a client to send.
    pub fn words(&self) -> Vec<Vec<u8>> {
        let w = |s: &str| s.as_bytes().to_vec();
        let with = |name: &str, rest: &[&str]| -> Vec<Vec<u8>> {
            std::iter::once(name)
                .chain(rest.iter().copied())
                .map(w)
                .collect()
        };
        let many = |name: &str, keys: &[Text]| -> Vec<Vec<u8>> {
            std::iter::once(name)
                .chain(keys.iter().map(|k| k.as_str()))
                .map(w)
                .collect()
        };
        match self {
            Command::Ping(None) => with("PING", &[]),
            Command::Ping(Some(m)) => with("PING", &[m]),
            Command::Info(None) => with("INFO", &[]),
            Command::Info(Some(s)) => with("INFO", &[s]),
            Command::Get { key } => with("GET", &[key]),
            Command::Set { key, value } => with("SET", &[key, value]),
            Command::Del { key } => with("DEL", &[key]),
            Command::Exists { key } => with("EXISTS", &[key]),
            Command::Cas {
                key,
                expected: Some(e),
                new,
            } => with("CAS", &[key, e, new]),
            Command::Cas {
                key,
                expected: None,
                new,
            } => with("SET", &[key, new, "NX"]),
            Command::Member(m) => {
                let mut v = vec![w("MEMBER")];
                let token = |t: &u64| w(&format!("{t:016x}"));
                match m {
                    MemberCommand::Add {
                        id,
                        token: t,
                        address,
                    } => v.extend([w("ADD"), w(&id.to_string()), token(t), w(address)]),
                    MemberCommand::Remove { id } => v.extend([w("REMOVE"), w(&id.to_string())]),
                    MemberCommand::Replace {
                        old,
                        id,
                        token: t,
                        address,
                    } => v.extend([
                        w("REPLACE"),
                        w(&old.to_string()),
                        w(&id.to_string()),
                        token(t),
                        w(address),
                    ]),
                    MemberCommand::List => v.push(w("LIST")),
                }
                v
            }
            Command::MGet { keys } => many("MGET", keys),
            Command::MSet { pairs } => {
                let mut v = vec![w("MSET")];
                for (k, val) in pairs {
                    v.extend([w(k), w(val)]);
                }
                v
            }
            Command::IncrBy { name, key, by } => match *name {
                "incr" | "decr" => with(&name.to_ascii_uppercase(), &[key]),
                "decrby" => with("DECRBY", &[key, &(-(*by as i128)).to_string()]),
                _ => with("INCRBY", &[key, &by.to_string()]),
            },
            Command::Append { key, value } => with("APPEND", &[key, value]),
            Command::Strlen { key } => with("STRLEN", &[key]),
            Command::GetDel { key } => with("GETDEL", &[key]),
            Command::SetWith {
                key,
                value,
                when: When::Always,
                get: true,
            } => with("GETSET", &[key, value]),
            Command::SetWith {
                key,
                value,
                when,
                get,
            } => {
                let mut v = with("SET", &[key, value]);
                match when {
                    When::Always => {}
                    When::Absent => v.push(w("NX")),
                    When::Present => v.push(w("XX")),
                }
                if *get {
                    v.push(w("GET"));
                }
                v
            }
            Command::SetNx { key, value } => with("SETNX", &[key, value]),
            Command::Expire {
                name,
                key,
                at,
                when,
            } => {
                let ms = match at {
                    kv::Time::In(ms) | kv::Time::At(ms) => *ms,
                };
                let n = if name.starts_with('p') { ms } else { ms / 1000 };
                let mut v = with(&name.to_ascii_uppercase(), &[key, &n.to_string()]);
                match when {
                    kv::ExpireIf::Always => {}
                    kv::ExpireIf::None => v.push(w("NX")),
                    kv::ExpireIf::Some => v.push(w("XX")),
                    kv::ExpireIf::Later => v.push(w("GT")),
                    kv::ExpireIf::Sooner => v.push(w("LT")),
                    kv::ExpireIf::SomeSooner => v.extend([w("XX"), w("LT")]),
                }
                v
            }
            Command::Ttl { name, key } => with(&name.to_ascii_uppercase(), &[key]),
            Command::Persist { key } => with("PERSIST", &[key]),
            Command::SetTtl {
                key,
                value,
                when,
                get,
                ttl,
            } => {
                let mut v = Command::SetWith {
                    key: key.clone(),
                    value: value.clone(),
                    when: *when,
                    get: *get,
                }
                .words();
                if v[0] == b"GETSET" {
                    v = with("SET", &[key, value, "GET"]);
                }
                match ttl {
                    kv::Ttl::Keep => v.push(w("KEEPTTL")),
                    kv::Ttl::Expire(kv::Time::In(ms)) => v.extend([w("PX"), w(&ms.to_string())]),
                    kv::Ttl::Expire(kv::Time::At(ms)) => v.extend([w("PXAT"), w(&ms.to_string())]),
                }
                v
            }
            Command::GetEx { key, at } => match at {
                None => with("GETEX", &[key, "PERSIST"]),
                Some(kv::Time::In(ms)) => with("GETEX", &[key, "PX", &ms.to_string()]),
                Some(kv::Time::At(ms)) => with("GETEX", &[key, "PXAT", &ms.to_string()]),
            },
            Command::DelMany { keys } => many("DEL", keys),
            Command::ExistsMany { keys } => many("EXISTS", keys),
            Command::DbSize => with("DBSIZE", &[]),
            Command::Keys { pattern } => with("KEYS", &[pattern]),
            Command::Scan {
                cursor,
                pattern,
                count,
                kind,
            } => {
                let mut v = with("SCAN", &[&cursor.to_string()]);
                if let Some(p) = pattern {
                    v.extend([w("MATCH"), w(p)]);
                }
                v.extend([w("COUNT"), w(&count.to_string())]);
                if let Some(t) = kind {
                    v.extend([w("TYPE"), w(t)]);
                }
                v
            }
            Command::Commands(q) => {
                let mut v = vec![w("COMMAND")];
                v.extend(q.words());
                v
            }
            Command::Multi => with("MULTI", &[]),
            // The queued commands and watches are the connection's, not EXEC's words.
            Command::Exec { .. } => with("EXEC", &[]),
            Command::Discard => with("DISCARD", &[]),
            Command::Watch { keys } => many("WATCH", keys),
            Command::Unwatch => with("UNWATCH", &[]),
        }
    }

    /// The keys the command names, in order (none for the commands on no key or on the
    /// whole keyspace).
    pub fn keys(&self) -> Vec<&str> {
        match self {
            Command::Get { key }
            | Command::Set { key, .. }
            | Command::Del { key }
            | Command::Exists { key }
            | Command::Cas { key, .. }
            | Command::IncrBy { key, .. }
            | Command::Append { key, .. }
            | Command::Strlen { key }
            | Command::GetDel { key }
            | Command::SetWith { key, .. }
            | Command::SetNx { key, .. }
            | Command::Expire { key, .. }
            | Command::Ttl { key, .. }
            | Command::Persist { key }
            | Command::SetTtl { key, .. }
            | Command::GetEx { key, .. } => vec![key],
            Command::MGet { keys } | Command::DelMany { keys } | Command::ExistsMany { keys } => {
                keys.iter().map(|k| k.as_str()).collect()
            }
            Command::MSet { pairs } => pairs.iter().map(|(k, _)| k.as_str()).collect(),
            Command::Watch { keys } => keys.iter().map(|k| k.as_str()).collect(),
            Command::Exec { watch, cmds } => watch
                .iter()
                .map(|(k, _)| k.as_str())
                .chain(cmds.iter().flat_map(Command::keys))
                .collect(),
            Command::Multi | Command::Discard | Command::Unwatch => Vec::new(),
            Command::Ping(_)
            | Command::Info(_)
            | Command::Member(_)
            | Command::DbSize
            | Command::Keys { .. }
            | Command::Scan { .. }
            | Command::Commands(_) => Vec::new(),
        }
    }

    /// The one key the command touches, if it names exactly one.
    pub fn key(&self) -> Option<&str> {
        match self.keys().as_slice() {
            [k] => Some(*k),
            _ => None,
        }
    }
}

impl MemberCommand {
    /// Parses the words after `MEMBER`.
    fn parse(args: &[Vec<u8>]) -> Result<MemberCommand, CommandError> {
        let usage = || {
            CommandError::Invalid(
                "MEMBER takes ADD id token address, REMOVE id, REPLACE old id token address, or \
                 LIST"
                    .into(),
            )
        };
        let word = |i: usize| -> Result<String, CommandError> {
            let b = args.get(i).ok_or_else(usage)?;
            String::from_utf8(b.clone()).map_err(|_| CommandError::NotUtf8)
        };
        let id = |i: usize| -> Result<u8, CommandError> {
            let w = word(i)?;
            w.parse::<u8>()
                .ok()
                .filter(|&n| n < 64)
                .ok_or_else(|| CommandError::Invalid(format!("priest id {w:?} is not 0 to 63")))
        };
        let token = |i: usize| -> Result<u64, CommandError> {
            let w = word(i)?;
            u64::from_str_radix(&w, 16)
                .ok()
                .filter(|&t| t != 0 && w.len() <= 16)
                .ok_or_else(|| {
                    CommandError::Invalid(format!(
                        "token {w:?} is not the 16 hex digits of a joining priest's ledger (its \
                         INFO shows it)"
                    ))
                })
        };
        let address = |i: usize| -> Result<Text, CommandError> {
            let w = word(i)?;
            w.parse::<std::net::SocketAddr>()
                .map_err(|_| CommandError::Invalid(format!("address {w:?} is not IP:PORT")))?;
            Ok(w)
        };
        let sub = word(0)?.to_ascii_lowercase();
        let n = args.len();
        let m = match (sub.as_str(), n) {
            ("add", 4) => MemberCommand::Add {
                id: id(1)?,
                token: token(2)?,
                address: address(3)?,
            },
            ("remove", 2) => MemberCommand::Remove { id: id(1)? },
            ("replace", 5) => MemberCommand::Replace {
                old: id(1)?,
                id: id(2)?,
                token: token(3)?,
                address: address(4)?,
            },
            ("list", 1) => MemberCommand::List,
            _ => return Err(usage()),
        };
        Ok(m)
    }
}

#[cfg(test)]
mod tests;
