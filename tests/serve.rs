//! The key-value service with real processes: three `parliament serve` priests with
//! `protocol = "parliament"` on 127.0.0.1, spoken to through their RESP listeners.

use parliament::host::config::{PriestFile, Protocol};
use parliament::resp::client::Client;
use parliament::resp::Reply;
use std::process::Command;
use std::time::Duration;

mod support;
use support::cluster::{config_file, write_config, write_key, Cluster, Timers, BIN};
use support::resp::bulk;

/// A RESP client of priest `i`'s listener, once it accepts.
fn connect(cluster: &Cluster, i: usize) -> Client {
    cluster.connect(i, Duration::from_secs(20))
}

/// `client.call(words)`, asked again while the answer is the listener's
/// `-ERR no answer ... within` (its short `client_timeout_ms` ran out on a loaded machine).
/// Only for commands that may run twice (a SET of the same value, a GET); any other answer
/// is returned as it came.
fn call_patiently(client: &mut Client, words: &[&[u8]]) -> Reply {
    for _ in 0..50 {
        match client.call(words).unwrap() {
            Reply::Error(e) if e.contains("no answer from the Parliament") => continue,
            reply => return reply,
        }
    }
    panic!("fifty timeouts in a row for {words:?}")
}

#[test]
fn set_then_get_through_every_priest_of_a_three_priest_parliament() {
    let cluster = Cluster::start(3, Timers::defaults(), None);
    // Find the president by trying each priest: the first SET that is answered +OK.
    let mut president = None;
    for i in 0..3 {
        let mut c = connect(&cluster, i);
        if c.call(&[b"SET", b"law", b"olive oil"]).unwrap() == Reply::ok() {
            president = Some(i);
            break;
        }
    }
    let president = president.unwrap_or_else(|| panic!("no priest passed SET\n{}", cluster.logs()));
    let mut c = connect(&cluster, president);
    assert_eq!(c.call(&[b"GET", b"law"]).unwrap(), bulk("olive oil"));
    // Any priest's listener reaches the president: its commands are forwarded.
    for i in 0..3 {
        let mut c = connect(&cluster, i);
        assert_eq!(
            c.call(&[b"GET", b"law"]).unwrap(),
            bulk("olive oil"),
            "through priest {i}\n{}",
            cluster.logs()
        );
    }
    // The other commands, each one operation of the law.
    let mut c = connect(&cluster, (president + 1) % 3);
    assert_eq!(c.call(&[b"EXISTS", b"law"]).unwrap(), Reply::Integer(1));
    assert_eq!(
        c.call(&[b"CAS", b"law", b"olive oil", b"wine"]).unwrap(),
        Reply::Integer(1)
    );
    assert_eq!(
        c.call(&[b"CAS", b"law", b"olive oil", b"water"]).unwrap(),
        Reply::Integer(0)
    );
    assert_eq!(
        c.call(&[b"SET", b"law", b"x", b"NX"]).unwrap(),
        Reply::nil()
    );
    assert_eq!(c.call(&[b"GET", b"law"]).unwrap(), bulk("wine"));
    assert_eq!(c.call(&[b"DEL", b"law"]).unwrap(), Reply::Integer(1));
    assert_eq!(c.call(&[b"DEL", b"law"]).unwrap(), Reply::Integer(0));
    assert_eq!(c.call(&[b"EXISTS", b"law"]).unwrap(), Reply::Integer(0));
    assert_eq!(c.call(&[b"GET", b"law"]).unwrap(), Reply::nil());
    assert_eq!(c.call(&[b"PING"]).unwrap(), Reply::Simple("PONG".into()));
    match c.call(&[b"FLY", b"away"]).unwrap() {
        Reply::Error(e) => assert!(e.starts_with("ERR unknown command 'FLY'"), "{e}"),
        r => panic!("unknown command answered {r:?}"),
    }
    // Pipelined commands of one connection are passed in the order sent.
    for i in 0..20 {
        c.send(&[b"SET", b"n", i.to_string().as_bytes()]).unwrap();
    }
    c.send(&[b"GET", b"n"]).unwrap();
    for _ in 0..20 {
        assert_eq!(c.read_reply().unwrap(), Reply::ok());
    }
    assert_eq!(c.read_reply().unwrap(), bulk("19"));
    // A value of 1 MiB (the listener's limit on one bulk string) is passed: its decree and
    // its answer travel in chunks. It reads back the same through every priest.
    let big = "v".repeat(1 << 20);
    assert_eq!(
        c.call(&[b"SET", b"big", big.as_bytes()]).unwrap(),
        Reply::ok()
    );
    for i in 0..3 {
        let mut c = connect(&cluster, i);
        assert_eq!(
            c.call(&[b"GET", b"big"]).unwrap(),
            bulk(&big),
            "through priest {i}"
        );
    }
    // A larger one is refused with a clear error, and nothing is written.
    let huge = "v".repeat((1 << 20) + 1);
    match connect(&cluster, president).call(&[b"SET", b"huge", huge.as_bytes()]) {
        Ok(Reply::Error(e)) => assert!(e.contains("invalid bulk length"), "{e}"),
        r => panic!("a value over the limit was answered {r:?}"),
    }
    assert_eq!(c.call(&[b"EXISTS", b"huge"]).unwrap(), Reply::Integer(0));
}

#[test]
fn a_parliament_priest_without_a_client_address_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    write_key(dir.path());
    let mut file = config_file(Protocol::Parliament);
    file.priest
        .push(PriestFile::new(0, "127.0.0.1:7999".parse().unwrap()));
    let config = write_config(dir.path(), &file);
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .args(["--id", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no client_address"), "{err}");
}

/// A one-priest Synod configuration with `[scheduling] nice = nice`, on a free UDP port, in
/// a new directory with its key.
fn one_priest_at_nice(nice: i32) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    write_key(dir.path());
    let mut file = config_file(Protocol::Synod);
    file.scheduling.nice = nice;
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    file.priest
        .push(PriestFile::new(0, udp.local_addr().unwrap()));
    let config = write_config(dir.path(), &file);
    (dir, config)
}

/// `[scheduling] nice = 5`: the priest and every thread it runs come to nice value 5
/// (raising it needs no privilege, so this runs as any user).
#[cfg(target_os = "linux")]
#[test]
fn a_priest_runs_at_the_nice_value_its_config_asks() {
    let (_dir, config) = one_priest_at_nice(5);
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .args(["--id", "0", "--bootstrap"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // A thread's nice value is field 19 of its stat line (after the command in parentheses,
    // field 3 is the 1st).
    let nice_of = |stat: &str| -> Option<i64> {
        let after = &stat[stat.rfind(')')? + 2..];
        after.split(' ').nth(16)?.parse().ok()
    };
    let all_five = |nices: &[Option<i64>]| !nices.is_empty() && nices.iter().all(|n| *n == Some(5));
    let task = format!("/proc/{}/task", child.id());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let nices = loop {
        let nices: Vec<Option<i64>> = std::fs::read_dir(&task)
            .map(|d| {
                d.flatten()
                    .map(|t| {
                        std::fs::read_to_string(t.path().join("stat"))
                            .ok()
                            .and_then(|s| nice_of(&s))
                    })
                    .collect()
            })
            .unwrap_or_default();
        // It sets its nice value as it starts, before it starts any other thread.
        if all_five(&nices) || std::time::Instant::now() > deadline {
            break nices;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(all_five(&nices), "{nices:?}");
}

/// `[scheduling] nice = -5` where the kernel refuses it (no `CAP_SYS_NICE`: taken from root
/// by `setpriv`, or never had): the priest does not start, and says why.
#[cfg(target_os = "linux")]
#[test]
fn a_priest_whose_nice_value_the_kernel_refuses_does_not_start() {
    let (_dir, config) = one_priest_at_nice(-5);
    // SAFETY: geteuid only reads.
    let root = unsafe { libc::geteuid() } == 0;
    let mut cmd = if root {
        let mut c = Command::new("setpriv");
        c.args(["--inh-caps=-sys_nice", "--bounding-set=-sys_nice", BIN]);
        c
    } else {
        Command::new(BIN)
    };
    let mut child = cmd
        .args(["serve", "--config"])
        .arg(&config)
        .args(["--id", "0", "--bootstrap"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("setpriv (util-linux) runs");
    // A priest that started anyway would serve until stopped.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("scheduling.nice = -5: the kernel refused it"),
        "{err}"
    );
}

/// Sessions expire (`[sessions] expire_after_s = 1`): a client the law forgot is refused,
/// its late copies too (nothing runs twice), while a RESP connection idle for longer than
/// the expiry goes on working (its listener gives it a new session).
#[test]
fn a_forgotten_client_is_refused_and_an_idle_connection_goes_on() {
    use parliament::host::UdpClient;
    use parliament::kv::{client_id_at, Op};
    use parliament::parliament::Msg;
    let timers = Timers {
        resend: 50,
        client_timeout: 100,
        ..Timers::defaults()
    };
    let mut cluster = Cluster::parliament(3, timers, None).sessions(1);
    cluster.launch_all();
    cluster.wait_until_up();
    let mut idle = connect(&cluster, 1);
    let mut busy = connect(&cluster, 2);
    assert_eq!(
        call_patiently(&mut idle, &[b"SET", b"k", b"idle"]),
        Reply::ok()
    );
    assert_eq!(
        call_patiently(&mut busy, &[b"SET", b"k", b"busy"]),
        Reply::ok()
    );
    let key = cluster.key.clone();
    // Asks every priest until one answers the client's command `seq`.
    let ask = |client: &mut UdpClient, seq: u64, value: &str| -> Msg {
        let msg = Msg::Request {
            client: client.id(),
            seq,
            op: Op::Put {
                key: "k".into(),
                value: value.into(),
            },
        };
        client
            .ask(
                &msg,
                &[0, 1, 2],
                Duration::from_millis(100),
                Duration::from_secs(10),
                |_, m: Msg| match m {
                    Msg::Reply { seq: s, .. } | Msg::Expired { seq: s } if s == seq => Some(m),
                    _ => None,
                },
            )
            .unwrap()
    };
    let udp = || UdpClient::new(cluster.addrs.clone(), key.clone()).unwrap();
    // A client that began in 1970, long before the horizon: refused.
    let mut ancient = udp().with_id(client_id_at(0));
    assert_eq!(ask(&mut ancient, 1, "ancient"), Msg::Expired { seq: 1 });
    // A young client runs its command, then stays idle while others are served. Its id
    // says when it began rounded down to the second, and the horizon is a second behind the
    // stamp of the decree that carries its command: an id of this second would be refused
    // if that decree were stamped more than the rest of the second later (a loaded
    // machine). So its id says it began a second from now, which the horizon passes two
    // seconds later.
    let mut young = udp().with_id(client_id_at(parliament::kv::unix_millis() + 1_000));
    assert!(matches!(ask(&mut young, 1, "young"), Msg::Reply { .. }));
    let until = std::time::Instant::now() + Duration::from_millis(3_500);
    while std::time::Instant::now() < until {
        assert_eq!(
            call_patiently(&mut busy, &[b"SET", b"k", b"busy"]),
            Reply::ok()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Forgotten: its late copy does not run again, and neither does its next command. (Sent
    // from a new socket with the same client id: the first socket may still hold a second
    // answer to the first copy, from another priest or a resend.)
    let mut young = udp().with_id(young.id());
    assert_eq!(ask(&mut young, 1, "young"), Msg::Expired { seq: 1 });
    assert_eq!(ask(&mut young, 2, "young again"), Msg::Expired { seq: 2 });
    assert_eq!(call_patiently(&mut busy, &[b"GET", b"k"]), bulk("busy"));
    // The idle RESP connection was given a new session: its command runs.
    assert_eq!(
        call_patiently(&mut idle, &[b"SET", b"k", b"idle"]),
        Reply::ok()
    );
    assert_eq!(call_patiently(&mut busy, &[b"GET", b"k"]), bulk("idle"));
}
