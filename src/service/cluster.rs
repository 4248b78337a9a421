//! `parliament cluster`: a whole Parliament on this machine, for trying the key-value
//! service.
//!
//! ```text
//! parliament cluster --replicas 3 --dir /tmp/sofa [--base-port 7000]
//! ```
//!
//! The first time, the directory gets a cluster key (`cluster.key`), a configuration
//! (`cluster.toml`, `protocol = "parliament"`) and, once the priests run, their ledgers
//! (`ledger/priest-N`). Priest `i` listens on 127.0.0.1 at one port for both its priests'
//! datagrams (UDP) and its Redis clients (TCP): `--base-port + i`, or a free port. Later runs
//! on the same directory reuse the configuration, so a restarted cluster keeps its decrees
//! (`--replicas`, if given, must then match, and so must `--base-port`).
//!
//! The command then runs one `parliament serve --config DIR/cluster.toml --id i` child per
//! priest, each logging to `DIR/priest-i.log`, prints each priest's client port once its
//! listener accepts connections, and waits. The run that created the configuration passes
//! `--bootstrap` (a new cluster); later runs do not, so a priest whose ledger is gone
//! refuses to start ([`crate::host::start`]) and is reported as a priest that died, with the
//! error from its log:
//!
//! - **Ctrl-C or SIGTERM** stops the cluster: every priest gets SIGTERM (and SIGKILL if it has
//!   not stopped within [`GRACE`]); the command exits 0.
//! - **A priest that dies** is reported on standard error and in its log (which priest, why
//!   its process ended, its last error) and restarted from its ledger after a delay that
//!   doubles while it keeps failing ([`super::supervisor`]: the rule, the delays, the
//!   supervisor file `DIR/supervisor.json` that `parliament status` reads). A restart runs
//!   `serve` with no flag, as any restart of a priest: it begins from the ledger it kept.
//! - **With `--no-restart`** a priest that dies stays dead. While a majority still runs, the
//!   others keep running: the Parliament passes decrees with a majority, so a minority
//!   failure is survivable, and `parliament status` shows the dead priest as `down`. Once a
//!   majority is gone, no decree can pass: the command stops the remaining priests and
//!   exits 1.
//!
//! One `cluster` supervises a directory at a time: it holds the lock `DIR/supervisor.lock`
//! while it runs, and a second one on the same directory is refused.
//!
//! # Adding and removing priests
//!
//! A new cluster's configuration has `[membership] founders = N`, so its Chamber changes by
//! decree (docs/membership.md). While it runs, another invocation on the same directory
//! changes it:
//!
//! ```text
//! parliament cluster --dir /tmp/sofa --add        # a new priest, the next id, a free port
//! parliament cluster --dir /tmp/sofa --remove 1   # priest 1 leaves the Chamber
//! ```
//!
//! `--add` appends the new priest to the configuration; the running cluster notices, starts
//! it with `serve --join` and supervises it (a restart runs it without `--join`: its ledger,
//! saved before it ran, holds its token); `--add` then waits for its listener and adds it
//! (`parliament member add`), and prints the answer. `--remove N` removes priest N by decree,
//! then marks it `retired` in the configuration, and the running cluster stops it and never
//! restarts it. A cluster
//! created before `[membership]` existed cannot change its priests.
//!
//! Bad input (`--replicas 0`, a `--dir` that is a file, a `--replicas` or `--base-port` that
//! does not match the existing configuration) is refused before anything is written or
//! started.

use crate::host::config::{Config, ConfigFile, PriestFile, Protocol, MAX_PRIESTS};
use crate::host::wire::Key;
use crate::service::supervisor::{
    self, unix_ms, Backoff, Exit, Process, SupervisedPriest, SupervisorFile,
};
use std::fs;
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// How long a priest has to stop after SIGTERM before it gets SIGKILL.
pub const GRACE: Duration = Duration::from_secs(5);
/// How long `cluster` waits for every priest to answer a read before saying it is ready.
const RECOVERY: Duration = Duration::from_secs(60);

/// Whether the listener at `addr` answers a `GET` with a value or nil (not an error: no
/// president yet, or one still applying the decrees of earlier ones).
fn answers_a_read(addr: &SocketAddr) -> bool {
    let Ok(mut c) = crate::resp::client::Client::connect_timeout(addr, Duration::from_millis(200))
    else {
        return false;
    };
    let _ = c.set_timeout(Some(Duration::from_secs(2)));
    matches!(
        c.call(&[b"GET", b"parliament:ready"]),
        Ok(crate::resp::Reply::Bulk(_))
    )
}

/// How long to wait for every listener to accept connections at start.
pub const STARTUP: Duration = Duration::from_secs(20);
/// The replicas of a new cluster when `--replicas` is not given.
pub const DEFAULT_REPLICAS: usize = 3;

/// The configuration's file name inside the cluster directory.
pub const CONFIG_FILE: &str = "cluster.toml";
/// The key's file name inside the cluster directory.
pub const KEY_FILE: &str = "cluster.key";

/// What `parliament cluster` was asked.
#[derive(Clone, Debug)]
pub struct ClusterArgs {
    pub replicas: Option<usize>,
    pub dir: PathBuf,
    pub base_port: Option<u16>,
}

/// `parliament cluster --add`: adds a new priest to the cluster running in `dir` (see the
/// module docs); the law's answer (`OK in force from decree N`).
pub fn add(dir: &Path, timeout: Duration) -> Result<String, String> {
    let path = dir.join(CONFIG_FILE);
    let cfg = Config::load(&path)?;
    if cfg.membership.is_none() {
        return Err(format!(
            "{} has no [membership]: this cluster's priests are fixed (it was created before \
             clusters could change them)",
            path.display()
        ));
    }
    let text =
        fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut file = ConfigFile::from_toml(&text)?;
    let id = file.priest.len();
    if id >= MAX_PRIESTS {
        return Err(format!(
            "{} lists {MAX_PRIESTS} priests already",
            path.display()
        ));
    }
    let port = free_ports(1).map_err(|e| format!("cannot find a free port: {e}"))?[0];
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    file.priest
        .push(PriestFile::new(id, addr).client_address(addr));
    file.write(&path, HEADER)?;
    // The running cluster starts it with --join: wait until its listener shows its token.
    let deadline = Instant::now() + STARTUP;
    loop {
        match super::status::query(addr, Duration::from_millis(500)) {
            Ok(s) if s.token.is_some() => break,
            _ if Instant::now() > deadline => {
                return Err(format!(
                    "priest {id} (listed in {} at {addr}) did not come up within {} s: is \
                     `parliament cluster --dir {}` running? See {}",
                    path.display(),
                    STARTUP.as_secs(),
                    dir.display(),
                    dir.join(format!("priest-{id}.log")).display()
                ))
            }
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    let cfg = Config::load(&path)?;
    let request = super::membership::Request::Add {
        id,
        address: None,
        client_address: None,
        token: None,
    };
    super::membership::run(&cfg, &request, timeout).map(|a| format!("priest {id} at {addr}: {a}"))
}

/// `parliament cluster --remove ID`: removes priest `id` from the cluster running in `dir`
/// by decree, then marks it retired so the cluster stops it; the law's answer.
pub fn remove(dir: &Path, id: usize, timeout: Duration) -> Result<String, String> {
    let path = dir.join(CONFIG_FILE);
    let cfg = Config::load(&path)?;
    cfg.check_priest(id)?;
    let answer = super::membership::run(&cfg, &super::membership::Request::Remove { id }, timeout)?;
    let text =
        fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut file = ConfigFile::from_toml(&text)?;
    file.priest[id].retired = true;
    file.write(&path, HEADER)?;
    Ok(format!("priest {id}: {answer}"))
}

/// The configuration of the cluster in `args.dir`, created if absent; `true` if created.
/// Errors are bad input: nothing has been started.
pub fn prepare(args: &ClusterArgs) -> Result<(Config, bool), String> {
    if args.replicas == Some(0) {
        return Err("--replicas 0: a Parliament needs at least one priest".into());
    }
    if let Some(n) = args.replicas.filter(|&n| n > MAX_PRIESTS) {
        return Err(format!(
            "--replicas {n}: at most {MAX_PRIESTS} priests are supported"
        ));
    }
    if args.base_port == Some(0) {
        return Err("--base-port 0 is not a port; omit it to pick free ports".into());
    }
    let dir = &args.dir;
    if dir.exists() && !dir.is_dir() {
        return Err(format!(
            "--dir {}: exists and is not a directory",
            dir.display()
        ));
    }
    let path = dir.join(CONFIG_FILE);
    if path.exists() {
        return reuse(args, &path).map(|c| (c, false));
    }
    let n = args.replicas.unwrap_or(DEFAULT_REPLICAS);
    if let Some(p) = args.base_port {
        if p as usize + n - 1 > u16::MAX as usize {
            return Err(format!(
                "--base-port {p} with {n} replicas runs past port {}",
                u16::MAX
            ));
        }
    }
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let key_path = dir.join(KEY_FILE);
    if !key_path.exists() {
        write_key(&key_path)?;
    }
    let ports = match args.base_port {
        Some(p) => (0..n).map(|i| p + i as u16).collect(),
        None => free_ports(n).map_err(|e| format!("cannot find free ports: {e}"))?,
    };
    config_file(&ports).write(&path, HEADER)?;
    Config::load(&path).map(|c| (c, true))
}

fn reuse(args: &ClusterArgs, path: &Path) -> Result<Config, String> {
    let cfg = Config::load(path)?;
    let n = cfg.priests.len();
    if cfg.protocol != Protocol::Parliament {
        return Err(format!(
            "{} does not say protocol = \"parliament\"; `cluster` runs the key-value service",
            path.display()
        ));
    }
    if let Some(i) = cfg.client_addresses.iter().position(Option::is_none) {
        return Err(format!(
            "{}: priest {i} has no client_address",
            path.display()
        ));
    }
    if let Some(r) = args.replicas.filter(|&r| r != n) {
        return Err(format!(
            "--replicas {r} does not match the existing cluster in {}, which has {n} priests \
             (omit --replicas to restart it, or choose a new --dir)",
            args.dir.display()
        ));
    }
    if let Some(p) = args.base_port.filter(|&p| p != cfg.priests[0].port()) {
        return Err(format!(
            "--base-port {p} does not match the existing cluster in {}, whose priest 0 uses \
             port {} (omit --base-port to restart it)",
            args.dir.display(),
            cfg.priests[0].port()
        ));
    }
    Ok(cfg)
}

fn write_key(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| writeln!(f, "{}", Key::random().to_hex()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// `n` ports of 127.0.0.1 free for both UDP and TCP (held while choosing, so they differ).
fn free_ports(n: usize) -> io::Result<Vec<u16>> {
    let mut held = Vec::new();
    let mut tries = 0;
    while held.len() < n {
        tries += 1;
        if tries > 100 * n {
            return Err(io::Error::other("no port free for both UDP and TCP"));
        }
        let tcp = TcpListener::bind("127.0.0.1:0")?;
        let port = tcp.local_addr()?.port();
        if let Ok(udp) = UdpSocket::bind(("127.0.0.1", port)) {
            held.push((port, tcp, udp));
        }
    }
    Ok(held.into_iter().map(|(p, _, _)| p).collect())
}

/// The comment at the top of the configuration `parliament cluster` writes.
const HEADER: &str = "A local Parliament, written by `parliament cluster`. Priest i uses one port for its\n\
                      priests' datagrams (UDP, address) and its Redis clients (TCP, client_address).";

fn config_file(ports: &[u16]) -> ConfigFile {
    let mut file = ConfigFile::new("ledger", KEY_FILE, Protocol::Parliament);
    file.membership = Some(crate::host::config::MembershipFile {
        founders: ports.len(),
        alpha: 1,
    });
    for (i, &p) in ports.iter().enumerate() {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, p));
        file.priest
            .push(PriestFile::new(i, addr).client_address(addr));
    }
    file
}

/// One priest of the cluster, and what its supervisor knows of it.
struct Priest {
    ix: usize,
    /// Its current process, or its last one once that exited.
    child: Child,
    log: PathBuf,
    /// Where the log ended when the current process started (its `error:` line is after).
    log_from: u64,
    /// When the current process started.
    started: Instant,
    started_at: SystemTime,
    state: Process,
    restarts: u64,
    backoff: Backoff,
    /// While [`Process::Restarting`]: when the restart is due, and the delay chosen.
    due: Option<(Instant, SystemTime, Duration)>,
    last_restart: Option<SystemTime>,
    last_exit: Option<Exit>,
}

impl Priest {
    fn new(ix: usize, (child, log, log_from): (Child, PathBuf, u64)) -> Priest {
        Priest {
            ix,
            child,
            log,
            log_from,
            started: Instant::now(),
            started_at: SystemTime::now(),
            state: Process::Running,
            restarts: 0,
            backoff: Backoff::new(),
            due: None,
            last_restart: None,
            last_exit: None,
        }
    }

    fn running(&self) -> bool {
        self.state == Process::Running
    }

    /// Running, or waiting for its restart.
    fn active(&self) -> bool {
        matches!(self.state, Process::Running | Process::Restarting)
    }

    fn record(&self) -> SupervisedPriest {
        SupervisedPriest {
            priest: self.ix,
            state: self.state,
            pid: self.running().then(|| self.child.id()),
            started_unix_ms: Some(unix_ms(self.started_at)),
            restarts: self.restarts,
            last_restart_unix_ms: self.last_restart.map(unix_ms),
            last_exit: self.last_exit.clone(),
            next_restart_unix_ms: self.due.map(|(_, at, _)| unix_ms(at)),
            next_delay_ms: self.due.map(|(_, _, d)| d.as_millis() as u64),
        }
    }

    /// Appends a line of the supervisor's to the priest's log (while it has no process, so
    /// the two never write at once).
    fn log_line(&self, line: &str) {
        if let Ok(mut f) = fs::OpenOptions::new().append(true).open(&self.log) {
            let _ = writeln!(f, "supervisor: {line}");
        }
    }
}

/// Sends `sig` to a child that has not been reaped (so its pid is still its own).
fn signal(child: &Child, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill has no memory effects; the pid is our unreaped child.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// The cluster's priests under supervision (see [`super::supervisor`]): started, watched,
/// restarted after a [`Backoff`] delay (or, with `--no-restart`, left dead), and recorded
/// in the supervisor file.
struct Supervisor<'a> {
    cfg: &'a Config,
    exe: &'a Path,
    dir: PathBuf,
    restart: bool,
    priests: Vec<Priest>,
    /// Each priest's client address, as the configuration last read lists them.
    clients: Vec<Option<SocketAddr>>,
    /// Held for the whole run: one supervisor per directory.
    _lock: fs::File,
}

impl Supervisor<'_> {
    fn priest(&self, ix: usize) -> &Priest {
        self.priests
            .iter()
            .find(|p| p.ix == ix)
            .expect("a priest of this cluster")
    }

    fn client(&self, ix: usize) -> SocketAddr {
        self.clients[ix].expect("checked by prepare, and written by --add")
    }

    /// Priests whose process runs now.
    fn running(&self) -> usize {
        self.priests.iter().filter(|p| p.running()).count()
    }

    /// The priests not retired.
    fn members(&self) -> usize {
        self.priests
            .iter()
            .filter(|p| p.state != Process::Retired)
            .count()
    }

    /// A majority of them.
    fn majority(&self) -> usize {
        self.members() / 2 + 1
    }

    /// Reaps priests that exited and schedules their restarts (or, with `--no-restart`,
    /// leaves them down), starts the restarts that are due, and rewrites the supervisor file
    /// if anything changed.
    fn tick(&mut self, out: &mut dyn Write, err: &mut dyn Write) {
        let mut changed = false;
        let restart = self.restart;
        for p in self.priests.iter_mut().filter(|p| p.running()) {
            let Ok(Some(status)) = p.child.try_wait() else {
                continue;
            };
            changed = true;
            let uptime = p.started.elapsed();
            let exit = Exit::new(status, uptime, last_error(&p.log, p.log_from));
            let pid = p.child.id();
            let line = if restart {
                let d = p.backoff.after_exit(uptime);
                p.state = Process::Restarting;
                p.due = Some((
                    Instant::now() + d.delay,
                    SystemTime::now() + d.delay,
                    d.delay,
                ));
                format!(
                    "priest {} (pid {pid}) {} after {:.1} s up; restart {} in {}{}",
                    p.ix,
                    exit.reason,
                    uptime.as_secs_f64(),
                    p.restarts + 1,
                    supervisor::shown(d.delay),
                    if d.capped {
                        format!(
                            " (the backoff's cap: priest {} keeps failing, so it is retried \
                             every {} until it stays up)",
                            p.ix,
                            supervisor::shown(Backoff::CAP)
                        )
                    } else {
                        String::new()
                    }
                )
            } else {
                p.state = Process::Down;
                format!(
                    "priest {} (pid {pid}) exited unexpectedly: {}; not restarted \
                     (--no-restart); its log: {}",
                    p.ix,
                    exit.reason,
                    p.log.display()
                )
            };
            let _ = writeln!(err, "{line}");
            if let Some(why) = &exit.error {
                let _ = writeln!(err, "priest {}: {why}", p.ix);
            }
            p.log_line(&line);
            p.last_exit = Some(exit);
        }
        let now = Instant::now();
        for p in self.priests.iter_mut() {
            if p.state != Process::Restarting || p.due.is_some_and(|(at, _, _)| at > now) {
                continue;
            }
            changed = true;
            p.due = None;
            p.restarts += 1;
            p.last_restart = Some(SystemTime::now());
            // No flag: the priest starts from the ledger it kept, as every restart does.
            match spawn(self.cfg, self.exe, &self.dir, p.ix, None) {
                Ok(started) => {
                    let restarts = p.restarts;
                    *p = Priest {
                        restarts,
                        backoff: p.backoff,
                        last_restart: p.last_restart,
                        last_exit: p.last_exit.take(),
                        ..Priest::new(p.ix, started)
                    };
                    let _ = writeln!(
                        out,
                        "priest {}: pid {}, client port {}, log {} (restart {restarts})",
                        p.ix,
                        p.child.id(),
                        self.clients
                            .get(p.ix)
                            .copied()
                            .flatten()
                            .map_or(0, |a| a.port()),
                        p.log.display()
                    );
                    let _ = out.flush();
                }
                Err(e) => {
                    // As a process that died at once.
                    let d = p.backoff.after_exit(Duration::ZERO);
                    p.state = Process::Restarting;
                    p.due = Some((
                        Instant::now() + d.delay,
                        SystemTime::now() + d.delay,
                        d.delay,
                    ));
                    let line = format!(
                        "priest {}: restart {} failed: {e}; restart {} in {}",
                        p.ix,
                        p.restarts,
                        p.restarts + 1,
                        supervisor::shown(d.delay)
                    );
                    let _ = writeln!(err, "{line}");
                    p.log_line(&line);
                }
            }
        }
        if changed {
            self.write_file(true, err);
        }
    }

    /// How long until the next restart is due (at most `max`).
    fn next_due(&self, max: Duration) -> Duration {
        let now = Instant::now();
        self.priests
            .iter()
            .filter_map(|p| p.due.map(|(at, _, _)| at.saturating_duration_since(now)))
            .fold(max, Duration::min)
    }

    /// With `--no-restart`, once fewer than a majority run: stops the rest and says so;
    /// `Some(1)`, the cluster's exit code. With restarts the dead come back: `None`.
    fn lost_majority(&mut self, err: &mut dyn Write) -> Option<u8> {
        let (alive, majority) = (self.running(), self.majority());
        if self.restart || alive >= majority {
            return None;
        }
        let _ = writeln!(
            err,
            "error: only {alive} of {} priests run, fewer than a majority ({majority}): no \
             decree can pass; stopping the cluster",
            self.members()
        );
        self.stop(Process::Stopped, Priest::active);
        self.write_file(false, err);
        Some(1)
    }

    /// Stops the priests `which` selects ([`stop_all`]), and marks them `state`: none of
    /// them is restarted.
    fn stop(&mut self, state: Process, which: impl Fn(&Priest) -> bool) {
        let mut chosen: Vec<&mut Priest> = self.priests.iter_mut().filter(|p| which(p)).collect();
        stop_all(&mut chosen);
        for p in chosen {
            p.state = state;
            p.due = None;
        }
    }

    fn write_file(&self, running: bool, err: &mut dyn Write) {
        let file = SupervisorFile {
            format: supervisor::FORMAT,
            pid: std::process::id(),
            restart: self.restart,
            running,
            updated_unix_ms: unix_ms(SystemTime::now()),
            priests: self.priests.iter().map(Priest::record).collect(),
        };
        if let Err(e) = file.write(&self.dir) {
            let _ = writeln!(
                err,
                "warning: cannot write {}: {e}",
                self.dir.join(supervisor::FILE).display()
            );
        }
    }
}

/// Takes the directory's supervisor lock, or says which process holds it.
fn lock(dir: &Path) -> Result<fs::File, String> {
    let path = dir.join(supervisor::LOCK);
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(format!(
            "another `parliament cluster` runs on {} ({} is locked); stop it first",
            dir.display(),
            path.display()
        )),
        Err(fs::TryLockError::Error(e)) => Err(format!("cannot lock {}: {e}", path.display())),
    }
}

/// Starts the priests of `cfg` (children running `exe serve`, with `--bootstrap` if
/// `bootstrap`: the cluster was just created), reports to `out` and `err`, and supervises
/// them until `stop` is set (exit code 0). A priest that dies is restarted if `restart`
/// ([`super::supervisor`]); without, the cluster stops once a majority is gone (exit code 1).
pub fn run(
    cfg: &Config,
    exe: &Path,
    bootstrap: bool,
    restart: bool,
    stop: &AtomicBool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, String> {
    let dir = cfg.path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut sup = Supervisor {
        cfg,
        exe,
        _lock: lock(&dir)?,
        dir,
        restart,
        priests: Vec::new(),
        clients: cfg.client_addresses.clone(),
    };
    let _ = writeln!(
        err,
        "{} {} with {} priests",
        if bootstrap { "created" } else { "restarting" },
        cfg.path.display(),
        cfg.priests.len()
    );
    for ix in (0..cfg.priests.len()).filter(|&ix| !cfg.retired[ix]) {
        match spawn(cfg, exe, &sup.dir, ix, bootstrap.then_some("--bootstrap")) {
            Ok(started) => sup.priests.push(Priest::new(ix, started)),
            Err(e) => {
                sup.stop(Process::Stopped, Priest::active);
                return Err(e);
            }
        }
    }
    sup.write_file(true, err);
    let n = sup.priests.len();
    let _ = writeln!(out, "cluster: {}", cfg.path.display());
    for p in &sup.priests {
        let _ = writeln!(
            out,
            "priest {}: pid {}, client port {}, log {}",
            p.ix,
            p.child.id(),
            sup.client(p.ix).port(),
            p.log.display()
        );
    }
    let _ = writeln!(
        out,
        "{}",
        if restart {
            "a priest that dies is restarted (--no-restart to leave it dead)"
        } else {
            "a priest that dies is not restarted (--no-restart)"
        }
    );
    let _ = out.flush();

    // Wait for every listener, noticing priests that die while starting.
    let deadline = Instant::now() + STARTUP;
    let mut waiting: Vec<usize> = sup.priests.iter().map(|p| p.ix).collect();
    while !waiting.is_empty() && Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
        sup.tick(out, err);
        if let Some(code) = sup.lost_majority(err) {
            return Ok(code);
        }
        waiting.retain(|&ix| {
            sup.priest(ix).running()
                && TcpStream::connect_timeout(&sup.client(ix), Duration::from_millis(200)).is_err()
        });
        if !waiting.is_empty() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    for &ix in &waiting {
        let _ = writeln!(
            err,
            "warning: priest {ix}'s listener {} did not accept connections within {} s; see {}",
            sup.client(ix),
            STARTUP.as_secs(),
            sup.priest(ix).log.display()
        );
    }
    // Recovered: every running priest's listener answers a read. A read is answered by a
    // president once it has applied every decree of earlier presidents, so this waits for
    // the election and for the replay of the ledgers, not just for the processes.
    let started = Instant::now();
    let deadline = started + RECOVERY;
    let mut unanswered: Vec<usize> = sup
        .priests
        .iter()
        .filter(|p| p.running())
        .map(|p| p.ix)
        .collect();
    let mut answered = 0;
    while !unanswered.is_empty() && Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
        unanswered.retain(|&ix| {
            !answers_a_read(&sup.client(ix)) || {
                answered += 1;
                false
            }
        });
        sup.tick(out, err);
        if let Some(code) = sup.lost_majority(err) {
            return Ok(code);
        }
        // A priest that died meanwhile is not waited for.
        unanswered.retain(|&ix| sup.priest(ix).running());
        if !unanswered.is_empty() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    if !unanswered.is_empty() && !stop.load(Ordering::SeqCst) {
        let _ = writeln!(
            err,
            "warning: no read answered through priest(s) {unanswered:?} within {} s; the \
             cluster may still be recovering (see the logs and `parliament status`)",
            RECOVERY.as_secs()
        );
    }
    if !stop.load(Ordering::SeqCst) {
        let first = sup
            .priests
            .iter()
            .find(|p| p.running())
            .map_or(sup.priests[0].ix, |p| p.ix);
        let port = sup.client(first).port();
        let _ = writeln!(
            out,
            "ready: {answered} of {n} priests answered a read within {:.1} s. Try:\n  \
             redis-cli -p {port} set k v\n  \
             parliament kv --addr 127.0.0.1:{port} get k\n  \
             parliament status --config {}\n\
             Ctrl-C stops the cluster.",
            started.elapsed().as_secs_f64(),
            cfg.path.display()
        );
        let _ = out.flush();
    }

    let mut listed = cfg.priests.len();
    let mut modified = fs::metadata(&cfg.path).and_then(|m| m.modified()).ok();
    while !stop.load(Ordering::SeqCst) {
        // `cluster --add` and `--remove` change the configuration: start a priest it adds
        // (joining), stop one it retires.
        let now = fs::metadata(&cfg.path).and_then(|m| m.modified()).ok();
        if now != modified {
            modified = now;
            match Config::load(&cfg.path) {
                Ok(new) => {
                    for ix in (listed..new.priests.len()).filter(|&ix| !new.retired[ix]) {
                        let new = Config {
                            trace_dir: cfg.trace_dir.clone(),
                            ..new.clone()
                        };
                        match spawn(&new, exe, &sup.dir, ix, Some("--join")) {
                            Ok(started) => {
                                let p = Priest::new(ix, started);
                                let _ = writeln!(
                                    out,
                                    "priest {ix}: pid {}, client port {}, log {} (joining)",
                                    p.child.id(),
                                    new.client_addresses[ix].map_or(0, |a| a.port()),
                                    p.log.display()
                                );
                                let _ = out.flush();
                                sup.priests.push(p);
                            }
                            Err(e) => {
                                let _ = writeln!(err, "error: cannot start priest {ix}: {e}");
                            }
                        }
                    }
                    listed = new.priests.len();
                    sup.clients = new.client_addresses.clone();
                    // A priest removed by decree is stopped, and never restarted.
                    for p in sup
                        .priests
                        .iter()
                        .filter(|p| new.retired[p.ix] && p.state != Process::Retired)
                    {
                        let _ = writeln!(out, "priest {}: retired, stopping it", p.ix);
                    }
                    sup.stop(Process::Retired, |p| {
                        new.retired[p.ix] && p.state != Process::Retired
                    });
                    sup.write_file(true, err);
                }
                Err(e) => {
                    let _ = writeln!(err, "warning: {e}");
                }
            }
        }
        sup.tick(out, err);
        if let Some(code) = sup.lost_majority(err) {
            return Ok(code);
        }
        std::thread::sleep(sup.next_due(Duration::from_millis(100)));
    }
    let _ = writeln!(err, "stopping the cluster");
    sup.stop(Process::Stopped, Priest::active);
    sup.write_file(false, err);
    let _ = writeln!(err, "cluster stopped");
    Ok(0)
}

fn spawn(
    cfg: &Config,
    exe: &Path,
    dir: &Path,
    ix: usize,
    flag: Option<&str>,
) -> Result<(Child, PathBuf, u64), String> {
    let log = dir.join(format!("priest-{ix}.log"));
    let file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
    let log_from = file.metadata().map_or(0, |m| m.len());
    let file2 = file
        .try_clone()
        .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
    let mut cmd = Command::new(exe);
    cmd.arg("serve")
        .arg("--config")
        .arg(&cfg.path)
        .arg("--id")
        .arg(ix.to_string())
        .args(flag)
        .args(
            cfg.trace_dir
                .iter()
                .flat_map(|t| [std::ffi::OsStr::new("--trace"), t.as_os_str()]),
        )
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(file2);
    {
        use std::os::unix::process::CommandExt;
        // Its own process group: Ctrl-C at a terminal reaches only this command, which then
        // stops the priests in order.
        cmd.process_group(0);
    }
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe. A priest whose cluster process dies (even by
        // SIGKILL) gets SIGTERM, so no priest outlives its cluster unnoticed.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {} serve: {e}", exe.display()))?;
    Ok((child, log, log_from))
}

/// The last `error: ...` line a priest wrote to its log after byte `from` (why `serve`
/// gave up, such as a refused ledger).
fn last_error(log: &Path, from: u64) -> Option<String> {
    use std::io::{Read, Seek};
    let mut file = fs::File::open(log).ok()?;
    file.seek(io::SeekFrom::Start(from)).ok()?;
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.lines()
        .rev()
        .find(|l| l.starts_with("error: "))
        .map(str::to_string)
}

/// SIGTERM to every running priest of `priests`, then SIGKILL to those still running after
/// [`GRACE`]; every one is reaped.
fn stop_all(priests: &mut [&mut Priest]) {
    let mut left: Vec<&mut Child> = priests
        .iter_mut()
        .filter(|p| p.running())
        .map(|p| &mut p.child)
        .collect();
    for c in &left {
        signal(c, libc::SIGTERM);
    }
    let deadline = Instant::now() + GRACE;
    while !left.is_empty() && Instant::now() < deadline {
        left.retain_mut(|c| !matches!(c.try_wait(), Ok(Some(_))));
        if !left.is_empty() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    for c in left {
        let _ = c.kill();
        let _ = c.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn args(dir: &Path, replicas: Option<usize>, base_port: Option<u16>) -> ClusterArgs {
        ClusterArgs {
            replicas,
            dir: dir.to_path_buf(),
            base_port,
        }
    }

    #[test]
    fn a_new_directory_gets_a_key_and_a_parliament_configuration() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("sofa");
        let (cfg, created) = prepare(&args(&dir, Some(5), Some(17000))).unwrap();
        assert!(created);
        assert_eq!(cfg.protocol, Protocol::Parliament);
        let ports: Vec<u16> = cfg.priests.iter().map(|a| a.port()).collect();
        assert_eq!(ports, vec![17000, 17001, 17002, 17003, 17004]);
        let clients: Vec<SocketAddr> = cfg.client_addresses.iter().flatten().copied().collect();
        assert_eq!(clients, cfg.priests);
        assert_eq!(cfg.ledger_of(2), dir.join("ledger").join("priest-2"));
        let key = fs::read_to_string(dir.join(KEY_FILE)).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // Reused, not rewritten: same key, same ports; omitting the options is fine.
        let (again, created) = prepare(&args(&dir, None, None)).unwrap();
        assert!(!created);
        assert_eq!(again.priests, cfg.priests);
        assert_eq!(fs::read_to_string(dir.join(KEY_FILE)).unwrap(), key);
        assert!(prepare(&args(&dir, Some(5), Some(17000))).is_ok());
    }

    #[test]
    fn a_priest_s_error_is_the_last_one_it_wrote_since_it_started() {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("priest-0.log");
        fs::write(&log, "error: an earlier run's\n").unwrap();
        let from = fs::metadata(&log).unwrap().len();
        assert_eq!(
            last_error(&log, 0).as_deref(),
            Some("error: an earlier run's")
        );
        assert_eq!(last_error(&log, from), None);
        let mut f = fs::OpenOptions::new().append(true).open(&log).unwrap();
        writeln!(
            f,
            "INFO starting\nerror: first\nerror: ledger is corrupt\nbye"
        )
        .unwrap();
        assert_eq!(
            last_error(&log, from).as_deref(),
            Some("error: ledger is corrupt")
        );
        assert_eq!(last_error(&tmp.path().join("none.log"), 0), None);
    }

    #[test]
    fn a_second_supervisor_of_a_directory_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let held = lock(tmp.path()).unwrap();
        let e = lock(tmp.path()).unwrap_err();
        assert!(e.contains("another `parliament cluster` runs on"), "{e}");
        drop(held);
        assert!(lock(tmp.path()).is_ok());
    }

    #[test]
    fn free_ports_differ_and_default_to_three_priests() {
        let tmp = tempfile::tempdir().unwrap();
        let (cfg, _) = prepare(&args(tmp.path(), None, None)).unwrap();
        assert_eq!(cfg.priests.len(), DEFAULT_REPLICAS);
        let mut ports: Vec<u16> = cfg.priests.iter().map(|a| a.port()).collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), DEFAULT_REPLICAS);
    }

    #[test]
    fn bad_input_is_refused_before_anything_is_written() {
        let tmp = tempfile::tempdir().unwrap();
        let fresh = tmp.path().join("fresh");
        let cases = [
            (args(&fresh, Some(0), None), "--replicas 0"),
            (args(&fresh, Some(65), None), "at most 64"),
            (args(&fresh, Some(3), Some(0)), "--base-port 0"),
            (args(&fresh, Some(3), Some(65534)), "runs past port"),
        ];
        for (a, want) in cases {
            let e = prepare(&a).unwrap_err();
            assert!(e.contains(want), "{want:?} not in {e:?}");
            assert!(!fresh.exists(), "{want}: nothing is written");
        }
        let file = tmp.path().join("a-file");
        fs::write(&file, "x").unwrap();
        let e = prepare(&args(&file, None, None)).unwrap_err();
        assert!(e.contains("not a directory"), "{e}");

        let dir = tmp.path().join("three");
        prepare(&args(&dir, Some(3), Some(17100))).unwrap();
        let before = fs::read_to_string(dir.join(CONFIG_FILE)).unwrap();
        let e = prepare(&args(&dir, Some(5), None)).unwrap_err();
        assert!(
            e.contains("--replicas 5 does not match") && e.contains("3 priests"),
            "{e}"
        );
        let e = prepare(&args(&dir, None, Some(17200))).unwrap_err();
        assert!(e.contains("--base-port 17200 does not match"), "{e}");
        assert_eq!(fs::read_to_string(dir.join(CONFIG_FILE)).unwrap(), before);
        // A configuration of another protocol is not a cluster's.
        fs::write(
            dir.join(CONFIG_FILE),
            before.replace("protocol = \"parliament\"", "protocol = \"synod\""),
        )
        .unwrap();
        let e = prepare(&args(&dir, None, None)).unwrap_err();
        assert!(e.contains("protocol = \"parliament\""), "{e}");
    }
}
