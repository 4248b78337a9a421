//! The cluster's configuration file (TOML): read and validated ([`Config`]), and written
//! ([`ConfigFile`]).
//!
//! ```toml
//! # Paths are relative to this file's directory.
//! ledger_dir = "ledger"        # priest N keeps its ledger in ledger_dir/priest-N
//! key_file = "cluster.key"     # 64 hex digits; `parliament keygen FILE` writes one
//! protocol = "synod"           # or "parliament" (the key-value service); default "synod"
//!
//! [timers]                     # every one optional; the defaults are shown
//! retry_ms = [100, 200]        # synod: a priest with a proposal retries a ballot after this long
//! election_ms = [300, 600]     # parliament: a priest that heard no president for a random
//!                              #   time in this range runs for president
//! heartbeat_ms = 100           # parliament: how often a president says it is alive; must be
//!                              #   below the least election timeout
//! vote_ms = 5                  # parliament: how long a president leaves its own vote out of
//!                              #   a ballot the others can pass without it; 0: it votes at once
//! resend_ms = 200              # parliament: the RESP listener resends an unanswered command
//!                              #   to every priest after this long
//! client_timeout_ms = 5000     # parliament: and answers it -ERR after this long
//! snapshot_ms = 100            # parliament: how often a priest considers a snapshot
//!
//! [snapshots]                  # parliament; optional, the default is shown
//! after_decrees = 2000         # snapshot the law and truncate the ledger once this many
//!                              #   decrees were applied since the last snapshot; 0: never
//! after_bytes = 2097152        # or once the commands applied since hold this many bytes;
//!                              #   0: by count only
//!
//! [sessions]                   # parliament; optional, the default is shown
//! expire_after_s = 600         # the law forgets a client session idle for this long (by
//!                              #   the president's clock); 0: never. At least 10x
//!                              #   client_timeout_ms
//!
//! [scheduling]                 # optional; the default is shown
//! slice_us = 0                 # the CPU slice asked of the kernel for the priest's threads
//!                              #   (Linux 6.12 and later, 100 to 100000); 0: the kernel's
//!                              #   default. See "Scheduling" below
//! nice = 0                     # the priest's nice value, -20 to 19; 0: the one it was
//!                              #   started with. Below that needs root or CAP_SYS_NICE.
//!                              #   See "Scheduling" below
//!
//! [membership]               # parliament; optional: without it the priests are the ones
//!                              #   listed, for good
//! founders = 3                 # the cluster began with priests 0..founders; the others
//!                              #   listed join by `parliament member add`
//! alpha = 1                    # a change passed as decree i is in force from decree i+alpha
//!                              #   (1 to 64; a president passes olive-day decrees to bring
//!                              #   a change into force when no command comes)
//!
//! [trace]                      # parliament; optional: every priest records its run in
//! dir = "trace"                #   dir/priest-N.trace, to check it afterwards
//!                              #   (`parliament trace check DIR`); off by default
//!
//! [[priest]]
//! id = 0
//! address = "127.0.0.1:7000"
//!
//! [[priest]]
//! id = 1
//! address = "127.0.0.1:7001"   # or all IPv6: "[::1]:7001"
//! client_address = "127.0.0.1:6380"  # parliament only: its RESP (Redis) listener, TCP
//! bind = "0.0.0.0:7001"        # optional: the local address its UDP socket binds
//! ```
//!
//! Priest ids are their indices, listed in order from 0: they are the actor [`Id`]s the
//! checked model uses, so a deployed priest runs with exactly the ids it was checked with.
//!
//! # `address` and `bind`
//!
//! `address` is where the other priests and the clients send a priest's datagrams, and the
//! source address they accept its datagrams from (a datagram claiming priest 1's id from
//! anywhere else is dropped). `bind` (default: `address`) is the address the priest's own
//! socket binds. They differ behind address translation: in a container, or when something
//! relays datagrams between priests. The nemesis tests (`tests/nemesis.rs`) use that to put a
//! fault-injecting relay between the priests without any fault code in the binary: the relay
//! binds every priest's `address`, each priest binds its own `bind`, and the relay forwards a
//! datagram from priest j to priest i from its socket at j's `address`.
//!
//! # Scheduling
//!
//! A priest mostly sleeps: it wakes for a datagram or a client's command, does a few
//! microseconds of work (or waits for its disk) and sleeps again, and each command waits on
//! several such wake-ups in turn (listener, president, followers, president, listener). On a
//! machine whose cores a busy neighbour keeps running, each of those wake-ups can wait for the
//! neighbour's slice to end: the kernel's default slice (about 3 ms on Linux's EEVDF
//! scheduler, scaled by the number of cores) then adds to every step of the protocol.
//! `slice_us` asks the kernel (`sched_setattr`, the custom slice of Linux 6.12 and later) for a
//! short slice for the priest's threads; a task with a shorter slice has an earlier
//! deadline and may preempt the neighbour when it wakes. It asks no priority: over any
//! stretch of time a priest gets no more CPU than its fair share. The kernel accepts 100 to
//! 100,000 µs; an older kernel keeps its default (the priest logs a warning and goes on).
//! Off by default: beside one CPU-bound neighbour, 100 µs measured no better than the
//! kernel's slice (docs/performance.md, "A busy machine").
//!
//! `nice` does ask for priority: a priest with a lower nice value than the neighbour weighs
//! more in the scheduler's fair share, so it runs sooner when it wakes and the neighbour
//! waits instead. Beside a CPU-bound neighbour at nice 0, `nice = -10` is what brought the
//! p99 latencies back near the quiet machine's (docs/performance.md). It is the operator's
//! choice which of a machine's programs matter more, so the default leaves the priest at
//! the nice value it was started with; a priest that asks for a value the kernel refuses
//! (below 0 without root or `CAP_SYS_NICE`) does not start.
//!
//! # Timers of the Parliament
//!
//! Every heartbeat starts a follower's election timer again, so a follower notices a dead
//! president one election timeout after the last heartbeat it heard, and the failover time
//! is about `election_ms` plus one ballot's round trips. Smaller timeouts fail over faster and hold
//! more elections needlessly on a loaded machine. The RESP listener's `resend_ms` bounds how
//! long a command sent to a dead priest waits before it is sent to every priest; a command
//! unanswered after `client_timeout_ms` is answered `-ERR` (and may still have passed).

use super::wire::Key;
use serde::{Deserialize, Serialize};
use stateright::actor::Id;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The most priests a cluster may have (the [`crate::ballot::Priests`] bit set).
pub const MAX_PRIESTS: usize = 64;

/// The configuration file as written: what [`Config::parse`] reads before it validates, and
/// what [`ConfigFile::to_toml`] writes (`parliament cluster`, and the tests' clusters).
/// Addresses are kept as written, so a bad one is reported by [`Config::parse`] with the
/// priest it belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Relative to the file's directory, as is `key_file`.
    pub ledger_dir: PathBuf,
    pub key_file: PathBuf,
    #[serde(default)]
    pub protocol: Protocol,
    #[serde(default, skip_serializing_if = "TimersFile::is_default")]
    pub timers: TimersFile,
    #[serde(default, skip_serializing_if = "SnapshotsFile::is_default")]
    pub snapshots: SnapshotsFile,
    #[serde(default, skip_serializing_if = "SessionsFile::is_default")]
    pub sessions: SessionsFile,
    #[serde(default, skip_serializing_if = "SchedulingFile::is_default")]
    pub scheduling: SchedulingFile,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership: Option<MembershipFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceFile>,
    /// For testing the checkers only: the priests run this seeded bug (`parliament bugs`);
    /// `serve` refuses it unless `PARLIAMENT_SEEDED_BUGS=1` is in its environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seeded_bug: Option<String>,
    #[serde(default)]
    pub priest: Vec<PriestFile>,
}

/// The `[trace]` table: each priest records its run in `dir` (relative to the file's
/// directory), for `parliament trace check` (see [`crate::host::trace`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceFile {
    pub dir: PathBuf,
}

/// The `[membership]` table (see the module docs and docs/membership.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembershipFile {
    pub founders: usize,
    #[serde(default = "default_alpha")]
    pub alpha: u32,
}

fn default_alpha() -> u32 {
    1
}

/// The `[timers]` table, in milliseconds; every one optional (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimersFile {
    #[serde(default = "default_retry")]
    pub retry_ms: [u64; 2],
    #[serde(default = "default_election")]
    pub election_ms: [u64; 2],
    #[serde(default = "default_heartbeat")]
    pub heartbeat_ms: u64,
    #[serde(default = "default_vote")]
    pub vote_ms: u64,
    #[serde(default = "default_resend")]
    pub resend_ms: u64,
    #[serde(default = "default_client_timeout")]
    pub client_timeout_ms: u64,
    #[serde(default = "default_snapshot_ms")]
    pub snapshot_ms: u64,
}

/// The `[snapshots]` table (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotsFile {
    #[serde(default = "default_after_decrees")]
    pub after_decrees: u32,
    #[serde(default = "default_after_bytes")]
    pub after_bytes: u64,
}

impl Default for SnapshotsFile {
    fn default() -> Self {
        SnapshotsFile {
            after_decrees: default_after_decrees(),
            after_bytes: default_after_bytes(),
        }
    }
}

impl SnapshotsFile {
    fn is_default(&self) -> bool {
        *self == SnapshotsFile::default()
    }
}

/// The `[scheduling]` table (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulingFile {
    #[serde(default = "default_slice_us")]
    pub slice_us: u64,
    #[serde(default)]
    pub nice: i32,
}

impl Default for SchedulingFile {
    fn default() -> Self {
        SchedulingFile {
            slice_us: default_slice_us(),
            nice: 0,
        }
    }
}

impl SchedulingFile {
    fn is_default(&self) -> bool {
        *self == SchedulingFile::default()
    }
}

fn default_slice_us() -> u64 {
    0
}

/// The `[sessions]` table (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsFile {
    #[serde(default = "default_expire_after_s")]
    pub expire_after_s: u64,
}

impl Default for SessionsFile {
    fn default() -> Self {
        SessionsFile {
            expire_after_s: default_expire_after_s(),
        }
    }
}

impl SessionsFile {
    fn is_default(&self) -> bool {
        *self == SessionsFile::default()
    }
}

fn default_expire_after_s() -> u64 {
    600
}

fn default_after_decrees() -> u32 {
    2_000
}

fn default_after_bytes() -> u64 {
    2 << 20
}

fn default_snapshot_ms() -> u64 {
    100
}

impl Default for TimersFile {
    fn default() -> Self {
        TimersFile {
            retry_ms: default_retry(),
            election_ms: default_election(),
            heartbeat_ms: default_heartbeat(),
            vote_ms: default_vote(),
            resend_ms: default_resend(),
            client_timeout_ms: default_client_timeout(),
            snapshot_ms: default_snapshot_ms(),
        }
    }
}

impl TimersFile {
    fn is_default(&self) -> bool {
        *self == TimersFile::default()
    }
}

fn default_retry() -> [u64; 2] {
    [100, 200]
}

fn default_election() -> [u64; 2] {
    [300, 600]
}

fn default_heartbeat() -> u64 {
    100
}

fn default_vote() -> u64 {
    5
}

fn default_resend() -> u64 {
    200
}

fn default_client_timeout() -> u64 {
    5000
}

/// One `[[priest]]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriestFile {
    pub id: usize,
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    /// Removed from the Chamber by `parliament cluster --remove`: `cluster` no longer starts
    /// it. (Nothing else reads it: the law says who the members are.)
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retired: bool,
}

impl PriestFile {
    /// Priest `id` at `address`, with no RESP listener and binding its address.
    pub fn new(id: usize, address: SocketAddr) -> Self {
        PriestFile {
            id,
            address: address.to_string(),
            client_address: None,
            bind: None,
            retired: false,
        }
    }

    /// With a RESP listener at `client`.
    pub fn client_address(mut self, client: SocketAddr) -> Self {
        self.client_address = Some(client.to_string());
        self
    }

    /// Binding `bind` rather than its address.
    pub fn bind(mut self, bind: SocketAddr) -> Self {
        self.bind = Some(bind.to_string());
        self
    }
}

impl ConfigFile {
    /// A configuration of `protocol` with `ledger_dir` and `key_file` (relative to the file's
    /// directory, or absolute), default timers and no priests.
    pub fn new(
        ledger_dir: impl Into<PathBuf>,
        key_file: impl Into<PathBuf>,
        protocol: Protocol,
    ) -> Self {
        ConfigFile {
            ledger_dir: ledger_dir.into(),
            key_file: key_file.into(),
            protocol,
            timers: TimersFile::default(),
            snapshots: SnapshotsFile::default(),
            sessions: SessionsFile::default(),
            scheduling: SchedulingFile::default(),
            membership: None,
            trace: None,
            seeded_bug: None,
            priest: Vec::new(),
        }
    }

    /// Reads configuration text, without validating it (see [`Config::parse`]).
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// The configuration as TOML text, which [`ConfigFile::from_toml`] reads back equal.
    /// Timers are written only when some differ from the defaults.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a configuration serializes to TOML")
    }

    /// Writes the configuration to `path`, after the comment lines `header` (each line
    /// prefixed `# `): whole, to a temporary file then renamed, so a crash never leaves
    /// half a configuration.
    pub fn write(&self, path: &Path, header: &str) -> Result<(), String> {
        let mut text: String = header.lines().map(|l| format!("# {l}\n")).collect();
        text += &self.to_toml();
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
}

/// Which priest `parliament serve` runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// The single-decree Synod priest (`crate::service::synod`).
    #[default]
    Synod,
    /// The multi-decree Parliament priest with a RESP listener (`crate::service::parliament`).
    Parliament,
}

/// A validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// The priests' addresses, by index.
    pub priests: Vec<SocketAddr>,
    /// Where the priests' ledgers live.
    pub ledger_dir: PathBuf,
    pub key: Key,
    /// How long a priest waits before retrying a ballot.
    pub retry: Range<Duration>,
    /// Which priest `serve` runs.
    pub protocol: Protocol,
    /// Each priest's RESP listener (TCP), if it has one.
    pub client_addresses: Vec<Option<SocketAddr>>,
    /// The address each priest's socket binds (its `address` unless `bind` says otherwise).
    pub binds: Vec<SocketAddr>,
    /// Parliament: a priest that heard no president for this long runs for president.
    pub election: Range<Duration>,
    /// Parliament: a president's heartbeat period.
    pub heartbeat: Duration,
    /// Parliament: how long a president leaves its own vote out of a ballot the others it
    /// asked can pass without it (`None`: it votes as it begins each ballot).
    pub vote_after: Option<Duration>,
    /// Parliament: the RESP listener resends an unanswered command to every priest after this.
    pub resend: Duration,
    /// Parliament: the RESP listener answers `-ERR` to a command unanswered for this long.
    pub client_timeout: Duration,
    /// Parliament: snapshot after this many decrees applied since the last (`None`: never).
    pub snapshot_after: Option<u32>,
    /// Parliament: or after this many bytes of commands; either way once they hold the last
    /// snapshot's live bytes (`None`: by count only).
    pub snapshot_bytes: Option<u64>,
    /// Parliament: how often a priest considers a snapshot.
    pub snapshot_period: Duration,
    /// Parliament: the law forgets a session idle for this long (`None`: never).
    pub expire_after: Option<Duration>,
    /// The CPU slice to ask of the kernel for the priest's threads (`None`: its default).
    pub slice: Option<Duration>,
    /// The nice value to ask of the kernel for the priest (`None`: the one it started with).
    pub nice: Option<i32>,
    /// Parliament: the Chamber changes by decree (`[membership]`), with this many founders
    /// and this lookahead; `None`: the priests listed, for good.
    pub membership: Option<Membership>,
    /// The priests `parliament cluster --remove` retired: `cluster` does not start them.
    pub retired: Vec<bool>,
    /// Where every priest records its run (`[trace] dir`, or `serve --trace`); `None`: not
    /// recorded.
    pub trace_dir: Option<PathBuf>,
    /// The seeded bug the priests run (`seeded_bug`, tests of the checkers only).
    pub seeded_bug: Option<String>,
    /// The configuration's text, as read (a traced priest records it, to be rebuilt).
    pub text: String,
}

/// A validated `[membership]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Membership {
    /// The cluster began with priests `0..founders`.
    pub founders: usize,
    pub alpha: u32,
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read configuration {}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::parse(&text, base, path)
            .map_err(|e| format!("configuration {}: {e}", path.display()))
    }

    /// Parses configuration text; relative paths are taken from `base`.
    pub fn parse(text: &str, base: &Path, path: &Path) -> Result<Config, String> {
        Config::parse_with(text, base, path, Key::read)
    }

    /// Parses configuration text recorded in a trace: as [`Config::parse`], without reading
    /// the key file (a random key stands in: replay sends nothing).
    pub fn parse_unkeyed(text: &str, path: &Path) -> Result<Config, String> {
        Config::parse_with(text, Path::new("."), path, |_| Ok(Key::random()))
    }

    fn parse_with(
        text: &str,
        base: &Path,
        path: &Path,
        read_key: impl FnOnce(&Path) -> Result<Key, String>,
    ) -> Result<Config, String> {
        let raw = ConfigFile::from_toml(text)?;
        if raw.priest.is_empty() {
            return Err("no [[priest]] listed".into());
        }
        if raw.priest.len() > MAX_PRIESTS {
            return Err(format!(
                "{} priests listed; at most {MAX_PRIESTS} are supported",
                raw.priest.len()
            ));
        }
        let mut priests: Vec<SocketAddr> = Vec::new();
        let mut client_addresses = Vec::new();
        let mut binds = Vec::new();
        for (i, p) in raw.priest.iter().enumerate() {
            let client: Option<SocketAddr> = match &p.client_address {
                None => None,
                Some(a) => Some(a.parse().map_err(|e| {
                    format!("priest {i}: client_address {a:?} is not IP:PORT ({e})")
                })?),
            };
            client_addresses.push(client);
            if p.id != i {
                return Err(format!(
                    "priest ids must be 0, 1, 2, ... in the order listed; the priest at \
                     position {i} has id {}",
                    p.id
                ));
            }
            let addr: SocketAddr = p.address.parse().map_err(|e| {
                format!(
                    "priest {i}: address {:?} is not IP:PORT ({e}); write IPv6 as [::1]:7000",
                    p.address
                )
            })?;
            if addr.port() == 0 {
                return Err(format!("priest {i}: port 0 is not a fixed address"));
            }
            if addr.ip().is_unspecified() {
                return Err(format!(
                    "priest {i}: {addr} is unspecified; give the address peers reach it at"
                ));
            }
            if let Some(first) = priests.first() {
                if first.is_ipv4() != addr.is_ipv4() {
                    return Err(format!(
                        "priest {i}: {addr} is not of the same address family as priest 0 \
                         ({first}); one cluster speaks IPv4 or IPv6"
                    ));
                }
            }
            if let Some(j) = priests.iter().position(|a| *a == addr) {
                return Err(format!("priests {j} and {i} share the address {addr}"));
            }
            let bind: SocketAddr = match &p.bind {
                None => addr,
                Some(b) => b.parse().map_err(|e| {
                    format!("priest {i}: bind {b:?} is not IP:PORT ({e}); write IPv6 as [::]:7000")
                })?,
            };
            if bind.port() == 0 {
                return Err(format!(
                    "priest {i}: bind {bind} has port 0; a priest binds a fixed port"
                ));
            }
            if bind.is_ipv4() != addr.is_ipv4() {
                return Err(format!(
                    "priest {i}: bind {bind} is not of the address family of its address {addr}"
                ));
            }
            priests.push(addr);
            binds.push(bind);
        }
        let [lo, hi] = raw.timers.retry_ms;
        if lo == 0 || lo > hi {
            return Err(format!(
                "timers.retry_ms = [{lo}, {hi}] must be [least, most] with 0 < least <= most"
            ));
        }
        let t = &raw.timers;
        let [elo, ehi] = t.election_ms;
        if elo == 0 || elo > ehi {
            return Err(format!(
                "timers.election_ms = [{elo}, {ehi}] must be [least, most] with 0 < least <= most"
            ));
        }
        if t.heartbeat_ms == 0 || t.heartbeat_ms >= elo {
            return Err(format!(
                "timers.heartbeat_ms = {} must be above 0 and below the least election timeout \
                 ({elo} ms), or followers would run for president while the president lives",
                t.heartbeat_ms
            ));
        }
        if t.vote_ms >= elo {
            return Err(format!(
                "timers.vote_ms = {} must be below the least election timeout ({elo} ms): a \
                 president waiting that long for its own vote would be thought dead",
                t.vote_ms
            ));
        }
        if t.resend_ms == 0 {
            return Err("timers.resend_ms must be above 0".into());
        }
        if t.client_timeout_ms < t.resend_ms {
            return Err(format!(
                "timers.client_timeout_ms = {} must be at least timers.resend_ms = {}",
                t.client_timeout_ms, t.resend_ms
            ));
        }
        let expire = raw.sessions.expire_after_s;
        if expire > 0 && expire.saturating_mul(1000) < 10 * t.client_timeout_ms {
            return Err(format!(
                "sessions.expire_after_s = {expire} must be 0 (never) or at least 10 times \
                 timers.client_timeout_ms = {} ms: a command retried for longer than the \
                 expiry gets a session-expired error",
                t.client_timeout_ms
            ));
        }
        let slice_us = raw.scheduling.slice_us;
        if slice_us != 0 && !(100..=100_000).contains(&slice_us) {
            return Err(format!(
                "scheduling.slice_us = {slice_us} must be 0 (the kernel's default) or 100 to \
                 100000 (the range Linux accepts)"
            ));
        }
        let nice = raw.scheduling.nice;
        if !(-20..=19).contains(&nice) {
            return Err(format!(
                "scheduling.nice = {nice} must be -20 to 19 (the range of nice values)"
            ));
        }
        let membership = match raw.membership {
            None => None,
            Some(m) => {
                if raw.protocol != Protocol::Parliament {
                    return Err("[membership] is for protocol = \"parliament\"".into());
                }
                if m.founders == 0 || m.founders > priests.len() {
                    return Err(format!(
                        "membership.founders = {} must be 1 to the number of priests listed ({})",
                        m.founders,
                        priests.len()
                    ));
                }
                if !(1..=64).contains(&m.alpha) {
                    return Err(format!(
                        "membership.alpha = {} must be 1 to 64 (a change passed as decree i is \
                         in force from decree i + alpha)",
                        m.alpha
                    ));
                }
                Some(Membership {
                    founders: m.founders,
                    alpha: m.alpha,
                })
            }
        };
        if raw.trace.is_some() && raw.protocol != Protocol::Parliament {
            return Err(
                "[trace] is for protocol = \"parliament\" (the Synod's priests do not record)"
                    .into(),
            );
        }
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let key = read_key(&resolve(&raw.key_file))?;
        // Priests must agree on the genesis Chamber: bound to it, the key of a priest
        // configured with other founders or another lookahead authenticates nothing here.
        let key = match membership {
            Some(Membership { founders, alpha }) => key.bound_to(&format!(
                "parliament genesis: founders {founders}, alpha {alpha}"
            )),
            None => key,
        };
        Ok(Config {
            path: path.to_path_buf(),
            priests,
            ledger_dir: resolve(&raw.ledger_dir),
            key,
            retry: Duration::from_millis(lo)..Duration::from_millis(hi.max(lo + 1)),
            protocol: raw.protocol,
            client_addresses,
            binds,
            election: Duration::from_millis(elo)..Duration::from_millis(ehi.max(elo + 1)),
            heartbeat: Duration::from_millis(t.heartbeat_ms),
            vote_after: Some(Duration::from_millis(t.vote_ms)).filter(|_| t.vote_ms > 0),
            resend: Duration::from_millis(t.resend_ms),
            client_timeout: Duration::from_millis(t.client_timeout_ms),
            snapshot_after: Some(raw.snapshots.after_decrees).filter(|&n| n > 0),
            snapshot_bytes: Some(raw.snapshots.after_bytes).filter(|&n| n > 0),
            snapshot_period: Duration::from_millis(t.snapshot_ms.max(1)),
            expire_after: Some(Duration::from_secs(expire)).filter(|_| expire > 0),
            slice: Some(Duration::from_micros(slice_us)).filter(|_| slice_us > 0),
            nice: Some(nice).filter(|&n| n != 0),
            membership,
            retired: raw.priest.iter().map(|p| p.retired).collect(),
            trace_dir: raw.trace.as_ref().map(|t| resolve(&t.dir)),
            seeded_bug: raw.seeded_bug.clone(),
            text: text.to_string(),
        })
    }

    /// The priests' actor ids (their indices).
    pub fn priest_ids(&self) -> Vec<Id> {
        Id::vec_from(0..self.priests.len())
    }

    /// Priest `ix`'s ledger directory.
    pub fn ledger_of(&self, ix: usize) -> PathBuf {
        self.ledger_dir.join(format!("priest-{ix}"))
    }

    /// Checks that `ix` names a priest.
    pub fn check_priest(&self, ix: usize) -> Result<(), String> {
        if ix < self.priests.len() {
            Ok(())
        } else {
            Err(format!(
                "there is no priest {ix}: {} lists priests 0 to {}",
                self.path.display(),
                self.priests.len() - 1
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k"), Key::random().to_hex()).unwrap();
        Config::parse(text, dir.path(), Path::new("test.toml"))
    }

    const GOOD: &str = r#"
ledger_dir = "l"
key_file = "k"
[timers]
retry_ms = [10, 20]
[[priest]]
id = 0
address = "127.0.0.1:7000"
[[priest]]
id = 1
address = "127.0.0.1:7001"
"#;

    #[test]
    fn a_good_configuration() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.priests.len(), 2);
        assert!(c.priests[1].is_ipv4());
        let v6 = GOOD.replace("127.0.0.1:7000", "[::1]:7000");
        let v6 = v6.replace("127.0.0.1:7001", "[::1]:7001");
        assert!(parse(&v6).unwrap().priests[1].is_ipv6());
        assert_eq!(
            c.retry,
            Duration::from_millis(10)..Duration::from_millis(20)
        );
        assert!(c.ledger_of(1).ends_with("l/priest-1"));
        assert!(c.check_priest(2).unwrap_err().contains("priests 0 to 1"));
        assert_eq!(c.protocol, Protocol::Synod);
        assert_eq!(c.client_addresses, vec![None, None]);
        assert_eq!(c.binds, c.priests);
        assert_eq!(
            c.election,
            Duration::from_millis(300)..Duration::from_millis(600)
        );
        assert_eq!(c.heartbeat, Duration::from_millis(100));
        assert_eq!(c.resend, Duration::from_millis(200));
        assert_eq!(c.client_timeout, Duration::from_millis(5000));
        assert_eq!(c.snapshot_after, Some(2_000));
        assert_eq!(c.snapshot_bytes, Some(2 << 20));
        assert_eq!(c.snapshot_period, Duration::from_millis(100));
        let never = parse(&format!("{GOOD}[snapshots]\nafter_decrees = 0\n")).unwrap();
        assert_eq!(never.snapshot_after, None);
        let by_count = parse(&format!("{GOOD}[snapshots]\nafter_bytes = 0\n")).unwrap();
        assert_eq!(
            (by_count.snapshot_after, by_count.snapshot_bytes),
            (Some(2_000), None)
        );
        let often = GOOD.replace("[timers]\n", "[timers]\nsnapshot_ms = 50\n");
        let often = parse(&format!("{often}[snapshots]\nafter_decrees = 20\n")).unwrap();
        assert_eq!(
            (often.snapshot_after, often.snapshot_period),
            (Some(20), Duration::from_millis(50))
        );
        assert_eq!(c.slice, None, "the kernel's own slice by default");
        let short = parse(&format!("{GOOD}[scheduling]\nslice_us = 100\n")).unwrap();
        assert_eq!(short.slice, Some(Duration::from_micros(100)));
        let long = parse(&format!("{GOOD}[scheduling]\nslice_us = 3000\n")).unwrap();
        assert_eq!(long.slice, Some(Duration::from_millis(3)));
        assert_eq!(
            c.nice, None,
            "the nice value the priest started with by default"
        );
        let high = parse(&format!("{GOOD}[scheduling]\nnice = -10\n")).unwrap();
        assert_eq!(high.nice, Some(-10));
        let typo = parse(&format!("{GOOD}[snapshots]\nafter = 20\n")).unwrap_err();
        assert!(typo.contains("unknown field"), "{typo}");
        let p = GOOD.replace("id = 1\n", "id = 1\nclient_address = \"127.0.0.1:6380\"\n");
        let c = parse(&format!("protocol = \"parliament\"\n{p}")).unwrap();
        assert_eq!(c.protocol, Protocol::Parliament);
        assert_eq!(
            c.client_addresses[1],
            Some("127.0.0.1:6380".parse().unwrap())
        );
    }

    #[test]
    fn a_trace_directory_is_relative_to_the_file_and_a_recorded_text_parses_without_its_key() {
        let p = GOOD.replace("id = 1\n", "id = 1\nclient_address = \"127.0.0.1:6380\"\n");
        let text = format!("protocol = \"parliament\"\n{p}[trace]\ndir = \"t\"\n");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k"), Key::random().to_hex()).unwrap();
        let c = Config::parse(&text, dir.path(), Path::new("test.toml")).unwrap();
        assert_eq!(c.trace_dir, Some(dir.path().join("t")));
        assert_eq!(c.text, text);
        assert_eq!(parse(&p).unwrap().trace_dir, None);
        // As `trace check` reads it back: no key file needed.
        let again = Config::parse_unkeyed(&c.text, Path::new("recorded")).unwrap();
        assert_eq!((again.priests, again.election), (c.priests, c.election));
        // Only the Parliament's priests record.
        let synod = parse(&format!("{GOOD}[trace]\ndir = \"t\"\n")).unwrap_err();
        assert!(synod.contains("[trace] is for protocol"), "{synod}");
    }

    /// The key on the wire of a cluster with `[membership]` is the cluster key bound to its
    /// founders and lookahead: pinned (it is part of the wire protocol), and different for
    /// every other founders or alpha; without `[membership]` it is the cluster key.
    #[test]
    fn the_key_is_bound_to_the_genesis_chamber() {
        let dir = tempfile::tempdir().unwrap();
        let raw = "00".repeat(32);
        std::fs::write(dir.path().join("k"), &raw).unwrap();
        let text = format!("protocol = \"parliament\"\n{GOOD}");
        let key = |membership: &str| {
            Config::parse(
                &format!("{text}{membership}"),
                dir.path(),
                Path::new("t.toml"),
            )
            .unwrap()
            .key
            .to_hex()
        };
        assert_eq!(key(""), raw);
        let bound = key("[membership]\nfounders = 2\nalpha = 1\n");
        assert_eq!(
            bound,
            Key::from_hex(&raw)
                .unwrap()
                .bound_to("parliament genesis: founders 2, alpha 1")
                .to_hex()
        );
        assert_eq!(
            bound,
            blake3::keyed_hash(&[0; 32], b"parliament genesis: founders 2, alpha 1")
                .to_hex()
                .to_string()
        );
        let others = [
            key("[membership]\nfounders = 1\nalpha = 1\n"),
            key("[membership]\nfounders = 2\nalpha = 2\n"),
        ];
        for other in others {
            assert!(other != bound && other != raw, "{other}");
        }
    }

    #[test]
    fn timers_and_bind_addresses() {
        let text = GOOD
            .replace(
                "retry_ms = [10, 20]",
                "retry_ms = [10, 20]\nelection_ms = [150, 300]\nheartbeat_ms = 50\n\
                 vote_ms = 0\nresend_ms = 80\nclient_timeout_ms = 1000",
            )
            .replace("id = 1\n", "id = 1\nbind = \"0.0.0.0:9001\"\n");
        let c = parse(&text).unwrap();
        assert_eq!(
            c.election,
            Duration::from_millis(150)..Duration::from_millis(300)
        );
        assert_eq!(c.heartbeat, Duration::from_millis(50));
        assert_eq!(c.vote_after, None);
        assert_eq!(
            parse(GOOD).unwrap().vote_after,
            Some(Duration::from_millis(5))
        );
        let e = parse(&GOOD.replace("retry_ms = [10, 20]", "retry_ms = [10, 20]\nvote_ms = 300"))
            .unwrap_err();
        assert!(e.contains("timers.vote_ms = 300 must be below"), "{e}");
        assert_eq!(c.resend, Duration::from_millis(80));
        assert_eq!(c.client_timeout, Duration::from_millis(1000));
        assert_eq!(c.binds[0], c.priests[0]);
        assert_eq!(c.binds[1], "0.0.0.0:9001".parse().unwrap());
        assert_eq!(c.priests[1], "127.0.0.1:7001".parse().unwrap());
    }

    #[test]
    fn a_written_configuration_reads_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k"), Key::random().to_hex()).unwrap();
        let mut f = ConfigFile::new("l", "k", Protocol::Parliament);
        f.timers.election_ms = [150, 300];
        f.timers.heartbeat_ms = 50;
        let a: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:7001".parse().unwrap();
        let client: SocketAddr = "127.0.0.1:6380".parse().unwrap();
        let bind: SocketAddr = "0.0.0.0:9001".parse().unwrap();
        f.priest.push(PriestFile::new(0, a).client_address(client));
        f.priest.push(PriestFile::new(1, b).bind(bind));
        assert_eq!(ConfigFile::from_toml(&f.to_toml()).unwrap(), f);
        let path = dir.path().join("c.toml");
        f.write(&path, "a header\nof two lines").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# a header\n# of two lines\n"), "{text}");
        assert!(!dir.path().join("c.toml.tmp").exists());
        let c = Config::load(&path).unwrap();
        assert_eq!(c.protocol, Protocol::Parliament);
        assert_eq!(c.priests, vec![a, b]);
        assert_eq!(c.binds, vec![a, bind]);
        assert_eq!(c.client_addresses, vec![Some(client), None]);
        assert_eq!(
            c.election,
            Duration::from_millis(150)..Duration::from_millis(300)
        );
        assert_eq!(c.heartbeat, Duration::from_millis(50));
        assert!(c.ledger_of(0).starts_with(dir.path().join("l")));
        // Default timers are not written; a hand-written file reads back as written.
        let plain = ConfigFile::new("l", "k", Protocol::Synod);
        assert!(!plain.to_toml().contains("timers"), "{}", plain.to_toml());
        let good = ConfigFile::from_toml(GOOD).unwrap();
        assert_eq!(ConfigFile::from_toml(&good.to_toml()).unwrap(), good);
        assert_eq!(
            parse(&good.to_toml()).unwrap().retry,
            parse(GOOD).unwrap().retry
        );
    }

    #[test]
    fn bad_configurations_say_what_is_wrong() {
        let cases = [
            (GOOD.replace("id = 1", "id = 3"), "position 1 has id 3"),
            (GOOD.replace(":7001", ":7000"), "share the address"),
            (GOOD.replace("127.0.0.1:7001", "::1:7001"), "not IP:PORT"),
            (
                GOOD.replace("127.0.0.1:7001", "[::1]:7001"),
                "same address family",
            ),
            (GOOD.replace("[10, 20]", "[20, 10]"), "retry_ms"),
            (
                GOOD.replace("key_file = \"k\"", "key_file = \"nope\""),
                "nope",
            ),
            (GOOD.replace("ledger_dir", "ledger_dri"), "ledger_dri"),
            (format!("protocol = \"raft\"\n{GOOD}"), "raft"),
            (
                GOOD.replace("id = 1\n", "id = 1\nclient_address = \"nowhere\"\n"),
                "client_address",
            ),
            (
                GOOD.replace("127.0.0.1:7000", "0.0.0.0:7000"),
                "unspecified",
            ),
            (
                GOOD.replace("[10, 20]\n", "[10, 20]\nelection_ms = [300, 100]\n"),
                "election_ms",
            ),
            (
                GOOD.replace("[10, 20]\n", "[10, 20]\nelection_ms = [0, 100]\n"),
                "election_ms",
            ),
            (
                GOOD.replace("[10, 20]\n", "[10, 20]\nheartbeat_ms = 300\n"),
                "below the least election timeout",
            ),
            (
                GOOD.replace("[10, 20]\n", "[10, 20]\nheartbeat_ms = 0\n"),
                "heartbeat_ms",
            ),
            (
                GOOD.replace("[10, 20]\n", "[10, 20]\nresend_ms = 0\n"),
                "resend_ms",
            ),
            (
                GOOD.replace("[10, 20]\n", "[10, 20]\nclient_timeout_ms = 100\n"),
                "client_timeout_ms",
            ),
            (
                GOOD.replace("[10, 20]\n", "[10, 20]\nelection = [1, 2]\n"),
                "election",
            ),
            (
                format!("{GOOD}[scheduling]\nnice = -21\n"),
                "scheduling.nice = -21 must be -20 to 19",
            ),
            (
                format!("{GOOD}[scheduling]\nnice = 20\n"),
                "scheduling.nice = 20 must be -20 to 19",
            ),
            (
                format!("{GOOD}[scheduling]\nslice_us = 50\n"),
                "scheduling.slice_us = 50 must be 0",
            ),
            (
                format!("{GOOD}[scheduling]\nslice_us = 100001\n"),
                "100 to 100000",
            ),
            (
                GOOD.replace("id = 1\n", "id = 1\nbind = \"here\"\n"),
                "bind \"here\" is not IP:PORT",
            ),
            (
                GOOD.replace("id = 1\n", "id = 1\nbind = \"0.0.0.0:0\"\n"),
                "port 0",
            ),
            (
                GOOD.replace("id = 1\n", "id = 1\nbind = \"[::]:7001\"\n"),
                "address family",
            ),
        ];
        for (text, want) in cases {
            let err = parse(&text).unwrap_err();
            assert!(err.contains(want), "expected {want:?} in {err:?}");
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k"), "123").unwrap();
        let err = Config::parse(GOOD, dir.path(), Path::new("x")).unwrap_err();
        assert!(err.contains("64 hexadecimal digits"), "{err}");
    }
}
