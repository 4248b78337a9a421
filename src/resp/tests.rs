use super::codec::{encode_request, split_inline};
use super::*;
use crate::kv::When;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn words(ws: &[&str]) -> Vec<Vec<u8>> {
    ws.iter().map(|w| b(w)).collect()
}

fn decode_all(input: &[u8], limits: Limits) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
    let mut d = Decoder::new(limits);
    d.feed(input);
    let mut out = Vec::new();
    while let Some(r) = d.next_request()? {
        out.push(r);
    }
    Ok(out)
}

#[test]
fn multibulk_and_inline_requests_decode() {
    let input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\nGET k\r\n  ping  \n\r\n*0\r\n*1\r\n$0\r\n\r\n";
    let got = decode_all(input, Limits::default()).unwrap();
    assert_eq!(
        got,
        vec![
            words(&["SET", "k", "hello"]),
            words(&["GET", "k"]),
            words(&["ping"]),
            vec![Vec::new()],
        ]
    );
}

#[test]
fn bulk_strings_are_binary_safe() {
    let mut input = Vec::new();
    let value = b"a\r\nb\0c*$";
    encode_request(&[b"SET", b"k", value], &mut input);
    let got = decode_all(&input, Limits::default()).unwrap();
    assert_eq!(got, vec![vec![b("SET"), b("k"), value.to_vec()]]);
}

#[test]
fn inline_quoting_follows_redis() {
    assert_eq!(
        split_inline(br#"set "a b" 'c d' "x\x41\n" 'it\'s'"#).unwrap(),
        vec![b("set"), b("a b"), b("c d"), b("xA\n"), b("it's")]
    );
    assert_eq!(
        split_inline(br#"set "a b"#),
        Err(ProtocolError::UnbalancedQuotes)
    );
    assert_eq!(
        split_inline(br#"set "a"b"#),
        Err(ProtocolError::UnbalancedQuotes)
    );
    assert_eq!(split_inline(b"   ").unwrap(), Vec::<Vec<u8>>::new());
}

#[test]
fn every_split_point_of_a_pipeline_decodes_the_same() {
    let mut input = Vec::new();
    encode_request(&[b"SET", b"key", b"value with spaces"], &mut input);
    input.extend_from_slice(b"GET key\r\n");
    encode_request(&[b"CAS", b"key", b"", b"new"], &mut input);
    let whole = decode_all(&input, Limits::default()).unwrap();
    assert_eq!(whole.len(), 3);
    for cut in 0..=input.len() {
        let mut d = Decoder::new(Limits::default());
        let mut got = Vec::new();
        d.feed(&input[..cut]);
        while let Some(r) = d.next_request().unwrap() {
            got.push(r);
        }
        d.feed(&input[cut..]);
        while let Some(r) = d.next_request().unwrap() {
            got.push(r);
        }
        assert_eq!(got, whole, "cut at {cut}");
        assert_eq!(d.buffered(), 0);
    }
    // Byte by byte.
    let mut d = Decoder::new(Limits::default());
    let mut got = Vec::new();
    for &byte in &input {
        d.feed(&[byte]);
        while let Some(r) = d.next_request().unwrap() {
            got.push(r);
        }
    }
    assert_eq!(got, whole);
}

#[test]
fn oversize_declarations_are_refused_before_the_bytes_arrive() {
    let limits = Limits {
        max_bulk_len: 100,
        max_array_len: 4,
        max_inline_len: 32,
        max_buffered: 1000,
    };
    let err = |input: &[u8]| decode_all(input, limits).unwrap_err();
    assert_eq!(err(b"*1\r\n$101\r\n"), ProtocolError::InvalidBulkLength);
    assert_eq!(
        err(b"*1\r\n$99999999999999999999\r\n"),
        ProtocolError::InvalidBulkLength
    );
    assert_eq!(err(b"*1\r\n$-1\r\n"), ProtocolError::InvalidBulkLength);
    assert_eq!(err(b"*5\r\n"), ProtocolError::InvalidMultibulkLength);
    assert_eq!(err(b"*x\r\n"), ProtocolError::InvalidMultibulkLength);
    assert_eq!(err(b"*1\r\n:3\r\n"), ProtocolError::ExpectedDollar(b':'));
    assert_eq!(err(b"*1\r\n$1\r\nab\r\n"), ProtocolError::ExpectedCrlf);
    assert_eq!(err(&[b'x'; 40]), ProtocolError::TooBigInlineRequest);
    assert_eq!(err(&[b'*'; 40]), ProtocolError::TooBigMultibulkHeader);
    // Four bulk strings of 100 bytes each fit one by one, but not 1000 bytes in total.
    let mut big = Vec::new();
    let v = [b'v'; 100];
    encode_request(&[&v, &v, &v, &v], &mut big);
    assert_eq!(decode_all(&big, limits).unwrap().len(), 1);
    let limits_small = Limits {
        max_buffered: 350,
        ..limits
    };
    assert_eq!(
        decode_all(&big, limits_small).unwrap_err(),
        ProtocolError::RequestTooLarge(350)
    );
    assert_eq!(
        format!("{}", ProtocolError::InvalidBulkLength),
        "Protocol error: invalid bulk length"
    );
}

#[test]
fn commands_parse_with_redis_errors() {
    let p = |ws: &[&str]| Command::parse(&words(ws));
    assert_eq!(p(&["ping"]), Ok(Command::Ping(None)));
    assert_eq!(p(&["PING", "hi"]), Ok(Command::Ping(Some("hi".into()))));
    assert_eq!(p(&["get", "k"]), Ok(Command::Get { key: "k".into() }));
    assert_eq!(
        p(&["Set", "k", "v"]),
        Ok(Command::Set {
            key: "k".into(),
            value: "v".into()
        })
    );
    assert_eq!(
        p(&["SET", "k", "v", "nx"]),
        Ok(Command::Cas {
            key: "k".into(),
            expected: None,
            new: "v".into()
        })
    );
    assert_eq!(
        p(&["SET", "k", "v", "XX"]),
        Ok(Command::SetWith {
            key: "k".into(),
            value: "v".into(),
            when: When::Present,
            get: false
        })
    );
    assert_eq!(p(&["SET", "k", "v", "XX", "NX"]), Err(CommandError::Syntax));
    assert_eq!(p(&["SET", "k", "v", "EXACTLY"]), Err(CommandError::Syntax));
    assert_eq!(p(&["info"]), Ok(Command::Info(None)));
    assert_eq!(
        p(&["INFO", "Parliament"]),
        Ok(Command::Info(Some("Parliament".into())))
    );
    assert_eq!(p(&["del", "k"]), Ok(Command::Del { key: "k".into() }));
    assert_eq!(p(&["exists", "k"]), Ok(Command::Exists { key: "k".into() }));
    assert_eq!(
        p(&["CAS", "k", "old", "new"]),
        Ok(Command::Cas {
            key: "k".into(),
            expected: Some("old".into()),
            new: "new".into()
        })
    );
    let text = |r: Result<Command, CommandError>| Reply::err(r.unwrap_err()).to_bytes();
    assert_eq!(
        text(p(&["get"])),
        b"-ERR wrong number of arguments for 'get' command\r\n"
    );
    assert_eq!(
        text(p(&["get", "a", "b"])),
        b"-ERR wrong number of arguments for 'get' command\r\n"
    );
    assert_eq!(
        text(p(&["del"])),
        b"-ERR wrong number of arguments for 'del' command\r\n"
    );
    assert_eq!(
        text(p(&["cas", "a", "b"])),
        b"-ERR wrong number of arguments for 'cas' command\r\n"
    );
    assert_eq!(
        text(p(&["info", "a", "b"])),
        b"-ERR wrong number of arguments for 'info' command\r\n"
    );
    assert_eq!(
        text(p(&["FLUSHALL", "x"])),
        b"-ERR unknown command 'FLUSHALL', with args beginning with: 'x'\r\n"
    );
    // A name with CR LF cannot break the reply's framing.
    assert_eq!(
        Reply::err(Command::parse(&[b("a\r\nb")]).unwrap_err()).to_bytes(),
        b"-ERR unknown command 'a  b', with args beginning with:\r\n"
    );
    assert_eq!(
        Command::parse(&[b("get"), vec![0xff, 0xfe]]),
        Err(CommandError::NotUtf8)
    );
}

/// The string and keyspace commands parse as Redis parses them, with Redis's errors.
#[test]
fn string_commands_parse_with_redis_errors() {
    let p = |ws: &[&str]| Command::parse(&words(ws));
    let err = |ws: &[&str]| String::from_utf8(Reply::err(p(ws).unwrap_err()).to_bytes()).unwrap();
    let arity = |name: &str| format!("-ERR wrong number of arguments for '{name}' command\r\n");
    for (ws, name) in [
        (&["mget"][..], "mget"),
        (&["mset"], "mset"),
        (&["mset", "a"], "mset"),
        (&["mset", "a", "1", "b"], "mset"),
        (&["incr"], "incr"),
        (&["incr", "a", "b"], "incr"),
        (&["incrby", "a"], "incrby"),
        (&["decr"], "decr"),
        (&["decrby", "a", "1", "2"], "decrby"),
        (&["append", "a"], "append"),
        (&["strlen"], "strlen"),
        (&["getdel"], "getdel"),
        (&["set", "a"], "set"),
        (&["setnx", "a"], "setnx"),
        (&["getset", "a"], "getset"),
        (&["exists"], "exists"),
        (&["dbsize", "x"], "dbsize"),
        (&["keys"], "keys"),
        (&["keys", "a", "b"], "keys"),
        (&["scan"], "scan"),
        (&["command", "count", "x"], "command|count"),
    ] {
        assert_eq!(err(ws), arity(name), "{ws:?}");
    }
    let not_int = "-ERR value is not an integer or out of range\r\n";
    for ws in [
        &["incrby", "n", "x"][..],
        &["incrby", "n", "1.5"],
        &["incrby", "n", "+1"],
        &["incrby", "n", "9223372036854775808"],
        &["decrby", "n", ""],
        &["scan", "0", "count", "x"],
    ] {
        assert_eq!(err(ws), not_int, "{ws:?}");
    }
    assert_eq!(
        err(&["decrby", "n", "-9223372036854775808"]),
        "-ERR decrement would overflow\r\n"
    );
    assert_eq!(
        p(&["DECRBY", "n", "9223372036854775807"]),
        Ok(Command::IncrBy {
            name: "decrby",
            key: "n".into(),
            by: -i64::MAX
        })
    );
    for ws in [
        &["scan", "x"][..],
        &["scan", "-1"],
        &["scan", "+1"],
        &["scan", "18446744073709551616"],
        &["scan", ""],
        &["scan", "1 "],
    ] {
        assert_eq!(err(ws), "-ERR invalid cursor\r\n", "{ws:?}");
    }
    for ws in [
        &["scan", "0", "count", "0"][..],
        &["scan", "0", "count"],
        &["scan", "0", "match"],
        &["scan", "0", "limit", "3"],
        &["set", "k", "v", "nx", "xx"],
        &["set", "k", "v", "xx", "nx"],
        &["set", "k", "v", "px"],
    ] {
        assert_eq!(err(ws), "-ERR syntax error\r\n", "{ws:?}");
    }
    assert_eq!(
        p(&[
            "scan",
            "18446744073709551615",
            "MATCH",
            "*",
            "count",
            "5",
            "match",
            "u*"
        ]),
        Ok(Command::Scan {
            cursor: u64::MAX,
            pattern: Some("u*".into()),
            count: 5,
            kind: None
        }),
        "options in any order and case, the last one counts"
    );
    assert_eq!(
        p(&["scan", "3", "match", "*"]),
        Ok(Command::Scan {
            cursor: 3,
            pattern: None,
            count: 10,
            kind: None
        }),
        "MATCH * filters nothing"
    );
    assert_eq!(
        p(&["set", "k", "v", "get", "nx", "NX"]),
        Ok(Command::SetWith {
            key: "k".into(),
            value: "v".into(),
            when: When::Absent,
            get: true
        })
    );
    assert_eq!(
        p(&["set", "k", "v", "GET"]),
        Ok(Command::SetWith {
            key: "k".into(),
            value: "v".into(),
            when: When::Always,
            get: true
        })
    );
    assert_eq!(
        p(&["del", "a", "a"]),
        Ok(Command::DelMany {
            keys: vec!["a".into(), "a".into()]
        })
    );
    assert_eq!(
        err(&["command", "help"]),
        "-ERR unknown subcommand 'help'. Try COMMAND HELP.\r\n"
    );
    assert_eq!(
        p(&["mset", "k", &String::from_utf8_lossy(&[0xff])]).map(|_| ()),
        Ok(()),
        "(lossy text is UTF-8)"
    );
    assert_eq!(
        Command::parse(&[b("mset"), b("k"), vec![0xff]]),
        Err(CommandError::NotUtf8)
    );
    // Every command of the table parses from some words (its arity is the table's).
    for spec in commands::COMMANDS {
        let n = spec.arity.unsigned_abs() as usize;
        let ws: Vec<Vec<u8>> = std::iter::once(b(spec.name))
            .chain((1..n).map(|_| b("1")))
            .collect();
        let got = Command::parse(&ws);
        assert!(
            !matches!(
                got,
                Err(CommandError::Unknown { .. } | CommandError::WrongArity { .. })
            ),
            "{}: {got:?}",
            spec.name
        );
    }
}

/// What COMMAND answers: the table, in Redis 7's shapes.
#[test]
fn command_describes_the_commands_in_redis_shapes() {
    let reply = |ws: &[&str]| match Command::parse(&words(ws)).unwrap() {
        Command::Commands(q) => q.reply(),
        other => panic!("{other:?}"),
    };
    let n = commands::COMMANDS.len() as i64;
    assert_eq!(reply(&["COMMAND", "COUNT"]), Reply::Integer(n));
    let Reply::Array(Some(all)) = reply(&["command"]) else {
        panic!()
    };
    assert_eq!(all.len() as i64, n);
    let Reply::Array(Some(info)) = reply(&["COMMAND", "INFO", "mget", "nosuch"]) else {
        panic!()
    };
    assert_eq!(info[1], Reply::nil());
    let Reply::Array(Some(mget)) = &info[0] else {
        panic!()
    };
    assert_eq!(mget.len(), 10);
    assert_eq!(mget[0], Reply::Bulk(Some(b("mget"))));
    assert_eq!(mget[1], Reply::Integer(-2));
    assert_eq!(
        mget[2],
        Reply::Array(Some(vec![
            Reply::Simple("readonly".into()),
            Reply::Simple("fast".into())
        ]))
    );
    assert_eq!(
        &mget[3..6],
        &[Reply::Integer(1), Reply::Integer(-1), Reply::Integer(1)]
    );
    // DOCS: name, then a flat map whose fields are bulk strings; argument flags are simple
    // strings (redis-cli asserts these types).
    let Reply::Array(Some(docs)) = reply(&["command", "docs", "set"]) else {
        panic!()
    };
    assert_eq!(docs[0], Reply::Bulk(Some(b("set"))));
    let Reply::Array(Some(fields)) = &docs[1] else {
        panic!()
    };
    let field = |name: &str| {
        let i = fields
            .iter()
            .position(|f| *f == Reply::Bulk(Some(b(name))))
            .unwrap_or_else(|| panic!("no {name}"));
        fields[i + 1].clone()
    };
    assert_eq!(field("group"), Reply::Bulk(Some(b("string"))));
    let Reply::Array(Some(args)) = field("arguments") else {
        panic!()
    };
    assert_eq!(args.len(), 5, "key, value, condition, get, expiration");
    let text = String::from_utf8(reply(&["command", "docs", "set"]).to_bytes()).unwrap();
    assert!(text.contains("+optional\r\n"), "{text}");
    assert!(text.contains("$5\r\ntoken\r\n$2\r\nNX\r\n"), "{text}");
    // Every command's docs, and each argument has a name and a type.
    let all_docs = String::from_utf8(reply(&["command", "docs"]).to_bytes()).unwrap();
    for spec in commands::COMMANDS {
        assert!(
            all_docs.contains(&format!("\r\n{}\r\n", spec.name)),
            "{}",
            spec.name
        );
    }
    fn fields_of(map: &Reply) -> Vec<(String, Reply)> {
        let Reply::Array(Some(items)) = map else {
            panic!("{map:?} is no map")
        };
        items
            .chunks(2)
            .map(|kv| match &kv[0] {
                Reply::Bulk(Some(k)) => (String::from_utf8(k.clone()).unwrap(), kv[1].clone()),
                other => panic!("a field name that is not a bulk string: {other:?}"),
            })
            .collect()
    }
    fn check_args(args: &Reply) {
        let Reply::Array(Some(args)) = args else {
            panic!()
        };
        for a in args {
            let fields = fields_of(a);
            let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
            assert!(
                names.contains(&"name") && names.contains(&"type"),
                "{names:?}"
            );
            for (k, v) in &fields {
                match k.as_str() {
                    "flags" => {
                        let Reply::Array(Some(flags)) = v else {
                            panic!()
                        };
                        assert!(flags.iter().all(|f| matches!(f, Reply::Simple(_))));
                    }
                    "arguments" => check_args(v),
                    _ => assert!(matches!(v, Reply::Bulk(Some(_))), "{k}: {v:?}"),
                }
            }
        }
    }
    let Reply::Array(Some(every)) = reply(&["command", "docs"]) else {
        panic!()
    };
    for doc in every.chunks(2) {
        for (k, v) in fields_of(&doc[1]) {
            match k.as_str() {
                "arguments" => check_args(&v),
                "subcommands" => {
                    for sub in fields_of(&v) {
                        let args = fields_of(&sub.1)
                            .into_iter()
                            .find(|(k, _)| k == "arguments");
                        if let Some((_, a)) = args {
                            check_args(&a);
                        }
                    }
                }
                _ => assert!(matches!(v, Reply::Bulk(Some(_))), "{k}: {v:?}"),
            }
        }
    }
    assert_eq!(
        reply(&["command", "docs", "nosuch"]),
        Reply::Array(Some(vec![]))
    );
    let Reply::Array(Some(list)) = reply(&["command", "list"]) else {
        panic!()
    };
    assert!(list.contains(&Reply::Bulk(Some(b("scan")))));
}

#[test]
fn typed_commands_round_trip_through_words() {
    let cmds = [
        Command::Ping(None),
        Command::Ping(Some("m".into())),
        Command::Info(None),
        Command::Info(Some("runtime".into())),
        Command::Get { key: "k".into() },
        Command::Set {
            key: "k".into(),
            value: "v v".into(),
        },
        Command::Del { key: "k".into() },
        Command::Exists { key: "k".into() },
        Command::Cas {
            key: "k".into(),
            expected: Some("".into()),
            new: "n".into(),
        },
        Command::Cas {
            key: "k".into(),
            expected: None,
            new: "n".into(),
        },
        Command::MGet {
            keys: vec!["a".into(), "b".into()],
        },
        Command::MSet {
            pairs: vec![("a".into(), "1".into()), ("a".into(), "2".into())],
        },
        Command::IncrBy {
            name: "incr",
            key: "n".into(),
            by: 1,
        },
        Command::IncrBy {
            name: "decr",
            key: "n".into(),
            by: -1,
        },
        Command::IncrBy {
            name: "incrby",
            key: "n".into(),
            by: i64::MIN,
        },
        Command::IncrBy {
            name: "decrby",
            key: "n".into(),
            by: -i64::MAX,
        },
        Command::Append {
            key: "k".into(),
            value: "v".into(),
        },
        Command::Strlen { key: "k".into() },
        Command::GetDel { key: "k".into() },
        Command::SetNx {
            key: "k".into(),
            value: "v".into(),
        },
        Command::SetWith {
            key: "k".into(),
            value: "v".into(),
            when: When::Always,
            get: true,
        },
        Command::SetWith {
            key: "k".into(),
            value: "v".into(),
            when: When::Absent,
            get: true,
        },
        Command::SetWith {
            key: "k".into(),
            value: "v".into(),
            when: When::Present,
            get: false,
        },
        Command::DelMany {
            keys: vec!["a".into(), "b".into()],
        },
        Command::ExistsMany {
            keys: vec!["a".into(), "a".into()],
        },
        Command::DbSize,
        Command::Keys {
            pattern: "a*".into(),
        },
        Command::Scan {
            cursor: u64::MAX,
            pattern: Some("a*".into()),
            count: 7,
            kind: Some("string".into()),
        },
        Command::Scan {
            cursor: 0,
            pattern: None,
            count: 10,
            kind: None,
        },
        Command::Commands(commands::Query::All),
        Command::Commands(commands::Query::Count),
        Command::Commands(commands::Query::List),
        Command::Commands(commands::Query::Info(vec!["get".into()])),
        Command::Commands(commands::Query::Docs(vec![])),
        Command::Commands(commands::Query::Docs(vec!["set".into(), "nope".into()])),
        Command::Expire {
            name: "expire",
            key: "k".into(),
            at: kv::Time::In(-5_000),
            when: kv::ExpireIf::SomeSooner,
        },
        Command::Expire {
            name: "pexpireat",
            key: "k".into(),
            at: kv::Time::At(1_700_000_000_123),
            when: kv::ExpireIf::Later,
        },
        Command::Ttl {
            name: "pttl",
            key: "k".into(),
        },
        Command::Persist { key: "k".into() },
        Command::SetTtl {
            key: "k".into(),
            value: "v".into(),
            when: kv::When::Always,
            get: true,
            ttl: kv::Ttl::Keep,
        },
        Command::SetTtl {
            key: "k".into(),
            value: "v".into(),
            when: kv::When::Present,
            get: false,
            ttl: kv::Ttl::Expire(kv::Time::In(1)),
        },
        Command::SetTtl {
            key: "k".into(),
            value: "v".into(),
            when: kv::When::Absent,
            get: false,
            ttl: kv::Ttl::Expire(kv::Time::At(5)),
        },
        Command::GetEx {
            key: "k".into(),
            at: None,
        },
        Command::GetEx {
            key: "k".into(),
            at: Some(kv::Time::In(7)),
        },
    ];
    for c in cmds {
        assert_eq!(Command::parse(&c.words()), Ok(c.clone()));
        let ws = c.words();
        let refs: Vec<&[u8]> = ws.iter().map(Vec::as_slice).collect();
        let mut wire = Vec::new();
        encode_request(&refs, &mut wire);
        assert_eq!(
            decode_all(&wire, Limits::default()).unwrap(),
            vec![c.words()]
        );
    }
}

#[test]
fn replies_encode_and_decode() {
    let replies = [
        Reply::ok(),
        Reply::err("unknown command 'X'"),
        Reply::Integer(-42),
        Reply::Bulk(Some(b("a\r\nb"))),
        Reply::Bulk(Some(Vec::new())),
        Reply::nil(),
        Reply::Array(None),
        Reply::Array(Some(vec![Reply::Integer(1), Reply::nil(), Reply::ok()])),
    ];
    assert_eq!(Reply::ok().to_bytes(), b"+OK\r\n");
    assert_eq!(Reply::nil().to_bytes(), b"$-1\r\n");
    assert_eq!(Reply::Integer(7).to_bytes(), b":7\r\n");
    assert_eq!(Reply::Bulk(Some(b("hi"))).to_bytes(), b"$2\r\nhi\r\n");
    assert_eq!(
        Reply::err("unknown command 'X'").to_bytes(),
        b"-ERR unknown command 'X'\r\n"
    );
    let mut wire = Vec::new();
    for r in &replies {
        r.encode(&mut wire);
    }
    // Decode at every prefix: incomplete, never wrong.
    for cut in 0..wire.len() {
        let mut pos = 0;
        while let Some((_, used)) = Reply::decode(&wire[pos..cut], &Limits::default()).unwrap() {
            pos += used;
        }
    }
    let mut pos = 0;
    let mut got = Vec::new();
    while pos < wire.len() {
        let (r, used) = Reply::decode(&wire[pos..], &Limits::default())
            .unwrap()
            .unwrap();
        got.push(r);
        pos += used;
    }
    assert_eq!(got, replies);
}

/// Random bytes, and random mutations of valid pipelines, never panic the decoder, never
/// make it buffer past its limit, and every request it returns respects the limits.
#[test]
fn garbage_never_panics_and_respects_limits() {
    let limits = Limits {
        max_bulk_len: 64,
        max_array_len: 8,
        max_inline_len: 128,
        max_buffered: 512,
    };
    let mut valid = Vec::new();
    encode_request(&[b"SET", b"key", b"value"], &mut valid);
    valid.extend_from_slice(b"GET \"key\" 'x'\r\n");
    encode_request(&[b"CAS", b"k", b"a", b"b"], &mut valid);
    let alphabet = b"*$:+-\r\n0123456789 \"'\\xabc\0\xff";
    let mut rng = StdRng::seed_from_u64(7);
    let mut errors = 0;
    let mut requests = 0;
    for round in 0..20_000 {
        let mut input: Vec<u8> = if round % 2 == 0 {
            let n = rng.random_range(0..200);
            (0..n)
                .map(|_| {
                    if rng.random_bool(0.7) {
                        alphabet[rng.random_range(0..alphabet.len())]
                    } else {
                        rng.random()
                    }
                })
                .collect()
        } else {
            let mut v = valid.clone();
            for _ in 0..rng.random_range(1..4) {
                let i = rng.random_range(0..v.len());
                match rng.random_range(0..3) {
                    0 => v[i] = rng.random(),
                    1 => {
                        v.remove(i);
                    }
                    _ => v.insert(i, alphabet[rng.random_range(0..alphabet.len())]),
                }
            }
            v
        };
        if round % 5 == 0 {
            input.extend(std::iter::repeat_n(b'9', rng.random_range(0..1000)));
        }
        let mut d = Decoder::new(limits);
        let mut pos = 0;
        'feed: while pos < input.len() {
            let step = rng.random_range(1..=input.len() - pos);
            d.feed(&input[pos..pos + step]);
            pos += step;
            loop {
                match d.next_request() {
                    Ok(Some(ws)) => {
                        requests += 1;
                        assert!(!ws.is_empty() && ws.len() <= limits.max_array_len);
                        assert!(ws
                            .iter()
                            .all(|w| w.len() <= limits.max_inline_len.max(limits.max_bulk_len)));
                        let _ = Command::parse(&ws);
                    }
                    Ok(None) => {
                        assert!(d.buffered() <= limits.max_buffered);
                        break;
                    }
                    Err(e) => {
                        errors += 1;
                        assert!(format!("{e}").starts_with("Protocol error: "));
                        break 'feed;
                    }
                }
            }
        }
        // The client side decoder survives the same garbage.
        let _ = Reply::decode(&input, &limits);
    }
    // The fuzzing reached both outcomes often.
    assert!(errors > 1000, "only {errors} protocol errors");
    assert!(requests > 1000, "only {requests} requests");
}

/// `MEMBER` commands parse, refuse bad ids, tokens, addresses and shapes with the usage, and
/// their words parse back to the same command.
#[test]
fn member_commands_parse_and_refuse_bad_arguments() {
    let p = |words: &[&str]| {
        let words: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
        Command::parse(&words)
    };
    let add = p(&["MEMBER", "add", "3", "00000000deadbeef", "127.0.0.1:7003"]).unwrap();
    assert_eq!(
        add,
        Command::Member(MemberCommand::Add {
            id: 3,
            token: 0xdeadbeef,
            address: "127.0.0.1:7003".into()
        })
    );
    for cmd in [
        add,
        p(&["member", "REMOVE", "0"]).unwrap(),
        p(&["member", "replace", "0", "5", "ab", "[::1]:7005"]).unwrap(),
        p(&["member", "list"]).unwrap(),
    ] {
        assert_eq!(Command::parse(&cmd.words()), Ok(cmd.clone()));
        assert_eq!(cmd.key(), None);
    }
    let err = |words: &[&str]| p(words).unwrap_err().to_string();
    assert!(err(&["MEMBER"]).starts_with("MEMBER takes ADD"));
    assert!(err(&["MEMBER", "grow", "3"]).starts_with("MEMBER takes ADD"));
    assert!(err(&["MEMBER", "remove"]).starts_with("MEMBER takes ADD"));
    assert!(err(&["MEMBER", "remove", "64"]).contains("not 0 to 63"));
    assert!(err(&["MEMBER", "remove", "-1"]).contains("not 0 to 63"));
    assert!(err(&["MEMBER", "add", "3", "0", "127.0.0.1:1"]).contains("token"));
    assert!(err(&["MEMBER", "add", "3", "xyz", "127.0.0.1:1"]).contains("token"));
    assert!(err(&["MEMBER", "add", "3", "ab", "nowhere"]).contains("not IP:PORT"));
}
