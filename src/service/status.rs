//! The status view: what each priest of a running Parliament is doing.
//!
//! A status view reads; it never decides. Each `parliament serve` process keeps a small
//! [`Board`]: the host calls the board's [`Observer`] after every batch of handlers with
//! the priest's state and the host's counters, and the board copies out a few read-only
//! facts ([`PriestState::role`], [`PriestState::ballot`], ...). The priest's RESP listener
//! answers `INFO` from the board, locally, without a decree ([`WithInfo`]), so
//! `redis-cli -p PORT info` works; `parliament status` sends `INFO` to every priest's
//! listener and prints one line per priest ([`query_cluster`], [`render`]).
//!
//! What the priests cannot say, how often each died and was restarted, comes from the
//! supervisor of `parliament cluster`: its file `supervisor.json`, next to the
//! configuration, when there is one ([`with_supervision`], [`crate::service::supervisor`]).
//!
//! # The INFO fields
//!
//! ```text
//! # Parliament
//! priest:1              this priest's id
//! role:follower         president, candidate (sent NextBallot, gathering LastVotes),
//!                       follower, or rejoining (came back after losing its ledger: it
//!                       learns decrees, and promises, votes and runs for nothing yet)
//! ballot:3.0            the ballot it leads or tries (lastTried), or as a follower the
//!                       ballot it follows (nextBal, its highest promise); round.priest
//! president:0           the president it knows: itself, or the owner of nextBal
//! quorum:1,2            a president's quorum: the priests it asks to vote (none otherwise)
//! highest_chosen:41     the highest decree number it knows was passed (none: no decree yet)
//! highest_applied:41    decrees 0..=41 were applied to its law
//! recovery:current      current, or catching_up while decrees it knows were passed are
//!                       not applied yet (after a restart, or waiting for a snapshot)
//! snapshot:40           decrees below 40 are in its snapshot of the law (0: none)
//! live_bytes:1100       the bytes of the keys and values in its law
//! sessions:12           the client sessions its law keeps (see "Forgetting sessions")
//! ledger_bytes:18230    the size of its ledger directory's files on disk
//! status_age_ms:12      how long ago the host last published this (a stuck priest ages)
//! members:0,1,2         with [membership]: the members in force for the next decree it
//!                       applies (fixed: the configured priests, for good)
//! pending:0,1,2,3@17    a passed change, in force from decree 17 (none: no change pending)
//! token:4f1c...         a priest that joined: its ledger's token, which `member add`
//!                       names (none: a founder)
//! ```
//!
//! A priest still replaying its ledger (before its first batch) answers only
//!
//! ```text
//! # Parliament
//! priest:1
//! role:starting
//! recovery:replaying_ledger
//! ledger_bytes:18230    the ledger it is reading
//! starting_ms:840       for how long
//! ```
//!
//! ```text
//! # Runtime
//! dropped_bad_mac:0     datagrams dropped: failed the cluster key's MAC,
//! dropped_malformed:0   too short or of another version,
//! dropped_non_member:0  from an id that is no member (or a priest's id from a wrong address),
//! dropped_undecodable:0 authentic but not a message;
//! received:..., handled:..., sent:..., syncs:..., timeouts:..., send_errors:...,
//! unroutable:...        the host's other counters (see `host::Counters`)
//! ```

use crate::ballot::{Ballot, PriestIx, Priests};
use crate::host::config::Config;
use crate::host::{Counters, Observer};
use crate::parliament::{DecreeNumber, ParliamentPriest, PriestState, Role};
use crate::resp::client::Client;
use crate::resp::server::{Backend, ClientId, Responder};
use crate::resp::{Command, Reply};
use crate::service::supervisor::{self, Backoff, Process, SupervisedPriest, Supervision};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What one priest reports about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PriestStatus {
    /// Which priest (in JSON, the [`Row`]'s `priest`).
    #[serde(skip)]
    pub priest: usize,
    pub role: Role,
    /// `round.priest`.
    pub ballot: Option<String>,
    pub president: Option<usize>,
    /// A president's quorum.
    pub quorum: Option<Vec<usize>>,
    pub highest_chosen: Option<DecreeNumber>,
    pub highest_applied: Option<DecreeNumber>,
    /// Where the priest's snapshot of the law ends: decrees below it are in the snapshot
    /// and gone from the ledger (0: no snapshot).
    #[serde(default)]
    pub snapshot: DecreeNumber,
    /// The live data: bytes of the keys and values in the priest's law.
    #[serde(default)]
    pub live_bytes: u64,
    /// The client sessions the priest's law keeps.
    #[serde(default)]
    pub sessions: u64,
    pub ledger_bytes: u64,
    pub status_age_ms: u64,
    /// `current`, or `catching_up` while decrees it knows were passed wait to be applied
    /// (after a restart, or behind a snapshot to install).
    #[serde(default)]
    pub recovery: Recovery,
    /// With membership changes: the members in force (`None`: the configured priests, for
    /// good).
    #[serde(default)]
    pub members: Option<Vec<usize>>,
    /// A passed change not yet in force: its members, and the decree number from which.
    #[serde(default)]
    pub pending: Option<(Vec<usize>, DecreeNumber)>,
    /// A priest that joined: its ledger's token (16 hex digits); `None` for a founder.
    #[serde(default)]
    pub token: Option<String>,
    /// The host's counters, by name (`dropped_bad_mac`, `received`, ...).
    pub counters: BTreeMap<String, u64>,
}

/// Where a running priest is in its recovery.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Recovery {
    /// Every decree it knows was passed is applied to its law.
    #[default]
    Current,
    /// Decrees it knows were passed are not applied yet: it waits for them (or for a
    /// snapshot) from the president.
    CatchingUp,
}

impl Recovery {
    fn of(chosen: Option<DecreeNumber>, applied: Option<DecreeNumber>) -> Self {
        if chosen > applied {
            Recovery::CatchingUp
        } else {
            Recovery::Current
        }
    }

    fn name(self) -> &'static str {
        match self {
            Recovery::Current => "current",
            Recovery::CatchingUp => "catching_up",
        }
    }
}

/// The drop counters, in the order the status table prints them.
pub const DROPS: [&str; 4] = [
    "dropped_malformed",
    "dropped_bad_mac",
    "dropped_undecodable",
    "dropped_non_member",
];

/// The latest facts the host published, and when (plain values: publishing after every
/// batch costs a lock and a copy, no allocation).
#[derive(Clone, Debug)]
struct Published {
    role: Role,
    ballot: Option<Ballot>,
    president: Option<PriestIx>,
    quorum: Option<Priests>,
    highest_chosen: Option<DecreeNumber>,
    highest_applied: Option<DecreeNumber>,
    snapshot: DecreeNumber,
    live_bytes: u64,
    sessions: u64,
    /// Snapshots this process took of its own law, and installed from a peer.
    snapshots_taken: u64,
    snapshots_installed: u64,
    members: Option<Vec<usize>>,
    pending: Option<(Vec<usize>, DecreeNumber)>,
    token: u64,
    counters: Counters,
    at: Instant,
}

/// One priest's status board, filled by the host ([`Board::observer`]) and read by the
/// listener ([`Board::info`]).
#[derive(Clone, Debug)]
pub struct Board {
    priest: usize,
    ledger_dir: PathBuf,
    latest: Arc<Mutex<Option<Published>>>,
    /// When the board was made: the priest's start, so a priest still replaying its ledger
    /// says for how long.
    made: Instant,
}

impl Board {
    /// The board of priest `priest`, whose ledger lives in `ledger_dir`.
    pub fn new(priest: usize, ledger_dir: PathBuf) -> Board {
        Board {
            priest,
            ledger_dir,
            latest: Arc::new(Mutex::new(None)),
            made: Instant::now(),
        }
    }

    /// What the host calls after every batch: copies the facts out of the state.
    pub fn observer(&self) -> Observer<ParliamentPriest> {
        let latest = self.latest.clone();
        // Where the snapshot ended, and the host's timer count, at the last batch. A priest
        // takes a snapshot only on its snapshot timer and installs one only on a message: a
        // batch that moved the snapshot with no timer fired installed one; one with a timer
        // fired is counted as taken (so an install in such a batch is counted as taken,
        // rarely). The first batch after a start only sets the mark.
        let mut mark: Option<(DecreeNumber, u64)> = None;
        let (mut taken, mut installed) = (0, 0);
        Box::new(move |state: &PriestState, counters: &Counters| {
            let base = state.ledger.base();
            if let Some((before, timeouts)) = mark {
                if base > before {
                    if counters.timeouts == timeouts {
                        installed += 1;
                    } else {
                        taken += 1;
                    }
                }
            }
            mark = Some((base, counters.timeouts));
            let published = Published {
                role: state.role(),
                ballot: state.ballot(),
                president: state.president(),
                quorum: state.quorum(),
                highest_chosen: state.highest_learned(),
                highest_applied: state.highest_applied(),
                snapshot: base,
                live_bytes: state.law.bytes,
                sessions: state.law.sessions.len() as u64,
                snapshots_taken: taken,
                snapshots_installed: installed,
                // In force for the next decree number the priest will apply; a change
                // passed below it is in force already, though the law folds it in only
                // when it applies that number.
                members: state.law.chamber.as_ref().map(|c| {
                    let ms = c.at(state.applied, state.applied).unwrap_or(&c.members);
                    ms.iter().map(|m| m.ix as usize).collect()
                }),
                pending: state.law.chamber.as_ref().and_then(|c| {
                    let next = c.next.as_ref().filter(|n| n.at > state.applied)?;
                    Some((
                        next.members.iter().map(|m| m.ix as usize).collect(),
                        next.at,
                    ))
                }),
                token: state.ledger.nonce,
                counters: counters.clone(),
                at: Instant::now(),
            };
            *latest.lock().expect("not poisoned") = Some(published);
        })
    }

    /// The priest's status now; `None` before the host first published.
    pub fn status(&self) -> Option<PriestStatus> {
        let p = self.latest.lock().expect("not poisoned").clone()?;
        let mut counters: BTreeMap<String, u64> = match serde_json::to_value(&p.counters) {
            Ok(serde_json::Value::Object(m)) => m
                .into_iter()
                .filter_map(|(k, v)| Some((k, v.as_u64()?)))
                .collect(),
            _ => BTreeMap::new(),
        };
        counters.insert("snapshots_taken".into(), p.snapshots_taken);
        counters.insert("snapshots_installed".into(), p.snapshots_installed);
        Some(PriestStatus {
            priest: self.priest,
            role: p.role,
            ballot: p.ballot.map(|b| b.to_string()),
            president: p.president.map(usize::from),
            quorum: p.quorum.map(|q| q.iter().map(usize::from).collect()),
            highest_chosen: p.highest_chosen,
            highest_applied: p.highest_applied,
            snapshot: p.snapshot,
            live_bytes: p.live_bytes,
            sessions: p.sessions,
            ledger_bytes: dir_bytes(&self.ledger_dir),
            status_age_ms: p.at.elapsed().as_millis() as u64,
            recovery: Recovery::of(p.highest_chosen, p.highest_applied),
            members: p.members,
            pending: p.pending,
            token: (p.token != 0).then(|| format!("{:016x}", p.token)),
            counters,
        })
    }

    /// The `INFO` reply's text: every section, or the one named (case-insensitive; `all`,
    /// `default` and `everything` name every section).
    pub fn info(&self, section: Option<&str>) -> String {
        match self.status() {
            Some(s) => format_info(&s, section),
            None => format!(
                "# Parliament\r\npriest:{}\r\nrole:starting\r\nrecovery:replaying_ledger\r\n\
                 ledger_bytes:{}\r\nstarting_ms:{}\r\n",
                self.priest,
                dir_bytes(&self.ledger_dir),
                self.made.elapsed().as_millis()
            ),
        }
    }
}

/// The total size of the regular files in `dir` (0 if it cannot be read).
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or("none".to_string(), T::to_string)
}

fn list(v: &Option<Vec<usize>>) -> String {
    v.as_ref().map_or("none".to_string(), |q| {
        q.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
    })
}

/// A status as `INFO` text: `# Section` headers, `field:value` lines, CR LF line ends.
pub fn format_info(s: &PriestStatus, section: Option<&str>) -> String {
    let wants = |name: &str| {
        section.is_none_or(|w| {
            ["all", "default", "everything", name]
                .iter()
                .any(|n| w.eq_ignore_ascii_case(n))
        })
    };
    let mut out = String::new();
    if wants("parliament") {
        let _ = write!(
            out,
            "# Parliament\r\npriest:{}\r\nrole:{}\r\nballot:{}\r\npresident:{}\r\nquorum:{}\r\n\
             highest_chosen:{}\r\nhighest_applied:{}\r\nrecovery:{}\r\nsnapshot:{}\r\nlive_bytes:{}\r\n\
             sessions:{}\r\nledger_bytes:{}\r\nstatus_age_ms:{}\r\n",
            s.priest,
            s.role,
            opt(&s.ballot),
            opt(&s.president),
            list(&s.quorum),
            opt(&s.highest_chosen),
            opt(&s.highest_applied),
            s.recovery.name(),
            s.snapshot,
            s.live_bytes,
            s.sessions,
            s.ledger_bytes,
            s.status_age_ms
        );
        let _ = write!(
            out,
            "members:{}\r\npending:{}\r\ntoken:{}\r\n",
            s.members
                .as_ref()
                .map_or("fixed".to_string(), |m| list(&Some(m.clone()))),
            s.pending
                .as_ref()
                .map_or("none".to_string(), |(m, at)| format!(
                    "{}@{at}",
                    list(&Some(m.clone()))
                )),
            opt(&s.token)
        );
    }
    if wants("runtime") {
        if !out.is_empty() {
            out += "\r\n";
        }
        out += "# Runtime\r\n";
        for (k, v) in &s.counters {
            let _ = write!(out, "{k}:{v}\r\n");
        }
    }
    out
}

/// Reads `INFO` text back into a status.
pub fn parse_info(text: &str) -> Result<PriestStatus, String> {
    let mut fields: BTreeMap<&str, &str> = BTreeMap::new();
    let mut section = "";
    let mut counters = BTreeMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(name) = line.strip_prefix('#') {
            section = name.trim();
            continue;
        }
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| format!("INFO line {line:?} is not field:value"))?;
        if section.eq_ignore_ascii_case("runtime") {
            let n = v
                .parse()
                .map_err(|_| format!("INFO counter {k}:{v} is not a number"))?;
            counters.insert(k.to_string(), n);
        } else {
            fields.insert(k, v);
        }
    }
    let field = |k: &str| {
        fields
            .get(k)
            .copied()
            .ok_or_else(|| format!("INFO has no {k} field (is this a Parliament priest?)"))
    };
    fn number<T: std::str::FromStr>(k: &str, v: &str) -> Result<T, String> {
        v.parse()
            .map_err(|_| format!("INFO field {k}:{v} is not a number"))
    }
    let maybe = |k: &str| -> Result<Option<u64>, String> {
        match field(k)? {
            "none" => Ok(None),
            v => number(k, v).map(Some),
        }
    };
    let ids = |k: &str, v: &str| -> Result<Vec<usize>, String> {
        v.split(',').map(|p| number(k, p)).collect()
    };
    let role = match field("role")? {
        "starting" => {
            let (bytes, ms) = (fields.get("ledger_bytes"), fields.get("starting_ms"));
            return Err(format!(
                "starting: replaying its ledger ({} bytes) for {} ms",
                bytes.unwrap_or(&"?"),
                ms.unwrap_or(&"?")
            ));
        }
        "president" => Role::President,
        "candidate" => Role::Candidate,
        "follower" => Role::Follower,
        "rejoining" => Role::Rejoining,
        other => return Err(format!("INFO role {other:?} is not a role of a priest")),
    };
    let decree = |k: &str| -> Result<Option<DecreeNumber>, String> {
        maybe(k)?
            .map(|n| DecreeNumber::try_from(n).map_err(|_| format!("INFO {k}:{n} is too large")))
            .transpose()
    };
    Ok(PriestStatus {
        priest: number("priest", field("priest")?)?,
        role,
        ballot: match field("ballot")? {
            "none" => None,
            b => Some(b.to_string()),
        },
        president: maybe("president")?.map(|p| p as usize),
        quorum: match field("quorum")? {
            "none" => None,
            q => Some(
                q.split(',')
                    .map(|p| number("quorum", p))
                    .collect::<Result<_, _>>()?,
            ),
        },
        highest_chosen: decree("highest_chosen")?,
        highest_applied: decree("highest_applied")?,
        snapshot: number::<DecreeNumber>("snapshot", field("snapshot")?)?,
        live_bytes: number("live_bytes", field("live_bytes")?)?,
        sessions: number("sessions", field("sessions")?)?,
        ledger_bytes: number("ledger_bytes", field("ledger_bytes")?)?,
        status_age_ms: number("status_age_ms", field("status_age_ms")?)?,
        recovery: match fields.get("recovery").copied().unwrap_or("current") {
            "current" => Recovery::Current,
            "catching_up" => Recovery::CatchingUp,
            other => return Err(format!("INFO recovery {other:?} is not a recovery phase")),
        },
        members: match fields.get("members").copied().unwrap_or("fixed") {
            "fixed" => None,
            m => Some(ids("members", m)?),
        },
        pending: match fields.get("pending").copied().unwrap_or("none") {
            "none" => None,
            p => {
                let (m, at) = p
                    .split_once('@')
                    .ok_or_else(|| format!("INFO pending:{p} is not MEMBERS@DECREE"))?;
                Some((ids("pending", m)?, number("pending", at)?))
            }
        },
        token: match fields.get("token").copied().unwrap_or("none") {
            "none" => None,
            t => Some(t.to_string()),
        },
        counters,
    })
}

/// A RESP backend that answers `INFO` from a [`Board`] and hands every other command to
/// `inner`.
pub struct WithInfo<B> {
    inner: Arc<B>,
    board: Board,
}

impl<B: Backend> WithInfo<B> {
    pub fn new(inner: Arc<B>, board: Board) -> Arc<Self> {
        Arc::new(WithInfo { inner, board })
    }
}

impl<B: Backend> Backend for WithInfo<B> {
    fn submit(&self, client: ClientId, cmd: Command, reply: Responder) {
        match cmd {
            Command::Info(section) => reply.send(Reply::Bulk(Some(
                self.board.info(section.as_deref()).into_bytes(),
            ))),
            cmd => self.inner.submit(client, cmd, reply),
        }
    }

    fn disconnected(&self, client: ClientId) {
        self.inner.disconnected(client);
    }

    fn source(&self) -> Option<(std::os::fd::RawFd, std::time::Duration)> {
        self.inner.source()
    }

    fn poll(&self) {
        self.inner.poll()
    }

    fn flush(&self) {
        self.inner.flush()
    }
}

/// One row of `parliament status`: a priest's answer, or why there was none.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub priest: usize,
    pub client_address: Option<SocketAddr>,
    /// `Err`: the priest is down (or did not answer in time), and why.
    #[serde(flatten, with = "row_result")]
    pub status: Result<PriestStatus, String>,
    /// What the cluster's supervisor file says of the priest (`None`: no file, or it does
    /// not list the priest); see [`with_supervision`].
    pub supervisor: Option<Restarts>,
}

/// What `parliament cluster`'s supervisor knows of a priest: its restarts (the priest
/// itself cannot know how often it died), from the supervisor file
/// ([`crate::service::supervisor`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Restarts {
    /// Whether the supervisor that wrote the file still runs (`false`: the file tells its
    /// last run).
    pub supervisor_running: bool,
    /// Whether it restarts priests that die (`false`: `--no-restart`).
    pub restart: bool,
    #[serde(flatten)]
    pub priest: SupervisedPriest,
}

/// Adds to each row what the supervisor file says of its priest.
pub fn with_supervision(rows: &mut [Row], supervision: &Supervision) {
    let Supervision::Known { file, alive } = supervision else {
        return;
    };
    for r in rows {
        r.supervisor = supervision.priest(r.priest).map(|p| Restarts {
            supervisor_running: *alive,
            restart: file.restart,
            priest: p.clone(),
        });
    }
}

/// One priest's restarts in words, if there is something to say: it was restarted, or
/// its process is not running.
fn restart_line(r: &Restarts, now_unix_ms: u64) -> Option<String> {
    let p = &r.priest;
    let times = |n: u64| format!("restarted {n} time{}", if n == 1 { "" } else { "s" });
    let mut line = format!("priest {}: ", p.priest);
    match p.state {
        Process::Running if p.restarts == 0 => return None,
        Process::Running => {
            let _ = write!(line, "{}", times(p.restarts));
            if let Some(pid) = p.pid {
                let _ = write!(line, ", running as pid {pid}");
            }
        }
        Process::Restarting => {
            let _ = write!(line, "restarting: restart {}", p.restarts + 1);
            match p.next_restart_unix_ms {
                Some(at) if at > now_unix_ms => {
                    let left = std::time::Duration::from_millis(at - now_unix_ms);
                    let _ = write!(line, " due in {}", supervisor::shown(left));
                }
                _ => line += " due now",
            }
            if p.next_delay_ms == Some(Backoff::CAP.as_millis() as u64) {
                let _ = write!(
                    line,
                    " (it keeps failing: retried every {})",
                    supervisor::shown(Backoff::CAP)
                );
            }
            if p.restarts > 0 {
                let _ = write!(line, "; {} so far", times(p.restarts));
            }
        }
        Process::Down => line += "down, not restarted (--no-restart)",
        Process::Stopped => line += "stopped with the cluster",
        Process::Retired => line += "retired, stopped by the cluster",
    }
    if let Some(e) = &p.last_exit {
        let _ = write!(
            line,
            "; last exit {}: {}",
            supervisor::ago(e.at_unix_ms, now_unix_ms),
            e.reason
        );
        if let Some(error) = &e.error {
            let _ = write!(line, " ({error})");
        }
    }
    if p.state != Process::Running && p.restarts > 0 && p.state != Process::Restarting {
        let _ = write!(line, "; {}", times(p.restarts));
    }
    Some(line)
}

/// What the supervisor said, below the table.
fn render_supervision(rows: &[Row], supervision: &Supervision, now_unix_ms: u64) -> String {
    let mut out = String::new();
    match supervision {
        Supervision::Absent => out += "restarts: not known (no supervisor file)\n",
        Supervision::Unreadable(path, e) => {
            let _ = writeln!(out, "restarts: not known ({}: {e})", path.display());
        }
        Supervision::Known { file, alive } => {
            if *alive {
                let _ = write!(out, "supervisor: pid {}, ", file.pid);
                if file.restart {
                    let _ = writeln!(
                        out,
                        "restarts a priest that dies (after {}, doubling to {})",
                        supervisor::shown(Backoff::INITIAL),
                        supervisor::shown(Backoff::CAP)
                    );
                } else {
                    out += "restarts nothing (--no-restart)\n";
                }
            } else {
                let _ = writeln!(
                    out,
                    "supervisor: not running (pid {}); what it said when it last wrote, {}:",
                    file.pid,
                    supervisor::ago(file.updated_unix_ms, now_unix_ms)
                );
            }
            for r in rows.iter().filter_map(|r| r.supervisor.as_ref()) {
                if let Some(line) = restart_line(r, now_unix_ms) {
                    let _ = writeln!(out, "{line}");
                }
            }
        }
    }
    out
}

mod row_result {
    use super::PriestStatus;
    use serde::{Serialize, Serializer};

    #[derive(Serialize)]
    struct Down<'a> {
        role: &'static str,
        error: &'a str,
    }

    pub fn serialize<S: Serializer>(
        r: &Result<PriestStatus, String>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match r {
            Ok(status) => status.serialize(s),
            Err(error) => Down {
                role: "down",
                error,
            }
            .serialize(s),
        }
    }
}

/// Asks the listener at `addr` for its `INFO`, waiting at most `timeout` in all.
pub fn query(addr: SocketAddr, timeout: Duration) -> Result<PriestStatus, String> {
    let deadline = Instant::now() + timeout;
    let mut client = Client::connect_timeout(&addr, timeout)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    client
        .set_timeout(Some(left))
        .map_err(|e| format!("{addr}: {e}"))?;
    match client.call(&[b"INFO"]) {
        Ok(Reply::Bulk(Some(text))) => parse_info(&String::from_utf8_lossy(&text)),
        Ok(Reply::Error(e)) => Err(format!("{addr} answered INFO with an error: {e}")),
        Ok(other) => Err(format!("{addr} answered INFO with {other:?}")),
        Err(e) => Err(format!("no INFO answer from {addr}: {e}")),
    }
}

/// Asks every priest of the cluster at once; a priest with no `client_address` or no
/// answer within `timeout` is down.
pub fn query_cluster(cfg: &Config, timeout: Duration) -> Vec<Row> {
    let handles: Vec<_> = cfg
        .client_addresses
        .iter()
        .enumerate()
        // A priest `cluster --remove` retired is no longer asked.
        .filter(|(priest, _)| !cfg.retired[*priest])
        .map(|(priest, addr)| {
            let addr = *addr;
            let handle = std::thread::spawn(move || Row {
                priest,
                client_address: addr,
                supervisor: None,
                status: match addr {
                    None => Err("no client_address in the configuration".into()),
                    Some(a) => query(a, timeout).and_then(|s| {
                        if s.priest == priest {
                            Ok(s)
                        } else {
                            Err(format!("{a} answers as priest {}", s.priest))
                        }
                    }),
                },
            });
            (priest, handle)
        })
        .collect();
    handles
        .into_iter()
        .map(|(priest, h)| {
            h.join().unwrap_or_else(|_| Row {
                priest,
                client_address: cfg.client_addresses[priest],
                status: Err("the query panicked".into()),
                supervisor: None,
            })
        })
        .collect()
}

/// The rows as a table, with a summary line and what the supervisor said (`supervision`,
/// also in the rows: [`with_supervision`]).
pub fn render(rows: &[Row], supervision: &Supervision) -> String {
    let header = [
        "priest",
        "role",
        "ballot",
        "president",
        "quorum",
        "chosen",
        "applied",
        "snapshot",
        "ledger_bytes",
        "dropped",
        "restarts",
        "client",
    ];
    let mut table: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    let dash = || "-".to_string();
    for r in rows {
        let client = opt(&r.client_address);
        let restarts = r
            .supervisor
            .as_ref()
            .map_or("?".to_string(), |s| s.priest.restarts.to_string());
        table.push(match &r.status {
            Ok(s) => vec![
                s.priest.to_string(),
                s.role.to_string(),
                opt(&s.ballot),
                opt(&s.president),
                list(&s.quorum).replace("none", "-"),
                opt(&s.highest_chosen),
                opt(&s.highest_applied),
                s.snapshot.to_string(),
                s.ledger_bytes.to_string(),
                DROPS
                    .iter()
                    .map(|d| s.counters.get(*d).copied().unwrap_or(0).to_string())
                    .collect::<Vec<_>>()
                    .join("/"),
                restarts,
                client,
            ],
            Err(_) => {
                let mut v = vec![r.priest.to_string(), "down".to_string()];
                v.extend((0..header.len() - 4).map(|_| dash()));
                v.push(restarts);
                v.push(client);
                v
            }
        });
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| table.iter().map(|row| row[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &table {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out += line.join("  ").trim_end();
        out += "\n";
    }
    out += "dropped = malformed/bad_mac/undecodable/non_member datagrams\n";
    for r in rows {
        if let Err(e) = &r.status {
            let _ = writeln!(out, "priest {} is down: {e}", r.priest);
        }
    }
    let up: Vec<&PriestStatus> = rows.iter().filter_map(|r| r.status.as_ref().ok()).collect();
    let presidents: Vec<String> = up
        .iter()
        .filter(|s| s.role == Role::President)
        .map(|s| s.priest.to_string())
        .collect();
    let _ = write!(out, "{} of {} priests answered", up.len(), rows.len());
    match presidents.len() {
        _ if up.is_empty() => out += "\n",
        0 => out += "; no president (an election may be under way)\n",
        1 => {
            let _ = writeln!(out, "; president: priest {}", presidents[0]);
        }
        _ => {
            // Possible for a moment: a deposed president has not yet heard of the higher
            // ballot. Only the one with the highest ballot can pass decrees.
            let _ = writeln!(
                out,
                "; priests {} each believe they preside (the one with the highest ballot does)",
                presidents.join(", ")
            );
        }
    }
    // With [membership]: the members as the priest furthest along knows them.
    if let Some(s) = up
        .iter()
        .filter(|s| s.members.is_some())
        .max_by_key(|s| s.highest_applied)
    {
        let ids = |m: &[usize]| m.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
        let _ = write!(out, "members: {}", ids(s.members.as_deref().unwrap_or(&[])));
        if let Some((m, at)) = &s.pending {
            let _ = write!(out, "; then {} from decree {at}", ids(m));
        }
        out += "\n";
    }
    out += &render_supervision(
        rows,
        supervision,
        supervisor::unix_ms(std::time::SystemTime::now()),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parliament::ParliamentPriest;
    use serde_json::Value;
    use stateright::actor::{Actor, Id, Out};

    fn sample() -> PriestStatus {
        PriestStatus {
            priest: 2,
            role: Role::Follower,
            ballot: Some("3.1".into()),
            president: Some(1),
            quorum: None,
            highest_chosen: Some(41),
            highest_applied: Some(40),
            snapshot: 30,
            live_bytes: 1200,
            sessions: 4,
            ledger_bytes: 18230,
            status_age_ms: 7,
            recovery: Recovery::CatchingUp,
            members: Some(vec![0, 1, 3]),
            pending: Some((vec![0, 1, 3, 4], 17)),
            token: Some("00000000deadbeef".into()),
            counters: [("dropped_bad_mac", 3), ("received", 100)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        }
    }

    #[test]
    fn info_text_reads_back_to_the_same_status() {
        let s = sample();
        let text = format_info(&s, None);
        assert!(text.contains("role:follower\r\n"), "{text}");
        assert!(text.contains("\r\nrecovery:catching_up\r\n"), "{text}");
        assert!(text.contains("\r\n\r\n# Runtime\r\n"), "{text}");
        assert_eq!(parse_info(&text), Ok(s.clone()));
        let quorum = PriestStatus {
            quorum: Some(vec![0, 2]),
            ..s.clone()
        };
        let text_q = format_info(&quorum, None);
        assert!(text_q.contains("\r\nquorum:0,2\r\n"), "{text_q}");
        assert_eq!(parse_info(&text_q), Ok(quorum));
        let none = PriestStatus {
            ballot: None,
            president: None,
            highest_chosen: None,
            highest_applied: None,
            recovery: Recovery::Current,
            ..s.clone()
        };
        assert_eq!(parse_info(&format_info(&none, Some("ALL"))), Ok(none));
        // One section.
        let only = format_info(&s, Some("Runtime"));
        assert!(only.starts_with("# Runtime\r\n") && !only.contains("role:"));
        assert_eq!(format_info(&s, Some("nothing")), "");
        // Not a priest's INFO.
        let err = parse_info("# Memory\r\nbackend:memory\r\n").unwrap_err();
        assert!(err.contains("no role field"), "{err}");
        let err = parse_info(&text.replace("ledger_bytes:18230", "ledger_bytes:lots"));
        assert!(err.unwrap_err().contains("ledger_bytes:lots"));
    }

    #[test]
    fn the_board_publishes_what_the_priest_state_says() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("log-0"), [0u8; 100]).unwrap();
        std::fs::write(dir.path().join("LOCK"), []).unwrap();
        let board = Board::new(0, dir.path().to_path_buf());
        assert_eq!(board.status(), None);
        let starting = board.info(None);
        assert!(starting.contains("\r\nrole:starting\r\nrecovery:replaying_ledger\r\n"));
        let err = parse_info(&starting).unwrap_err();
        assert!(
            err.starts_with("starting: replaying its ledger (100 bytes) for "),
            "{err}"
        );
        // Priest 0 of three starts as the genesis president.
        let priest = ParliamentPriest::new(0, Id::vec_from(0..3));
        let mut out = Out::new();
        let state = priest.on_start(Id::from(0), &None, &mut out);
        let mut observe = board.observer();
        let counters = Counters {
            dropped_non_member: 2,
            ..Counters::default()
        };
        observe(&state, &counters);
        let s = board.status().unwrap();
        assert_eq!(s.role, Role::President);
        assert_eq!(s.ballot.as_deref(), Some("0.0"));
        assert_eq!(s.president, Some(0));
        assert_eq!(
            s.quorum,
            Some(vec![0, 1, 2]),
            "the genesis quorum: every priest"
        );
        assert_eq!((s.highest_chosen, s.highest_applied), (None, None));
        assert_eq!(s.recovery, Recovery::Current);
        assert_eq!(s.ledger_bytes, 100);
        assert_eq!(s.counters["dropped_non_member"], 2);
        assert_eq!(parse_info(&board.info(None)), Ok(s));
        // Priest 1 starts a follower of the genesis ballot.
        let priest = ParliamentPriest::new(1, Id::vec_from(0..3));
        let state = priest.on_start(Id::from(1), &None, &mut Out::new());
        observe(&state, &counters);
        let s = board.status().unwrap();
        assert_eq!((s.role, s.president), (Role::Follower, Some(0)));
        // Priest 2 lost its ledger: it starts rejoining, following nobody yet.
        let priest = ParliamentPriest::new(2, Id::vec_from(0..3));
        let rejoining = Some(crate::parliament::Ledger::rejoining());
        let state = priest.on_start(Id::from(2), &rejoining, &mut Out::new());
        observe(&state, &counters);
        let s = board.status().unwrap();
        assert_eq!(
            (s.role, &s.ballot, s.president),
            (Role::Rejoining, &None, None)
        );
        assert!(board.info(None).contains("\r\nrole:rejoining\r\n"));
        assert_eq!(parse_info(&board.info(None)), Ok(s));
    }

    #[test]
    fn the_listener_answers_info_itself_and_passes_other_commands_on() {
        use crate::resp::memory::MemoryBackend;
        use crate::resp::server::{Server, ServerConfig};
        let dir = tempfile::tempdir().unwrap();
        let board = Board::new(0, dir.path().to_path_buf());
        let priest = ParliamentPriest::new(0, Id::vec_from(0..3));
        let state = priest.on_start(Id::from(0), &None, &mut Out::new());
        board.observer()(&state, &Counters::default());
        let memory = Arc::new(MemoryBackend::new());
        let server = Server::start(
            "127.0.0.1:0",
            WithInfo::new(memory.clone(), board),
            ServerConfig::default(),
        )
        .unwrap();
        let mut c = Client::connect(server.local_addr()).unwrap();
        c.set_timeout(Some(Duration::from_secs(10))).unwrap();
        assert_eq!(c.call(&[b"SET", b"k", b"v"]).unwrap(), Reply::ok());
        assert_eq!(memory.len(), 1, "SET reached the inner backend");
        let Reply::Bulk(Some(text)) = c.call(&[b"info"]).unwrap() else {
            panic!("INFO is a bulk string");
        };
        let s = parse_info(&String::from_utf8(text).unwrap()).unwrap();
        assert_eq!((s.priest, s.role), (0, Role::President));
        let Reply::Bulk(Some(text)) = c.call(&[b"INFO", b"runtime"]).unwrap() else {
            panic!("INFO runtime is a bulk string");
        };
        assert!(text.starts_with(b"# Runtime\r\n"));
        assert_eq!(memory.len(), 1, "INFO did not reach the inner backend");
        server.shutdown();
    }

    #[test]
    fn the_table_shows_down_priests_and_the_president() {
        let up = sample();
        let president = PriestStatus {
            priest: 1,
            role: Role::President,
            quorum: Some(vec![1, 2]),
            ..sample()
        };
        let mut rows = vec![
            Row {
                priest: 0,
                client_address: Some("127.0.0.1:7000".parse().unwrap()),
                status: Err("cannot connect to 127.0.0.1:7000: refused".into()),
                supervisor: None,
            },
            Row {
                priest: 1,
                client_address: Some("127.0.0.1:7001".parse().unwrap()),
                status: Ok(president),
                supervisor: None,
            },
            Row {
                priest: 2,
                client_address: Some("127.0.0.1:7002".parse().unwrap()),
                status: Ok(up),
                supervisor: None,
            },
        ];
        let text = render(&rows, &Supervision::Absent);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("priest  role"), "{text}");
        assert!(
            lines[1].starts_with("0       down") && lines[1].ends_with("127.0.0.1:7000"),
            "{text}"
        );
        assert!(
            lines[2].contains("president  3.1     1          1,2"),
            "{text}"
        );
        assert!(lines[3].contains("0/3/0/0"), "{text}");
        assert!(text.contains("priest 0 is down: cannot connect"), "{text}");
        assert!(
            text.ends_with(
                "2 of 3 priests answered; president: priest 1\nmembers: 0,1,3; then 0,1,3,4 \
                 from decree 17\nrestarts: not known (no supervisor file)\n"
            ),
            "{text}"
        );
        assert!(
            lines[2].ends_with("0/3/0/0  ?         127.0.0.1:7001"),
            "{text}"
        );
        let json = serde_json::to_value(&rows).unwrap();
        assert_eq!(json[0]["role"], "down");
        assert_eq!(json[1]["priest"], 1);
        assert!(json[0]["error"].as_str().unwrap().contains("refused"));
        assert_eq!(json[1]["role"], "president");
        assert_eq!(json[2]["highest_chosen"], 41);
        assert_eq!(json[1]["quorum"], serde_json::json!([1, 2]));
        assert_eq!(json[2]["quorum"], Value::Null);
        assert_eq!(json[2]["counters"]["dropped_bad_mac"], 3);
        assert_eq!(json[2]["supervisor"], Value::Null);

        // With the supervisor's file: priest 0 waits for its third restart, priest 1 was
        // restarted once, priest 2 never.
        use crate::service::supervisor::{Exit, SupervisorFile, FORMAT};
        use std::os::unix::process::ExitStatusExt;
        let now = supervisor::unix_ms(std::time::SystemTime::now());
        let exit = |raw: i32, error: Option<&str>| Exit {
            at_unix_ms: now - 3_000,
            ..Exit::new(
                std::process::ExitStatus::from_raw(raw),
                Duration::from_millis(20),
                error.map(str::to_string),
            )
        };
        let record = |priest: usize, state: Process, restarts: u64| SupervisedPriest {
            priest,
            state,
            pid: (state == Process::Running).then_some(4000 + priest as u32),
            started_unix_ms: Some(now - 5_000),
            restarts,
            last_restart_unix_ms: None,
            last_exit: None,
            next_restart_unix_ms: None,
            next_delay_ms: None,
        };
        let file = SupervisorFile {
            format: FORMAT,
            pid: std::process::id(),
            restart: true,
            running: true,
            updated_unix_ms: now,
            priests: vec![
                SupervisedPriest {
                    last_exit: Some(exit(1 << 8, Some("error: ledger is corrupt"))),
                    next_restart_unix_ms: Some(now + 60_000),
                    next_delay_ms: Some(30_000),
                    ..record(0, Process::Restarting, 2)
                },
                SupervisedPriest {
                    last_exit: Some(exit(libc::SIGKILL, None)),
                    ..record(1, Process::Running, 1)
                },
                record(2, Process::Running, 0),
            ],
        };
        let known = Supervision::Known { file, alive: true };
        with_supervision(&mut rows, &known);
        let text = render(&rows, &known);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].ends_with(" 2         127.0.0.1:7000"), "{text}");
        assert!(lines[2].ends_with(" 1         127.0.0.1:7001"), "{text}");
        assert!(lines[3].ends_with(" 0         127.0.0.1:7002"), "{text}");
        let tail: Vec<&str> = lines[lines.len() - 3..].to_vec();
        assert!(
            tail[0].starts_with(&format!("supervisor: pid {}, restarts", std::process::id())),
            "{text}"
        );
        assert!(
            tail[1].starts_with("priest 0: restarting: restart 3 due in ")
                && tail[1].contains("(it keeps failing: retried every 30 s); restarted 2 times")
                && tail[1].ends_with(
                    "; last exit 3.0 s ago: exited with code 1 (error: ledger is corrupt)"
                ),
            "{text}"
        );
        assert_eq!(
            tail[2],
            "priest 1: restarted 1 time, running as pid 4001; last exit 3.0 s ago: killed by \
             signal 9 (SIGKILL)"
        );
        let json = serde_json::to_value(&rows).unwrap();
        assert_eq!(json[1]["supervisor"]["restarts"], 1);
        assert_eq!(json[1]["supervisor"]["supervisor_running"], true);
        assert_eq!(json[1]["supervisor"]["state"], "running");
        assert_eq!(
            json[1]["supervisor"]["last_exit"]["reason"],
            "killed by signal 9 (SIGKILL)"
        );
        assert_eq!(json[1]["supervisor"]["last_exit"]["signal"], 9);
        assert_eq!(json[0]["supervisor"]["state"], "restarting");
        // A supervisor that is gone: said, with its last word.
        let Supervision::Known { file, .. } = known else {
            unreachable!()
        };
        let gone = Supervision::Known { file, alive: false };
        let text = render(&rows, &gone);
        assert!(
            text.contains("supervisor: not running (pid ")
                && text.contains("what it said when it last wrote, 0."),
            "{text}"
        );
    }
}
