//! The Parliament priest on the host, with a RESP (Redis protocol) listener beside it:
//! the key-value service.
//!
//! `parliament serve` with `protocol = "parliament"` runs two things in one process:
//!
//! - the priest ([`ParliamentPriest`]), on the host exactly as the Synod priest is: its
//!   ledger on disk, its datagrams on UDP;
//! - a TCP listener speaking RESP ([`crate::resp::server`]) on the priest's configured
//!   `client_address`, whose backend ([`PriestBackend`]) is **a client of the Parliament**:
//!   each RESP connection is one client session (a fresh client [`Id`]), and each command
//!   becomes the `Request { client, seq, op }` message the model checks, sent over UDP,
//!   signed with the cluster key, like any other client's. The answer is the president's
//!   `Reply { seq, answer }`. The listener makes no protocol decision.
//!
//! The listener is one event loop for every connection, and the backend lives on it: the
//! Requests read in one turn of the loop travel to a priest as one datagram (a bundle,
//! [`crate::host::wire`]), and the priest's Replies of one batch come back as one, so under load
//! a datagram each way carries many commands.
//!
//! # Which priest a command goes to
//!
//! A command is sent first to the priest that answered the backend's last command (at first,
//! the listener's own priest). If no answer comes within the resend interval, it is sent
//! again to every priest: a follower forwards a `Request` to the president it knows, and the
//! president answers the client directly (a priest replies to a client at the address of the
//! client's own datagram, so the copy sent straight to the president is the one whose reply
//! can be routed). The law's sessions make the copies one command: a `Request` already
//! applied gets the first answer again. So a client may connect to **any** priest's
//! listener: commands reach the president whichever priest the client chose (forwarding,
//! not a MOVED-style error). A command that gets no answer within the timeout is answered
//! `-ERR no answer from the Parliament within N s`; it may still have been passed
//! (indeterminate, as a timed-out Redis command is).
//!
//! # Sessions
//!
//! The law forgets a session idle for longer than `[sessions] expire_after_s` (see
//! [`crate::kv`], "Forgetting sessions"), and refuses every later command of its client. So
//! the backend gives a connection a new client id (a new session) before its id is half that
//! old, between two commands: nothing of the old session is in flight then, and the new one
//! has the whole expiry time ahead of it. A connection whose command is refused anyway (its
//! command was retried for longer than the expiry, or a president's clock ran far ahead of
//! this machine's) gets `-ERR session expired ...` for that command, and a new id for the
//! next. A client id carries the time it began: the later of this machine's clock and the
//! law's clock as this priest last applied it, so a president whose clock runs ahead moves
//! both the horizon and the new clients' beginnings.
//!
//! `INFO` is not a command of the law: the listener answers it locally from the priest's
//! status board ([`super::status`]), which the host fills after every batch.
//!
//! # The ledger on disk
//!
//! The Parliament ledger grows with every decree, so a save writes only what changed
//! ([`LedgerDelta`]): the two ballots, and the entries of the votes and learned maps that
//! changed since the last save. A save that changes a rejoining priest's mark (its progress,
//! or its clearing) writes the whole ledger: that happens a few times per rejoin, and the
//! delta's format stays as it was.
//!
//! A snapshot of the law taken by the priest itself is a delta too ([`LawDelta`]). The new
//! snapshot is the last one with decrees `last.upto..new.upto` applied, and the ledger on disk
//! already holds those decrees, so the delta just says so ([`LawDelta::Replay`]): replaying
//! it applies them to the last snapshot's law (as the priest did) and then truncates them,
//! so a snapshot costs a few bytes however large the law. A priest's first snapshot is the
//! same with the law it began with (no key, no session, the Chamber of its configuration)
//! in place of the last snapshot's ([`LawDelta::First`]: the record names that Chamber,
//! which the ledger does not hold); it is written so only when no decree it covers holds a
//! member command, so that the Chamber its law holds now is the one it began with. When
//! some of those decrees are not on disk yet (learned and snapshotted between two saves),
//! the delta lists the keys and sessions that changed between the two laws
//! ([`LawDelta::Changes`]: they are versions of one `im` map, so finding them skips every
//! subtree they share). The journal writes the whole ledger, law included, in the
//! background when it compacts.
//!
//! So the save that follows a snapshot writes what changed since the last save and no
//! more: the priest writes the ledger as it stood before the snapshot first (its decrees
//! learned since the last save; [`Durable::save_first`]), then the snapshot, a few dozen
//! bytes. The ledger is written whole only after an installed snapshot (a law received
//! from another priest, sharing nothing with this one), after a first snapshot whose
//! decrees are not all on disk or hold a member command, and after a snapshot that changed
//! the Chamber or the keys' deadlines without its decrees on disk.

use crate::ballot::{Ballot, PriestIx};
use crate::host::config::{Config, Protocol};
use crate::host::journal::Durable;
use crate::host::trace::{self, Recorder};
use crate::host::wire::{self, Key};
use crate::host::{Directory, Node, NodeConfig, StartMode};
use crate::kv;
use crate::parliament::{
    Decree, DecreeNumber, Ledger, Msg, ParliamentPriest, Snapshot, Vote, MAX_COMMAND_BYTES,
};
pub use crate::resp::law::{members_text, op_of, reply_of};
use crate::resp::server::{Backend, ClientId, OneAtATime, Responder, Server, ServerConfig};
use crate::resp::{Command, Reply};
use serde::{Deserialize, Serialize};
use stateright::actor::Id;
use std::borrow::Cow;
use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What one save of a Parliament [`Ledger`] changes.
#[derive(Serialize, Deserialize)]
pub struct LedgerDelta {
    last_tried: Option<Ballot>,
    next_bal: Option<Ballot>,
    votes: Vec<(DecreeNumber, Option<Vote>)>,
    learned: Vec<(DecreeNumber, Option<Decree>)>,
    /// The new snapshot of the law, when the priest took one since the last save.
    snapshot: Option<LawDelta>,
}

/// A new snapshot of the law, later than the last one (see "The ledger on disk").
#[derive(Serialize, Deserialize)]
pub enum LawDelta {
    /// The last snapshot's law with the ledger's decrees `last.upto..upto` applied. The
    /// law's command count and live bytes check the replay.
    Replay {
        upto: DecreeNumber,
        executed: u64,
        bytes: u64,
    },
    /// The keys and sessions that changed since the last snapshot's law, and its clock.
    Changes {
        upto: DecreeNumber,
        map: Vec<(kv::Slot, Option<kv::Value>)>,
        sessions: Vec<(Id, Option<kv::Session>)>,
        executed: u64,
        bytes: u64,
        now: u64,
        horizon: u64,
    },
    /// The priest's first snapshot: the law it began with (no key and no session, with
    /// `chamber`) with the ledger's decrees `0..upto` applied, checked as `Replay` is.
    First {
        chamber: Option<kv::Chamber>,
        upto: DecreeNumber,
        executed: u64,
        bytes: u64,
    },
}

impl LawDelta {
    /// How `next` follows from `prev` (the durable ledger), or `None` when it is better
    /// written whole.
    fn between(prev: &Ledger, next: &Snapshot) -> Option<LawDelta> {
        let (upto, executed, bytes) = (next.upto, next.law.executed, next.law.bytes);
        let on_disk = |from| (from..upto).all(|n| prev.learned.contains_key(&n));
        let Some(last) = prev.snapshot.as_ref() else {
            // Only a member command changes the Chamber: without one, the law began with
            // the Chamber it holds now.
            let members = prev.learned.range(..upto).any(|(_, d)| {
                d.commands()
                    .iter()
                    .any(|c| matches!(c.op, kv::Op::Member(_)))
            });
            return (on_disk(0) && !members).then(|| LawDelta::First {
                chamber: next.law.chamber.clone(),
                upto,
                executed,
                bytes,
            });
        };
        if on_disk(last.upto) {
            return Some(LawDelta::Replay {
                upto,
                executed,
                bytes,
            });
        }
        if next.law.chamber != last.law.chamber
            || next.law.map.deadlines() != last.law.map.deadlines()
        {
            // The delta lists keys and sessions only: a law whose Chamber or deadlines
            // changed is written whole.
            return None;
        }
        Some(LawDelta::Changes {
            upto,
            map: next.law.map.0.delta(&last.law.map.0)?,
            sessions: next.law.sessions.delta(&last.law.sessions)?,
            executed,
            bytes,
            now: next.law.now,
            horizon: next.law.horizon,
        })
    }

    /// Moves `ledger`'s snapshot as the delta says (its decrees below the new snapshot are
    /// truncated by the caller).
    fn apply(self, ledger: &mut Ledger) {
        let Ledger {
            learned, snapshot, ..
        } = ledger;
        if let LawDelta::First { chamber, .. } = &self {
            assert!(
                snapshot.is_none(),
                "a first snapshot follows none: the ledger record order is broken"
            );
            let law = kv::Store {
                chamber: chamber.clone(),
                ..kv::Store::default()
            };
            *snapshot = Some(Snapshot { upto: 0, law });
        }
        let Some(s) = snapshot.as_mut() else {
            panic!("a snapshot delta follows a snapshot: the ledger record order is broken");
        };
        let (upto, executed, bytes) = match self {
            LawDelta::Replay {
                upto,
                executed,
                bytes,
            }
            | LawDelta::First {
                upto,
                executed,
                bytes,
                ..
            } => {
                for n in s.upto..upto {
                    learned[&n].apply_to(n, &mut s.law, kv::Dedup::Sessions, |_, _| {});
                }
                (upto, executed, bytes)
            }
            LawDelta::Changes {
                upto,
                map,
                sessions,
                executed,
                bytes,
                now,
                horizon,
            } => {
                s.law.map.0.apply(map);
                s.law.set_sessions(sessions);
                s.law.executed = executed;
                s.law.bytes = bytes;
                s.law.now = now;
                s.law.horizon = horizon;
                (upto, executed, bytes)
            }
        };
        assert_eq!(
            (s.law.executed, s.law.bytes),
            (executed, bytes),
            "replaying the snapshot up to decree {upto} gave another law than the priest's \
             (commands executed, live bytes): a bug in parliament, not damage to the ledger"
        );
        s.upto = upto;
    }
}

impl Durable for Ledger {
    type Delta = LedgerDelta;

    /// `None` (the whole ledger) when the rejoin mark changed, or when the snapshot changed
    /// and does not follow from the ledger on disk (an installed snapshot, say).
    fn delta(&self, prev: &Self) -> Option<LedgerDelta> {
        if self.rejoin != prev.rejoin || self.nonce != prev.nonce {
            return None;
        }
        let snapshot = match (&prev.snapshot, &self.snapshot) {
            (p, n) if self.base() == prev.base() && p == n => None,
            (_, Some(n)) if n.upto > prev.base() => Some(LawDelta::between(prev, n)?),
            _ => return None,
        };
        // A new snapshot truncates the ledger below it: that is implied, not listed.
        let mut prev = Cow::Borrowed(prev);
        if snapshot.is_some() {
            prev.to_mut().truncate(self.base());
        }
        Some(LedgerDelta {
            last_tried: self.last_tried,
            next_bal: self.next_bal,
            votes: self.votes.delta(&prev.votes)?,
            learned: self.learned.delta(&prev.learned)?,
            snapshot,
        })
    }

    /// Format 3 laid the law out without its Chamber, formats 3 to 5 without the deadlines
    /// of keys, and formats 3 and 4 the ledger without its token, its last field: a zero
    /// byte after the record reads as token 0 (a founder's), and is ignored after a record
    /// that ends sooner (a delta). Format 6 is laid out as today ([`LawDelta::First`], new
    /// in format 7, is in none of its records).
    fn decode_old<T: serde::de::DeserializeOwned>(
        format: u8,
        payload: &[u8],
    ) -> postcard::Result<T> {
        debug_assert!(matches!(format, 3..=6), "the formats the journal reads");
        let padded = || [payload, &[0]].concat();
        match format {
            3 => kv::with_law_before_chamber(|| postcard::from_bytes(&padded())),
            4 => kv::with_law_before_deadlines(|| postcard::from_bytes(&padded())),
            5 => kv::with_law_before_deadlines(|| postcard::from_bytes(payload)),
            _ => postcard::from_bytes(payload),
        }
    }

    /// A new snapshot is a few bytes when the decrees it covers are on disk: so the
    /// ledger learned just before it is written first.
    fn save_first(&self, earlier: &Self) -> bool {
        self.base() != earlier.base()
    }

    fn apply(&mut self, d: LedgerDelta) {
        self.last_tried = d.last_tried;
        self.next_bal = d.next_bal;
        if let Some(law) = d.snapshot {
            law.apply(self);
            let base = self.base();
            self.truncate(base);
        }
        self.votes.apply(d.votes);
        self.learned.apply(d.learned);
    }
}

/// The deployed Parliament priest `me` of the configured cluster: correct, majority quorums,
/// every priest a candidate, unbounded ballots and decree numbers, the configured election
/// timeout and heartbeat period.
pub fn priest(cfg: &Config, me: usize) -> ParliamentPriest {
    let mut p = ParliamentPriest::new(me as PriestIx, cfg.priest_ids());
    if let Some(m) = cfg.membership {
        // Every index a priest may have: members come and go by decree.
        p.priests = Id::vec_from(0..kv::MAX_INDEX as usize);
        let addrs: Vec<Arc<str>> = cfg.priests[..m.founders]
            .iter()
            .map(|a| a.to_string().into())
            .collect();
        p.chamber = Some(kv::Chamber::founders(m.alpha, m.founders as u8, &addrs));
    }
    p.election = cfg.election.clone();
    p.heartbeat = Some(cfg.heartbeat..cfg.heartbeat);
    p.vote_after = cfg.vote_after.map(|d| d..d);
    p.snapshot_after = cfg.snapshot_after;
    p.snapshot_bytes = cfg.snapshot_bytes;
    p.snapshot_period = cfg.snapshot_period..cfg.snapshot_period;
    p.expire_after = cfg.expire_after.map(|d| d.as_millis() as u64);
    if let Some(bug) = &cfg.seeded_bug {
        // Checked when the configuration was validated (`check_seeded_bug`).
        p.bug = bug.parse().unwrap_or_default();
    }
    p
}

/// A configuration's `seeded_bug` names a seeded bug of the priest, and `serve` may run it
/// only with `PARLIAMENT_SEEDED_BUGS=1` in its environment (`allow`): the bugs exist to test
/// the checkers, never to be deployed.
pub fn check_seeded_bug(cfg: &Config, allow: bool) -> Result<(), String> {
    let Some(name) = &cfg.seeded_bug else {
        return Ok(());
    };
    name.parse::<crate::parliament::Bug>()
        .map_err(|e| format!("seeded_bug = {name:?}: {e}"))?;
    if !allow {
        return Err(format!(
            "the configuration asks for the seeded bug {name:?}, which exists to test the \
             checkers; set PARLIAMENT_SEEDED_BUGS=1 to run it"
        ));
    }
    Ok(())
}

/// How long the listener's backend waits for an answer.
#[derive(Clone, Copy, Debug)]
pub struct Patience {
    /// Resend (to every priest) after this long without an answer.
    pub resend: Duration,
    /// Answer `-ERR` after this long without an answer.
    pub timeout: Duration,
    /// Give a connection a new client id (session) once its id is this old: half the
    /// law's session expiry (`None`: sessions never expire).
    pub renew: Option<Duration>,
}

impl Default for Patience {
    fn default() -> Self {
        Patience {
            resend: Duration::from_millis(200),
            timeout: Duration::from_secs(5),
            renew: None,
        }
    }
}

impl Patience {
    /// The configured `timers.resend_ms`, `timers.client_timeout_ms` and
    /// `sessions.expire_after_s`.
    pub fn from_config(cfg: &Config) -> Self {
        Patience {
            resend: cfg.resend,
            timeout: cfg.client_timeout,
            renew: cfg.expire_after.map(|d| d / 2),
        }
    }
}

/// The ledger a priest begins with after losing its own (`parliament serve --rejoin`): the
/// one place that decides it. The empty ledger marked as rejoining
/// ([`Ledger::rejoining`]): the priest promises, votes, confirms and runs for nothing until
/// the protocol's rule says it is clear (see "Rejoining after a lost ledger" in
/// [`crate::parliament`]). The host saves it before the priest runs, and the mark stays
/// in the ledger until cleared, so a priest that crashes while rejoining restarts rejoining,
/// without the flag.
pub fn rejoin_ledger() -> Result<Ledger, String> {
    Ok(Ledger::rejoining())
}

/// `parliament serve` with `protocol = "parliament"`: starts the RESP listener, then priest
/// `me` as `mode` says ([`crate::host::start`]), and runs both until `stop` is set. While the
/// priest replays its ledger the listener answers `INFO` (`role:starting`) and holds other
/// How to bring back priest `me` of a cluster with `[membership]` after it lost its ledger:
/// as a new member (`--rejoin` is refused there).
fn comeback(cfg: &Config, me: usize) -> String {
    let config = cfg.path.display();
    format!(
        "bring it back as a new member: `parliament member --config {config} remove --id {me}`, \
         start it with --join, then `parliament member --config {config} add --id {me}`"
    )
}

/// commands; a priest whose ledger is refused stops, and its listener with it.
pub fn serve(
    cfg: &Config,
    me: usize,
    mode: StartMode,
    stop: &AtomicBool,
) -> Result<crate::host::Counters, String> {
    cfg.check_priest(me)?;
    check_seeded_bug(
        cfg,
        std::env::var("PARLIAMENT_SEEDED_BUGS").as_deref() == Ok("1"),
    )?;
    if cfg.protocol != Protocol::Parliament {
        return Err(format!(
            "{} does not say protocol = \"parliament\"",
            cfg.path.display()
        ));
    }
    let listen = cfg.client_addresses[me].ok_or_else(|| {
        format!(
            "priest {me} has no client_address in {}: the Parliament's priests need one for \
             their RESP listener",
            cfg.path.display()
        )
    })?;
    let directory = Directory::new(&cfg.priests);
    let backend = PriestBackend::start(
        directory.clone(),
        cfg.key.clone(),
        me,
        Patience::from_config(cfg),
    )
    .map_err(|e| format!("cannot open the listener's client socket: {e}"))?;
    // INFO is answered from the status board, locally; every other command is a Request.
    let board = super::status::Board::new(me, cfg.ledger_of(me));
    let server = Server::start(
        listen,
        super::status::WithInfo::new(OneAtATime::new(backend.clone()), board.clone()),
        ServerConfig::default(),
    )
    .map_err(|e| format!("cannot listen for RESP clients on {listen}: {e}"))?;
    tracing::info!(%listen, "RESP listener up");
    // The listener answers INFO (`role:starting`) while the priest replays its ledger.
    let start = match (mode, cfg.membership) {
        (StartMode::Join, Some(_)) => crate::host::Start::Join(Box::new(join_ledger)),
        (StartMode::Rejoin, Some(_)) => {
            return Err(format!(
                "--rejoin refused: {} has [membership], where a priest that lost its ledger \
                 is not rejoined: {} (see \"Losing a ledger\" in docs/operations.md)",
                cfg.path.display(),
                comeback(cfg, me)
            ))
        }
        _ => mode.with_rejoin(rejoin_ledger),
    };
    let node_cfg = NodeConfig {
        directory: Some(directory.clone()),
        comeback: cfg.membership.map(|_| comeback(cfg, me)),
        ..NodeConfig::from_config(cfg, me)
    };
    let trace = match &cfg.trace_dir {
        None => None,
        Some(dir) => {
            let mode = match mode {
                StartMode::Restart => "restart",
                StartMode::Bootstrap => "bootstrap",
                StartMode::Join => "join",
                StartMode::Rejoin => "rejoin",
            };
            let recorder = Recorder::<ParliamentPriest>::open(dir, me, mode, &cfg.text)
                .map_err(|e| format!("cannot open the trace in {}: {e}", dir.display()))?;
            tracing::info!(trace = %trace::file_of(dir, me).display(), "recording this priest's run");
            Some(Box::new(recorder) as Box<dyn trace::Trace<ParliamentPriest>>)
        }
    };
    let result = Node::start_traced(priest(cfg, me), node_cfg, start, trace)
        .and_then(|node| crate::host::run(node, stop, Some(observer(&board, &backend, directory))))
        .map_err(|e| e.to_string());
    server.shutdown();
    backend.stop();
    result
}

/// What the host calls after every batch: logs a rejoining priest's clearing, then fills
/// the status board.
fn observer(
    board: &super::status::Board,
    backend: &Arc<PriestBackend>,
    directory: Directory,
) -> crate::host::Observer<ParliamentPriest> {
    let mut observe = board.observer();
    let backend = backend.clone();
    let mut was_rejoining = false;
    let mut chamber: Option<kv::Chamber> = None;
    Box::new(move |state, counters| {
        if state.law.chamber != chamber {
            // Where the members are, as the law says: the host admits and reaches them there.
            chamber = state.law.chamber.clone();
            route(&directory, chamber.as_ref());
        }
        // Say when a rejoining priest is clear: it takes part again from here.
        let rejoining = state.ledger.rejoin.is_some();
        if let (true, false, Some(b)) = (was_rejoining, rejoining, state.ledger.next_bal) {
            tracing::info!(promised = %b, "rejoined: clear, taking part again");
        }
        was_rejoining = rejoining;
        backend.set_law_clock(state.law.now);
        observe(state, counters);
    })
}

/// Gives the directory the address of every member the law names, in force or pending.
fn route(directory: &Directory, chamber: Option<&kv::Chamber>) {
    let Some(c) = chamber else { return };
    for m in c.named() {
        match m.addr.as_deref().map(str::parse::<SocketAddr>) {
            Some(Ok(addr)) if directory.get(m.ix as usize) != Some(addr) => {
                tracing::info!(priest = m.ix, %addr, "a member's address, from the law");
                directory.set(m.ix as usize, addr);
            }
            Some(Err(e)) => {
                tracing::warn!(priest = m.ix, error = %e, "a member's address in the law is not IP:PORT");
            }
            _ => {}
        }
    }
}

/// The ledger a priest begins with when it joins a running cluster (`parliament serve
/// --join`): empty, with a random token by which it finds itself in the law once the change
/// that adds it names that token ([`Ledger::joining`]).
pub fn join_ledger() -> Result<Ledger, String> {
    let token = loop {
        let t: u64 = rand::random();
        if t != 0 {
            break t;
        }
    };
    tracing::info!(token = format!("{token:016x}"), "joining: a new ledger");
    Ok(Ledger::joining(token))
}

/// A command sent to the Parliament and not yet answered.
struct InFlight {
    /// The connection it came on.
    conn: ClientId,
    cmd: Command,
    /// The command as the law numbers it (its `client` is the session's id).
    command: crate::kv::Command,
    reply: Responder,
    sent: Instant,
    deadline: Instant,
}

/// A RESP backend that is a client of the Parliament (see the module docs). Each
/// connection must have one command in flight at a time: wrap it in [`OneAtATime`].
///
/// It lives on the listener's event loop: the loop watches its socket ([`Backend::source`])
/// and calls [`Backend::poll`] when answers arrive (and every quarter of the resend
/// interval, to resend and give up), and [`Backend::flush`] once per turn, which sends the
/// requests the turn gathered.
pub struct PriestBackend {
    socket: UdpSocket,
    key: Key,
    priests: Directory,
    patience: Patience,
    /// The priest that answered last.
    target: AtomicUsize,
    /// Each connection's client id, and when it began.
    sessions: Mutex<HashMap<ClientId, (Id, Instant)>>,
    /// The law's clock (milliseconds since the Unix epoch) as this priest last applied it:
    /// new client ids begin no earlier (see "Sessions").
    law_clock: AtomicU64,
    /// The next command number (of every session).
    next_seq: AtomicU64,
    /// Commands sent and not answered, by number.
    in_flight: Mutex<HashMap<u64, InFlight>>,
    /// Requests submitted and not yet sent, with the priest each goes to.
    outbox: Mutex<Vec<(usize, u64)>>,
    last_scan: Mutex<Instant>,
    recv_buf: Mutex<Vec<u8>>,
    /// The chunks of large replies still coming in.
    reassembly: Mutex<wire::Reassembly>,
}

impl PriestBackend {
    /// A backend sending first to priest `first`.
    pub fn start(
        priests: Directory,
        key: Key,
        first: usize,
        patience: Patience,
    ) -> io::Result<Arc<Self>> {
        let local: SocketAddr = match priests.all().first() {
            Some((_, SocketAddr::V6(_))) => (Ipv6Addr::UNSPECIFIED, 0).into(),
            _ => (Ipv4Addr::UNSPECIFIED, 0).into(),
        };
        let socket = UdpSocket::bind(local)?;
        wire::widen_buffers(&socket);
        socket.set_nonblocking(true)?;
        Ok(Arc::new(PriestBackend {
            socket,
            key,
            priests,
            patience,
            target: AtomicUsize::new(first),
            sessions: Mutex::new(HashMap::new()),
            law_clock: AtomicU64::new(0),
            next_seq: AtomicU64::new(1),
            in_flight: Mutex::new(HashMap::new()),
            outbox: Mutex::new(Vec::new()),
            last_scan: Mutex::new(Instant::now()),
            recv_buf: Mutex::new(vec![0; 65_536]),
            reassembly: Mutex::new(wire::Reassembly::new()),
        }))
    }

    /// The law's clock as the priest last applied it (see "Sessions").
    pub fn set_law_clock(&self, millis: u64) {
        self.law_clock.store(millis, Ordering::Relaxed);
    }

    /// A new client id, beginning at the later of this machine's clock and the law's.
    fn new_client(&self) -> Id {
        let law = self.law_clock.load(Ordering::Relaxed);
        crate::kv::client_id_at(crate::kv::unix_millis().max(law))
    }

    /// Answers `-ERR` to every command still in flight (the listener stopped).
    pub fn stop(&self) {
        self.in_flight.lock().expect("not poisoned").clear();
    }

    fn receive(&self, bytes: &[u8], from: SocketAddr) {
        let decoded = self.reassembly.lock().expect("not poisoned").decode::<Msg>(
            &self.key,
            bytes,
            Instant::now(),
        );
        let Ok(msgs) = decoded else {
            return;
        };
        for (src, msg) in msgs {
            let ix = usize::from(src);
            if self.priests.get(ix) != Some(from) {
                continue;
            }
            let (seq, answer) = match msg {
                Msg::Reply { seq, answer } => (seq, Some(answer)),
                Msg::Expired { seq } => (seq, None),
                _ => continue,
            };
            let done = self.in_flight.lock().expect("not poisoned").remove(&seq);
            let Some(f) = done else { continue };
            self.target.store(ix, Ordering::Relaxed);
            match answer {
                Some(answer) => f.reply.send(reply_of(&f.cmd, answer)),
                None => {
                    // The law refuses every command of this id from now on: the
                    // connection's next command goes under a new one.
                    let mut sessions = self.sessions.lock().expect("not poisoned");
                    if sessions
                        .get(&f.conn)
                        .is_some_and(|s| s.0 == f.command.client)
                    {
                        sessions.remove(&f.conn);
                    }
                    drop(sessions);
                    f.reply.send(Reply::err(
                        "session expired: the Parliament forgot this connection's session \
                         (idle for longer than sessions.expire_after_s, or retried for that \
                         long), and refused this command; it did not run, unless an earlier \
                         copy of it ran before the session expired. The next command starts \
                         a new session",
                    ));
                }
            }
        }
    }

    /// Sends each command as the `Request` of its session to `to`, in as few datagrams as
    /// fit.
    fn send(&self, commands: impl IntoIterator<Item = crate::kv::Command>, to: SocketAddr) {
        let mut bundle = wire::Bundle::new();
        let mut datagram = Vec::new();
        for command in commands {
            let client = command.client;
            let request = Msg::from(command);
            loop {
                match bundle.push(client, &request, wire::MAX_DATAGRAM) {
                    Ok(true) => break,
                    // A large value: the request goes alone, in chunks.
                    Ok(false) if bundle.count() == 0 => {
                        match wire::chunks(&self.key, client, &request, wire::MAX_DATAGRAM) {
                            Ok(datagrams) => {
                                let _ = wire::send_chunks(&self.socket, &datagrams, to);
                            }
                            Err(e) => tracing::warn!(error = %e, "cannot send a request"),
                        }
                        break;
                    }
                    Ok(false) => {
                        bundle.seal(&self.key, &mut datagram);
                        let _ = self.socket.send_to(&datagram, to);
                    }
                    Err(e) => {
                        // Not seen: a Request of strings always encodes. It would time out.
                        tracing::warn!(error = %e, "cannot encode a request");
                        break;
                    }
                }
            }
        }
        if bundle.count() > 0 {
            bundle.seal(&self.key, &mut datagram);
            let _ = self.socket.send_to(&datagram, to);
        }
    }

    /// Resends what waited too long, to every priest; gives up on what waited longest.
    fn scan(&self, now: Instant) {
        let mut expired = Vec::new();
        let mut resend = Vec::new();
        {
            let mut in_flight = self.in_flight.lock().expect("not poisoned");
            let late: Vec<u64> = in_flight
                .iter()
                .filter(|(_, f)| now >= f.deadline)
                .map(|(s, _)| *s)
                .collect();
            for s in late {
                expired.extend(in_flight.remove(&s));
            }
            for f in in_flight.values_mut() {
                if now - f.sent >= self.patience.resend {
                    f.sent = now;
                    resend.push(f.command.clone());
                }
            }
        }
        for f in expired {
            f.reply.send(Reply::err(format!(
                "no answer from the Parliament within {:.1} s (the command may have passed)",
                self.patience.timeout.as_secs_f64()
            )));
        }
        if !resend.is_empty() {
            for (_, p) in self.priests.all() {
                self.send(resend.iter().cloned(), p);
            }
        }
    }
}

impl Backend for PriestBackend {
    fn submit(&self, client: ClientId, cmd: Command, reply: Responder) {
        let Some(op) = op_of(&cmd) else {
            reply.send(match cmd {
                Command::Ping(_) => Reply::Simple("PONG".into()),
                _ => Reply::err("not a command of the law (the listener answers it)"),
            });
            return;
        };
        let id = {
            let mut sessions = self.sessions.lock().expect("not poisoned");
            let now = Instant::now();
            let renew = self.patience.renew;
            match sessions.get(&client) {
                Some(&(id, began)) if renew.is_none_or(|r| now - began < r) => id,
                _ => {
                    let id = self.new_client();
                    sessions.insert(client, (id, now));
                    id
                }
            }
        };
        // One counter for every session: each session's numbers increase (as the law's
        // sessions require), and a Reply, which names only the number, finds its command.
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let command = crate::kv::Command {
            client: id,
            seq,
            op,
        };
        if command.size() > MAX_COMMAND_BYTES {
            let what = match cmd {
                Command::Exec { .. } => "transaction",
                _ => "command",
            };
            reply.send(Reply::err(format!(
                "{what} too large: its keys and values take {} bytes, the Parliament \
                 takes at most {MAX_COMMAND_BYTES}",
                command.size()
            )));
            return;
        }
        let now = Instant::now();
        self.in_flight.lock().expect("not poisoned").insert(
            seq,
            InFlight {
                conn: client,
                cmd,
                command,
                reply,
                sent: now,
                deadline: now + self.patience.timeout,
            },
        );
        let target = self.target.load(Ordering::Relaxed);
        self.outbox
            .lock()
            .expect("not poisoned")
            .push((target, seq));
    }

    fn disconnected(&self, client: ClientId) {
        self.sessions.lock().expect("not poisoned").remove(&client);
    }

    fn source(&self) -> Option<(std::os::fd::RawFd, Duration)> {
        use std::os::fd::AsRawFd;
        Some((self.socket.as_raw_fd(), self.patience.resend / 4))
    }

    /// Takes every answer waiting on the socket; resends and gives up as [`Patience`] says.
    fn poll(&self) {
        let mut buf = self.recv_buf.lock().expect("not poisoned");
        // Errors other than WouldBlock (an ICMP error from a priest that is down, reported
        // once) say nothing about the answers still to come: read on, but not forever.
        let mut errors = 0;
        loop {
            match self.socket.recv_from(&mut buf) {
                Ok((len, from)) => {
                    errors = 0;
                    self.receive(&buf[..len], from);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) if errors < 64 => errors += 1,
                Err(_) => break,
            }
        }
        drop(buf);
        let now = Instant::now();
        let mut last = self.last_scan.lock().expect("not poisoned");
        if now - *last >= self.patience.resend / 4 {
            *last = now;
            drop(last);
            self.scan(now);
        }
    }

    /// Sends the requests submitted since the last flush: one bundle per priest.
    fn flush(&self) {
        let outbox = std::mem::take(&mut *self.outbox.lock().expect("not poisoned"));
        if outbox.is_empty() {
            return;
        }
        let mut to: Vec<(usize, Vec<crate::kv::Command>)> = Vec::new();
        {
            let in_flight = self.in_flight.lock().expect("not poisoned");
            for (target, seq) in outbox {
                let Some(f) = in_flight.get(&seq) else {
                    continue;
                };
                let request = f.command.clone();
                match to.iter_mut().find(|(t, _)| *t == target) {
                    Some((_, rs)) => rs.push(request),
                    None => to.push((target, vec![request])),
                }
            }
        }
        for (target, requests) in to {
            // A priest with no address (it left the Chamber): the resends reach the others.
            if let Some(addr) = self.priests.get(target) {
                self.send(requests, addr);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::{Answer, Op};

    #[test]
    fn a_ledger_delta_replays_to_the_saved_ledger() {
        let prev = {
            let mut l = Ledger::genesis(1);
            for n in 0..10 {
                let vote = Vote {
                    ballot: Ballot::new(0, 0),
                    decree: Decree::OliveDay,
                };
                l.votes.insert(n, vote);
                l.learned.insert(n, Decree::OliveDay);
            }
            l
        };
        let mut next = prev.clone();
        next.next_bal = Some(Ballot::new(3, 2));
        next.votes.remove(&4);
        next.votes.insert(
            10,
            Vote {
                ballot: Ballot::new(3, 2),
                decree: Decree::OliveDay,
            },
        );
        next.learned.insert(10, Decree::OliveDay);
        let delta = next.delta(&prev).expect("a small change is a delta");
        assert_eq!(delta.votes.len(), 2);
        assert_eq!(delta.learned.len(), 1);
        let bytes = postcard::to_allocvec(&delta).unwrap();
        let mut replayed = prev.clone();
        replayed.apply(postcard::from_bytes(&bytes).unwrap());
        assert_eq!(replayed, next);
    }

    /// A snapshot the priest takes of its own law is saved in a few bytes when the ledger on
    /// disk holds the decrees since its last snapshot (replayed on reading), and as the keys
    /// that changed when it does not; a first snapshot whose decrees are not on disk and an
    /// installed one (a law sharing nothing with this priest's) are written whole; and the
    /// ledger read back from disk after every save is the one saved.
    #[test]
    fn a_later_snapshot_is_saved_as_the_decrees_or_the_changes_since_the_last() {
        use crate::host::journal::{self, Journal, JournalOptions};
        use crate::kv::{Command, Dedup, Store};
        let dir = tempfile::tempdir().unwrap();
        let (mut disk, _, _) =
            Journal::<Ledger>::open(dir.path(), JournalOptions::default()).expect("a new ledger");
        let read_back = || journal::read::<Ledger>(dir.path()).unwrap().0;
        let put = |seq: u64, key: u64| Command {
            client: Id::from(7),
            seq,
            op: Op::Put {
                key: format!("key{key}").into(),
                value: format!("{seq:0100}").into(),
            },
        };
        let mut law = Store::default();
        for k in 0..10_000 {
            law.apply(0, &put(k + 1, k), Dedup::Sessions);
        }
        // Decrees 5..30 each carry one command; the priest applies them as it learns them.
        let decree =
            |n: DecreeNumber| Decree::Commands(vec![put(20_000 + n as u64, n as u64 * 300)].into());
        let learn = |l: &mut Ledger, law: &mut Store, ns: std::ops::Range<DecreeNumber>| {
            for n in ns {
                l.learned.insert(n, decree(n));
                for c in decree(n).commands() {
                    law.apply(0, c, Dedup::Sessions);
                }
            }
        };
        let snapshot = |l: &mut Ledger, upto: DecreeNumber, law: &Store| {
            l.snapshot = Some(Snapshot {
                upto,
                law: law.clone(),
            });
            l.truncate(upto);
        };
        let mut l = Ledger::genesis(1);
        snapshot(&mut l, 5, &law);
        let whole = disk.save(&l).unwrap();
        assert!(
            whole > 1_000_000,
            "the first snapshot is the whole law: {whole} bytes"
        );
        learn(&mut l, &mut law, 5..20);
        disk.save(&l).unwrap();
        // Decrees 5..9 are on disk: the snapshot up to 9 says "replay them".
        let prev = l.clone();
        snapshot(&mut l, 9, &law_at(&prev, 9));
        let delta = l.delta(&prev).expect("a later snapshot is a delta");
        assert!(matches!(
            delta.snapshot,
            Some(LawDelta::Replay { upto: 9, .. })
        ));
        // The truncation below the snapshot is implied, not listed.
        assert_eq!((delta.votes.len(), delta.learned.len()), (0, 0));
        let tiny = disk.save(&l).unwrap();
        assert!(tiny < 100, "a replayed snapshot: {tiny} bytes");
        assert_eq!(read_back().as_ref(), Some(&l));
        // Decrees 20..25 learned and snapshotted in one save: the changed keys are listed.
        let prev = l.clone();
        learn(&mut l, &mut law, 20..25);
        snapshot(&mut l, 25, &law);
        let delta = l.delta(&prev).expect("a later snapshot is a delta");
        let Some(LawDelta::Changes { map, sessions, .. }) = &delta.snapshot else {
            panic!("decrees 20..25 are not on disk: the changes are listed");
        };
        assert_eq!(
            (map.len(), sessions.len()),
            (16, 1),
            "decrees 9..25 changed 16 keys"
        );
        let small = disk.save(&l).unwrap();
        assert!(small < 5_000, "sixteen changed keys: {small} bytes");
        assert_eq!(read_back().as_ref(), Some(&l));
        // An installed law: another priest's, decoded from a message, so nothing shared.
        let mut installed = Store::default();
        for k in 0..10_000 {
            installed.apply(0, &put(k + 1, k + 20_000), Dedup::Sessions);
        }
        snapshot(&mut l, 40, &installed);
        let again = disk.save(&l).unwrap();
        assert!(
            again > 1_000_000,
            "an installed law is written whole: {again} bytes"
        );
        assert_eq!(read_back().as_ref(), Some(&l));
    }

    /// A priest's first snapshot, taken as the actor takes it (the ledger as it stood
    /// saved first, then the snapshot and the truncation), is saved as the decrees it
    /// covers: the record before it holds the decrees learned since the last save, and the
    /// snapshot's own a few dozen bytes, however large the law. With or without a Chamber,
    /// the ledger read back after every save is the one saved; the next snapshot follows
    /// as a replay of the decrees since. A first snapshot over a member command (which
    /// changes the Chamber the law began with) is written whole.
    #[test]
    fn a_first_snapshot_is_saved_as_the_decrees_it_covers() {
        use crate::host::journal::{self, Journal, JournalOptions};
        use crate::kv::{Chamber, Command, Dedup, MemberOp, Store};
        let put = |n: DecreeNumber| Command {
            client: Id::from(7),
            seq: n as u64 + 1,
            op: Op::Put {
                key: format!("key{n}").into(),
                value: format!("{n:0100}").into(),
            },
        };
        let add = |n: DecreeNumber| Command {
            op: Op::Member(MemberOp::Add {
                ix: 3,
                nonce: 9,
                addr: None,
            }),
            ..put(n)
        };
        let addrs: Vec<std::sync::Arc<str>> = vec!["a:1".into(), "b:2".into(), "c:3".into()];
        for (chamber, member_at) in [
            (None, None),
            (Some(Chamber::founders(3, 3, &addrs)), None),
            (Some(Chamber::founders(3, 3, &addrs)), Some(100)),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let (mut disk, _, _) = Journal::<Ledger>::open(dir.path(), JournalOptions::default())
                .expect("a new ledger");
            let read_back = || journal::read::<Ledger>(dir.path()).unwrap().0;
            let mut l = Ledger::genesis(1);
            // The law the priest begins with, and the decrees it learns and applies.
            let mut law = Store {
                chamber: chamber.clone(),
                ..Store::default()
            };
            let learn = |l: &mut Ledger, law: &mut Store, ns: std::ops::Range<DecreeNumber>| {
                let mut bytes = 0;
                for n in ns {
                    let cmd = if Some(n) == member_at { add(n) } else { put(n) };
                    let d = Decree::Commands(vec![cmd].into());
                    d.apply_to(n, law, Dedup::Sessions, |_, _| {});
                    bytes += postcard::to_allocvec(&d).unwrap().len() as u64;
                    l.learned.insert(n, d);
                }
                bytes
            };
            for from in (0..2_000).step_by(100) {
                learn(&mut l, &mut law, from..from + 100);
                disk.save(&l).unwrap();
            }
            // Five decrees learned since the last save, then the snapshot up to them.
            let since = learn(&mut l, &mut law, 2_000..2_005);
            let snapshot = |l: &mut Ledger, law: &Store| {
                let upto = l.first_gap();
                l.snapshot = Some(Snapshot {
                    upto,
                    law: law.clone(),
                });
                l.truncate(upto);
            };
            let covered = l.clone();
            snapshot(&mut l, &law);
            assert!(
                l.save_first(&covered),
                "the ledger before it is saved first"
            );
            let before = disk.save(&covered).unwrap();
            assert!(
                before <= since + 64,
                "the decrees since the last save ({since} bytes): {before} bytes"
            );
            let after = disk.save(&l).unwrap();
            let last_kind = journal::scan(dir.path()).unwrap().pop().unwrap().kind;
            assert_eq!(read_back().as_ref(), Some(&l));
            if member_at.is_some() {
                assert_ne!(
                    law.chamber, chamber,
                    "the member command changed the Chamber"
                );
                assert!(after > 200_000, "written whole: {after} bytes");
                assert_eq!(last_kind, 1, "a whole ledger");
                continue;
            }
            assert!(after < 100, "a first snapshot: {after} bytes");
            assert_eq!(last_kind, 2, "a delta");
            // The next snapshot: the decrees since, replayed.
            learn(&mut l, &mut law, 2_005..2_100);
            disk.save(&l).unwrap();
            let covered = l.clone();
            snapshot(&mut l, &law);
            assert_eq!(disk.save(&covered).unwrap(), 0, "nothing learned since");
            let next = disk.save(&l).unwrap();
            assert!(next < 100, "a later snapshot: {next} bytes");
            assert_eq!(read_back().as_ref(), Some(&l));
        }
    }

    /// The law of `l`'s snapshot with its decrees up to `upto` applied.
    fn law_at(l: &Ledger, upto: DecreeNumber) -> crate::kv::Store {
        let s = l.snapshot.as_ref().unwrap();
        let mut law = s.law.clone();
        for n in s.upto..upto {
            for c in l.learned[&n].commands() {
                law.apply(0, c, crate::kv::Dedup::Sessions);
            }
        }
        law
    }

    /// A ledger of the format before the law held its Chamber (3) is read, and written
    /// again in this build's format when the journal opens: its snapshot of the law, the
    /// decrees since (deltas) and its promises all come through. A snapshot message from a
    /// priest of that build decodes too.
    /// A format-4 record has no ledger token (the last field): it reads as a founder's
    /// ledger, token 0. A joining ledger's token is written and read back.
    #[test]
    fn a_format_4_record_reads_as_a_founders_ledger_and_a_token_is_kept() {
        let mut ledger = Ledger::genesis(1);
        ledger.learned.insert(0, Decree::OliveDay);
        let bytes = postcard::to_allocvec(&ledger).unwrap();
        assert_eq!(bytes.last(), Some(&0), "the token is the last field");
        let old = &bytes[..bytes.len() - 1];
        assert!(postcard::from_bytes::<Ledger>(old).is_err());
        let back: Ledger = <Ledger as Durable>::decode_old(4, old).unwrap();
        assert_eq!(back, ledger);
        let joining = Ledger::joining(0xfeed);
        let bytes = postcard::to_allocvec(&joining).unwrap();
        assert_eq!(postcard::from_bytes::<Ledger>(&bytes).unwrap(), joining);
    }

    /// Messages as a build before incarnation tags wrote them (the same variants without
    /// their last field) decode with tag 0, and that build decodes this build's messages
    /// (postcard ignores the tag after the fields it knows): a rolling upgrade exchanges
    /// ballots both ways.
    #[test]
    fn messages_without_incarnation_tags_cross_the_wire_both_ways() {
        use crate::ballot::Ballot;
        #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        enum Before {
            NextBallot {
                ballot: Ballot,
                from: u32,
            },
            LastVote {
                ballot: Ballot,
                from: u32,
                base: u32,
                votes: Vec<(u32, crate::parliament::Vote)>,
            },
            BeginBallot {
                ballot: Ballot,
                number: u32,
                decree: Decree,
            },
            Voted {
                ballot: Ballot,
                number: u32,
            },
        }
        let key = Key::random();
        let src = Id::from(1usize);
        let ballot = Ballot::new(3, 1);
        let mut buf = Vec::new();
        wire::encode(&key, src, &Before::Voted { ballot, number: 7 }, &mut buf).unwrap();
        let got: Vec<(Id, Msg)> = wire::decode(&key, &buf).unwrap();
        assert_eq!(
            got,
            vec![(
                src,
                Msg::Voted {
                    ballot,
                    number: 7,
                    inc: 0
                }
            )]
        );
        let begin = Msg::BeginBallot {
            ballot,
            number: 2,
            decree: Decree::OliveDay,
            to: 0,
        };
        wire::encode(&key, src, &begin, &mut buf).unwrap();
        let got: Vec<(Id, Before)> = wire::decode(&key, &buf).unwrap();
        assert_eq!(
            got,
            vec![(
                src,
                Before::BeginBallot {
                    ballot,
                    number: 2,
                    decree: Decree::OliveDay
                }
            )]
        );
        let _ = (
            Before::NextBallot { ballot, from: 0 },
            Before::LastVote {
                ballot,
                from: 0,
                base: 0,
                votes: vec![],
            },
        );
    }

    /// The segment and snapshot files of a ledger directory, in order.
    fn ledger_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut f: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let n = p.file_name().unwrap().to_str().unwrap();
                n.starts_with("log-") || n.starts_with("snap-")
            })
            .collect();
        f.sort();
        f
    }

    /// What a build of an older ledger format wrote: a law of `keys` puts, a ledger with it
    /// as its snapshot up to 3, then the same with decrees 3 to 5 learned, saved in `dir`
    /// with laws laid out as `layout` lays them out and every header saying `format`.
    /// Returns the law and the later ledger.
    fn write_old_ledger(
        dir: &std::path::Path,
        keys: u64,
        format: u8,
        layout: impl FnOnce(&mut dyn FnMut()),
    ) -> (crate::kv::Store, Ledger) {
        use crate::host::journal::{Journal, JournalOptions};
        use crate::kv::{Command, Dedup, Store};
        let mut law = Store::default();
        for k in 0..keys {
            let cmd = Command {
                client: Id::from(1_000 + k as usize),
                seq: 1,
                op: Op::Put {
                    key: format!("k{k}").into(),
                    value: format!("v{k}").into(),
                },
            };
            law.apply(0, &cmd, Dedup::Sessions);
        }
        let mut ledger = Ledger::genesis(1);
        ledger.snapshot = Some(Snapshot {
            upto: 3,
            law: law.clone(),
        });
        ledger.next_bal = Some(Ballot::new(2, 1));
        let mut later = ledger.clone();
        for n in 3..6 {
            later.learned.insert(n, Decree::OliveDay);
        }
        layout(&mut || {
            let (mut disk, _, _) =
                Journal::<Ledger>::open(dir, JournalOptions::default()).expect("a new ledger");
            disk.save(&ledger).unwrap();
            disk.save(&later).unwrap();
        });
        for f in ledger_files(dir) {
            let mut bytes = std::fs::read(&f).unwrap();
            bytes[7] = format;
            std::fs::write(&f, bytes).unwrap();
        }
        (law, later)
    }

    /// Format 6 is laid out as today (format 7 added a kind of snapshot delta, which no
    /// record of format 6 holds): a ledger that build wrote is read as it was saved, and
    /// written again in this build's format.
    #[test]
    fn a_format_6_ledger_is_read_and_written_again() {
        use crate::host::journal::{Journal, JournalOptions};
        let dir = tempfile::tempdir().unwrap();
        let (_, later) = write_old_ledger(dir.path(), 20, 6, |f| f());
        let (_disk, back, _) =
            Journal::<Ledger>::open(dir.path(), JournalOptions::default()).unwrap();
        assert_eq!(back, Some(later));
        let files = ledger_files(dir.path());
        assert!(
            files.iter().all(|f| std::fs::read(f).unwrap()[7] == 7),
            "{files:?}"
        );
    }

    /// `msg` in the datagrams `chunks` made, as this build reads them back.
    fn read_back(key: &Key, chunks: &[Vec<u8>]) -> Vec<(Id, Msg)> {
        let mut r = wire::Reassembly::new();
        let now = std::time::Instant::now();
        chunks
            .iter()
            .flat_map(|d| r.decode::<Msg>(key, d, now).unwrap())
            .collect()
    }

    #[test]
    fn a_format_3_ledger_and_snapshot_are_read_and_the_ledger_written_again() {
        use crate::host::journal::{self, Journal, JournalOptions};
        let dir = tempfile::tempdir().unwrap();
        // What that build wrote: its header said format 3.
        let (law, mut later) =
            write_old_ledger(dir.path(), 50, 3, |f| kv::with_law_before_chamber(f));
        let files = || ledger_files(dir.path());
        let format_of = |p: &std::path::Path| std::fs::read(p).unwrap()[7];
        let (mut disk, back, _) =
            Journal::<Ledger>::open(dir.path(), JournalOptions::default()).unwrap();
        assert_eq!(back.as_ref(), Some(&later));
        assert!(files().iter().all(|f| format_of(f) == 7), "{:?}", files());
        later.learned.insert(6, Decree::OliveDay);
        disk.save(&later).unwrap();
        drop(disk);
        let (back, _) = journal::read::<Ledger>(dir.path()).unwrap();
        assert_eq!(back, Some(later.clone()));
        // A format older than that is refused, naming where to read how to upgrade.
        let f = files().pop().unwrap();
        let mut bytes = std::fs::read(&f).unwrap();
        bytes[7] = 2;
        std::fs::write(&f, bytes).unwrap();
        let err = journal::read::<Ledger>(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("format 2") && err.contains("Upgrading"),
            "{err}"
        );
        // The wire: a snapshot as that build sends it.
        let key = Key::random();
        let msg = Msg::Snapshot {
            snapshot: Snapshot { upto: 3, law },
        };
        let old = kv::with_law_before_chamber(|| {
            wire::chunks(&key, Id::from(0usize), &msg, wire::MAX_DATAGRAM).unwrap()
        });
        assert_eq!(read_back(&key, &old), vec![(Id::from(0usize), msg)]);
    }

    /// Format 5 laid the law out without deadlines: such a ledger and snapshot (a build
    /// before keys expired) are read, with no deadlines, and the ledger written again in
    /// this build's format; a law with deadlines then saves and reads back whole, deltas
    /// included.
    #[test]
    fn a_format_5_ledger_and_snapshot_are_read_and_deadlines_then_saved() {
        use crate::host::journal::{self, Journal, JournalOptions};
        use crate::kv::{Command, Dedup, Stamp, Time, Ttl, When};
        let dir = tempfile::tempdir().unwrap();
        let (law, later) =
            write_old_ledger(dir.path(), 20, 5, |f| kv::with_law_before_deadlines(f));
        let files = || ledger_files(dir.path());
        let format_of = |p: &std::path::Path| std::fs::read(p).unwrap()[7];
        let (mut disk, back, _) =
            Journal::<Ledger>::open(dir.path(), JournalOptions::default()).unwrap();
        assert_eq!(back.as_ref(), Some(&later));
        assert!(files().iter().all(|f| format_of(f) == 7), "{:?}", files());
        // Keys that expire: a decree that sets a deadline, then a snapshot after it (a
        // replay delta), then one after a decree the disk never held (the law written whole:
        // its deadlines changed), each read back as saved.
        let stamped = |at: u64, client: usize, op: Op| {
            let cmd = Command {
                client: Id::from(client),
                seq: 1,
                op,
            };
            Decree::of(Some(Stamp { at, horizon: 0 }), vec![cmd])
        };
        let set_px = Op::SetTtl {
            key: "k1".into(),
            value: "t".into(),
            when: When::Always,
            ttl: Ttl::Expire(Time::In(500)),
        };
        let mut next = later.clone();
        next.learned.insert(6, stamped(2_000, 5_000, set_px));
        disk.save(&next).unwrap();
        let snapshot_of = |l: &Ledger, upto: DecreeNumber| {
            let mut law = l.snapshot.as_ref().unwrap().law.clone();
            let from = l.snapshot.as_ref().unwrap().upto;
            for n in from..upto {
                l.learned[&n].apply_to(n, &mut law, Dedup::Sessions, |_, _| {});
            }
            let mut l = l.clone();
            l.snapshot = Some(Snapshot { upto, law });
            l.truncate(upto);
            l
        };
        next = snapshot_of(&next, 7);
        assert_eq!(
            next.snapshot.as_ref().unwrap().law.map.deadline("k1"),
            Some(2_500)
        );
        disk.save(&next).unwrap();
        let expire_at = Op::Expire {
            key: "k2".into(),
            at: Time::At(9_000),
            when: crate::kv::ExpireIf::Always,
        };
        let mut unsaved = next.clone();
        unsaved.learned.insert(7, stamped(2_100, 5_001, expire_at));
        unsaved.learned.insert(8, Decree::OliveDay);
        let mut whole = snapshot_of(&unsaved, 8);
        whole.learned.insert(8, Decree::OliveDay);
        assert!(
            whole.delta(&next).is_none(),
            "deadlines changed: written whole"
        );
        disk.save(&whole).unwrap();
        drop(disk);
        let (back, _) = journal::read::<Ledger>(dir.path()).unwrap();
        let back = back.unwrap();
        assert_eq!(back, whole);
        let timed = back.snapshot.unwrap().law;
        assert_eq!(timed.map.deadline("k1"), Some(2_500));
        assert_eq!(timed.map.deadline("k2"), Some(9_000));
        // The wire: a snapshot as a build before deadlines sends it.
        let key = Key::random();
        let msg = Msg::Snapshot {
            snapshot: Snapshot { upto: 3, law },
        };
        let old = kv::with_law_before_deadlines(|| {
            wire::chunks(&key, Id::from(0usize), &msg, wire::MAX_DATAGRAM).unwrap()
        });
        assert_eq!(read_back(&key, &old), vec![(Id::from(0usize), msg)]);
        // And this build's snapshot with deadlines.
        let msg = Msg::Snapshot {
            snapshot: Snapshot {
                upto: 8,
                law: timed,
            },
        };
        let new = wire::chunks(&key, Id::from(0usize), &msg, wire::MAX_DATAGRAM).unwrap();
        assert_eq!(read_back(&key, &new), vec![(Id::from(0usize), msg)]);
    }

    /// A rejoining priest's mark survives every save and its clearing too: the ledger read
    /// back from disk after each save is the one saved (the mark's changes are whole
    /// records, the decrees learned meanwhile deltas).
    #[test]
    fn the_rejoin_mark_and_its_clearing_are_saved() {
        use crate::ballot::Priests;
        use crate::host::journal::{self, Journal, JournalOptions};
        use crate::parliament::Rejoin;
        let dir = tempfile::tempdir().unwrap();
        let (mut disk, none, _) =
            Journal::<Ledger>::open(dir.path(), JournalOptions::default()).expect("a new ledger");
        assert_eq!(none, None);
        let mut prev: Option<Ledger> = None;
        let mut save = |l: &Ledger, whole: bool| {
            if let Some(p) = &prev {
                assert_eq!(l.delta(p).is_none(), whole, "{l:?}");
            }
            disk.save(l).unwrap();
            let (back, _) = journal::read::<Ledger>(dir.path()).unwrap();
            assert_eq!(back.as_ref(), Some(l));
            prev = Some(l.clone());
        };
        let mut l = rejoin_ledger().unwrap();
        assert_eq!(l, Ledger::rejoining());
        save(&l, true);
        let b = Ballot::new(4, 1);
        l.rejoin = Some(Rejoin {
            heard: Priests::single(1).with(2),
            highest: Some(Ballot::new(3, 1)),
            offer: None,
        });
        save(&l, true);
        for n in 0..3 {
            l.learned.insert(n, Decree::OliveDay);
            save(&l, false);
        }
        if let Some(r) = &mut l.rejoin {
            r.offer = Some((b, 3));
        }
        save(&l, true);
        l.rejoin = None;
        l.next_bal = Some(b);
        save(&l, true);
        let vote = Vote {
            ballot: b,
            decree: Decree::OliveDay,
        };
        l.votes.insert(3, vote);
        save(&l, false);
        let (back, recovery) = journal::read::<Ledger>(dir.path()).unwrap();
        assert_eq!((back, recovery.records), (Some(l), 8));
    }

    /// A listener whose backend talks to a stand-in priest (a bare socket the test reads
    /// and answers): the cluster key, that socket, the backend and the listener.
    fn stand_in(patience: Patience) -> (Key, UdpSocket, Arc<PriestBackend>, Server) {
        let key = Key::random();
        let priest = UdpSocket::bind("127.0.0.1:0").unwrap();
        priest
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let backend = PriestBackend::start(
            crate::host::Directory::new(&[priest.local_addr().unwrap()]),
            key.clone(),
            0,
            patience,
        )
        .unwrap();
        let server = Server::start(
            "127.0.0.1:0",
            OneAtATime::new(backend.clone()),
            ServerConfig::default(),
        )
        .unwrap();
        (key, priest, backend, server)
    }

    /// The listener's backend against a stand-in priest: every command reaches the priest
    /// as a `Request` (in bundles), and one bundle of `Reply`s answers every client.
    #[test]
    fn the_backend_sends_requests_and_takes_a_bundle_of_replies() {
        use crate::resp::client::Client;
        let (key, priest, backend, server) = stand_in(Patience::default());
        let clients: Vec<Client> = (0..5)
            .map(|i| {
                let mut c = Client::connect(server.local_addr()).unwrap();
                c.set_timeout(Some(Duration::from_secs(5))).unwrap();
                let k = format!("k{i}");
                c.send(&[b"SET", k.as_bytes(), b"v"]).unwrap();
                c
            })
            .collect();
        // Take the five Requests, however the listener's turns grouped them.
        let mut requests = Vec::new();
        let mut from = None;
        let mut buf = vec![0u8; 65_536];
        while requests.len() < 5 {
            let (len, addr) = priest.recv_from(&mut buf).unwrap();
            from = Some(addr);
            requests.extend(wire::decode::<Msg>(&key, &buf[..len]).unwrap());
        }
        let mut bundle = wire::Bundle::new();
        for (client, msg) in &requests {
            assert!(
                usize::from(*client) as u64 & crate::host::CLIENT_BIT != 0,
                "a client id"
            );
            let Msg::Request { seq, op, .. } = msg else {
                panic!("{msg:?}")
            };
            assert!(matches!(op, Op::Put { .. }), "{op}");
            let reply = Msg::Reply {
                seq: *seq,
                answer: Answer::Written,
            };
            bundle
                .push(Id::from(0usize), &reply, wire::MAX_DATAGRAM)
                .unwrap();
        }
        bundle.seal(&key, &mut buf);
        priest.send_to(&buf, from.unwrap()).unwrap();
        for mut c in clients {
            assert_eq!(c.read_reply().unwrap(), Reply::ok());
        }
        server.shutdown();
        backend.stop();
    }

    /// A command the law refused (`Expired`) is answered with a clear error, and the
    /// connection's next command goes under a new client id; a connection whose id is
    /// older than `renew` gets a new one before its next command.
    #[test]
    fn an_expired_session_is_an_error_and_the_next_command_starts_a_new_one() {
        use crate::resp::client::Client;
        let renew = Duration::from_millis(300);
        let (key, priest, backend, server) = stand_in(Patience {
            renew: Some(renew),
            ..Patience::default()
        });
        let mut c = Client::connect(server.local_addr()).unwrap();
        c.set_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = vec![0u8; 65_536];
        // Takes the next Request and answers it with `answer(seq)`; returns its client id.
        let mut serve = |answer: &dyn Fn(u64) -> Msg| {
            let (len, from) = priest.recv_from(&mut buf).unwrap();
            let (client, msg) = wire::decode::<Msg>(&key, &buf[..len])
                .unwrap()
                .pop()
                .unwrap();
            let Msg::Request { seq, .. } = msg else {
                panic!("{msg:?}")
            };
            let mut out = Vec::new();
            wire::encode(&key, Id::from(0usize), &answer(seq), &mut out).unwrap();
            priest.send_to(&out, from).unwrap();
            client
        };
        let written = |seq| Msg::Reply {
            seq,
            answer: Answer::Written,
        };
        c.send(&[b"SET", b"k", b"v"]).unwrap();
        let first = serve(&written);
        assert_eq!(c.read_reply().unwrap(), Reply::ok());
        c.send(&[b"SET", b"k", b"v"]).unwrap();
        assert_eq!(serve(&written), first, "the same session while it is young");
        assert_eq!(c.read_reply().unwrap(), Reply::ok());
        c.send(&[b"SET", b"k", b"w"]).unwrap();
        assert_eq!(serve(&|seq| Msg::Expired { seq }), first);
        match c.read_reply().unwrap() {
            Reply::Error(e) => assert!(e.starts_with("ERR session expired"), "{e}"),
            r => panic!("{r:?}"),
        }
        c.send(&[b"SET", b"k", b"w"]).unwrap();
        let second = serve(&written);
        assert_ne!(second, first, "a new session after the refusal");
        assert_eq!(c.read_reply().unwrap(), Reply::ok());
        assert!(crate::kv::born(second) >= crate::kv::born(first));
        std::thread::sleep(renew + Duration::from_millis(50));
        c.send(&[b"SET", b"k", b"x"]).unwrap();
        assert_ne!(serve(&written), second, "a new session once the id is old");
        assert_eq!(c.read_reply().unwrap(), Reply::ok());
        server.shutdown();
        backend.stop();
    }
}
