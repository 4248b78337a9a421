//! Redis's string and keyspace commands against the replicated service: three `parliament
//! serve` priests on 127.0.0.1, spoken to through their RESP listeners.
//!
//! - **Every command, exactly as Redis answers**, through different priests' listeners, with
//!   Redis's errors for wrong arity, bad arguments and values the law refuses; after each
//!   error the same connection goes on, and so does the cluster.
//! - **Transactions**: `MULTI`/`EXEC`/`DISCARD` and `WATCH`/`UNWATCH` with Redis's answers and
//!   errors, through every priest.
//! - **A scan needs no server state**: each step of one scan is sent to another priest.
//! - **A real client library**: `tests/redis_py/commands.py` runs every command through
//!   redis-py (`pip install redis==8.1.0`, as `.ci/run` does). Skipped, saying so, only when
//!   `python3` is not installed; a missing `redis` module fails the test.

use parliament::resp::client::Client;
use parliament::resp::Reply;
use std::process::Command;
use std::time::Duration;

mod support;
use support::cluster::{Cluster, Timers};
use support::resp::bulk;

/// Fast elections, so a cluster has a president soon after it starts.
const TIMERS: Timers = Timers {
    election: [150, 300],
    heartbeat: 50,
    resend: 100,
    client_timeout: 5000,
};

/// Starts three priests and waits until a command passes.
fn cluster() -> Cluster {
    let cluster = Cluster::start(3, TIMERS, None);
    let mut c = cluster.connect(0, Duration::from_secs(10));
    for _ in 0..50 {
        if c.call(&[b"SET", b"up", b"yes"]).unwrap() == Reply::ok() {
            return cluster;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no decree passed\n{}", cluster.logs());
}

/// Sends `words` and checks the reply; the reply.
fn call(c: &mut Client, words: &[&str]) -> Reply {
    let ws: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
    c.call(&ws).unwrap()
}

fn int(n: i64) -> Reply {
    Reply::Integer(n)
}

fn array(items: Vec<Reply>) -> Reply {
    Reply::Array(Some(items))
}

fn err(text: &str) -> Reply {
    Reply::Error(format!("ERR {text}"))
}

#[test]
fn every_string_command_answers_as_redis_does_through_every_priest() {
    let cluster = cluster();
    let mut cs: Vec<Client> = (0..3)
        .map(|i| cluster.connect(i, Duration::from_secs(10)))
        .collect();
    // Each check goes through the next priest's listener.
    let mut n = 0;
    let mut check = |words: &[&str], want: Reply| {
        n += 1;
        let got = call(&mut cs[n % 3], words);
        assert_eq!(got, want, "{words:?} through priest {}", n % 3);
    };
    // SET and its options, SETNX, GETSET, GETDEL.
    check(&["SET", "s", "a"], Reply::ok());
    check(&["SET", "s", "b", "NX"], Reply::nil());
    check(&["SET", "s", "b", "XX"], Reply::ok());
    check(&["SET", "none", "x", "XX"], Reply::nil());
    check(&["GET", "none"], Reply::nil());
    check(&["SET", "s", "c", "GET"], bulk("b"));
    check(&["set", "new", "n", "nx", "get"], Reply::nil());
    check(&["SET", "new", "m", "NX", "GET"], bulk("n"));
    check(&["GET", "new"], bulk("n"));
    check(&["SETNX", "s", "z"], int(0));
    check(&["SETNX", "nx", "z"], int(1));
    check(&["GETSET", "s", "d"], bulk("c"));
    check(&["GETDEL", "s"], bulk("d"));
    check(&["GETDEL", "s"], Reply::nil());
    // MSET and MGET: one operation.
    check(&["MSET", "a", "1", "b", "2", "a", "3"], Reply::ok());
    check(
        &["MGET", "a", "x", "b"],
        array(vec![bulk("3"), Reply::nil(), bulk("2")]),
    );
    // Increments, with Redis's errors; a refused one changes nothing.
    check(&["INCR", "n"], int(1));
    check(&["INCRBY", "n", "41"], int(42));
    check(&["DECR", "n"], int(41));
    check(&["DECRBY", "n", "50"], int(-9));
    check(&["GET", "n"], bulk("-9"));
    check(&["SET", "n", "9223372036854775806"], Reply::ok());
    check(&["INCR", "n"], int(i64::MAX));
    check(&["INCR", "n"], err("increment or decrement would overflow"));
    check(&["GET", "n"], bulk("9223372036854775807"));
    check(
        &["INCR", "b", "x"],
        err("wrong number of arguments for 'incr' command"),
    );
    check(&["SET", "f", "1.5"], Reply::ok());
    check(
        &["INCR", "f"],
        err("value is not an integer or out of range"),
    );
    check(
        &["INCRBY", "n", "one"],
        err("value is not an integer or out of range"),
    );
    check(
        &["DECRBY", "n", "-9223372036854775808"],
        err("decrement would overflow"),
    );
    check(&["GET", "f"], bulk("1.5"));
    // APPEND and STRLEN.
    check(&["APPEND", "t", "Hello"], int(5));
    check(&["APPEND", "t", " World"], int(11));
    check(&["STRLEN", "t"], int(11));
    check(&["STRLEN", "missing"], int(0));
    // DEL and EXISTS of several keys, at once.
    check(&["EXISTS", "a", "a", "x"], int(2));
    check(&["DEL", "a", "b", "x"], int(2));
    check(&["EXISTS", "a"], int(0));
    // The keyspace.
    check(&["DEL", "up", "new", "nx", "n", "f", "t"], int(6));
    check(&["DBSIZE"], int(0));
    check(
        &[
            "MSET", "user:1", "a", "user:2", "b", "user:10", "c", "admin", "d",
        ],
        Reply::ok(),
    );
    check(&["DBSIZE"], int(4));
    let mut keys = |pattern: &str| -> Vec<String> {
        n += 1;
        match call(&mut cs[n % 3], &["KEYS", pattern]) {
            Reply::Array(Some(items)) => {
                let mut ks: Vec<String> = items
                    .into_iter()
                    .map(|r| match r {
                        Reply::Bulk(Some(b)) => String::from_utf8(b).unwrap(),
                        r => panic!("{r:?}"),
                    })
                    .collect();
                ks.sort();
                ks
            }
            r => panic!("KEYS answered {r:?}"),
        }
    };
    assert_eq!(keys("*"), ["admin", "user:1", "user:10", "user:2"]);
    assert_eq!(keys("user:?"), ["user:1", "user:2"]);
    assert_eq!(keys("user:[^1]*"), ["user:2"]);
    assert_eq!(keys("nobody"), Vec::<String>::new());
    // Errors: each answered, and the same connection goes on.
    let mut c = cluster.connect(1, Duration::from_secs(10));
    for (words, want) in [
        (
            &["MGET"][..],
            err("wrong number of arguments for 'mget' command"),
        ),
        (
            &["MSET", "a"],
            err("wrong number of arguments for 'mset' command"),
        ),
        (
            &["MSET", "a", "1", "b"],
            err("wrong number of arguments for 'mset' command"),
        ),
        (
            &["GETDEL"],
            err("wrong number of arguments for 'getdel' command"),
        ),
        (&["SET", "a", "1", "NX", "XX"], err("syntax error")),
        (&["SET", "a", "1", "KEEPALL"], err("syntax error")),
        (&["SCAN", "-1"], err("invalid cursor")),
        (&["SCAN", "0", "COUNT", "0"], err("syntax error")),
        (
            &["KEYS"],
            err("wrong number of arguments for 'keys' command"),
        ),
        (
            &["DBSIZE", "0"],
            err("wrong number of arguments for 'dbsize' command"),
        ),
    ] {
        assert_eq!(call(&mut c, words), want, "{words:?}");
        assert_eq!(
            call(&mut c, &["GET", "user:1"]),
            bulk("a"),
            "after {words:?}"
        );
    }
    match call(&mut c, &["HSET", "h", "f", "v"]) {
        Reply::Error(e) => assert!(e.starts_with("ERR unknown command 'HSET'"), "{e}"),
        r => panic!("{r:?}"),
    }
    // A value that would grow past the law's bound is refused, and stays as it was.
    let mib = "v".repeat(1 << 20);
    for i in 1..=4 {
        assert_eq!(call(&mut c, &["APPEND", "big", &mib]), int(i << 20));
    }
    assert_eq!(
        call(&mut c, &["APPEND", "big", "!"]),
        err("string exceeds maximum allowed size (4194304 bytes)")
    );
    assert_eq!(call(&mut c, &["STRLEN", "big"]), int(4 << 20));
    assert_eq!(call(&mut c, &["DEL", "big"]), int(1));
    // As many keys as one request can carry (1,024 words), in one MSET and one MGET.
    let keys: Vec<String> = (0..511).map(|i| format!("many:{i}")).collect();
    let mut mset = vec!["MSET"];
    for k in &keys {
        mset.extend([k.as_str(), k.as_str()]);
    }
    assert_eq!(call(&mut c, &mset), Reply::ok());
    let mut mget = vec!["MGET"];
    mget.extend(keys.iter().map(String::as_str));
    assert_eq!(
        call(&mut cs[2], &mget),
        array(keys.iter().map(|k| bulk(k)).collect())
    );
    // COMMAND is answered by each listener.
    match call(&mut cs[0], &["COMMAND", "COUNT"]) {
        Reply::Integer(n) => assert!(n >= 20, "{n}"),
        r => panic!("{r:?}"),
    }
    assert_eq!(call(&mut c, &["PING"]), Reply::Simple("PONG".into()));
}

/// MULTI/EXEC/DISCARD and WATCH/UNWATCH, as Redis answers them, through every priest: a
/// transaction is one command of one decree, its runtime errors are its entries, its queuing
/// errors discard it, and a watch is checked by value. Every error leaves the connection and
/// the cluster going on.
#[test]
fn transactions_answer_as_redis_does_through_every_priest() {
    let cluster = cluster();
    let mut cs: Vec<Client> = (0..3)
        .map(|i| cluster.connect(i, Duration::from_secs(10)))
        .collect();
    let queued = || Reply::Simple("QUEUED".into());
    let execabort =
        Reply::Error("EXECABORT Transaction discarded because of previous errors.".into());
    for (i, c) in cs.iter_mut().enumerate() {
        let k = |name: &str| format!("t{i}:{name}");
        // The commands in order, in one decree; a later one sees an earlier one's write.
        assert_eq!(call(c, &["MULTI"]), Reply::ok());
        assert_eq!(call(c, &["SET", &k("a"), "1"]), queued());
        assert_eq!(call(c, &["incr", &k("n")]), queued());
        assert_eq!(call(c, &["GET", &k("a")]), queued());
        assert_eq!(call(c, &["MGET", &k("a"), &k("n")]), queued());
        assert_eq!(
            call(c, &["EXEC"]),
            array(vec![
                Reply::ok(),
                int(1),
                bulk("1"),
                array(vec![bulk("1"), bulk("1")])
            ])
        );
        // A runtime error is its command's entry; the others take effect.
        assert_eq!(call(c, &["MULTI"]), Reply::ok());
        assert_eq!(call(c, &["SET", &k("s"), "word"]), queued());
        assert_eq!(call(c, &["INCR", &k("s")]), queued());
        assert_eq!(call(c, &["SET", &k("b"), "2"]), queued());
        assert_eq!(
            call(c, &["EXEC"]),
            array(vec![
                Reply::ok(),
                err("value is not an integer or out of range"),
                Reply::ok()
            ])
        );
        assert_eq!(call(c, &["GET", &k("b")]), bulk("2"));
        // An error while queuing discards the transaction at EXEC.
        assert_eq!(call(c, &["MULTI"]), Reply::ok());
        assert_eq!(call(c, &["SET", &k("c"), "1"]), queued());
        match call(c, &["NOSUCH", "x"]) {
            Reply::Error(e) => assert!(e.starts_with("ERR unknown command 'NOSUCH'"), "{e}"),
            r => panic!("{r:?}"),
        }
        assert_eq!(
            call(c, &["GET", &k("c"), "extra"]),
            err("wrong number of arguments for 'get' command")
        );
        assert_eq!(call(c, &["EXEC"]), execabort);
        assert_eq!(call(c, &["GET", &k("c")]), Reply::nil());
        // Commands that are not operations of the map are refused inside, and discard it.
        for words in [&["PING"][..], &["MEMBER", "LIST"], &["UNWATCH"], &["INFO"]] {
            assert_eq!(call(c, &["MULTI"]), Reply::ok());
            assert_eq!(
                call(c, words),
                err("Command not allowed inside a transaction"),
                "{words:?}"
            );
            assert_eq!(call(c, &["EXEC"]), execabort);
        }
        // Nested MULTI and WATCH inside are refused and do not spoil it.
        assert_eq!(call(c, &["MULTI"]), Reply::ok());
        assert_eq!(call(c, &["MULTI"]), err("MULTI calls can not be nested"));
        assert_eq!(call(c, &["SET", &k("d"), "1"]), queued());
        assert_eq!(
            call(c, &["WATCH", &k("d")]),
            err("WATCH inside MULTI is not allowed")
        );
        assert_eq!(call(c, &["EXEC"]), array(vec![Reply::ok()]));
        // DISCARD; EXEC and DISCARD without MULTI; an empty transaction.
        assert_eq!(call(c, &["MULTI"]), Reply::ok());
        assert_eq!(call(c, &["SET", &k("e"), "1"]), queued());
        assert_eq!(call(c, &["DISCARD"]), Reply::ok());
        assert_eq!(call(c, &["GET", &k("e")]), Reply::nil());
        assert_eq!(call(c, &["EXEC"]), err("EXEC without MULTI"));
        assert_eq!(call(c, &["DISCARD"]), err("DISCARD without MULTI"));
        assert_eq!(call(c, &["MULTI"]), Reply::ok());
        assert_eq!(call(c, &["EXEC"]), array(vec![]));
        assert_eq!(
            call(c, &["WATCH"]),
            err("wrong number of arguments for 'watch' command")
        );
        assert_eq!(
            call(c, &["EXEC", "x"]),
            err("wrong number of arguments for 'exec' command")
        );
        // A transaction larger than the largest command a priest takes is refused while
        // queuing; nothing of it runs.
        let mib = "v".repeat(1 << 20);
        assert_eq!(call(c, &["MULTI"]), Reply::ok());
        for _ in 0..3 {
            assert_eq!(call(c, &["APPEND", &k("big"), &mib]), queued());
        }
        match call(c, &["APPEND", &k("big"), &mib]) {
            Reply::Error(e) => assert!(e.starts_with("ERR transaction too large"), "{e}"),
            r => panic!("{r:?}"),
        }
        assert_eq!(call(c, &["EXEC"]), execabort);
        assert_eq!(call(c, &["STRLEN", &k("big")]), int(0));
        // After every error, the connection goes on.
        assert_eq!(call(c, &["PING"]), Reply::Simple("PONG".into()));
        assert_eq!(call(c, &["GET", &k("a")]), bulk("1"));
    }
    // WATCH: a write by another connection (through another priest) aborts the EXEC (a null
    // array), and nothing of it runs.
    let (w, other) = ("w", 1);
    assert_eq!(call(&mut cs[0], &["SET", w, "start"]), Reply::ok());
    assert_eq!(call(&mut cs[0], &["WATCH", w, "w2"]), Reply::ok());
    assert_eq!(call(&mut cs[other], &["SET", w, "theirs"]), Reply::ok());
    assert_eq!(call(&mut cs[0], &["MULTI"]), Reply::ok());
    assert_eq!(call(&mut cs[0], &["SET", w, "mine"]), queued());
    assert_eq!(call(&mut cs[0], &["EXEC"]), Reply::Array(None));
    assert_eq!(call(&mut cs[0], &["GET", w]), bulk("theirs"));
    // EXEC forgot the watch: the next transaction runs.
    assert_eq!(call(&mut cs[0], &["MULTI"]), Reply::ok());
    assert_eq!(call(&mut cs[0], &["SET", w, "mine"]), queued());
    assert_eq!(call(&mut cs[0], &["EXEC"]), array(vec![Reply::ok()]));
    // Unchanged since the watch: it runs; an absent key watched stays absent.
    assert_eq!(call(&mut cs[0], &["WATCH", w, "absent"]), Reply::ok());
    assert_eq!(call(&mut cs[0], &["MULTI"]), Reply::ok());
    assert_eq!(call(&mut cs[0], &["GET", w]), queued());
    assert_eq!(call(&mut cs[0], &["EXEC"]), array(vec![bulk("mine")]));
    // By value: written away and back since the watch, it still runs (Redis would abort).
    assert_eq!(call(&mut cs[0], &["WATCH", w]), Reply::ok());
    assert_eq!(call(&mut cs[2], &["SET", w, "other"]), Reply::ok());
    assert_eq!(call(&mut cs[1], &["SET", w, "mine"]), Reply::ok());
    assert_eq!(call(&mut cs[0], &["MULTI"]), Reply::ok());
    assert_eq!(call(&mut cs[0], &["APPEND", w, "!"]), queued());
    assert_eq!(call(&mut cs[0], &["EXEC"]), array(vec![int(5)]));
    // UNWATCH and DISCARD forget the watches.
    for forget in ["UNWATCH", "DISCARD"] {
        assert_eq!(call(&mut cs[0], &["WATCH", w]), Reply::ok());
        assert_eq!(call(&mut cs[2], &["SET", w, forget]), Reply::ok());
        if forget == "UNWATCH" {
            assert_eq!(call(&mut cs[0], &["UNWATCH"]), Reply::ok());
        } else {
            assert_eq!(call(&mut cs[0], &["MULTI"]), Reply::ok());
            assert_eq!(call(&mut cs[0], &["DISCARD"]), Reply::ok());
        }
        assert_eq!(call(&mut cs[0], &["MULTI"]), Reply::ok());
        assert_eq!(call(&mut cs[0], &["GET", w]), queued());
        assert_eq!(call(&mut cs[0], &["EXEC"]), array(vec![bulk(forget)]));
    }
    // Pipelined: WATCH, then a transaction that depends on it, sent at once; and a write of
    // another connection between the WATCH's answer and the EXEC.
    let c = &mut cs[1];
    for words in [
        &["WATCH", w][..],
        &["MULTI"],
        &["SET", w, "piped"],
        &["EXEC"],
    ] {
        let ws: Vec<&[u8]> = words.iter().map(|x| x.as_bytes()).collect();
        c.send(&ws).unwrap();
    }
    let replies: Vec<Reply> = (0..4).map(|_| c.read_reply().unwrap()).collect();
    assert_eq!(
        replies,
        vec![Reply::ok(), Reply::ok(), queued(), array(vec![Reply::ok()])]
    );
    assert_eq!(call(&mut cs[2], &["GET", w]), bulk("piped"));
}

/// The integer a reply holds.
fn integer(r: Reply) -> i64 {
    match r {
        Reply::Integer(n) => n,
        r => panic!("not an integer: {r:?}"),
    }
}

#[test]
fn keys_expire_by_the_law_s_clock_at_every_priest() {
    let cluster = cluster();
    let mut cs: Vec<Client> = (0..3)
        .map(|i| cluster.connect(i, Duration::from_secs(10)))
        .collect();
    let c = &mut cs;
    // TTL and PTTL of a key without a deadline, and of none.
    assert_eq!(call(&mut c[0], &["SET", "k", "v"]), Reply::ok());
    assert_eq!(call(&mut c[1], &["TTL", "k"]), int(-1));
    assert_eq!(call(&mut c[2], &["PTTL", "nothing"]), int(-2));
    assert_eq!(call(&mut c[0], &["EXPIRE", "nothing", "10"]), int(0));
    // SET EX: the TTL is at most what was set, and only goes down.
    assert_eq!(
        call(&mut c[0], &["SET", "t", "v", "EX", "100"]),
        Reply::ok()
    );
    let first = integer(call(&mut c[1], &["PTTL", "t"]));
    assert!(0 < first && first <= 100_000, "{first}");
    let second = integer(call(&mut c[2], &["PTTL", "t"]));
    assert!(0 < second && second <= first, "{second} after {first}");
    let ttl = integer(call(&mut c[0], &["TTL", "t"]));
    assert!(0 < ttl && ttl <= 100, "{ttl}");
    // APPEND and INCR keep it; SET without KEEPTTL clears it, SET KEEPTTL keeps it.
    assert_eq!(call(&mut c[1], &["APPEND", "t", "w"]), int(2));
    assert!(integer(call(&mut c[2], &["PTTL", "t"])) > 0);
    assert_eq!(call(&mut c[0], &["SET", "t", "x", "KEEPTTL"]), Reply::ok());
    assert!(integer(call(&mut c[1], &["PTTL", "t"])) > 0);
    assert_eq!(call(&mut c[2], &["SET", "t", "y"]), Reply::ok());
    assert_eq!(call(&mut c[0], &["TTL", "t"]), int(-1));
    // PERSIST, and the conditions.
    assert_eq!(call(&mut c[1], &["PEXPIRE", "t", "100000"]), int(1));
    assert_eq!(call(&mut c[2], &["EXPIRE", "t", "50", "GT"]), int(0));
    assert_eq!(call(&mut c[0], &["EXPIRE", "t", "50", "LT"]), int(1));
    assert_eq!(call(&mut c[1], &["EXPIRE", "t", "70", "NX"]), int(0));
    assert_eq!(call(&mut c[2], &["EXPIRE", "t", "70", "XX"]), int(1));
    assert_eq!(call(&mut c[0], &["PERSIST", "t"]), int(1));
    assert_eq!(call(&mut c[1], &["PERSIST", "t"]), int(0));
    assert_eq!(call(&mut c[2], &["TTL", "t"]), int(-1));
    assert_eq!(call(&mut c[0], &["EXPIRE", "t", "70", "GT"]), int(0));
    assert_eq!(call(&mut c[1], &["EXPIRE", "t", "70", "XX"]), int(0));
    assert_eq!(call(&mut c[2], &["EXPIRE", "t", "70", "LT"]), int(1));
    // SETEX, PSETEX, GETEX.
    assert_eq!(call(&mut c[0], &["SETEX", "e", "100", "a"]), Reply::ok());
    assert!(integer(call(&mut c[1], &["TTL", "e"])) > 0);
    assert_eq!(
        call(&mut c[2], &["PSETEX", "e", "100000", "b"]),
        Reply::ok()
    );
    assert_eq!(call(&mut c[0], &["GETEX", "e", "PERSIST"]), bulk("b"));
    assert_eq!(call(&mut c[1], &["TTL", "e"]), int(-1));
    assert_eq!(call(&mut c[2], &["GETEX", "e", "EX", "100"]), bulk("b"));
    assert!(integer(call(&mut c[0], &["TTL", "e"])) > 0);
    assert_eq!(call(&mut c[1], &["GETEX", "e"]), bulk("b"));
    // A deadline in the past removes the key at once, and answers 1 (as Redis does).
    assert_eq!(call(&mut c[2], &["EXPIRE", "k", "-1"]), int(1));
    assert_eq!(call(&mut c[0], &["EXISTS", "k"]), int(0));
    assert_eq!(call(&mut c[1], &["SET", "k", "v"]), Reply::ok());
    assert_eq!(call(&mut c[2], &["PEXPIREAT", "k", "1"]), int(1));
    assert_eq!(call(&mut c[0], &["GET", "k"]), Reply::nil());
    assert_eq!(
        call(&mut c[1], &["SET", "k", "v", "PXAT", "1"]),
        Reply::ok()
    );
    assert_eq!(call(&mut c[2], &["GET", "k"]), Reply::nil());
    // Bad input: Redis's errors; the connection and the key stay as they were.
    let bad = [
        (
            &["EXPIRE", "e"][..],
            "wrong number of arguments for 'expire' command",
        ),
        (&["TTL"][..], "wrong number of arguments for 'ttl' command"),
        (
            &["PTTL", "a", "b"][..],
            "wrong number of arguments for 'pttl' command",
        ),
        (
            &["PERSIST"][..],
            "wrong number of arguments for 'persist' command",
        ),
        (
            &["SETEX", "e", "1"][..],
            "wrong number of arguments for 'setex' command",
        ),
        (
            &["EXPIRE", "e", "soon"][..],
            "value is not an integer or out of range",
        ),
        (
            &["SETEX", "e", "x", "v"][..],
            "value is not an integer or out of range",
        ),
        (
            &["SET", "e", "v", "EX", "x"][..],
            "value is not an integer or out of range",
        ),
        (
            &["SET", "e", "v", "EX", "0"][..],
            "invalid expire time in 'set' command",
        ),
        (
            &["SET", "e", "v", "PX", "-5"][..],
            "invalid expire time in 'set' command",
        ),
        (
            &["SETEX", "e", "0", "v"][..],
            "invalid expire time in 'setex' command",
        ),
        (
            &["PSETEX", "e", "-1", "v"][..],
            "invalid expire time in 'psetex' command",
        ),
        (
            &["GETEX", "e", "EX", "0"][..],
            "invalid expire time in 'getex' command",
        ),
        (
            &["EXPIRE", "e", "9223372036854775807"][..],
            "invalid expire time in 'expire' command",
        ),
        (
            &["PEXPIRE", "e", "9223372036854775807"][..],
            "invalid expire time in 'pexpire' command",
        ),
        (
            &["SET", "e", "v", "EX", "9223372036854775807"][..],
            "invalid expire time in 'set' command",
        ),
        (&["SET", "e", "v", "EX"][..], "syntax error"),
        (&["SET", "e", "v", "EX", "1", "PX", "1"][..], "syntax error"),
        (&["SET", "e", "v", "KEEPTTL", "EX", "1"][..], "syntax error"),
        (&["GETEX", "e", "EX"][..], "syntax error"),
        (&["GETEX", "e", "PERSIST", "EX", "1"][..], "syntax error"),
        (&["EXPIRE", "e", "1", "SOON"][..], "Unsupported option SOON"),
        (
            &["EXPIRE", "e", "1", "NX", "XX"][..],
            "NX and XX, GT or LT options at the same time are not compatible",
        ),
        (
            &["EXPIRE", "e", "1", "GT", "LT"][..],
            "GT and LT options at the same time are not compatible",
        ),
    ];
    for (n, (words, text)) in bad.iter().enumerate() {
        assert_eq!(call(&mut c[n % 3], words), err(text), "{words:?}");
    }
    assert_eq!(call(&mut c[0], &["GET", "e"]), bulk("b"));
    assert!(integer(call(&mut c[1], &["TTL", "e"])) > 0);
    // A key given a short deadline, then no traffic but reads: it goes, at the president
    // and through the followers alike, and never comes back. (The wait is bounded only to
    // end a broken run; nothing asserts how soon it goes.)
    assert_eq!(call(&mut c[2], &["SET", "short", "v"]), Reply::ok());
    assert_eq!(call(&mut c[0], &["PEXPIRE", "short", "200"]), int(1));
    let mut gone = false;
    for _ in 0..400 {
        std::thread::sleep(Duration::from_millis(25));
        if call(&mut c[1], &["GET", "short"]) == Reply::nil() {
            gone = true;
            break;
        }
    }
    assert!(gone, "the key never expired\n{}", cluster.logs());
    for (p, client) in c.iter_mut().enumerate() {
        assert_eq!(call(client, &["GET", "short"]), Reply::nil(), "priest {p}");
        assert_eq!(call(client, &["EXISTS", "short"]), int(0), "priest {p}");
        assert_eq!(call(client, &["PTTL", "short"]), int(-2), "priest {p}");
    }
    // Whole-map reads do not list a key that expired either.
    assert_eq!(
        call(&mut c[0], &["PSETEX", "short", "200", "v"]),
        Reply::ok()
    );
    let mut listed = true;
    for _ in 0..400 {
        std::thread::sleep(Duration::from_millis(25));
        let Reply::Array(Some(keys)) = call(&mut c[2], &["KEYS", "sho*"]) else {
            panic!("KEYS answers an array");
        };
        if keys.is_empty() {
            listed = false;
            break;
        }
    }
    assert!(!listed, "KEYS listed the key after it expired");
    assert_eq!(call(&mut c[1], &["EXISTS", "short"]), int(0));
    assert_eq!(call(&mut c[0], &["PING"]), Reply::Simple("PONG".into()));
}

#[test]
fn a_scan_needs_no_server_state_its_steps_go_to_any_priest() {
    let cluster = cluster();
    let mut cs: Vec<Client> = (0..3)
        .map(|i| cluster.connect(i, Duration::from_secs(10)))
        .collect();
    call(&mut cs[0], &["DEL", "up"]);
    let mut mset = vec!["MSET".to_string()];
    for i in 0..100 {
        mset.extend([format!("k{i}"), i.to_string()]);
    }
    let words: Vec<&str> = mset.iter().map(String::as_str).collect();
    assert_eq!(call(&mut cs[0], &words), Reply::ok());
    let (mut cursor, mut seen, mut steps) = ("0".to_string(), Vec::new(), 0);
    loop {
        let reply = call(&mut cs[steps % 3], &["SCAN", &cursor, "COUNT", "7"]);
        steps += 1;
        let Reply::Array(Some(parts)) = reply else {
            panic!("SCAN answered {reply:?}")
        };
        let (Reply::Bulk(Some(next)), Reply::Array(Some(keys))) = (&parts[0], &parts[1]) else {
            panic!("SCAN answered {parts:?}")
        };
        for k in keys {
            let Reply::Bulk(Some(k)) = k else { panic!() };
            seen.push(String::from_utf8(k.clone()).unwrap());
        }
        cursor = String::from_utf8(next.clone()).unwrap();
        assert!(
            cursor.parse::<u64>().is_ok(),
            "a cursor is a number: {cursor}"
        );
        if cursor == "0" {
            break;
        }
        // Keys written between steps may or may not be returned.
        call(&mut cs[steps % 3], &["SET", &format!("late{steps}"), "v"]);
    }
    assert!(steps >= 100 / 7, "{steps} steps");
    let old: Vec<&String> = seen.iter().filter(|k| k.starts_with('k')).collect();
    assert_eq!(old.len(), 100, "every key held throughout, once");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no key twice");
    // MATCH through a listener; a cursor that is not a number is refused.
    let Reply::Array(Some(parts)) =
        call(&mut cs[1], &["SCAN", "0", "MATCH", "k1?", "COUNT", "1000"])
    else {
        panic!()
    };
    assert_eq!(parts[0], bulk("0"));
    let Reply::Array(Some(matched)) = &parts[1] else {
        panic!("{parts:?}")
    };
    assert_eq!(matched.len(), 10);
    assert_eq!(call(&mut cs[2], &["SCAN", "next"]), err("invalid cursor"));
    assert_eq!(call(&mut cs[2], &["DBSIZE"]), int(100 + steps as i64 - 1));
}

#[test]
fn redis_py_runs_every_command_against_the_parliament() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/redis_py/commands.py");
    match Command::new("python3").arg("--version").output() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("SKIPPED: python3 is not installed, so redis-py cannot run");
            return;
        }
        Err(e) => panic!("cannot run python3: {e}"),
        Ok(_) => {}
    }
    let cluster = cluster();
    // Through a priest that is not the first president, to go through forwarding too.
    let port = cluster.clients[2].port().to_string();
    let out = Command::new("python3")
        .arg(script)
        .arg(&port)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "redis-py failed ({}); if the module is missing: python3 -m pip install redis==8.1.0 \
         (as .ci/run does)\n{stdout}\n{stderr}\n{}",
        out.status,
        cluster.logs()
    );
    assert!(stdout.contains("redis-py 8.1.0 ok"), "{stdout}");
}
