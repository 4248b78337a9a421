//! `parliament cluster` and `parliament status` with real processes on 127.0.0.1: a cluster
//! starts and prints its ports, serves SET and GET, reports one president and agreeing
//! priests, with `--no-restart` shows a killed priest as down, stops every priest on
//! SIGTERM, restarts from its directory with its data, gives up when a majority is gone,
//! takes its priests with it when it is killed, and, restarted on a directory where a
//! priest's ledger is gone, reports that priest's refusal and serves with the others. By
//! default its supervisor restarts a killed priest, which comes back with its data, and
//! `status` counts the restart; a priest whose ledger is corrupt fails again and again,
//! with growing delays. Bad input is refused with exit status 2.

use parliament::host::config::{PriestFile, Protocol};
use parliament::resp::client::Client;
use parliament::resp::Reply;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

mod support;
use support::cluster::{config_file, write_config, write_key, BIN};

/// Whether process `pid` still runs (a zombie, dead but not yet reaped, does not).
fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return false;
    }
    // /proc/PID/stat: "pid (comm) state ..."
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit(')').next().unwrap_or("").trim_start();
    !(state.starts_with('Z') || state.starts_with('X'))
}

fn signal(pid: i32, sig: libc::c_int) {
    // SAFETY: kill has no memory effects.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// A running `parliament cluster`; on drop (also when a test fails) it and every priest it
/// printed are killed.
struct Running {
    child: Child,
    lines: Receiver<String>,
    stdout: Vec<String>,
    stderr: PathBuf,
    /// By priest: (pid, client port).
    priests: BTreeMap<usize, (i32, u16)>,
}

impl Running {
    fn start(dir: &Path, args: &[&str], tag: &str) -> Running {
        let stderr = dir.with_extension(format!("{tag}.err"));
        // Every run records its priests' traces, checked at the end of the test.
        let mut child = Command::new(BIN)
            .arg("cluster")
            .arg("--dir")
            .arg(dir)
            .args(args)
            .arg("--trace")
            .arg(trace_dir(dir))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut r = Running {
            child,
            lines,
            stdout: Vec::new(),
            stderr,
            priests: BTreeMap::new(),
        };
        r.wait_ready();
        r
    }

    /// Reads the cluster's output until its `ready:` message ends, noting each priest's pid and
    /// port.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = self.lines.recv_timeout(left) else {
                panic!("no ready line\n{}", self.report());
            };
            self.stdout.push(line.clone());
            // "priest 0: pid 1234, client port 41207, log DIR/priest-0.log"
            if let Some(rest) = line.strip_prefix("priest ") {
                let words: Vec<&str> = rest.split([' ', ':', ',']).collect();
                let ix: usize = words[0].parse().unwrap();
                let pid: i32 = words[3].parse().unwrap();
                let port: u16 = words[7].parse().unwrap();
                self.priests.insert(ix, (pid, port));
            }
            if line.starts_with("Ctrl-C stops the cluster") {
                return;
            }
        }
    }

    /// Reads the cluster's output until a line starting with `prefix` (within 30 s), noting a
    /// priest's pid and port as `wait_ready` does.
    fn wait_line(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = self.lines.recv_timeout(left) else {
                panic!("no line {prefix:?}\n{}", self.report());
            };
            self.stdout.push(line.clone());
            if line.starts_with(prefix) {
                if let Some(rest) = line
                    .strip_prefix("priest ")
                    .filter(|l| l.contains(": pid "))
                {
                    let words: Vec<&str> = rest.split([' ', ':', ',']).collect();
                    let ix: usize = words[0].parse().unwrap();
                    self.priests
                        .insert(ix, (words[3].parse().unwrap(), words[7].parse().unwrap()));
                }
                return line;
            }
        }
    }

    fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn report(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.stdout.join("\n"),
            self.stderr()
        )
    }

    fn port(&self, ix: usize) -> u16 {
        self.priests[&ix].1
    }

    fn pid(&self, ix: usize) -> i32 {
        self.priests[&ix].0
    }

    /// A client of priest `ix`'s listener, once it accepts: "ready" says every priest
    /// answered, which on a loaded machine can come before a listener takes connections
    /// (CI once had one refuse).
    fn client(&self, ix: usize) -> Client {
        client_when_up(self.port(ix))
    }

    /// Waits for the cluster process to exit by itself.
    fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster did not exit within {within:?}\n{}",
                self.report()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the cluster's standard error contains `what`.
    fn wait_stderr(&self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.stderr().contains(what) {
            assert!(
                Instant::now() < deadline,
                "{what:?} never reported\n{}",
                self.report()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn no_priest_left(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        for (ix, (pid, _)) in &self.priests {
            while alive(*pid) {
                assert!(
                    Instant::now() < deadline,
                    "priest {ix} (pid {pid}) outlived its cluster\n{}",
                    self.report()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        for (pid, _) in self.priests.values() {
            if alive(*pid) {
                signal(*pid, libc::SIGKILL);
            }
        }
    }
}

/// Where the runs of the cluster in `dir` record their traces.
fn trace_dir(dir: &Path) -> std::path::PathBuf {
    dir.with_extension("trace")
}

/// Checks the traces every run of the cluster in `dir` recorded (`parliament trace check`,
/// the command itself), once every priest is gone.
fn check_traces(dir: &Path) {
    let out = output(
        Command::new(BIN)
            .args(["trace", "check"])
            .arg(trace_dir(dir)),
    );
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    println!("{text}");
    assert!(
        out.status.success() && text.contains("trace check passed"),
        "{text}"
    );
}

/// Runs `cmd` to completion like `Command::output`, but kills it and fails after 30 s.
fn output(cmd: &mut Command) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            signal(pid, libc::SIGKILL);
            panic!("{cmd:?} did not finish within 30 s");
        }
    }
}

fn status(config: &Path) -> (Output, Value) {
    let out = output(
        Command::new(BIN)
            .args(["status", "--json", "--config"])
            .arg(config),
    );
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, json)
}

/// Polls `parliament status` until `ok` holds of its rows (at most 15 s).
fn status_until(config: &Path, what: &str, ok: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (out, json) = status(config);
        let rows = json.as_array().cloned().unwrap_or_default();
        if out.status.success() && ok(&rows) {
            return rows;
        }
        assert!(
            Instant::now() < deadline,
            "status never showed {what}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn roles(rows: &[Value]) -> Vec<&str> {
    rows.iter().map(|r| r["role"].as_str().unwrap()).collect()
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(Some(s.as_bytes().to_vec()))
}

#[test]
fn a_cluster_serves_reports_its_status_restarts_with_its_data_and_stops_its_priests() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sofa");
    let config = dir.join("cluster.toml");

    // First run: created, three priests with their ports printed; a priest that dies stays
    // dead.
    let mut run = Running::start(&dir, &["--replicas", "3", "--no-restart"], "first");
    assert_eq!(run.priests.len(), 3, "{}", run.report());
    assert!(config.exists() && dir.join("cluster.key").exists());
    let example = format!("redis-cli -p {} set k v", run.port(0));
    assert!(
        run.stdout.iter().any(|l| l.contains(&example)),
        "{}",
        run.report()
    );

    // SET and GET through a printed port (priest 1: a follower forwards to the president).
    let mut c = run.client(1);
    for i in 0..10 {
        let v = format!("v{i}");
        assert_eq!(c.call(&[b"SET", b"k", v.as_bytes()]).unwrap(), Reply::ok());
    }
    assert_eq!(c.call(&[b"GET", b"k"]).unwrap(), bulk("v9"));

    // INFO is answered by the listener itself.
    match c.call(&[b"INFO"]).unwrap() {
        Reply::Bulk(Some(text)) => {
            let text = String::from_utf8(text).unwrap();
            assert!(text.starts_with("# Parliament\r\npriest:1\r\n"), "{text}");
            assert!(text.contains("\r\ndropped_bad_mac:0\r\n"), "{text}");
        }
        r => panic!("INFO answered {r:?}"),
    }

    // One president, and every priest has chosen and applied the same decrees.
    let rows = status_until(&config, "one president and agreeing priests", |rows| {
        let chosen: Vec<&Value> = rows.iter().map(|r| &r["highest_chosen"]).collect();
        rows.len() == 3
            && roles(rows).iter().filter(|r| **r == "president").count() == 1
            && roles(rows).iter().all(|r| *r != "down")
            && chosen.iter().all(|c| c.is_u64() && *c == chosen[0])
            && rows
                .iter()
                .all(|r| r["highest_applied"] == r["highest_chosen"])
    });
    // Eleven commands, each at least one decree (several may share one).
    assert!(rows[0]["highest_chosen"].as_u64().unwrap() >= 1);
    let president = rows.iter().position(|r| r["role"] == "president").unwrap();
    for r in &rows {
        assert_eq!(r["president"], president, "{rows:?}");
        assert!(r["ledger_bytes"].as_u64().unwrap() > 0, "{rows:?}");
        assert_eq!(r["counters"]["dropped_bad_mac"], 0, "{rows:?}");
    }
    let text = output(Command::new(BIN).args(["status", "--config"]).arg(&config));
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains(&format!(
            "3 of 3 priests answered; president: priest {president}"
        )),
        "{text}"
    );

    // A killed follower is reported by the cluster, not restarted, and shown as down; the
    // rest serve on. The president's quorum is every priest (each promised the genesis
    // ballot), and a decree passes on the first quorum of votes: the president's own (on
    // its vote timer) and the other follower's, with no new ballot.
    let quorum: Vec<usize> = rows[president]["quorum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(quorum, [0, 1, 2], "{rows:?}");
    let ballot = rows[president]["ballot"].clone();
    let follower = (president + 1) % 3;
    signal(run.pid(follower), libc::SIGKILL);
    run.wait_stderr(&format!(
        "priest {follower} (pid {}) exited unexpectedly: killed by signal 9 (SIGKILL); not \
         restarted (--no-restart)",
        run.pid(follower)
    ));
    let rows = status_until(&config, "the killed priest down", |rows| {
        roles(rows)[follower] == "down"
    });
    assert_eq!(roles(&rows).iter().filter(|r| **r == "down").count(), 1);
    let supervised = &rows[follower]["supervisor"];
    assert_eq!(supervised["state"], "down", "{rows:?}");
    assert_eq!(supervised["restarts"], 0, "{rows:?}");
    assert_eq!(supervised["restart"], false, "{rows:?}");
    let text = output(Command::new(BIN).args(["status", "--config"]).arg(&config));
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("restarts nothing (--no-restart)")
            && text.contains(&format!(
                "priest {follower}: down, not restarted (--no-restart); last exit "
            ))
            && text.contains("killed by signal 9 (SIGKILL)"),
        "{text}"
    );
    let alive: Vec<usize> = (0..3).filter(|p| *p != follower).collect();
    let mut c = run.client(alive[0]);
    assert_eq!(c.call(&[b"SET", b"k", b"last"]).unwrap(), Reply::ok());
    assert_eq!(c.call(&[b"GET", b"k"]).unwrap(), bulk("last"));
    let (_, json) = status(&config);
    let rows = json.as_array().unwrap();
    assert_eq!(rows[president]["role"], "president", "{rows:?}");
    assert_eq!(rows[president]["ballot"], ballot, "no new ballot: {rows:?}");

    // SIGTERM stops the cluster and every priest; exit 0.
    signal(run.child.id() as i32, libc::SIGTERM);
    let exit = run.wait_exit(Duration::from_secs(15));
    assert!(exit.success(), "{exit}\n{}", run.report());
    run.no_priest_left();
    assert!(run.stderr().contains("cluster stopped"), "{}", run.report());
    let (out, json) = status(&config);
    assert_eq!(out.status.code(), Some(1), "nobody answers: exit 1");
    assert_eq!(roles(json.as_array().unwrap()), ["down"; 3]);
    drop(run);

    // Second run on the same directory: same ports, the data is there (so every ledger's
    // LOCK was released). Losing a majority stops the cluster with exit status 1.
    let mut run = Running::start(&dir, &["--no-restart"], "second");
    assert!(!run.stderr().contains("exited"), "{}", run.report());
    let mut c = run.client(0);
    assert_eq!(c.call(&[b"GET", b"k"]).unwrap(), bulk("last"));
    // The restarted priests elect a president, which takes office with the first quorum of
    // promises, itself in it, and the third priest's late promise joins it to the quorum.
    status_until(&config, "a president whose quorum is all three", |rows| {
        rows.iter().any(|r| {
            r["role"] == "president" && r["quorum"].as_array().is_some_and(|q| q.len() == 3)
        })
    });
    signal(run.pid(1), libc::SIGKILL);
    signal(run.pid(2), libc::SIGKILL);
    let exit = run.wait_exit(Duration::from_secs(15));
    assert_eq!(exit.code(), Some(1), "{}", run.report());
    assert!(
        run.stderr().contains("fewer than a majority"),
        "{}",
        run.report()
    );
    run.no_priest_left();
    drop(run);

    // Third run: a cluster killed outright takes its priests with it.
    let mut run = Running::start(&dir, &["--replicas", "3"], "third");
    let mut c = run.client(2);
    assert_eq!(c.call(&[b"GET", b"k"]).unwrap(), bulk("last"));
    run.child.kill().unwrap();
    run.child.wait().unwrap();
    run.no_priest_left();
    drop(run);

    // Fourth run, priest 0's ledger gone: the cluster is not new, so its priests start
    // without --bootstrap and priest 0 refuses, reported with its error, and again at each
    // restart; the others serve.
    let lost = dir.join("ledger").join("priest-0");
    fs::remove_dir_all(&lost).unwrap();
    let run = Running::start(&dir, &[], "fourth");
    run.wait_stderr(&format!(
        "priest 0: error: ledger {} is missing or empty",
        lost.display()
    ));
    run.wait_stderr("restart 2 in 200 ms");
    assert!(
        run.stdout
            .iter()
            .any(|l| l.starts_with("ready: 2 of 3 priests answered a read within")),
        "{}",
        run.report()
    );
    assert!(!lost.exists(), "a refused priest creates no ledger");
    let mut c = run.client(1);
    assert_eq!(c.call(&[b"GET", b"k"]).unwrap(), bulk("last"));
    drop(c);
    drop(run);
    check_traces(&dir);
}

/// `cluster --add` on a running cluster starts a new priest (joining) and adds it by decree;
/// it then serves, votes and shows in `status`; `cluster --remove` removes a priest by decree
/// and the cluster stops it; bad requests are refused with the law's reason.
#[test]
fn a_running_cluster_adds_and_removes_priests() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("grow");
    let config = dir.join("cluster.toml");
    let mut run = Running::start(&dir, &["--replicas", "3"], "grow");
    let mut c = run.client(0);
    assert_eq!(c.call(&[b"SET", b"k", b"before"]).unwrap(), Reply::ok());

    let add = |dir: &Path| {
        output(
            Command::new(BIN)
                .args(["cluster", "--dir"])
                .arg(dir)
                .arg("--add"),
        )
    };
    let out = add(&dir);
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}\n{}", run.report());
    assert!(
        text.starts_with("priest 3 at 127.0.0.1:") && text.contains("OK in force from decree"),
        "{text}"
    );
    let joined = run.wait_line("priest 3: pid");
    assert!(joined.ends_with("(joining)"), "{joined}");
    let rows = status_until(&config, "four members", |rows| {
        rows.len() == 4
            && rows
                .iter()
                .all(|r| r["members"] == serde_json::json!([0, 1, 2, 3]))
    });
    assert!(rows[3]["token"].is_string(), "{rows:?}");
    let mut c3 = run.client(3);
    assert_eq!(c3.call(&[b"GET", b"k"]).unwrap(), bulk("before"));
    assert_eq!(c3.call(&[b"SET", b"k", b"after"]).unwrap(), Reply::ok());

    // Removed by decree, then stopped by the cluster; the others serve on.
    let pid1 = run.pid(1);
    let out = output(
        Command::new(BIN)
            .args(["cluster", "--dir"])
            .arg(&dir)
            .args(["--remove", "1"]),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.starts_with("priest 1: OK in force from decree"),
        "{said}"
    );
    run.wait_line("priest 1: retired, stopping it");
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid1) {
        assert!(
            Instant::now() < deadline,
            "priest 1 still runs\n{}",
            run.report()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Stopped because it was removed: retired, not restarted.
    let file = supervisor_file(&dir);
    let one = &file["priests"][1];
    assert_eq!(
        (&one["priest"], &one["state"], &one["restarts"]),
        (&Value::from(1), &Value::from("retired"), &Value::from(0)),
        "{file}"
    );
    let rows = status_until(&config, "three members, priest 1 retired", |rows| {
        rows.len() == 3
            && rows
                .iter()
                .all(|r| r["members"] == serde_json::json!([0, 2, 3]))
    });
    assert!(roles(&rows).contains(&"president"), "{rows:?}");
    assert_eq!(c.call(&[b"GET", b"k"]).unwrap(), bulk("after"));
    // The law refuses removing a non-member, with its reason; an unknown id is refused
    // before anything is sent.
    let out = output(
        Command::new(BIN)
            .args(["cluster", "--dir"])
            .arg(&dir)
            .args(["--remove", "1"]),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("not a member"),
        "{err}"
    );
    let out = output(
        Command::new(BIN)
            .args(["cluster", "--dir"])
            .arg(&dir)
            .args(["--remove", "9"]),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("there is no priest 9"),
        "{err}"
    );

    signal(run.child.id() as i32, libc::SIGTERM);
    let exit = run.wait_exit(Duration::from_secs(15));
    assert!(exit.success(), "{exit}\n{}", run.report());
    run.no_priest_left();
    drop(run);

    // Restarted on the same directory: the retired priest is not started, the one added is.
    let run = Running::start(&dir, &[], "grown");
    assert!(!run.priests.contains_key(&1), "{}", run.report());
    assert!(run.priests.contains_key(&3), "{}", run.report());
    let mut c = run.client(3);
    assert_eq!(c.call(&[b"GET", b"k"]).unwrap(), bulk("after"));
    drop(c);
    drop(run);
    check_traces(&dir);
}

/// The supervisor's file in the cluster directory `dir`.
fn supervisor_file(dir: &Path) -> Value {
    let text = fs::read_to_string(dir.join("supervisor.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A client of the listener at `port`, once it accepts connections (within 20 s).
fn client_when_up(port: u16) -> Client {
    let addr = ([127, 0, 0, 1], port).into();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match Client::connect_timeout(&addr, Duration::from_secs(1)) {
            Ok(c) => {
                c.set_timeout(Some(Duration::from_secs(20))).unwrap();
                return c;
            }
            Err(e) => assert!(Instant::now() < deadline, "{addr}: {e}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The restarts the supervisor wrote in a priest's log: (restart number, delay in ms), in
/// order, from lines `supervisor: priest N (pid P) ... ; restart R in D`.
fn restarts_logged(log: &Path) -> Vec<(u64, u64)> {
    let text = fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.strip_prefix("supervisor: "))
        .filter_map(|l| l.split_once("; restart ").map(|(_, r)| r))
        .map(|r| {
            let words: Vec<&str> = r.split(' ').collect();
            let n: u64 = words[0].parse().unwrap();
            assert_eq!(words[1], "in", "{r}");
            let ms = match words[3].trim_end_matches(|c: char| !c.is_alphabetic()) {
                "ms" => words[2].parse::<u64>().unwrap(),
                "s" => (words[2].parse::<f64>().unwrap() * 1000.0).round() as u64,
                unit => panic!("delay unit {unit:?} in {r}"),
            };
            (n, ms)
        })
        .collect()
}

/// By default the cluster restarts a priest killed with SIGKILL: it comes back on its
/// port from its own ledger (the trace check says it began from its last durable ledger),
/// serves the data written before the kill, and `status` shows one restart and why.
#[test]
fn a_killed_priest_is_restarted_with_its_data_and_status_counts_the_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("restart");
    let config = dir.join("cluster.toml");
    let mut run = Running::start(&dir, &["--replicas", "3"], "restart");
    assert!(
        run.stdout
            .iter()
            .any(|l| l == "a priest that dies is restarted (--no-restart to leave it dead)"),
        "{}",
        run.report()
    );
    let mut c = run.client(2);
    assert_eq!(c.call(&[b"SET", b"k", b"before"]).unwrap(), Reply::ok());
    drop(c);

    // The supervisor file names each priest's process.
    let file = supervisor_file(&dir);
    assert_eq!(file["running"], true, "{file}");
    assert_eq!(file["restart"], true, "{file}");
    let killed = run.pid(2);
    assert_eq!(file["priests"][2]["pid"], killed, "{file}");
    signal(killed, libc::SIGKILL);

    let line = run.wait_line("priest 2: pid");
    assert!(line.ends_with("(restart 1)"), "{line}");
    assert_ne!(run.pid(2), killed);
    let why = format!("priest 2 (pid {killed}) killed by signal 9 (SIGKILL) after ");
    run.wait_stderr(&why);
    assert!(
        run.stderr().contains("; restart 1 in 100 ms"),
        "{}",
        run.report()
    );
    let log = fs::read_to_string(dir.join("priest-2.log")).unwrap();
    assert!(log.contains(&format!("supervisor: {why}")), "{log}");
    assert_eq!(restarts_logged(&dir.join("priest-2.log")), [(1, 100)]);

    // Back on its port with the data written before the kill.
    let mut c = client_when_up(run.port(2));
    assert_eq!(c.call(&[b"PING"]).unwrap(), Reply::Simple("PONG".into()));
    assert_eq!(c.call(&[b"GET", b"k"]).unwrap(), bulk("before"));
    drop(c);
    let restarted = run.pid(2);
    let rows = status_until(&config, "priest 2 up again, restarted once", |rows| {
        rows[2]["role"] != "down" && rows[2]["supervisor"]["restarts"] == 1
    });
    let supervised = &rows[2]["supervisor"];
    assert_eq!(supervised["state"], "running", "{rows:?}");
    assert_eq!(supervised["pid"], restarted, "{rows:?}");
    assert_eq!(
        supervised["last_exit"]["reason"], "killed by signal 9 (SIGKILL)",
        "{rows:?}"
    );
    assert_eq!(supervised["last_exit"]["signal"], 9, "{rows:?}");
    assert!(supervised["last_restart_unix_ms"].is_u64(), "{rows:?}");
    assert_eq!(rows[0]["supervisor"]["restarts"], 0, "{rows:?}");
    let text = output(Command::new(BIN).args(["status", "--config"]).arg(&config));
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains(&format!(
            "priest 2: restarted 1 time, running as pid {restarted}; last exit "
        )) && text.contains("killed by signal 9 (SIGKILL)"),
        "{text}"
    );

    // Stopped: the file says so, and nothing was restarted at the stop.
    signal(run.child.id() as i32, libc::SIGTERM);
    let exit = run.wait_exit(Duration::from_secs(15));
    assert!(exit.success(), "{exit}\n{}", run.report());
    run.no_priest_left();
    let file = supervisor_file(&dir);
    assert_eq!(file["running"], false, "{file}");
    let states: Vec<&Value> = (0..3).map(|i| &file["priests"][i]["state"]).collect();
    assert_eq!(states, ["stopped"; 3], "{file}");
    assert_eq!(file["priests"][2]["restarts"], 1, "{file}");
    let text = output(Command::new(BIN).args(["status", "--config"]).arg(&config));
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("supervisor: not running (pid "), "{text}");
    drop(run);
    check_traces(&dir);
}

/// A priest whose ledger was corrupted while the cluster was stopped refuses to start, each
/// time: the supervisor restarts it after delays that double (100 ms, 200 ms, 400 ms, ...),
/// so in any time its restarts are bounded by the backoff, never a hot loop; the ledger is
/// left as it was, and the other priests serve.
#[test]
fn a_priest_with_a_corrupt_ledger_is_retried_with_growing_delays() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("corrupt");
    let config = dir.join("cluster.toml");
    let mut run = Running::start(&dir, &["--replicas", "3"], "first");
    let mut c = run.client(0);
    assert_eq!(c.call(&[b"SET", b"k", b"kept"]).unwrap(), Reply::ok());
    drop(c);
    signal(run.child.id() as i32, libc::SIGTERM);
    assert!(run.wait_exit(Duration::from_secs(15)).success());
    run.no_priest_left();
    drop(run);

    // Priest 2's first ledger file loses its header.
    let ledger = dir.join("ledger").join("priest-2");
    let mut files: Vec<PathBuf> = fs::read_dir(&ledger)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("log-"))
        .collect();
    files.sort();
    let mut bytes = fs::read(&files[0]).unwrap();
    bytes[..8].copy_from_slice(b"garbage!");
    fs::write(&files[0], &bytes).unwrap();
    let contents = |dir: &Path| -> BTreeMap<PathBuf, Vec<u8>> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| !p.ends_with("LOCK"))
            .map(|p| (p.clone(), fs::read(&p).unwrap()))
            .collect()
    };
    let corrupted = contents(&ledger);

    let started = Instant::now();
    let run = Running::start(&dir, &[], "second");
    run.wait_stderr(&format!(
        "priest 2: error: ledger file {} is corrupt at offset 0",
        files[0].display()
    ));
    let log = dir.join("priest-2.log");
    // Wait for its fourth exit, then watch a while longer.
    let deadline = Instant::now() + Duration::from_secs(30);
    while restarts_logged(&log).len() < 4 {
        assert!(Instant::now() < deadline, "{}", run.report());
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(2));
    let restarts = restarts_logged(&log);
    let elapsed = started.elapsed();
    // Restart r comes 100 ms x 2^(r-1) after exit r: the delays double.
    for (i, &(n, ms)) in restarts.iter().enumerate() {
        assert_eq!((n, ms), (i as u64 + 1, 100 << i), "{restarts:?}");
    }
    // Bounded: k exits take at least the first k-1 delays, 100 ms x (2^(k-1) - 1).
    let k = restarts.len() as u32;
    assert!(
        Duration::from_millis(100 * ((1 << (k - 1)) - 1)) <= elapsed,
        "{k} exits within {elapsed:?}: {restarts:?}"
    );
    assert!(k <= 8, "{k} exits within {elapsed:?}: {restarts:?}");
    let text = fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("supervisor: priest 2 (pid ") && text.contains(") exited with code 1 after"),
        "{text}"
    );

    // status: down, restarting, the reason and the error.
    let rows = status_until(&config, "priest 2 waiting for a restart", |rows| {
        rows[2]["supervisor"]["state"] == "restarting"
    });
    assert_eq!(rows[2]["role"], "down", "{rows:?}");
    let supervised = &rows[2]["supervisor"];
    assert!(supervised["restarts"].as_u64().unwrap() >= 3, "{rows:?}");
    assert_eq!(supervised["last_exit"]["reason"], "exited with code 1");
    assert_eq!(supervised["last_exit"]["code"], 1);
    assert!(
        supervised["last_exit"]["error"]
            .as_str()
            .unwrap()
            .contains("is corrupt at offset 0"),
        "{rows:?}"
    );
    assert!(
        supervised["next_delay_ms"].as_u64().unwrap() >= 800,
        "{rows:?}"
    );

    // Nothing was lost or changed: the ledger is as corrupted; the others serve the data.
    assert_eq!(contents(&ledger), corrupted);
    let mut c = run.client(1);
    assert_eq!(c.call(&[b"GET", b"k"]).unwrap(), bulk("kept"));
    drop(c);
    let mut run = run;
    signal(run.child.id() as i32, libc::SIGTERM);
    assert!(run.wait_exit(Duration::from_secs(15)).success());
    run.no_priest_left();
}

fn refused(args: &[&str], dir: &Path) -> String {
    let out = output(Command::new(BIN).args(args).arg(dir));
    assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn bad_cluster_and_status_arguments_are_refused_with_exit_status_2() {
    let tmp = tempfile::tempdir().unwrap();
    let fresh = tmp.path().join("fresh");
    let e = refused(&["cluster", "--replicas", "0", "--dir"], &fresh);
    assert!(e.contains("--replicas 0"), "{e}");
    assert!(!fresh.exists());

    let file = tmp.path().join("a-file");
    fs::write(&file, "not a directory").unwrap();
    let e = refused(&["cluster", "--dir"], &file);
    assert!(e.contains("not a directory"), "{e}");

    // An existing three-priest cluster (nothing listens on its ports).
    let dir = tmp.path().join("three");
    fs::create_dir(&dir).unwrap();
    write_key(&dir);
    // Held open and never accepting: connections succeed, INFO gets no answer (and no
    // other test's priest can take these ports meanwhile).
    let silent: Vec<std::net::TcpListener> = (0..3)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let mut file = config_file(Protocol::Parliament);
    for (i, s) in silent.iter().enumerate() {
        let addr = s.local_addr().unwrap();
        file.priest
            .push(PriestFile::new(i, addr).client_address(addr));
    }
    let config = write_config(&dir, &file);
    let e = refused(&["cluster", "--replicas", "5", "--dir"], &dir);
    assert!(e.contains("--replicas 5 does not match"), "{e}");
    assert!(!dir.join("ledger").exists(), "nothing started");

    // status: nobody answers in time -> every priest down, exit 1; a missing or Synod
    // configuration -> exit 2.
    let out = output(
        Command::new(BIN)
            .args(["status", "--timeout-ms", "300", "--config"])
            .arg(&config),
    );
    assert_eq!(out.status.code(), Some(1));
    let table = String::from_utf8(out.stdout).unwrap();
    assert_eq!(table.lines().filter(|l| l.contains(" down ")).count(), 3);
    assert!(table.contains("0 of 3 priests answered"), "{table}");
    assert!(table.contains("no INFO answer"), "{table}");
    drop(silent);
    let e = refused(&["status", "--config"], &tmp.path().join("nope.toml"));
    assert!(e.contains("cannot read configuration"), "{e}");
    file.protocol = Protocol::Synod;
    write_config(&dir, &file);
    let e = refused(&["status", "--config"], &config);
    assert!(e.contains("protocol = \"parliament\""), "{e}");

    // trace check: a missing directory, one without traces, a damaged trace -> exit 2,
    // naming the file and offset.
    let e = refused(&["trace", "check"], &tmp.path().join("nope"));
    assert!(e.contains("cannot read trace directory"), "{e}");
    let e = refused(&["trace", "check"], &dir);
    assert!(e.contains("no trace files"), "{e}");
    let traces = tmp.path().join("traces");
    fs::create_dir(&traces).unwrap();
    fs::write(
        traces.join("priest-0.trace"),
        b"PTRACE\0\x01not a record at all",
    )
    .unwrap();
    let e = refused(&["trace", "check"], &traces);
    assert!(e.contains("priest-0.trace is corrupt at offset 8"), "{e}");
}
