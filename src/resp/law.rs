//! RESP commands as operations of the law, and the law's answers as RESP replies: the one
//! mapping between Redis's commands and [`crate::kv`], used by the replicated service's
//! backend and by the in-memory one alike, so both answer every command the same way.
//!
//! Several commands may be one operation (`GET` and `EXISTS` both read a key; `SET k v NX`
//! and `SETNX` are both a compare-and-set against an absent key); the reply depends on the
//! command, so [`reply_of`] takes both.

use super::{Command, MemberCommand, Reply};
use crate::kv::{self, Answer, Op};

fn key(k: &str) -> kv::Key {
    k.into()
}

/// The operation of the law a RESP command is (`None` for `PING`, `INFO` and `COMMAND`,
/// answered by the listener, and for `MULTI`, `DISCARD` and `UNWATCH`, which change only the
/// connection's transaction). `WATCH` reads its keys; `EXEC` is its queued commands as one
/// transaction (`None` if one of them is not an operation of the law).
pub fn op_of(cmd: &Command) -> Option<Op> {
    let keys = |ks: &[String]| ks.iter().map(|k| key(k)).collect();
    Some(match cmd.clone() {
        Command::Ping(_)
        | Command::Info(_)
        | Command::Commands(_)
        | Command::Multi
        | Command::Discard
        | Command::Unwatch => return None,
        Command::Watch { keys: ks } => Op::MGet { keys: keys(&ks) },
        Command::Exec { watch, cmds } => Op::Multi {
            watch: watch
                .iter()
                .map(|(k, v)| (key(k), v.as_deref().map(Into::into)))
                .collect(),
            ops: cmds.iter().map(op_of).collect::<Option<_>>()?,
        },
        Command::Get { key: k } | Command::Exists { key: k } => Op::Get { key: key(&k) },
        Command::Set { key: k, value } => Op::Put {
            key: key(&k),
            value: value.into(),
        },
        Command::Del { key: k } => Op::Delete { key: key(&k) },
        Command::Cas {
            key: k,
            expected,
            new,
        } => Op::Cas {
            key: key(&k),
            expected: expected.map(Into::into),
            new: new.into(),
        },
        Command::SetNx { key: k, value } => Op::Cas {
            key: key(&k),
            expected: None,
            new: value.into(),
        },
        Command::Member(m) => Op::Member(match m {
            MemberCommand::Add { id, token, address } => kv::MemberOp::Add {
                ix: id,
                nonce: token,
                addr: Some(address.into()),
            },
            MemberCommand::Remove { id } => kv::MemberOp::Remove { ix: id },
            MemberCommand::Replace {
                old,
                id,
                token,
                address,
            } => kv::MemberOp::Replace {
                old,
                ix: id,
                nonce: token,
                addr: Some(address.into()),
            },
            MemberCommand::List => kv::MemberOp::List,
        }),
        Command::MGet { keys: ks } | Command::ExistsMany { keys: ks } => {
            Op::MGet { keys: keys(&ks) }
        }
        Command::MSet { pairs } => Op::MSet {
            pairs: pairs
                .iter()
                .map(|(k, v)| (key(k), v.as_str().into()))
                .collect(),
        },
        Command::IncrBy { key: k, by, .. } => Op::IncrBy { key: key(&k), by },
        Command::Append { key: k, value } => Op::Append {
            key: key(&k),
            value: value.into(),
        },
        Command::Strlen { key: k } => Op::Strlen { key: key(&k) },
        Command::GetDel { key: k } => Op::GetDel { key: key(&k) },
        Command::SetWith {
            key: k,
            value,
            when,
            ..
        } => Op::SetIf {
            key: key(&k),
            value: value.into(),
            when,
        },
        Command::DelMany { keys: ks } => Op::DeleteMany { keys: keys(&ks) },
        Command::DbSize => Op::Count,
        Command::Keys { pattern } => Op::Keys {
            pattern: pattern.into(),
        },
        Command::Scan {
            cursor,
            pattern,
            count,
            ..
        } => Op::Scan {
            cursor,
            pattern: pattern.map(Into::into),
            count,
        },
        Command::Expire {
            key: k, at, when, ..
        } => Op::Expire {
            key: key(&k),
            at,
            when,
        },
        Command::Ttl { key: k, .. } => Op::Pttl { key: key(&k) },
        Command::Persist { key: k } => Op::Persist { key: key(&k) },
        Command::SetTtl {
            key: k,
            value,
            when,
            ttl,
            ..
        } => Op::SetTtl {
            key: key(&k),
            value: value.into(),
            when,
            ttl,
        },
        Command::GetEx { key: k, at } => Op::GetEx { key: key(&k), at },
    })
}

/// The lines `MEMBER LIST` answers: each member in force as `id inc token address`, then
/// the pending change, if any, as `pending from decree N:` and its members the same way.
pub fn members_text(members: &[kv::Member], next: Option<&kv::Change>) -> String {
    let line = |m: &kv::Member| {
        format!(
            "{} {} {:016x} {}\n",
            m.ix,
            m.inc,
            m.nonce,
            m.addr.as_deref().unwrap_or("-")
        )
    };
    let mut text: String = members.iter().map(line).collect();
    if let Some(c) = next {
        text += &format!("pending from decree {}:\n", c.at);
        text.extend(c.members.iter().map(line));
    }
    text
}

fn bulk(v: &str) -> Reply {
    Reply::Bulk(Some(v.as_bytes().to_vec()))
}

fn value(v: Option<kv::Value>) -> Reply {
    Reply::Bulk(v.map(|v| v.as_bytes().to_vec()))
}

/// The RESP reply to `cmd` whose operation got `answer` from the law.
pub fn reply_of(cmd: &Command, answer: Answer) -> Reply {
    match (cmd, answer) {
        (_, Answer::Failed(why @ kv::Failure::InvalidExpire)) => Reply::err(format!(
            "{why} in '{}' command",
            String::from_utf8_lossy(&cmd.words()[0]).to_ascii_lowercase()
        )),
        (_, Answer::Failed(why)) => Reply::err(why),
        // TTL: the milliseconds left, rounded to the nearest second (as Redis does).
        (Command::Ttl { name: "ttl", .. }, Answer::Int(ms)) if ms >= 0 => {
            Reply::Integer((ms + 500) / 1000)
        }
        (
            Command::Expire { .. } | Command::Ttl { .. } | Command::Persist { .. },
            Answer::Int(n),
        ) => Reply::Integer(n),
        (Command::GetEx { .. }, Answer::Value(v)) => value(v),
        (Command::SetTtl { get: true, .. }, Answer::Cas { previous, .. }) => value(previous),
        (Command::SetTtl { get: false, .. }, Answer::Cas { swapped, .. }) => {
            if swapped {
                Reply::ok()
            } else {
                Reply::nil()
            }
        }
        (Command::Get { .. } | Command::GetDel { .. }, Answer::Value(v)) => value(v),
        (Command::Exists { .. }, Answer::Value(v)) => Reply::Integer(v.is_some() as i64),
        (Command::Set { .. } | Command::MSet { .. }, Answer::Written) => Reply::ok(),
        (Command::Del { .. }, Answer::Deleted(existed)) => Reply::Integer(existed as i64),
        (
            Command::Cas {
                expected: Some(_), ..
            }
            | Command::SetNx { .. },
            Answer::Cas { swapped, .. },
        ) => Reply::Integer(swapped as i64),
        (Command::Cas { expected: None, .. }, Answer::Cas { swapped: true, .. }) => Reply::ok(),
        (Command::Cas { expected: None, .. }, Answer::Cas { swapped: false, .. }) => Reply::nil(),
        (Command::SetWith { get: true, .. }, Answer::Cas { previous, .. }) => value(previous),
        (Command::SetWith { get: false, .. }, Answer::Cas { swapped, .. }) => {
            if swapped {
                Reply::ok()
            } else {
                Reply::nil()
            }
        }
        (Command::MGet { .. } | Command::Watch { .. }, Answer::Values(vs)) => {
            Reply::Array(Some(vs.into_iter().map(value).collect()))
        }
        (Command::ExistsMany { .. }, Answer::Values(vs)) => {
            Reply::Integer(vs.iter().filter(|v| v.is_some()).count() as i64)
        }
        (
            Command::IncrBy { .. }
            | Command::Append { .. }
            | Command::Strlen { .. }
            | Command::DelMany { .. }
            | Command::DbSize,
            Answer::Int(n),
        ) => Reply::Integer(n),
        (Command::Keys { .. }, Answer::Keys(keys)) => {
            Reply::Array(Some(keys.iter().map(|k| bulk(k)).collect()))
        }
        (Command::Scan { kind, .. }, Answer::Scan { cursor, keys }) => {
            // Every key holds a string: TYPE string keeps them all, any other type none.
            let keep = kind
                .as_ref()
                .is_none_or(|t| t.eq_ignore_ascii_case("string"));
            let keys = if keep { keys } else { Vec::new() };
            Reply::Array(Some(vec![
                bulk(&cursor.to_string()),
                Reply::Array(Some(keys.iter().map(|k| bulk(k)).collect())),
            ]))
        }
        // A watched key changed: Redis's null array.
        (Command::Exec { .. }, Answer::Multi(None)) => Reply::Array(None),
        (Command::Exec { cmds, .. }, Answer::Multi(Some(answers)))
            if answers.len() == cmds.len() =>
        {
            Reply::Array(Some(
                cmds.iter()
                    .zip(answers)
                    .map(|(c, a)| reply_of(c, a))
                    .collect(),
            ))
        }
        (Command::Member(_), Answer::Member(kv::MemberAnswer::Changed { at })) => {
            Reply::Simple(format!("OK in force from decree {at}"))
        }
        (Command::Member(_), Answer::Member(kv::MemberAnswer::Members { members, next })) => {
            Reply::Bulk(Some(members_text(&members, next.as_ref()).into_bytes()))
        }
        (Command::Member(_), Answer::Member(kv::MemberAnswer::Refused(why))) => {
            Reply::err(format!("membership change refused: {why}"))
        }
        (cmd, answer) => Reply::err(format!(
            "the law answered {answer} to {}, which does not fit",
            String::from_utf8_lossy(&cmd.words()[0])
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_command_is_one_operation_and_its_answer_a_redis_reply() {
        let key = || "k".to_string();
        let v = |s: &str| Some(s.into());
        let cases = [
            (
                Command::Get { key: key() },
                Answer::Value(v("a")),
                Reply::Bulk(Some(b"a".to_vec())),
            ),
            (
                Command::Get { key: key() },
                Answer::Value(None),
                Reply::nil(),
            ),
            (
                Command::Exists { key: key() },
                Answer::Value(v("a")),
                Reply::Integer(1),
            ),
            (
                Command::Set {
                    key: key(),
                    value: "a".into(),
                },
                Answer::Written,
                Reply::ok(),
            ),
            (
                Command::Del { key: key() },
                Answer::Deleted(false),
                Reply::Integer(0),
            ),
            (
                Command::Cas {
                    key: key(),
                    expected: Some("a".into()),
                    new: "b".into(),
                },
                Answer::Cas {
                    swapped: true,
                    previous: v("a"),
                },
                Reply::Integer(1),
            ),
            (
                Command::Cas {
                    key: key(),
                    expected: None,
                    new: "b".into(),
                },
                Answer::Cas {
                    swapped: false,
                    previous: v("a"),
                },
                Reply::nil(),
            ),
        ];
        for (cmd, answer, want) in cases {
            assert!(op_of(&cmd).is_some());
            assert_eq!(reply_of(&cmd, answer), want, "{cmd:?}");
        }
        assert_eq!(op_of(&Command::Ping(None)), None);
        assert!(matches!(
            reply_of(&Command::Get { key: key() }, Answer::Written),
            Reply::Error(_)
        ));
    }

    /// Each new command's operation, and its reply to each answer the law can give.
    #[test]
    fn the_string_commands_map_to_their_operations_and_replies() {
        let k = |s: &str| -> kv::Key { s.into() };
        let v = |s: &str| -> Option<kv::Value> { Some(s.into()) };
        let keys = |ks: &[&str]| ks.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let cases: Vec<(Command, Op, Answer, Reply)> = vec![
            (
                Command::MGet {
                    keys: keys(&["a", "b"]),
                },
                Op::MGet {
                    keys: vec![k("a"), k("b")],
                },
                Answer::Values(vec![v("1"), None]),
                Reply::Array(Some(vec![bulk("1"), Reply::nil()])),
            ),
            (
                Command::ExistsMany {
                    keys: keys(&["a", "a", "b"]),
                },
                Op::MGet {
                    keys: vec![k("a"), k("a"), k("b")],
                },
                Answer::Values(vec![v("1"), v("1"), None]),
                Reply::Integer(2),
            ),
            (
                Command::MSet {
                    pairs: vec![("a".into(), "1".into())],
                },
                Op::MSet {
                    pairs: vec![(k("a"), "1".into())],
                },
                Answer::Written,
                Reply::ok(),
            ),
            (
                Command::IncrBy {
                    name: "decr",
                    key: "n".into(),
                    by: -1,
                },
                Op::IncrBy {
                    key: k("n"),
                    by: -1,
                },
                Answer::Int(-1),
                Reply::Integer(-1),
            ),
            (
                Command::IncrBy {
                    name: "incr",
                    key: "n".into(),
                    by: 1,
                },
                Op::IncrBy { key: k("n"), by: 1 },
                Answer::Failed(kv::Failure::NotAnInteger),
                Reply::err("value is not an integer or out of range"),
            ),
            (
                Command::Append {
                    key: "a".into(),
                    value: "xy".into(),
                },
                Op::Append {
                    key: k("a"),
                    value: "xy".into(),
                },
                Answer::Int(3),
                Reply::Integer(3),
            ),
            (
                Command::Strlen { key: "a".into() },
                Op::Strlen { key: k("a") },
                Answer::Int(3),
                Reply::Integer(3),
            ),
            (
                Command::GetDel { key: "a".into() },
                Op::GetDel { key: k("a") },
                Answer::Value(v("1")),
                bulk("1"),
            ),
            (
                Command::SetNx {
                    key: "a".into(),
                    value: "1".into(),
                },
                Op::Cas {
                    key: k("a"),
                    expected: None,
                    new: "1".into(),
                },
                Answer::Cas {
                    swapped: false,
                    previous: v("0"),
                },
                Reply::Integer(0),
            ),
            (
                Command::SetWith {
                    key: "a".into(),
                    value: "1".into(),
                    when: kv::When::Present,
                    get: false,
                },
                Op::SetIf {
                    key: k("a"),
                    value: "1".into(),
                    when: kv::When::Present,
                },
                Answer::Cas {
                    swapped: false,
                    previous: None,
                },
                Reply::nil(),
            ),
            (
                Command::SetWith {
                    key: "a".into(),
                    value: "1".into(),
                    when: kv::When::Absent,
                    get: true,
                },
                Op::SetIf {
                    key: k("a"),
                    value: "1".into(),
                    when: kv::When::Absent,
                },
                Answer::Cas {
                    swapped: false,
                    previous: v("0"),
                },
                bulk("0"),
            ),
            (
                Command::DelMany {
                    keys: keys(&["a", "b"]),
                },
                Op::DeleteMany {
                    keys: vec![k("a"), k("b")],
                },
                Answer::Int(1),
                Reply::Integer(1),
            ),
            (
                Command::DbSize,
                Op::Count,
                Answer::Int(7),
                Reply::Integer(7),
            ),
            (
                Command::Keys {
                    pattern: "a*".into(),
                },
                Op::Keys { pattern: k("a*") },
                Answer::Keys(vec![k("ab"), k("a")]),
                Reply::Array(Some(vec![bulk("ab"), bulk("a")])),
            ),
            (
                Command::Scan {
                    cursor: 5,
                    pattern: Some("a*".into()),
                    count: 3,
                    kind: None,
                },
                Op::Scan {
                    cursor: 5,
                    pattern: Some(k("a*")),
                    count: 3,
                },
                Answer::Scan {
                    cursor: 99,
                    keys: vec![k("a")],
                },
                Reply::Array(Some(vec![bulk("99"), Reply::Array(Some(vec![bulk("a")]))])),
            ),
            (
                Command::Scan {
                    cursor: 0,
                    pattern: None,
                    count: 10,
                    kind: Some("hash".into()),
                },
                Op::Scan {
                    cursor: 0,
                    pattern: None,
                    count: 10,
                },
                Answer::Scan {
                    cursor: 0,
                    keys: vec![k("a")],
                },
                Reply::Array(Some(vec![bulk("0"), Reply::Array(Some(vec![]))])),
            ),
        ];
        for (cmd, op, answer, want) in cases {
            assert_eq!(op_of(&cmd), Some(op), "{cmd:?}");
            assert_eq!(reply_of(&cmd, answer), want, "{cmd:?}");
        }
        assert_eq!(
            op_of(&Command::Commands(super::super::commands::Query::Count)),
            None
        );
    }
}
