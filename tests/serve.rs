//! The key-value service with real processes: three `parliament serve` priests with
//! `protocol = "parliament"` on 127.0.0.1, spoken to through their RESP listeners.

use parliament::host::wire::Key;
use parliament::resp::client::Client;
use parliament::resp::Reply;
use std::fs::{self, File};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_parliament");

/// Three priests; every process is killed when dropped, also when the test fails.
struct Cluster {
    dir: tempfile::TempDir,
    clients: Vec<SocketAddr>,
    children: Vec<Child>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Cluster {
    fn start(n: usize) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        // Hold every socket while choosing, so the ports differ; free them for the priests.
        let udp: Vec<UdpSocket> = (0..n)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let tcp: Vec<TcpListener> = (0..n)
            .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let priests: Vec<SocketAddr> = udp.iter().map(|s| s.local_addr().unwrap()).collect();
        let clients: Vec<SocketAddr> = tcp.iter().map(|s| s.local_addr().unwrap()).collect();
        drop((udp, tcp));
        fs::write(dir.path().join("cluster.key"), Key::random().to_hex()).unwrap();
        let mut text = "ledger_dir = \"ledger\"\nkey_file = \"cluster.key\"\n\
                        protocol = \"parliament\"\n"
            .to_string();
        for i in 0..n {
            text += &format!(
                "[[priest]]\nid = {i}\naddress = \"{}\"\nclient_address = \"{}\"\n",
                priests[i], clients[i]
            );
        }
        let config = dir.path().join("cluster.toml");
        fs::write(&config, text).unwrap();
        let children = (0..n)
            .map(|i| {
                let log = File::create(dir.path().join(format!("priest-{i}.log"))).unwrap();
                Command::new(BIN)
                    .args(["serve", "--config"])
                    .arg(&config)
                    .args(["--id", &i.to_string(), "--bootstrap"])
                    .stdin(Stdio::null())
                    .stdout(log.try_clone().unwrap())
                    .stderr(log)
                    .spawn()
                    .unwrap()
            })
            .collect();
        Cluster {
            dir,
            clients,
            children,
        }
    }

    /// A RESP client of priest `i`'s listener, once it accepts.
    fn connect(&self, i: usize) -> Client {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match Client::connect(self.clients[i]) {
                Ok(c) => {
                    c.set_timeout(Some(Duration::from_secs(20))).unwrap();
                    return c;
                }
                Err(e) if Instant::now() > deadline => {
                    panic!("priest {i}'s listener never came up: {e}\n{}", self.logs())
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    fn logs(&self) -> String {
        (0..self.clients.len())
            .map(|i| {
                let p = self.dir.path().join(format!("priest-{i}.log"));
                format!(
                    "--- priest {i}\n{}",
                    fs::read_to_string(p).unwrap_or_default()
                )
            })
            .collect()
    }
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(Some(s.as_bytes().to_vec()))
}

#[test]
fn set_then_get_through_every_priest_of_a_three_priest_parliament() {
    let cluster = Cluster::start(3);
    // Find the president by trying each priest: the first SET that is answered +OK.
    let mut president = None;
    for i in 0..3 {
        let mut c = cluster.connect(i);
        if c.call(&[b"SET", b"law", b"olive oil"]).unwrap() == Reply::ok() {
            president = Some(i);
            break;
        }
    }
    let president = president.unwrap_or_else(|| panic!("no priest passed SET\n{}", cluster.logs()));
    let mut c = cluster.connect(president);
    assert_eq!(c.call(&[b"GET", b"law"]).unwrap(), bulk("olive oil"));
    // Any priest's listener reaches the president: its commands are forwarded.
    for i in 0..3 {
        let mut c = cluster.connect(i);
        assert_eq!(
            c.call(&[b"GET", b"law"]).unwrap(),
            bulk("olive oil"),
            "through priest {i}\n{}",
            cluster.logs()
        );
    }
    // The other commands, each one operation of the law.
    let mut c = cluster.connect((president + 1) % 3);
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
    // A value as large as a decree may carry is passed; a larger one is refused with a
    // clear error (a decree travels in one datagram), and the connection goes on.
    let big = "v".repeat(parliament::parliament::BATCH_BYTES - 100);
    assert_eq!(
        c.call(&[b"SET", b"big", big.as_bytes()]).unwrap(),
        Reply::ok()
    );
    assert_eq!(c.call(&[b"GET", b"big"]).unwrap(), bulk(&big));
    let huge = "v".repeat(parliament::parliament::BATCH_BYTES + 1);
    match c.call(&[b"SET", b"huge", huge.as_bytes()]).unwrap() {
        Reply::Error(e) => assert!(e.contains("command too large"), "{e}"),
        r => panic!("a command over the limit was answered {r:?}"),
    }
    assert_eq!(c.call(&[b"EXISTS", b"huge"]).unwrap(), Reply::Integer(0));
}

#[test]
fn a_parliament_priest_without_a_client_address_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("cluster.key"), Key::random().to_hex()).unwrap();
    let config = dir.path().join("cluster.toml");
    fs::write(
        &config,
        "ledger_dir = \"ledger\"\nkey_file = \"cluster.key\"\nprotocol = \"parliament\"\n\
         [[priest]]\nid = 0\naddress = \"127.0.0.1:7999\"\n",
    )
    .unwrap();
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
