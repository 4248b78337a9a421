use super::codec::{encode_request, split_inline};
use super::*;
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
    assert_eq!(p(&["SET", "k", "v", "XX"]), Err(CommandError::Syntax));
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
        text(p(&["del", "a", "b"])),
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
