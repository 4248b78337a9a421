//! The one harness of the tests that start real priests: a cluster of `parliament serve`
//! processes on the loopback interface, its configuration written with the configuration
//! writer ([`ConfigFile`]), that a test starts, kills with SIGKILL, stops with SIGTERM and
//! restarts priest by priest.
//!
//! - [`Cluster::parliament`]: the key-value service (`protocol = "parliament"`), each priest
//!   with a RESP listener, optionally behind the fault relay ([`super::proxy`]);
//!   [`Cluster::start`] also starts every priest and waits for the listeners.
//! - [`Cluster::synod`]: Synod priests, on IPv4 or IPv6.
//!
//! Each priest's first start passes `--bootstrap` (a new cluster); later starts pass no flag.
//! Every process is killed when the cluster is dropped, also when the test fails, and then
//! the directory (configuration, key, ledgers, logs) is kept and named.

use super::proxy::Proxy;
use parliament::host::config::{ConfigFile, PriestFile, Protocol, TimersFile};
use parliament::host::wire::Key;
use parliament::resp::client::Client;
use parliament::resp::Reply;
use parliament::service::status::{parse_info, PriestStatus};
use std::fs::{self, OpenOptions};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_parliament");

/// The Parliament's `[timers]` of a test cluster, in milliseconds.
#[derive(Clone, Copy, Debug)]
pub struct Timers {
    pub election: [u64; 2],
    pub heartbeat: u64,
    pub resend: u64,
    pub client_timeout: u64,
}

impl Timers {
    /// The configuration's defaults.
    pub fn defaults() -> Timers {
        let t = TimersFile::default();
        Timers {
            election: t.election_ms,
            heartbeat: t.heartbeat_ms,
            resend: t.resend_ms,
            client_timeout: t.client_timeout_ms,
        }
    }
}

/// Priests; every process is killed when dropped, also when the test fails.
pub struct Cluster {
    /// Configuration, key, ledgers and logs; kept (not deleted) when the test fails.
    dir: Option<tempfile::TempDir>,
    /// The configuration file, as written.
    pub config: PathBuf,
    pub key: Key,
    /// Each priest's address (the relay's, if the cluster has one).
    pub addrs: Vec<SocketAddr>,
    /// Each priest's RESP listener (none for Synod priests).
    pub clients: Vec<SocketAddr>,
    children: Vec<Option<Child>>,
    /// Whether each priest has been started (its first start passes `--bootstrap`).
    started: Vec<bool>,
    /// The priests' environment, besides this process's.
    env: Vec<(&'static str, String)>,
    /// The relay between the priests, if the cluster has one.
    pub proxy: Option<Proxy>,
    /// A priest's own configuration file, if it has one ([`Cluster::own_config`]).
    own_config: Vec<Option<PathBuf>>,
    /// Whether the priests record their runs ([`Cluster::traced`]), and whether the test
    /// checked them ([`Cluster::check_traces`]): a cluster that records must.
    traced: bool,
    traces_checked: bool,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in self.children.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if self.traced && !self.traces_checked && !std::thread::panicking() {
            panic!("the cluster recorded traces the test did not check (Cluster::check_traces)");
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

/// `n` free UDP ports of `host`, held (so they differ from each other and from the relay's)
/// until the caller drops the sockets, just before the priests start. They are taken below
/// the kernel's ephemeral range (32768 and up on Linux), so that no socket bound to port 0
/// meanwhile (a client's, another test's relay) can take one in the moment between the drop
/// and the priest's own bind.
fn free_udp(host: &str, n: usize) -> Vec<UdpSocket> {
    (0..n)
        .map(|_| below_ephemeral(|port| UdpSocket::bind(format!("{host}:{port}"))))
        .collect()
}

/// `n` free TCP ports of 127.0.0.1, held likewise.
fn free_tcp(n: usize) -> Vec<TcpListener> {
    (0..n)
        .map(|_| below_ephemeral(|port| TcpListener::bind(format!("127.0.0.1:{port}"))))
        .collect()
}

/// Binds a random port in 10000..32000 with `bind`, trying others while it fails.
fn below_ephemeral<S>(bind: impl Fn(u16) -> std::io::Result<S>) -> S {
    for _ in 0..1000 {
        if let Ok(s) = bind(rand::random_range(10_000..32_000)) {
            return s;
        }
    }
    panic!("no free port in 10000..32000 after 1000 tries")
}

fn addrs<S>(held: &[S], addr: impl Fn(&S) -> std::io::Result<SocketAddr>) -> Vec<SocketAddr> {
    held.iter().map(|s| addr(s).unwrap()).collect()
}

/// Writes a fresh key to `dir/cluster.key` and returns it.
pub fn write_key(dir: &Path) -> Key {
    let key = Key::random();
    fs::write(dir.join("cluster.key"), key.to_hex()).unwrap();
    key
}

/// A configuration of `protocol` whose ledgers and key are in its own directory, as a test
/// cluster's are; its priests are for the caller to add.
pub fn config_file(protocol: Protocol) -> ConfigFile {
    ConfigFile::new("ledger", "cluster.key", protocol)
}

/// Writes `file` to `dir/cluster.toml` and returns its path.
pub fn write_config(dir: &Path, file: &ConfigFile) -> PathBuf {
    let path = dir.join("cluster.toml");
    file.write(&path, "A test cluster").unwrap();
    path
}

impl Cluster {
    /// `file`'s priests in a new directory with a new key (started by the caller).
    fn new(
        dir: tempfile::TempDir,
        key: Key,
        file: &ConfigFile,
        addrs: Vec<SocketAddr>,
        clients: Vec<SocketAddr>,
        proxy: Option<Proxy>,
    ) -> Cluster {
        let config = write_config(dir.path(), file);
        let n = addrs.len();
        Cluster {
            dir: Some(dir),
            config,
            key,
            addrs,
            clients,
            children: (0..n).map(|_| None).collect(),
            started: vec![false; n],
            env: Vec::new(),
            proxy,
            own_config: vec![None; n],
            traced: false,
            traces_checked: false,
        }
    }

    /// `n` Parliament priests with their RESP listeners, not yet started; with
    /// `proxy_seed`, behind a relay seeded with it (no faults until the test sets some).
    pub fn parliament(n: usize, timers: Timers, proxy_seed: Option<u64>) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let key = write_key(dir.path());
        let udp = free_udp("127.0.0.1", n);
        let tcp = free_tcp(n);
        let binds = addrs(&udp, UdpSocket::local_addr);
        let clients = addrs(&tcp, TcpListener::local_addr);
        let proxy = proxy_seed.map(|seed| Proxy::start(key.clone(), binds.clone(), seed));
        let addresses = match &proxy {
            Some(p) => p.addresses(),
            None => binds.clone(),
        };
        let mut file = config_file(Protocol::Parliament);
        file.timers.election_ms = timers.election;
        file.timers.heartbeat_ms = timers.heartbeat;
        file.timers.resend_ms = timers.resend;
        file.timers.client_timeout_ms = timers.client_timeout;
        for i in 0..n {
            let mut p = PriestFile::new(i, addresses[i]).client_address(clients[i]);
            if proxy.is_some() {
                p = p.bind(binds[i]);
            }
            file.priest.push(p);
        }
        drop((udp, tcp));
        Cluster::new(dir, key, &file, addresses, clients, proxy)
    }

    /// Starts `n` Parliament priests (see [`Cluster::parliament`]) and waits until every
    /// listener accepts.
    pub fn start(n: usize, timers: Timers, proxy_seed: Option<u64>) -> Cluster {
        Cluster::parliament(n, timers, proxy_seed).start_all()
    }

    /// Starts every priest of a cluster not yet started and waits until every listener
    /// accepts.
    pub fn start_all(self) -> Cluster {
        let mut cluster = self;
        for i in 0..cluster.children.len() {
            let child = cluster.spawn(i, &[]);
            cluster.children[i] = Some(child);
        }
        cluster.wait_until_up();
        cluster
    }

    /// `n` Synod priests on `host` ("127.0.0.1" or "[::1]") retrying ballots after
    /// `retry_ms`, not yet started.
    pub fn synod(n: usize, host: &str, retry_ms: [u64; 2]) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let key = write_key(dir.path());
        let udp = free_udp(host, n);
        let addrs = addrs(&udp, UdpSocket::local_addr);
        drop(udp);
        let mut file = config_file(Protocol::Synod);
        file.timers.retry_ms = retry_ms;
        for (i, a) in addrs.iter().enumerate() {
            file.priest.push(PriestFile::new(i, *a));
        }
        Cluster::new(dir, key, &file, addrs, Vec::new(), None)
    }

    /// Every priest records its run in the cluster's `trace` directory (the configuration's
    /// `[trace] dir`); the test must check the traces ([`Cluster::check_traces`]). Before
    /// the priests start.
    pub fn traced(mut self) -> Self {
        let text = fs::read_to_string(&self.config).unwrap();
        let mut file = ConfigFile::from_toml(&text).unwrap();
        file.trace = Some(parliament::host::config::TraceFile {
            dir: "trace".into(),
        });
        file.write(&self.config, "A test cluster").unwrap();
        self.traced = true;
        self
    }

    /// Kills every priest (SIGKILL: their traces stay in the page cache, a torn last
    /// record is the end of an incarnation), then replays and checks every priest's trace
    /// (`parliament trace check`); panics with the errors if a check fails, else prints
    /// and returns the figures.
    pub fn check_traces(&mut self) -> parliament::service::trace::Report {
        let report = self.trace_report();
        println!("trace check: {report}");
        assert!(
            report.passed(),
            "trace check failed ({} errors):\n{}",
            report.errors.len(),
            report.errors[..report.errors.len().min(20)].join("\n")
        );
        assert!(report.steps > 0 && report.matched > 0, "{report}");
        report
    }

    /// Kills every priest, then replays and checks every priest's trace, checks 1 to 4 (the
    /// errors of check 4, the run against tla/Parliament.tla, follow the others', each
    /// starting "against the spec: "); the figures and errors, whatever they are.
    pub fn trace_report(&mut self) -> parliament::service::trace::Report {
        self.trace_reports().0
    }

    /// As [`Cluster::trace_report`], with check 4's own report beside.
    pub fn trace_reports(
        &mut self,
    ) -> (
        parliament::service::trace::Report,
        parliament::service::trace::spec::SpecReport,
    ) {
        for i in 0..self.children.len() {
            self.kill(i);
        }
        self.traces_checked = true;
        let dir = self.dir().join("trace");
        let (mut report, spec) = parliament::service::trace::spec::check_dir(&dir)
            .unwrap_or_else(|e| panic!("the traces cannot be read: {e}"));
        println!("trace check 4: {spec}");
        report
            .errors
            .extend(spec.errors.iter().map(|e| format!("against the spec: {e}")));
        (report, spec)
    }

    /// The priests run the seeded bug `bug` (`parliament bugs`; the configuration's
    /// `seeded_bug`, allowed by `PARLIAMENT_SEEDED_BUGS=1`). Before the priests start.
    pub fn seeded_bug(mut self, bug: &str) -> Self {
        let text = fs::read_to_string(&self.config).unwrap();
        let mut file = ConfigFile::from_toml(&text).unwrap();
        file.seeded_bug = Some(bug.into());
        file.write(&self.config, "A test cluster").unwrap();
        self.env.push(("PARLIAMENT_SEEDED_BUGS", "1".into()));
        self
    }

    /// The seeded deployment fault (tests only): every priest's host sends a batch's late
    /// messages before its sync (`PARLIAMENT_FAULT_SEND_BEFORE_SYNC=1`).
    pub fn send_before_sync(mut self) -> Self {
        self.env
            .push(("PARLIAMENT_FAULT_SEND_BEFORE_SYNC", "1".into()));
        self
    }

    /// The priests log at debug level (every message sent, every datagram dropped).
    pub fn debug_log(mut self) -> Self {
        self.env.push(("RUST_LOG", "parliament=debug".into()));
        self
    }

    /// Every ledger write of every priest is delayed this long (fault injection, see
    /// `NodeConfig::save_delay`).
    pub fn slow_ledger(mut self, ms: u64) -> Self {
        self.env.push(("PARLIAMENT_SLOW_LEDGER_MS", ms.to_string()));
        self
    }

    /// Priests snapshot their law once `after_decrees` decrees were applied since the last
    /// snapshot, considering it every `period_ms` (the configuration's `[snapshots]` and
    /// `timers.snapshot_ms`), by count only (`after_bytes = 0`: a small test law is not held
    /// back until the commands since outweigh it). Before the priests start.
    pub fn snapshots(self, after_decrees: u32, period_ms: u64) -> Self {
        let text = fs::read_to_string(&self.config).unwrap();
        let mut file = ConfigFile::from_toml(&text).unwrap();
        file.snapshots.after_decrees = after_decrees;
        file.snapshots.after_bytes = 0;
        file.timers.snapshot_ms = period_ms;
        file.write(&self.config, "A test cluster").unwrap();
        self
    }

    /// The law forgets sessions idle for `expire_after_s` (the configuration's
    /// `[sessions]`). Before the priests start.
    pub fn sessions(self, expire_after_s: u64) -> Self {
        let text = fs::read_to_string(&self.config).unwrap();
        let mut file = ConfigFile::from_toml(&text).unwrap();
        file.sessions.expire_after_s = expire_after_s;
        file.write(&self.config, "A test cluster").unwrap();
        self
    }

    /// The Chamber changes by decree (the configuration's `[membership]`): the cluster
    /// begins with priests `0..founders`, and the others listed join
    /// ([`Cluster::start_joining`], then `parliament member add`). Before the priests start.
    pub fn membership(self, founders: usize) -> Self {
        let text = fs::read_to_string(&self.config).unwrap();
        let mut file = ConfigFile::from_toml(&text).unwrap();
        file.membership = Some(parliament::host::config::MembershipFile { founders, alpha: 1 });
        file.write(&self.config, "A test cluster").unwrap();
        // The key on the wire is bound to the membership: the relay reads with that one.
        let mut this = self;
        this.key = parliament::host::config::Config::load(&this.config)
            .unwrap()
            .key;
        if let Some(p) = &this.proxy {
            p.set_key(this.key.clone());
        }
        this
    }

    /// Starts priest `i` for the first time with `--join` (a new priest of a running
    /// cluster), and waits until its listener answers as a priest.
    pub fn start_joining(&mut self, i: usize) {
        assert!(!self.started[i], "priest {i} has run before");
        self.started[i] = true;
        if let Some((status, log)) = self.try_start(i, &["--join"]) {
            panic!("priest {i} exited with {status} when joining:\n{log}");
        }
    }

    /// Priest `i` starts from here on with its own configuration: the cluster's, changed by
    /// `edit` (a misconfigured priest).
    pub fn own_config(&mut self, i: usize, edit: impl FnOnce(&mut ConfigFile)) {
        let text = fs::read_to_string(&self.config).unwrap();
        let mut file = ConfigFile::from_toml(&text).unwrap();
        edit(&mut file);
        let path = self.dir().join(format!("cluster-{i}.toml"));
        file.write(&path, "A misconfigured priest").unwrap();
        self.own_config[i] = Some(path);
    }

    /// `parliament member ARGS --config FILE`: its exit status and output.
    pub fn member(&self, args: &[&str]) -> (ExitStatus, String) {
        let out = Command::new(BIN)
            .arg("member")
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status, text)
    }

    /// The cluster's directory.
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("kept only when dropped").path()
    }

    /// Priest `i`'s log file (its stdout and stderr, every start appended).
    pub fn log_path(&self, i: usize) -> PathBuf {
        self.dir().join(format!("priest-{i}.log"))
    }

    /// Priest `i`'s log.
    pub fn log(&self, i: usize) -> String {
        fs::read_to_string(self.log_path(i)).unwrap_or_default()
    }

    /// Priest `i`'s ledger directory.
    pub fn ledger_dir(&self, i: usize) -> PathBuf {
        self.dir().join("ledger").join(format!("priest-{i}"))
    }

    /// `parliament serve` of priest `i`, its output appended to its log.
    pub fn serve_command(&self, i: usize) -> Command {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(i))
            .unwrap();
        let mut c = Command::new(BIN);
        c.args(["serve", "--config"])
            .arg(
                self.own_config
                    .get(i)
                    .and_then(Option::as_ref)
                    .unwrap_or(&self.config),
            )
            .args(["--id", &i.to_string()])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        c
    }

    /// Starts priest `i` with `flags`, and `--bootstrap` the first time.
    fn spawn(&mut self, i: usize, flags: &[&str]) -> Child {
        let mut cmd = self.serve_command(i);
        if !std::mem::replace(&mut self.started[i], true) {
            cmd.arg("--bootstrap");
        }
        cmd.args(flags).spawn().unwrap()
    }

    /// Waits until every priest's listener accepts (its priest binds its socket right
    /// after), so no first command reaches a president whose quorum is not up yet.
    pub fn wait_until_up(&self) {
        for i in 0..self.clients.len() {
            drop(self.connect(i, Duration::from_secs(1)));
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    /// Starts priest `i` (again) without waiting; its output is appended to its log.
    pub fn restart(&mut self, i: usize) {
        assert!(self.children[i].is_none(), "priest {i} is running");
        let child = self.spawn(i, &[]);
        self.children[i] = Some(child);
    }

    /// Starts priest `i` and waits until it has opened its ledger and bound its socket.
    pub fn launch(&mut self, i: usize) {
        assert!(self.children[i].is_none(), "priest {i} is running");
        let starts = self.log(i).matches("priest starting").count();
        let mut child = self.spawn(i, &[]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.log(i).matches("priest starting").count() == starts {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("priest {i} exited with {status}: {}", self.log(i));
            }
            assert!(Instant::now() < deadline, "priest {i} did not start");
            std::thread::sleep(Duration::from_millis(2));
        }
        self.children[i] = Some(child);
    }

    /// Starts every priest, one after the other (see [`Cluster::launch`]).
    pub fn launch_all(&mut self) {
        for i in 0..self.children.len() {
            self.launch(i);
        }
    }

    /// Starts priest `i` with `flags` and waits until it exits or its listener accepts.
    /// Exited: its status and what it wrote. Running: `None`, and it is priest `i` again.
    pub fn try_start(&mut self, i: usize, flags: &[&str]) -> Option<(ExitStatus, String)> {
        assert!(self.children[i].is_none(), "priest {i} is running");
        let before = self.log(i).len();
        let mut child = self.spawn(i, flags);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let log = self.log(i);
                return Some((status, log[before..].to_string()));
            }
            // Listening is not started: the listener answers `role:starting` while the
            // priest replays (or refuses) its ledger, and closes as a refusing one exits.
            if let Ok(mut c) = Client::connect(self.clients[i]) {
                let running = match c.call(&[b"INFO"]) {
                    Ok(Reply::Bulk(Some(text))) => {
                        let text = String::from_utf8_lossy(&text);
                        text.contains("role:") && !text.contains("role:starting")
                    }
                    _ => false,
                };
                if running {
                    self.children[i] = Some(child);
                    return None;
                }
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

    /// Stops priest `i` with SIGTERM; the exit status of its graceful shutdown.
    pub fn terminate(&mut self, i: usize) -> ExitStatus {
        let mut c = self.children[i].take().expect("running");
        let ok = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        wait_within(&mut c, Duration::from_secs(10))
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

    /// Priest `i`'s status, as its `INFO` reply gives it once it has replayed its ledger.
    pub fn status(&self, i: usize) -> PriestStatus {
        let mut c = self.connect(i, Duration::from_secs(5));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = match c.call(&[b"INFO"]) {
                Ok(Reply::Bulk(Some(text))) => String::from_utf8(text).unwrap(),
                r => panic!("priest {i}: INFO answered {r:?}"),
            };
            match parse_info(&text) {
                Ok(s) => return s,
                Err(e) if e.starts_with("starting") && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => panic!("priest {i}: {e}"),
            }
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
                let text = self.log(i);
                let lines: Vec<&str> = text.lines().collect();
                let tail = &lines[lines.len().saturating_sub(40)..];
                format!("--- priest {i} (last 40 lines)\n{}\n", tail.join("\n"))
            })
            .collect()
    }
}

/// Waits for `c` to exit within `limit`; kills it and panics if it does not.
pub fn wait_within(c: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = c.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = c.kill();
            panic!("process {} did not exit within {limit:?}", c.id());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
