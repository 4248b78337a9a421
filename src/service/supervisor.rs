//! The supervisor of `parliament cluster`: when to restart a priest that died, and what it
//! tells `parliament status` about it.
//!
//! A priest that crashes forgets nothing it promised or voted: its ledger is on disk, and a
//! priest started again on it (`parliament serve` with no flag, [`crate::host::start`])
//! begins from its last durable ledger, as the paper's priest who comes back to the Chamber
//! with his ledger. So restarting a dead priest is always safe; what needs care is *when*.
//!
//! # The rule
//!
//! A priest *exits unexpectedly* when its process ends while the cluster neither stops
//! (Ctrl-C or SIGTERM to `cluster`) nor retired it (`cluster --remove`, which removes it by
//! decree and then stops it). With restarts on (the default), such a priest is started again
//! after a delay chosen by its [`Backoff`]:
//!
//! - the first restart waits [`Backoff::INITIAL`] (100 ms), and each later one twice the one
//!   before, up to [`Backoff::CAP`] (30 s); after that it is retried every 30 s, for good,
//!   and the supervisor says so;
//! - a priest that stayed up for [`Backoff::STABLE`] (10 s) before it died starts over at
//!   100 ms: it was not failing at start, it crashed once.
//!
//! So a priest that cannot start (a corrupt ledger, a missing one, a port taken) fails a few
//! times within seconds and then twice a minute, never in a hot loop; and one killed once
//! is back within 100 ms. Each exit is logged, with why the process ended ([`describe`]: its
//! exit code, or the signal that killed it), the restart count and the delay, on the
//! cluster's standard error and in the priest's own log. With `--no-restart` a dead priest
//! stays dead (and once a majority is dead `cluster` stops, as no decree can pass).
//!
//! # The supervisor file
//!
//! The supervisor knows what the priests cannot: how often each was restarted, and why. It
//! writes [`SupervisorFile`] as JSON to `supervisor.json` in the cluster's directory, next
//! to `cluster.toml`, whenever a priest starts, exits or is restarted, and once more when
//! the cluster stops. Each write goes to a temporary file that is then renamed over the old
//! one, so a reader sees the old file or the new one, never half of one. `parliament
//! status` reads it when it finds it next to the configuration ([`Supervision::load`]).
//! The file is advisory: nothing reads it to decide anything.

use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The supervisor file's name, in the cluster's directory.
pub const FILE: &str = "supervisor.json";
/// The lock file that keeps a second `parliament cluster` off a directory one supervises.
pub const LOCK: &str = "supervisor.lock";
/// The format [`SupervisorFile`] is written in.
pub const FORMAT: u32 = 1;

/// How long to wait before restarting a priest that died: exponential, capped, and reset by
/// a run that lasted (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The delay of the next restart.
    next: Duration,
}

/// One restart's delay, as [`Backoff::after_exit`] chose it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delay {
    pub delay: Duration,
    /// The delay is the cap: the priest keeps failing and is retried at the cap's rate.
    pub capped: bool,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

impl Backoff {
    /// The first restart's delay.
    pub const INITIAL: Duration = Duration::from_millis(100);
    /// The longest delay.
    pub const CAP: Duration = Duration::from_secs(30);
    /// A priest that ran this long before it died starts over at [`Backoff::INITIAL`].
    pub const STABLE: Duration = Duration::from_secs(10);

    pub fn new() -> Backoff {
        Backoff {
            next: Backoff::INITIAL,
        }
    }

    /// The delay before restarting a priest that died after running for `uptime`; the one
    /// after will be twice as long (up to the cap), unless the priest then runs for
    /// [`Backoff::STABLE`].
    pub fn after_exit(&mut self, uptime: Duration) -> Delay {
        if uptime >= Backoff::STABLE {
            self.next = Backoff::INITIAL;
        }
        let delay = self.next;
        self.next = (self.next * 2).min(Backoff::CAP);
        Delay {
            delay,
            capped: delay == Backoff::CAP,
        }
    }
}

/// Why a process ended, in words: `exited with code 1`, `killed by signal 9 (SIGKILL)`.
pub fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(sig)) => {
            let mut s = format!("killed by signal {sig}");
            if let Some(name) = signal_name(sig) {
                s += &format!(" ({name})");
            }
            if status.core_dumped() {
                s += ", core dumped";
            }
            s
        }
        (None, None) => format!("ended: {status}"),
    }
}

/// The name of signal `sig` (`SIGKILL`), for the signals a process is commonly killed by.
pub fn signal_name(sig: i32) -> Option<&'static str> {
    Some(match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGSYS => "SIGSYS",
        _ => return None,
    })
}

/// Milliseconds since the Unix epoch, now (0 if the clock is before it).
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What `supervisor.json` holds (format [`FORMAT`]; see docs/operations.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupervisorFile {
    pub format: u32,
    /// The `parliament cluster` process.
    pub pid: u32,
    /// Whether it restarts priests that die (`false`: `--no-restart`).
    pub restart: bool,
    /// `false` once the cluster has stopped (the file then tells its last run).
    pub running: bool,
    /// When the file was written.
    pub updated_unix_ms: u64,
    pub priests: Vec<SupervisedPriest>,
}

/// What the supervisor knows of one priest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupervisedPriest {
    pub priest: usize,
    pub state: Process,
    /// Its process, while it has one.
    #[serde(default)]
    pub pid: Option<u32>,
    /// When its process started.
    #[serde(default)]
    pub started_unix_ms: Option<u64>,
    /// How many times the supervisor restarted it (its first start not counted).
    #[serde(default)]
    pub restarts: u64,
    /// When it was last restarted.
    #[serde(default)]
    pub last_restart_unix_ms: Option<u64>,
    /// How its last process ended unexpectedly.
    #[serde(default)]
    pub last_exit: Option<Exit>,
    /// While `restarting`: when the next restart is due, and after what delay.
    #[serde(default)]
    pub next_restart_unix_ms: Option<u64>,
    #[serde(default)]
    pub next_delay_ms: Option<u64>,
}

/// Where a supervised priest's process is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Process {
    /// Its process runs.
    Running,
    /// It died and waits for its restart.
    Restarting,
    /// It died and is not restarted (`--no-restart`).
    Down,
    /// Removed by decree (`cluster --remove`) and stopped by the cluster.
    Retired,
    /// Stopped with the cluster.
    Stopped,
}

impl Process {
    pub fn name(self) -> &'static str {
        match self {
            Process::Running => "running",
            Process::Restarting => "restarting",
            Process::Down => "down",
            Process::Retired => "retired",
            Process::Stopped => "stopped",
        }
    }
}

/// How a priest's process ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exit {
    /// [`describe`]'s words: `killed by signal 9 (SIGKILL)`, `exited with code 1`.
    pub reason: String,
    #[serde(default)]
    pub code: Option<i32>,
    #[serde(default)]
    pub signal: Option<i32>,
    pub at_unix_ms: u64,
    /// How long the process ran.
    pub uptime_ms: u64,
    /// The last `error: ...` line of its log, if it wrote one (why `serve` gave up).
    #[serde(default)]
    pub error: Option<String>,
}

impl Exit {
    pub fn new(status: ExitStatus, uptime: Duration, error: Option<String>) -> Exit {
        use std::os::unix::process::ExitStatusExt;
        Exit {
            reason: describe(status),
            code: status.code(),
            signal: status.signal(),
            at_unix_ms: unix_ms(SystemTime::now()),
            uptime_ms: uptime.as_millis() as u64,
            error,
        }
    }
}

impl SupervisorFile {
    /// Writes the file into `dir` atomically: a temporary file, renamed over the old one.
    pub fn write(&self, dir: &Path) -> io::Result<()> {
        let tmp = dir.join(format!("{FILE}.tmp"));
        let json = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        fs::write(&tmp, json)?;
        fs::rename(&tmp, dir.join(FILE))
    }
}

/// What `parliament status` knows of the supervisor of the cluster whose configuration is
/// at `config`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Supervision {
    /// No supervisor file next to the configuration (a cluster not run by `parliament
    /// cluster`, or one that has not started).
    Absent,
    /// A file that cannot be read or is not a supervisor file: why.
    Unreadable(PathBuf, String),
    /// The file, and whether its supervisor process still runs.
    Known { file: SupervisorFile, alive: bool },
}

impl Supervision {
    /// Reads the supervisor file next to the configuration at `config`.
    pub fn load(config: &Path) -> Supervision {
        let path = config.parent().unwrap_or(Path::new(".")).join(FILE);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Supervision::Absent,
            Err(e) => return Supervision::Unreadable(path, e.to_string()),
        };
        // The format first: a later format may have other fields.
        let format = serde_json::from_str::<serde_json::Value>(&text)
            .map(|v| v.get("format").and_then(serde_json::Value::as_u64));
        match format {
            Ok(Some(f)) if f != u64::from(FORMAT) => {
                return Supervision::Unreadable(
                    path,
                    format!("format {f} (this build reads format {FORMAT})"),
                )
            }
            Err(e) => return Supervision::Unreadable(path, e.to_string()),
            Ok(_) => {}
        }
        match serde_json::from_str::<SupervisorFile>(&text) {
            Ok(file) => {
                let alive = file.running && process_runs(file.pid);
                Supervision::Known { file, alive }
            }
            Err(e) => Supervision::Unreadable(path, e.to_string()),
        }
    }

    /// What the supervisor knows of priest `priest`.
    pub fn priest(&self, priest: usize) -> Option<&SupervisedPriest> {
        match self {
            Supervision::Known { file, .. } => file.priests.iter().find(|p| p.priest == priest),
            _ => None,
        }
    }
}

/// Whether process `pid` exists (and is not a zombie).
fn process_runs(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists.
    if unsafe { libc::kill(pid, 0) } != 0
        && io::Error::last_os_error().raw_os_error() != Some(libc::EPERM)
    {
        return false;
    }
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit(')').next().unwrap_or("").trim_start();
    !state.starts_with('Z')
}

/// `how long ago` `then` (Unix ms) was, for people: `3.2 s ago`, `5 min ago`.
pub fn ago(then_unix_ms: u64, now_unix_ms: u64) -> String {
    let ms = now_unix_ms.saturating_sub(then_unix_ms);
    match ms {
        0..=59_999 => format!("{:.1} s ago", ms as f64 / 1000.0),
        60_000..=7_199_999 => format!("{} min ago", ms / 60_000),
        _ => format!("{} h ago", ms / 3_600_000),
    }
}

/// A delay for people: `100 ms`, `1.6 s`, `30 s`.
pub fn shown(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn the_backoff_doubles_to_its_cap_stays_there_and_resets_after_a_long_run() {
        let mut b = Backoff::new();
        let quick = Duration::from_millis(5);
        let delays: Vec<u64> = (0..12)
            .map(|_| b.after_exit(quick).delay.as_millis() as u64)
            .collect();
        assert_eq!(
            delays,
            [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000]
        );
        assert_eq!(
            b.after_exit(quick),
            Delay {
                delay: Backoff::CAP,
                capped: true
            }
        );
        // Up just short of STABLE: still failing, still capped.
        let d = b.after_exit(Backoff::STABLE - Duration::from_millis(1));
        assert!(d.capped);
        // A run of STABLE starts over.
        let d = b.after_exit(Backoff::STABLE);
        assert_eq!(
            d,
            Delay {
                delay: Backoff::INITIAL,
                capped: false
            }
        );
        assert_eq!(b.after_exit(quick).delay, Duration::from_millis(200));
    }

    #[test]
    fn an_exit_is_described_by_its_code_or_its_signal() {
        // The raw wait status: code << 8 for an exit, the signal number for a kill.
        assert_eq!(describe(ExitStatus::from_raw(1 << 8)), "exited with code 1");
        assert_eq!(describe(ExitStatus::from_raw(0)), "exited with code 0");
        assert_eq!(
            describe(ExitStatus::from_raw(libc::SIGKILL)),
            "killed by signal 9 (SIGKILL)"
        );
        assert_eq!(
            describe(ExitStatus::from_raw(libc::SIGSEGV | 0x80)),
            "killed by signal 11 (SIGSEGV), core dumped"
        );
        assert_eq!(describe(ExitStatus::from_raw(40)), "killed by signal 40");
        let e = Exit::new(
            ExitStatus::from_raw(libc::SIGTERM),
            Duration::from_secs(2),
            None,
        );
        assert_eq!(
            (e.code, e.signal, e.uptime_ms),
            (None, Some(libc::SIGTERM), 2000)
        );
    }

    #[test]
    fn the_file_is_replaced_whole_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("cluster.toml");
        assert_eq!(Supervision::load(&config), Supervision::Absent);
        let mut file = SupervisorFile {
            format: FORMAT,
            pid: std::process::id(),
            restart: true,
            running: true,
            updated_unix_ms: 1,
            priests: vec![SupervisedPriest {
                priest: 2,
                state: Process::Restarting,
                pid: None,
                started_unix_ms: Some(1),
                restarts: 3,
                last_restart_unix_ms: Some(2),
                last_exit: Some(Exit::new(
                    ExitStatus::from_raw(1 << 8),
                    Duration::from_millis(20),
                    Some("error: ledger is corrupt".into()),
                )),
                next_restart_unix_ms: Some(800),
                next_delay_ms: Some(800),
            }],
        };
        file.write(dir.path()).unwrap();
        let known = Supervision::load(&config);
        assert_eq!(
            known,
            Supervision::Known {
                file: file.clone(),
                alive: true
            }
        );
        assert_eq!(known.priest(2).unwrap().restarts, 3);
        assert!(known.priest(0).is_none());
        assert!(!dir.path().join(format!("{FILE}.tmp")).exists());
        // A stopped cluster's file is its last run's.
        file.running = false;
        file.write(dir.path()).unwrap();
        assert!(matches!(
            Supervision::load(&config),
            Supervision::Known { alive: false, .. }
        ));
        // Not a supervisor file, or a later format: said, not guessed.
        fs::write(dir.path().join(FILE), "{\"format\": 1}").unwrap();
        assert!(matches!(
            Supervision::load(&config),
            Supervision::Unreadable(_, e) if e.contains("missing field")
        ));
        file.format = 2;
        file.write(dir.path()).unwrap();
        assert!(matches!(
            Supervision::load(&config),
            Supervision::Unreadable(_, e) if e.contains("format 2")
        ));
    }

    #[test]
    fn times_and_delays_read_for_people() {
        assert_eq!(ago(1_000, 4_200), "3.2 s ago");
        assert_eq!(ago(0, 300_000), "5 min ago");
        assert_eq!(ago(5, 0), "0.0 s ago");
        assert_eq!(shown(Duration::from_millis(100)), "100 ms");
        assert_eq!(shown(Duration::from_millis(1600)), "1.6 s");
        assert_eq!(shown(Duration::from_secs(30)), "30 s");
    }
}
