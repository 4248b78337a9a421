//! A cluster of real `parliament serve` processes with `protocol = "parliament"` on
//! 127.0.0.1, optionally behind the fault relay ([`super::proxy`]), that a test can kill -9
//! and restart priest by priest.

use super::proxy::Proxy;
use parliament::host::wire::Key;
use parliament::resp::client::Client;
use std::fs::{self, OpenOptions};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_parliament");

/// The `[timers]` of a test cluster, in milliseconds.
#[derive(Clone, Copy, Debug)]
pub struct Timers {
    pub election: [u64; 2],
    pub heartbeat: u64,
    pub resend: u64,
    pub client_timeout: u64,
}

/// Priests; every process is killed when dropped, also when the test fails.
pub struct Cluster {
    /// Configuration, key, ledgers and logs; kept (not deleted) when the test fails.
    dir: Option<tempfile::TempDir>,
    config: PathBuf,
    /// Each priest's RESP listener.
    pub clients: Vec<SocketAddr>,
    children: Vec<Option<Child>>,
    /// The relay between the priests, if the cluster has one.
    pub proxy: Option<Proxy>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in self.children.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            if let Some(dir) = self.dir.take() {
                eprintln!(
                    "the cluster's logs and ledgers are kept in {}",
                    dir.keep().display()
                );
            }
        }
    }
}

/// Free ports for the priests' sockets and listeners, held (so they differ from each other
/// and from the relay's) until the caller drops the sockets, just before the priests start.
fn free_ports(n: usize) -> (Vec<UdpSocket>, Vec<TcpListener>) {
    let udp = (0..n)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let tcp = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    (udp, tcp)
}

impl Cluster {
    /// Starts `n` priests; with `proxy_seed`, behind a relay seeded with it (no faults until
    /// the test sets some).
    pub fn start(n: usize, timers: Timers, proxy_seed: Option<u64>) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let key = Key::random();
        let held = free_ports(n);
        let binds: Vec<SocketAddr> = held.0.iter().map(|s| s.local_addr().unwrap()).collect();
        let clients: Vec<SocketAddr> = held.1.iter().map(|s| s.local_addr().unwrap()).collect();
        let proxy = proxy_seed.map(|seed| Proxy::start(key.clone(), binds.clone(), seed));
        let addresses = match &proxy {
            Some(p) => p.addresses(),
            None => binds.clone(),
        };
        fs::write(dir.path().join("cluster.key"), key.to_hex()).unwrap();
        let Timers {
            election: [lo, hi],
            heartbeat,
            resend,
            client_timeout,
        } = timers;
        let mut text = format!(
            "ledger_dir = \"ledger\"\nkey_file = \"cluster.key\"\nprotocol = \"parliament\"\n\
             [timers]\nelection_ms = [{lo}, {hi}]\nheartbeat_ms = {heartbeat}\n\
             resend_ms = {resend}\nclient_timeout_ms = {client_timeout}\n"
        );
        for i in 0..n {
            text += &format!(
                "[[priest]]\nid = {i}\naddress = \"{}\"\nbind = \"{}\"\nclient_address = \"{}\"\n",
                addresses[i], binds[i], clients[i]
            );
        }
        let config = dir.path().join("cluster.toml");
        fs::write(&config, text).unwrap();
        let mut cluster = Cluster {
            dir: Some(dir),
            config,
            clients,
            children: (0..n).map(|_| None).collect(),
            proxy,
        };
        drop(held);
        // The first start of a new cluster's priests; restarts pass no flag.
        for i in 0..n {
            cluster.children[i] = Some(cluster.spawn(i, &["--bootstrap"]));
        }
        cluster.wait_until_up();
        cluster
    }

    /// Waits until every priest's listener accepts (its priest binds its socket right
    /// after), so no first command reaches a president whose quorum is not up yet.
    pub fn wait_until_up(&self) {
        for i in 0..self.clients.len() {
            drop(self.connect(i, Duration::from_secs(1)));
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    /// Priest `i`'s log file (its stdout and stderr, every start appended).
    pub fn log_path(&self, i: usize) -> PathBuf {
        let dir = self.dir.as_ref().expect("kept only when dropped");
        dir.path().join(format!("priest-{i}.log"))
    }

    /// Priest `i`'s ledger directory.
    #[allow(dead_code)] // not every test crate that includes this module uses it
    pub fn ledger_dir(&self, i: usize) -> PathBuf {
        let dir = self.dir.as_ref().expect("kept only when dropped");
        dir.path().join("ledger").join(format!("priest-{i}"))
    }

    /// `parliament serve` of priest `i` with `flags`; its output is appended to its log.
    fn spawn(&self, i: usize, flags: &[&str]) -> Child {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(i))
            .unwrap();
        Command::new(BIN)
            .args(["serve", "--config"])
            .arg(&self.config)
            .args(["--id", &i.to_string()])
            .args(flags)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    /// Starts priest `i` (again); its output is appended to its log.
    pub fn restart(&mut self, i: usize) {
        assert!(self.children[i].is_none(), "priest {i} is running");
        let child = self.spawn(i, &[]);
        self.children[i] = Some(child);
    }

    /// Starts priest `i` with `flags` and waits until it exits or its listener accepts.
    /// Exited: its status and what it wrote. Running: `None`, and it is priest `i` again.
    #[allow(dead_code)] // not every test crate that includes this module uses it
    pub fn try_start(&mut self, i: usize, flags: &[&str]) -> Option<(ExitStatus, String)> {
        assert!(self.children[i].is_none(), "priest {i} is running");
        let before = fs::read_to_string(self.log_path(i))
            .unwrap_or_default()
            .len();
        let mut child = self.spawn(i, flags);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let log = fs::read_to_string(self.log_path(i)).unwrap();
                return Some((status, log[before..].to_string()));
            }
            if Client::connect(self.clients[i]).is_ok() {
                self.children[i] = Some(child);
                return None;
            }
            assert!(
                Instant::now() < deadline,
                "priest {i} neither exited nor listened within 20 s\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills priest `i` with SIGKILL (`Child::kill` on Unix) and reaps it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.children[i].take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// Panics (with the logs) if a priest the test did not kill has exited.
    pub fn assert_alive(&mut self) {
        for i in 0..self.children.len() {
            if let Some(c) = &mut self.children[i] {
                if let Some(status) = c.try_wait().unwrap() {
                    panic!("priest {i} exited by itself ({status})\n{}", self.logs());
                }
            }
        }
    }

    /// A RESP client of priest `i`'s listener, once it accepts (within `within`).
    pub fn try_connect(&self, i: usize, within: Duration, timeout: Duration) -> Option<Client> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(c) = Client::connect(self.clients[i]) {
                c.set_timeout(Some(timeout)).unwrap();
                return Some(c);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn connect(&self, i: usize, timeout: Duration) -> Client {
        self.try_connect(i, Duration::from_secs(20), timeout)
            .unwrap_or_else(|| panic!("priest {i}'s listener never came up\n{}", self.logs()))
    }

    /// The last lines of every priest's log.
    pub fn logs(&self) -> String {
        (0..self.children.len())
            .map(|i| {
                let text = fs::read_to_string(self.log_path(i)).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = &lines[lines.len().saturating_sub(40)..];
                format!("--- priest {i} (last 40 lines)\n{}\n", tail.join("\n"))
            })
            .collect()
    }
}
