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
//! - **A priest that dies** is reported on standard error (which priest, its exit status, its
//!   log). While a majority still runs, the others keep running: the Parliament passes decrees
//!   with a majority, so a minority failure is survivable, and `parliament status` shows the
//!   dead priest as `down`. Once a majority is gone, no decree can pass: the command stops the
//!   remaining priests and exits 1.
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
//! it with `serve --join` and supervises it; `--add` then waits for its listener and adds it
//! (`parliament member add`), and prints the answer. `--remove N` removes priest N by decree,
//! then marks it `retired` in the configuration, and the running cluster stops it. A cluster
//! created before `[membership]` existed cannot change its priests.
//!
//! Bad input (`--replicas 0`, a `--dir` that is a file, a `--replicas` or `--base-port` that
//! does not match the existing configuration) is refused before anything is written or
//! started.

use crate::host::config::{Config, ConfigFile, PriestFile, Protocol, MAX_PRIESTS};
use crate::host::wire::Key;
use std::fs;
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

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

/// One running priest.
struct Priest {
    ix: usize,
    child: Child,
    log: PathBuf,
    /// Its exit status, once reaped.
    exited: Option<ExitStatus>,
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

/// Starts the priests of `cfg` (children running `exe serve`, with `--bootstrap` if
/// `bootstrap`: the cluster was just created), reports to `out` and `err`, and supervises
/// them until `stop` is set (exit code 0) or a majority is gone (1).
pub fn run(
    cfg: &Config,
    exe: &Path,
    bootstrap: bool,
    stop: &AtomicBool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, String> {
    let dir = cfg.path.parent().unwrap_or(Path::new("."));
    let mut priests: Vec<Priest> = Vec::new();
    for ix in (0..cfg.priests.len()).filter(|&ix| !cfg.retired[ix]) {
        match spawn(cfg, exe, dir, ix, bootstrap.then_some("--bootstrap")) {
            Ok(p) => priests.push(p),
            Err(e) => {
                stop_all(&mut priests);
                return Err(e);
            }
        }
    }
    let n = priests.len();
    let mut majority = n / 2 + 1;
    let client = |ix: usize| cfg.client_addresses[ix].expect("checked by prepare");
    let _ = writeln!(out, "cluster: {}", cfg.path.display());
    for p in &priests {
        let _ = writeln!(
            out,
            "priest {}: pid {}, client port {}, log {}",
            p.ix,
            p.child.id(),
            client(p.ix).port(),
            p.log.display()
        );
    }
    let _ = out.flush();

    // Wait for every listener, noticing priests that die while starting.
    let deadline = Instant::now() + STARTUP;
    // Positions in `priests` (a retired priest is not started).
    let mut waiting: Vec<usize> = (0..n).collect();
    while !waiting.is_empty() && Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
        waiting.retain(|&k| {
            priests[k].exited.is_none()
                && TcpStream::connect_timeout(&client(priests[k].ix), Duration::from_millis(200))
                    .is_err()
        });
        if reap(&mut priests, err) < majority {
            return Ok(give_up(&mut priests, majority, err));
        }
        if !waiting.is_empty() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    for &k in &waiting {
        let ix = priests[k].ix;
        let _ = writeln!(
            err,
            "warning: priest {ix}'s listener {} did not accept connections within {} s; see {}",
            client(ix),
            STARTUP.as_secs(),
            priests[k].log.display()
        );
    }
    // Recovered: every running priest's listener answers a read. A read is answered by a
    // president once it has applied every decree of earlier presidents, so this waits for
    // the election and for the replay of the ledgers, not just for the processes.
    let started = Instant::now();
    let deadline = started + RECOVERY;
    let mut unanswered: Vec<usize> = (0..n).filter(|&k| priests[k].exited.is_none()).collect();
    while !unanswered.is_empty() && Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
        unanswered.retain(|&k| !answers_a_read(&client(priests[k].ix)));
        if reap(&mut priests, err) < majority {
            return Ok(give_up(&mut priests, majority, err));
        }
        unanswered.retain(|&k| priests[k].exited.is_none());
    }
    let unanswered: Vec<usize> = unanswered.iter().map(|&k| priests[k].ix).collect();
    if !unanswered.is_empty() && !stop.load(Ordering::SeqCst) {
        let _ = writeln!(
            err,
            "warning: no read answered through priest(s) {unanswered:?} within {} s; the \
             cluster may still be recovering (see the logs and `parliament status`)",
            RECOVERY.as_secs()
        );
    }
    if !stop.load(Ordering::SeqCst) {
        let first = priests
            .iter()
            .find(|p| p.exited.is_none())
            .map_or(0, |p| p.ix);
        let port = client(first).port();
        let _ = writeln!(
            out,
            "ready: {} of {n} priests running, a read answered after {:.1} s. Try:\n  \
             redis-cli -p {port} set k v\n  \
             parliament kv --addr 127.0.0.1:{port} get k\n  \
             parliament status --config {}\n\
             Ctrl-C stops the cluster.",
            priests.iter().filter(|p| p.exited.is_none()).count(),
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
                        match spawn(&new, exe, dir, ix, Some("--join")) {
                            Ok(p) => {
                                let _ = writeln!(
                                    out,
                                    "priest {ix}: pid {}, client port {}, log {} (joining)",
                                    p.child.id(),
                                    new.client_addresses[ix].map_or(0, |a| a.port()),
                                    p.log.display()
                                );
                                let _ = out.flush();
                                priests.push(p);
                            }
                            Err(e) => {
                                let _ = writeln!(err, "error: cannot start priest {ix}: {e}");
                            }
                        }
                    }
                    listed = new.priests.len();
                    for p in priests
                        .iter_mut()
                        .filter(|p| new.retired[p.ix] && p.exited.is_none())
                    {
                        let _ = writeln!(out, "priest {}: retired, stopping it", p.ix);
                        stop_all(std::slice::from_mut(p));
                    }
                    priests.retain(|p| !new.retired[p.ix]);
                    majority = priests.len() / 2 + 1;
                }
                Err(e) => {
                    let _ = writeln!(err, "warning: {e}");
                }
            }
        }
        if reap(&mut priests, err) < majority {
            return Ok(give_up(&mut priests, majority, err));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = writeln!(err, "stopping the cluster");
    stop_all(&mut priests);
    let _ = writeln!(err, "cluster stopped");
    Ok(0)
}

fn spawn(
    cfg: &Config,
    exe: &Path,
    dir: &Path,
    ix: usize,
    flag: Option<&str>,
) -> Result<Priest, String> {
    let log = dir.join(format!("priest-{ix}.log"));
    let file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
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
    Ok(Priest {
        ix,
        child,
        log,
        exited: None,
    })
}

/// Reaps priests that exited, reporting each; returns how many still run.
fn reap(priests: &mut [Priest], err: &mut dyn Write) -> usize {
    for p in priests.iter_mut().filter(|p| p.exited.is_none()) {
        if let Ok(Some(status)) = p.child.try_wait() {
            p.exited = Some(status);
            let _ = writeln!(
                err,
                "priest {} (pid {}) exited unexpectedly: {status}; its log: {}",
                p.ix,
                p.child.id(),
                p.log.display()
            );
            if let Some(why) = last_error(&p.log) {
                let _ = writeln!(err, "priest {}: {why}", p.ix);
            }
        }
    }
    priests.iter().filter(|p| p.exited.is_none()).count()
}

/// The last `error: ...` line a priest wrote to its log (why `serve` gave up, such as a
/// refused ledger).
fn last_error(log: &Path) -> Option<String> {
    let text = fs::read_to_string(log).ok()?;
    text.lines()
        .rev()
        .find(|l| l.starts_with("error: "))
        .map(str::to_string)
}

fn give_up(priests: &mut [Priest], majority: usize, err: &mut dyn Write) -> u8 {
    let alive = priests.iter().filter(|p| p.exited.is_none()).count();
    let _ = writeln!(
        err,
        "error: only {alive} of {} priests run, fewer than a majority ({majority}): no decree \
         can pass; stopping the cluster",
        priests.len()
    );
    stop_all(priests);
    1
}

/// SIGTERM to every running priest, then SIGKILL to those still running after [`GRACE`].
fn stop_all(priests: &mut [Priest]) {
    for p in priests.iter().filter(|p| p.exited.is_none()) {
        signal(&p.child, libc::SIGTERM);
    }
    let deadline = Instant::now() + GRACE;
    loop {
        for p in priests.iter_mut().filter(|p| p.exited.is_none()) {
            if let Ok(Some(s)) = p.child.try_wait() {
                p.exited = Some(s);
            }
        }
        if priests.iter().all(|p| p.exited.is_some()) {
            return;
        }
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for p in priests.iter_mut().filter(|p| p.exited.is_none()) {
        let _ = p.child.kill();
        p.exited = p.child.wait().ok();
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
