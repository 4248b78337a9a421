//! The client protocol: RESP2, the Redis serialization protocol, so `redis-cli`,
//! `redis-benchmark` and every Redis client library can talk to the parliament.
//!
//! A client sends requests, each an array of words (`SET k v`); the server answers each with
//! one reply, in order, and a client may send many requests before reading any answer
//! (pipelining). This module has three parts:
//!
//! - [`codec`]: bytes to requests and replies to bytes, incremental and bounded ([`Limits`]);
//! - [`Command`]: the typed commands the service understands, parsed from a request's words
//!   with Redis's error texts for unknown commands and wrong arity;
//! - [`server`]: a TCP listener that hands each command to a [`server::Backend`] and writes
//!   the answers back in order, whenever they come (a replicated backend answers once the
//!   command's decree has passed); [`client`] is the other side. The load generator
//!   (`parliament bench`) is in `tools/bench/`, outside the library.
//!
//! # Commands
//!
//! | request | reply |
//! |---|---|
//! | `PING [message]` | `+PONG`, or the message as a bulk string |
//! | `GET key` | the value, or nil |
//! | `SET key value` | `+OK` |
//! | `SET key value NX` | `+OK` if the key was absent (and now holds `value`), else nil |
//! | `DEL key` | `:1` if the key existed, else `:0` |
//! | `EXISTS key` | `:1` or `:0` |
//! | `CAS key expected new` | `:1` if the key held `expected` (and now holds `new`), else `:0` |
//! | `INFO [section]` | a bulk string of `field:value` lines under `# Section` headers |
//!
//! `CAS` is this service's compare-and-set; `SET key value NX` is compare-and-set against an
//! absent key (both are one `Cas` operation of the law). `DEL` and `EXISTS` take exactly one
//! key here (Redis allows several): each command is one operation of the law, so a
//! multi-key `DEL` would not be atomic, and it is refused rather than split. Keys and values
//! are UTF-8 text, as in the law; other bytes get `-ERR keys and values must be UTF-8`.
//! Command names are case-insensitive. `INFO` is answered by the server itself, never through
//! the law: a replicated server reports what its priest is doing (see
//! `service::status`); the section names one section (case-insensitive), `all`, `default`
//! and `everything` every section.

pub mod client;
pub mod codec;
pub mod memory;
pub mod server;

pub use codec::{Decoder, Limits, ProtocolError, Reply};

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
    /// `wrong number of arguments for 'get' command`
    WrongArity { name: &'static str },
    /// `syntax error` (an unknown option of SET).
    Syntax,
    /// A key or value that is not UTF-8.
    NotUtf8,
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
            CommandError::WrongArity { name } => {
                write!(f, "wrong number of arguments for '{name}' command")
            }
            CommandError::Syntax => f.write_str("syntax error"),
            CommandError::NotUtf8 => f.write_str("keys and values must be UTF-8"),
            CommandError::Invalid(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for CommandError {}

impl Command {
    /// Parses a request's words. `words` is non-empty (the decoder skips empty requests).
    pub fn parse(words: &[Vec<u8>]) -> Result<Command, CommandError> {
        let Some((name, args)) = words.split_first() else {
            return Err(CommandError::Unknown {
                name: String::new(),
                args: Vec::new(),
            });
        };
        let text = |b: &Vec<u8>| String::from_utf8(b.clone()).map_err(|_| CommandError::NotUtf8);
        let arity = |name: &'static str, ok: bool| {
            if ok {
                Ok(())
            } else {
                Err(CommandError::WrongArity { name })
            }
        };
        let lower = name.to_ascii_lowercase();
        match lower.as_slice() {
            b"ping" => {
                arity("ping", args.len() <= 1)?;
                Ok(Command::Ping(args.first().map(text).transpose()?))
            }
            b"get" => {
                arity("get", args.len() == 1)?;
                Ok(Command::Get {
                    key: text(&args[0])?,
                })
            }
            b"set" => {
                arity("set", args.len() == 2 || args.len() == 3)?;
                let (key, value) = (text(&args[0])?, text(&args[1])?);
                match args.get(2) {
                    None => Ok(Command::Set { key, value }),
                    Some(opt) if opt.eq_ignore_ascii_case(b"nx") => Ok(Command::Cas {
                        key,
                        expected: None,
                        new: value,
                    }),
                    Some(_) => Err(CommandError::Syntax),
                }
            }
            b"del" => {
                arity("del", args.len() == 1)?;
                Ok(Command::Del {
                    key: text(&args[0])?,
                })
            }
            b"exists" => {
                arity("exists", args.len() == 1)?;
                Ok(Command::Exists {
                    key: text(&args[0])?,
                })
            }
            b"info" => {
                arity("info", args.len() <= 1)?;
                Ok(Command::Info(args.first().map(text).transpose()?))
            }
            b"member" => Ok(Command::Member(MemberCommand::parse(args)?)),
            b"cas" => {
                arity("cas", args.len() == 3)?;
                Ok(Command::Cas {
                    key: text(&args[0])?,
                    expected: Some(text(&args[1])?),
                    new: text(&args[2])?,
                })
            }
            _ => {
                let show = |b: &[u8]| {
                    let s = String::from_utf8_lossy(b);
                    s.chars().take(128).collect::<String>()
                };
                Err(CommandError::Unknown {
                    name: show(name),
                    args: args.iter().take(4).map(|a| show(a)).collect(),
                })
            }
        }
    }

    /// The request's words, for a client to send.
    pub fn words(&self) -> Vec<Vec<u8>> {
        let w = |s: &str| s.as_bytes().to_vec();
        match self {
            Command::Ping(None) => vec![w("PING")],
            Command::Ping(Some(m)) => vec![w("PING"), w(m)],
            Command::Info(None) => vec![w("INFO")],
            Command::Info(Some(s)) => vec![w("INFO"), w(s)],
            Command::Get { key } => vec![w("GET"), w(key)],
            Command::Set { key, value } => vec![w("SET"), w(key), w(value)],
            Command::Del { key } => vec![w("DEL"), w(key)],
            Command::Exists { key } => vec![w("EXISTS"), w(key)],
            Command::Cas {
                key,
                expected: Some(e),
                new,
            } => vec![w("CAS"), w(key), w(e), w(new)],
            Command::Cas {
                key,
                expected: None,
                new,
            } => vec![w("SET"), w(key), w(new), w("NX")],
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
        }
    }

    /// The key the command touches (`None` for PING and INFO).
    pub fn key(&self) -> Option<&str> {
        match self {
            Command::Ping(_) | Command::Info(_) | Command::Member(_) => None,
            Command::Get { key }
            | Command::Set { key, .. }
            | Command::Del { key }
            | Command::Exists { key }
            | Command::Cas { key, .. } => Some(key),
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
