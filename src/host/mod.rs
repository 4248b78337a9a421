//! The host: a checked actor, unchanged, on a real network with a durable ledger.
//!
//! The protocol lives only in the actor (any `stateright::actor::Actor` whose messages and
//! Storage serialize). The host moves bytes, keeps the ledger durable and fires timers,
//! with the semantics stateright gives the actor in the model:
//!
//! - `on_start(id, storage)` gets the last ledger that was durably saved ([`journal`]);
//! - a handler's commands take effect in order: `SetTimer` (re)arms a timer at a random
//!   moment in its range, `CancelTimer` disarms it, `ChooseRandom` picks one of the choices
//!   and delivers it by `on_random` on the next step, `Save` replaces the ledger, `Send`
//!   sends one datagram ([`wire`]);
//! - **every `Save` of a handler is durable (`fdatasync`) before any `Send` of that handler,
//!   or of any later handler, leaves.** Handlers run in batches (group commit): the host
//!   takes every datagram waiting on the socket (up to `max_batch`) and every due timer, runs
//!   their handlers one after the other on the in-memory state, writes the last saved ledger
//!   once and syncs once, and only then sends the messages of the handlers that ran after
//!   the first save. The messages of handlers that ran before it (say, a priest answering
//!   `Confirmed` or a heartbeat, which changes nothing durable), with no save deferred from
//!   an earlier batch, leave first, without waiting for the sync: no change they could
//!   depend on is unsaved.
//! - **A batch that sends nothing defers its save** until the next batch that sends
//!   something (which then writes and syncs the newest ledger, covering both), or until it
//!   has waited [`DEFER_SAVE`], or the priest stops. So every message leaves only after every
//!   change made before it is durable, and a learner that only listens (a priest hearing
//!   `Success`) does not pay a disk sync per message.
//!
//! A priest may record its run ([`trace`]; off by default): each handler's input and
//! output, and when its saves became durable and its messages left, so that
//! `parliament trace check` can replay it and check the rule above.
//!
//! Why this is faithful to the model (see `docs/design.md`): a crash before the sync loses the
//! batch's effects (and those of any deferred batches before it) and the messages that
//! caused them, which in the model are lost messages: nothing that depended on them had
//! left; a crash after the sync but before every send left is a set of completed handlers
//! whose messages were lost. Both are behaviours of the lossy model. The messages that left
//! before the sync came from handlers that ran, in the model's order, before every lost
//! change: the model's run is those handlers, then the crash.
//!
//! # Ids and addresses
//!
//! An actor [`Id`] is a `u64`. The host gives priest `i` (its index in the configuration)
//! the id `Id::from(i)`: the very ids the checked model uses, so a deployed priest runs with
//! the `priests: Vec<Id>` it was checked with, whatever its address family. Clients take ids
//! with the top bit set ([`client_id`]) and random low bits. Every datagram carries its
//! sender's id under the MAC; the host maps ids to socket addresses:
//!
//! - a priest's address is the one configured; a datagram claiming a priest's id from
//!   another address is dropped as from a non-member;
//! - a client's address is learned from its last authenticated datagram (so replies reach
//!   it, over IPv4 or IPv6), in a table of at most [`MAX_CLIENTS`] entries;
//! - any other id is a non-member.
//!
//! Datagrams that fail to decode, fail the MAC or come from a non-member are dropped,
//! counted in [`Counters`] and logged at debug level.
//!
//! # What is here
//!
//! - this module: the event loop ([`Node`], [`serve`], [`run`]);
//! - [`timers`]: the actor's timers, and waiting for a datagram or the next one due;
//! - [`journal`]: the durable journal of a priest's ledger ([`journal::Journal`]);
//! - [`wire`]: the datagram format and the cluster key;
//! - [`config`]: the cluster's configuration file, read and written;
//! - [`start`]: how a priest begins (its ledger kept, `--bootstrap`, `--rejoin`);
//! - [`client`]: a client that asks priests until one answers;
//! - [`trace`]: recording a priest's run, to replay and check it (off by default);
//! - [`process`]: stopping on signals, and logging.
//!
//! The host knows no protocol: the priests it runs, and the services built on it, are in
//! `crate::service`.

pub mod client;
pub mod config;
pub mod journal;
pub mod process;
pub mod scheduling;
pub mod start;
pub mod timers;
pub mod trace;
pub mod wire;

pub use client::UdpClient;
use journal::{Durable, Journal, JournalError, JournalOptions};
pub use process::{init_logging, stop_on_signals};
use serde::de::DeserializeOwned;
use serde::Serialize;
pub use start::{Start, StartMode};
use stateright::actor::{Actor, Command, Id, Out};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use timers::{wait_readable, Timers};
use wire::Key;

/// Longest a save of a batch that sent nothing waits for a batch that sends (see the
/// module docs) before it is written and synced on its own.
pub const DEFER_SAVE: Duration = Duration::from_millis(50);

/// A large message (one that travels in chunks) equal to one sent to the same address less
/// than this long ago is not sent again: a lagging priest asks for what it lacks on every
/// heartbeat, and encoding a snapshot of a large law for each ask would take the sender's
/// whole time. Its chunks already sent still count: the receiver keeps them (`wire`).
pub const LARGE_RESEND: Duration = Duration::from_secs(5);
/// The rate at which chunks of large messages leave, in bytes per second: paced, so that a
/// message of many megabytes does not overflow the receiver's socket buffer in one burst,
/// and the sender's other messages go between its chunks.
pub const CHUNK_RATE: u64 = 100 << 20;

/// The bit that marks a client's id.
pub use crate::kv::CLIENT_BIT;
/// How many clients' addresses a priest remembers.
pub const MAX_CLIENTS: usize = 65_536;

/// A fresh client id: the top bit set, then the second it began on this machine's clock
/// (the law uses it to forget sessions: see [`crate::kv`]), then random bits.
pub fn client_id() -> Id {
    crate::kv::client_id_at(crate::kv::unix_millis())
}

fn bits(id: Id) -> u64 {
    usize::from(id) as u64
}

/// The priests' addresses, by index, shared by a priest's host and its service: the
/// configured ones at start; when the Chamber changes by decree, the service adds a new
/// member's address from the law (and a re-added index's new one). An index with no address
/// is no member: its datagrams are dropped and nothing is sent to it.
#[derive(Clone, Debug, Default)]
pub struct Directory(std::sync::Arc<std::sync::RwLock<Vec<Option<SocketAddr>>>>);

impl Directory {
    /// The configured priests' addresses.
    pub fn new(addrs: &[SocketAddr]) -> Self {
        Directory(std::sync::Arc::new(std::sync::RwLock::new(
            addrs.iter().copied().map(Some).collect(),
        )))
    }

    /// The index of the priest at `addr`, if any.
    pub fn index_of(&self, addr: SocketAddr) -> Option<usize> {
        self.0
            .read()
            .expect("not poisoned")
            .iter()
            .position(|a| *a == Some(addr))
    }

    /// Priest `ix`'s address, if it has one.
    pub fn get(&self, ix: usize) -> Option<SocketAddr> {
        self.0
            .read()
            .expect("not poisoned")
            .get(ix)
            .copied()
            .flatten()
    }

    /// Gives priest `ix` the address `addr` (whether it had one or not).
    pub fn set(&self, ix: usize, addr: SocketAddr) {
        let mut v = self.0.write().expect("not poisoned");
        if v.len() <= ix {
            v.resize(ix + 1, None);
        }
        v[ix] = Some(addr);
    }

    /// Every priest with an address.
    pub fn all(&self) -> Vec<(usize, SocketAddr)> {
        let v = self.0.read().expect("not poisoned");
        v.iter()
            .enumerate()
            .filter_map(|(i, a)| a.map(|a| (i, a)))
            .collect()
    }
}

/// What a priest's host needs to know.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// This priest's index.
    pub me: usize,
    /// Every priest's address, by index.
    pub priests: Vec<SocketAddr>,
    /// The addresses shared with the priest's service, if it changes them (see
    /// [`Directory`]); `None`: `priests`, for good.
    pub directory: Option<Directory>,
    /// The address this priest's socket binds, if not `priests[me]` (see [`config`]: behind
    /// address translation, or a relay, the address peers use is not the local one).
    pub bind: Option<SocketAddr>,
    pub key: Key,
    /// This priest's ledger directory.
    pub ledger_dir: PathBuf,
    /// How the journal of its ledger compacts and allocates.
    pub journal: JournalOptions,
    /// Most datagrams handled under one sync.
    pub max_batch: usize,
    /// Fault injection for crash tests: sleep this long before each ledger write, which widens
    /// the window in which a kill lands between a handler and its commit. Zero when deployed;
    /// `serve` reads it from the environment variable `PARLIAMENT_SLOW_LEDGER_MS`.
    pub save_delay: Duration,
    /// How a priest that lost its ledger comes back, for the refusal of a missing or empty
    /// one ([`start::refusal`]); `None`: with `--rejoin`.
    pub comeback: Option<String>,
    /// A seeded deployment fault, for tests only: a batch's late messages (those that must
    /// wait for its sync) are sent before the sync, breaking the contract of the module
    /// docs; `trace check` must catch it. `serve` sets it when the environment variable
    /// `PARLIAMENT_FAULT_SEND_BEFORE_SYNC` is `1`. Never set when deployed.
    pub send_before_sync: bool,
}

impl NodeConfig {
    /// Priest `me` of a cluster configuration.
    pub fn from_config(cfg: &config::Config, me: usize) -> Self {
        NodeConfig {
            me,
            priests: cfg.priests.clone(),
            directory: None,
            bind: Some(cfg.binds[me]),
            key: cfg.key.clone(),
            ledger_dir: cfg.ledger_of(me),
            journal: JournalOptions::default(),
            max_batch: 256,
            save_delay: std::env::var("PARLIAMENT_SLOW_LEDGER_MS")
                .ok()
                .and_then(|v| v.parse().ok())
                .map_or(Duration::ZERO, Duration::from_millis),
            comeback: None,
            send_before_sync: std::env::var("PARLIAMENT_FAULT_SEND_BEFORE_SYNC")
                .is_ok_and(|v| v == "1"),
        }
    }
}

/// Why a priest stopped.
#[derive(Debug)]
pub enum HostError {
    Journal(JournalError),
    /// The ledger directory does not allow the start asked for ([`start`]).
    Refused(String),
    Bind {
        addr: SocketAddr,
        error: io::Error,
    },
    Socket(io::Error),
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Journal(e) => write!(f, "{e}"),
            HostError::Refused(why) => write!(f, "{why}"),
            HostError::Bind { addr, error } => write!(f, "cannot bind {addr}: {error}"),
            HostError::Socket(e) => write!(f, "socket error: {e}"),
        }
    }
}

impl std::error::Error for HostError {}

impl From<JournalError> for HostError {
    fn from(e: JournalError) -> Self {
        HostError::Journal(e)
    }
}

/// What a priest's host has done, and what it dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    pub received: u64,
    pub handled: u64,
    pub timeouts: u64,
    pub sent: u64,
    pub send_errors: u64,
    /// Ledger syncs (one per batch that changed the ledger).
    pub syncs: u64,
    pub dropped_malformed: u64,
    pub dropped_bad_mac: u64,
    pub dropped_undecodable: u64,
    pub dropped_non_member: u64,
    /// Messages the actor addressed to an id with no known address.
    pub unroutable: u64,
    /// Messages too large for one datagram, sent in chunks.
    pub chunked: u64,
    /// Chunks of large messages taken back at start from transfers a restart cut.
    pub chunks_resumed: u64,
    /// Large messages not sent again because an equal one left for the same address less
    /// than [`LARGE_RESEND`] ago.
    pub large_repeats_skipped: u64,
    /// The longest save (write and sync of one record), in microseconds, and its size: the
    /// longest a batch's sends waited on the ledger.
    pub longest_save_us: u64,
    pub longest_save_bytes: u64,
}

impl Counters {
    /// Every datagram dropped on receipt.
    pub fn dropped(&self) -> u64 {
        self.dropped_malformed
            + self.dropped_bad_mac
            + self.dropped_undecodable
            + self.dropped_non_member
    }
}

impl fmt::Display for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "received={} handled={} timeouts={} sent={} send_errors={} syncs={} \
             dropped_malformed={} dropped_bad_mac={} dropped_undecodable={} \
             dropped_non_member={} unroutable={} chunked={} chunks_resumed={} \
             large_repeats_skipped={} longest_save_us={} \
             longest_save_bytes={}",
            self.received,
            self.handled,
            self.timeouts,
            self.sent,
            self.send_errors,
            self.syncs,
            self.dropped_malformed,
            self.dropped_bad_mac,
            self.dropped_undecodable,
            self.dropped_non_member,
            self.unroutable,
            self.chunked,
            self.chunks_resumed,
            self.large_repeats_skipped,
            self.longest_save_us,
            self.longest_save_bytes
        )
    }
}

/// The effects of a batch of handlers waiting for the group commit.
struct Batch<A: Actor> {
    sends: Vec<(Id, A::Msg)>,
    /// When traced: each of `sends`' step and index in its step's output.
    tags: Vec<(u64, u32)>,
    /// The steps of `save` and `first` (for the trace's `Synced`).
    save_step: u64,
    first_step: u64,
    save: Option<A::Storage>,
    /// An earlier ledger not yet durable that the journal asks to write before `save`
    /// ([`Durable::save_first`]): written first, at the commit.
    first: Option<A::Storage>,
    /// Whether a change not yet durable was made before the handler now running: a save
    /// deferred from an earlier batch, or a save of an earlier handler of this batch.
    unsaved: bool,
    /// How many of `sends` (the first ones) came from handlers that ran before any such
    /// change: they may leave before the sync.
    early: usize,
}

impl<A: Actor> Batch<A> {
    /// A batch that starts after a save was deferred (`unsaved`) or not.
    fn new(unsaved: bool) -> Self {
        Batch {
            sends: Vec::new(),
            tags: Vec::new(),
            save_step: 0,
            first_step: 0,
            save: None,
            first: None,
            unsaved,
            early: 0,
        }
    }
}

/// Watches a priest: called with the actor's state and the host's counters once the node
/// starts and after every batch, to publish a status view (as `crate::service::status` does).
/// It only reads.
pub type Observer<A> = Box<dyn FnMut(&<A as Actor>::State, &Counters) + Send>;

/// One priest: its actor and state, its socket, its ledger and its timers.
pub struct Node<A: Actor>
where
    A::Storage: Durable,
{
    actor: A,
    id: Id,
    /// The actor's state; `None` only while a handler runs (it owns the state meanwhile).
    state: Option<A::State>,
    /// Non-blocking; [`timers::wait_readable`] waits on it.
    socket: UdpSocket,
    key: Key,
    priests: Directory,
    clients: HashMap<Id, SocketAddr>,
    journal: Journal<A::Storage>,
    timers: Timers<A::Timer>,
    randoms: HashMap<String, A::Random>,
    max_batch: usize,
    save_delay: Duration,
    /// The newest saved ledger not yet written (its batch sent nothing), since when.
    deferred: Option<(A::Storage, Instant)>,
    /// The step that saved `deferred` (for the trace).
    deferred_step: u64,
    /// The trace this priest records, if any ([`trace`]).
    trace: Option<Box<dyn trace::Trace<A>>>,
    /// The seeded fault [`NodeConfig::send_before_sync`].
    send_before_sync: bool,
    counters: Counters,
    recv_buf: Vec<u8>,
    /// The chunks of large messages still coming in.
    reassembly: wire::Reassembly,
    /// Chunks of large messages waiting to leave, paced at [`CHUNK_RATE`], and the bytes
    /// the pace allows now.
    chunk_queue: std::collections::VecDeque<(SocketAddr, Vec<u8>)>,
    chunk_budget: (u64, Instant),
    /// The large messages sent lately, by address, and when (see [`LARGE_RESEND`]).
    large_sent: Vec<(SocketAddr, A::Msg, Instant)>,
    send_buf: Vec<u8>,
    observer: Option<Observer<A>>,
    /// The bootstrap marker's directory, while the marker vouches for an empty ledger: it is
    /// removed once a save has made the ledger hold a record ([`start`]).
    marker: Option<PathBuf>,
    /// The priests' addresses whose datagrams failed authentication, each logged once.
    bad_mac_from: Vec<SocketAddr>,
}

impl<A> Node<A>
where
    A: Actor,
    A::Msg: Serialize + DeserializeOwned,
    A::Storage: Durable,
{
    /// Opens the ledger (whatever it holds: [`Start::Unchecked`]), binds the socket and
    /// starts the actor with its last durable ledger. For tests and benchmarks; a deployed
    /// priest starts with [`Node::start_from`].
    pub fn start(actor: A, cfg: NodeConfig) -> Result<Self, HostError> {
        Self::start_from(actor, cfg, Start::Unchecked)
    }

    /// Opens the ledger as `start` allows (see [`start`]): refuses a missing or empty
    /// ledger that is not a new cluster's, and an intact one for `--bootstrap` or
    /// `--rejoin`; then binds the socket and starts the actor with its last durable ledger.
    pub fn start_from(
        actor: A,
        cfg: NodeConfig,
        start: Start<A::Storage>,
    ) -> Result<Self, HostError> {
        Self::start_traced(actor, cfg, start, None)
    }

    /// As [`Node::start_from`], recording the run in `trace` if given ([`trace`]): the
    /// ledger `on_start` gets, then every handler, sync and send.
    pub fn start_traced(
        actor: A,
        cfg: NodeConfig,
        start: Start<A::Storage>,
        mut trace: Option<Box<dyn trace::Trace<A>>>,
    ) -> Result<Self, HostError> {
        let dir = &cfg.ledger_dir;
        let exists = dir.try_exists().map_err(|error| JournalError::Io {
            path: dir.clone(),
            error,
        })?;
        if !exists && matches!(start, Start::Restart) {
            // Refused before anything is created.
            return Err(HostError::Refused(start::refusal(
                dir,
                cfg.comeback.as_deref(),
            )));
        }
        // Opened (and locked) before the verdict, so no other process changes what it reads.
        let (mut journal, mut storage, recovery) = Journal::open(dir, cfg.journal)?;
        let mut marker = None;
        match (start, storage.is_some()) {
            (Start::Unchecked, _) => {}
            (Start::Restart, true) => start::remove_marker(dir)?,
            (Start::Restart, false) => {
                if !start::has_marker(dir)? {
                    let mut why = start::refusal(dir, cfg.comeback.as_deref());
                    if let Some((path, offset, _)) = &recovery.torn {
                        // A record synced before the marker went was damaged since.
                        why += &format!(
                            " (its last record, at offset {offset} of {}, was damaged and \
                             has been cut off)",
                            path.display()
                        );
                    }
                    return Err(HostError::Refused(why));
                }
                marker = Some(dir.clone());
            }
            (Start::Bootstrap, true) => {
                return Err(HostError::Refused(start::bootstrap_refusal(dir)))
            }
            (Start::Bootstrap, false) => {
                start::write_marker(dir, cfg.me)?;
                tracing::info!(ledger = %dir.display(), "bootstrapped: a new cluster's ledger");
                marker = Some(dir.clone());
            }
            (Start::Rejoin(_), true) => return Err(HostError::Refused(start::rejoin_refusal(dir))),
            (Start::Join(_), true) => return Err(HostError::Refused(start::join_refusal(dir))),
            (Start::Join(join), false) => {
                let joining = join().map_err(HostError::Refused)?;
                journal.save(&joining)?;
                start::remove_marker(dir)?;
                tracing::info!(ledger = %dir.display(), "joining a running cluster");
                storage = Some(joining);
            }
            (Start::Rejoin(rejoin), false) => {
                let rejoining = rejoin().map_err(HostError::Refused)?;
                journal.save(&rejoining)?;
                start::remove_marker(dir)?;
                tracing::warn!(ledger = %dir.display(), "rejoining after losing the ledger");
                storage = Some(rejoining);
            }
        }
        if let Some((path, offset, len)) = &recovery.torn {
            tracing::warn!(
                file = %path.display(),
                offset,
                bytes = len,
                "cut off a torn last ledger record (a batch whose messages never left)"
            );
        }
        let addr = cfg.bind.unwrap_or(cfg.priests[cfg.me]);
        let socket = UdpSocket::bind(addr).map_err(|error| HostError::Bind { addr, error })?;
        wire::widen_buffers(&socket);
        socket.set_nonblocking(true).map_err(HostError::Socket)?;
        tracing::info!(
            priest = cfg.me,
            %addr,
            ledger = %cfg.ledger_dir.display(),
            segments = recovery.segments,
            records = recovery.records,
            "priest starting"
        );
        tracing::debug!(recovered = ?storage, "ledger recovered");
        let id = Id::from(cfg.me);
        let mut out = Out::new();
        if let Some(t) = &mut trace {
            crate::clock::recording();
            t.start(&storage);
            t.begin(trace::Input::Start);
        }
        let state = actor.on_start(id, &storage, &mut out);
        let step = match &mut trace {
            Some(t) => t.end(&out, &crate::clock::take_recorded()),
            None => 0,
        };
        let (reassembly, resumed) =
            wire::Reassembly::spooled(&cfg.ledger_dir.join("transfers"), &cfg.key, Instant::now());
        if resumed != wire::Resumed::default() {
            tracing::info!(
                transfers = resumed.transfers,
                chunks = resumed.chunks,
                dropped = resumed.dropped,
                "resuming the transfers of large messages cut by the restart"
            );
        }
        let counters = Counters {
            chunks_resumed: resumed.chunks as u64,
            ..Counters::default()
        };
        let mut node = Node {
            actor,
            id,
            state: Some(state),
            socket,
            key: cfg.key,
            priests: cfg
                .directory
                .unwrap_or_else(|| Directory::new(&cfg.priests)),
            clients: HashMap::new(),
            journal,
            timers: Timers::new(),
            randoms: HashMap::new(),
            max_batch: cfg.max_batch.max(1),
            save_delay: cfg.save_delay,
            deferred: None,
            deferred_step: 0,
            trace,
            send_before_sync: cfg.send_before_sync,
            counters,
            recv_buf: vec![0; 65_536],
            reassembly,
            chunk_queue: std::collections::VecDeque::new(),
            chunk_budget: (0, Instant::now()),
            large_sent: Vec::new(),
            send_buf: Vec::new(),
            observer: None,
            marker,
            bad_mac_from: Vec::new(),
        };
        let mut batch = Batch::new(false);
        node.absorb(out, &mut batch, step);
        node.commit(batch)?;
        // The starting ledger is durable before the first datagram is even read.
        node.write_deferred()?;
        Ok(node)
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Calls `f` now and after every batch from now on (see [`Observer`]).
    pub fn observe(&mut self, mut f: Observer<A>) {
        f(self.state(), &self.counters);
        self.observer = Some(f);
    }

    pub fn state(&self) -> &A::State {
        self.state.as_ref().expect("no handler is running")
    }

    pub fn id(&self) -> Id {
        self.id
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Runs until `stop` is set (checked at least every 100 ms).
    pub fn run(&mut self, stop: &AtomicBool) -> Result<(), HostError> {
        while !stop.load(Ordering::Relaxed) {
            self.step(Duration::from_millis(100))?;
        }
        let result = self.write_deferred();
        self.flush_trace();
        result
    }

    /// One batch: waits up to `max_wait` (less if a timer is due sooner) for a datagram, takes
    /// every datagram waiting (up to `max_batch`) and every due timer, runs their handlers,
    /// syncs the ledger once, then sends. Returns how many handlers ran.
    pub fn step(&mut self, max_wait: Duration) -> Result<usize, HostError> {
        if self.trace.is_some() {
            // The handlers' clock reads are recorded on this thread ([`crate::clock`]).
            crate::clock::recording();
        }
        let now = Instant::now();
        let mut wake = now + max_wait;
        if let Some(t) = self.timers.next() {
            wake = wake.min(t);
        }
        if !self.randoms.is_empty() {
            wake = now;
        }
        if let Some((_, since)) = &self.deferred {
            wake = wake.min(*since + DEFER_SAVE);
        }
        if !self.chunk_queue.is_empty() {
            // Chunks are waiting for the pace: come back soon.
            wake = wake.min(now + Duration::from_millis(1));
        }
        let mut batch = Batch::new(self.deferred.is_some());
        let mut handled = 0;
        let mut taken = 0;
        let mut wait = wake.saturating_duration_since(now);
        // Bounded by datagrams taken, not handled, so a flood of garbage cannot starve the
        // commit and the timers.
        while taken < self.max_batch {
            if !wait.is_zero() {
                wait_readable(&self.socket, wait).map_err(HostError::Socket)?;
                wait = Duration::ZERO;
            }
            let received = self.socket.recv_from(&mut self.recv_buf);
            match received {
                Ok((len, from)) => {
                    taken += 1;
                    self.counters.received += 1;
                    handled += self.receive(len, from, &mut batch);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => break,
                Err(e) => {
                    // Errors such as ICMP port unreachable reported on a later receive.
                    tracing::debug!(error = %e, "receive error");
                    break;
                }
            }
        }
        let now = Instant::now();
        for timer in self.timers.due(now) {
            // An earlier handler of this batch may have re-armed or cancelled it.
            if !self.timers.take_if_due(&timer, now) {
                continue;
            }
            self.counters.timeouts += 1;
            let id = self.id;
            if let Some(t) = &mut self.trace {
                t.begin(trace::Input::Timeout(&timer));
            }
            let out = self.handle(|a, s, o| a.on_timeout(id, s, &timer, o));
            let step = self.traced(&out);
            self.absorb(out, &mut batch, step);
            handled += 1;
        }
        for (_, random) in std::mem::take(&mut self.randoms) {
            let id = self.id;
            if let Some(t) = &mut self.trace {
                t.begin(trace::Input::Random(&random));
            }
            let out = self.handle(|a, s, o| a.on_random(id, s, &random, o));
            let step = self.traced(&out);
            self.absorb(out, &mut batch, step);
            handled += 1;
        }
        self.commit(batch)?;
        self.send_paced_chunks();
        self.flush_trace();
        if let (Some(f), Some(state)) = (&mut self.observer, &self.state) {
            f(state, &self.counters);
        }
        Ok(handled)
    }

    /// Checks one datagram and runs the handler of each of its messages; returns how many
    /// were handled.
    fn receive(&mut self, len: usize, from: SocketAddr, batch: &mut Batch<A>) -> usize {
        let now = Instant::now();
        let msgs = match self
            .reassembly
            .decode::<A::Msg>(&self.key, &self.recv_buf[..len], now)
        {
            Ok(ok) => ok,
            Err(reject) => {
                match reject {
                    wire::Reject::Malformed(_) => self.counters.dropped_malformed += 1,
                    wire::Reject::BadMac => {
                        self.counters.dropped_bad_mac += 1;
                        self.warn_bad_mac(from);
                    }
                    wire::Reject::Undecodable(_) => self.counters.dropped_undecodable += 1,
                }
                tracing::debug!(%from, len, %reject, "dropped datagram");
                return 0;
            }
        };
        let mut handled = 0;
        for (src, msg) in msgs {
            if !self.admit(src, from) {
                self.counters.dropped_non_member += 1;
                tracing::debug!(%from, src = bits(src), "dropped message from a non-member");
                continue;
            }
            self.counters.handled += 1;
            handled += 1;
            let id = self.id;
            if let Some(t) = &mut self.trace {
                t.begin(trace::Input::Msg(bits(src), &msg));
            }
            let out = self.handle(|a, s, o| a.on_msg(id, s, src, msg, o));
            let step = self.traced(&out);
            self.absorb(out, batch, step);
        }
        handled
    }

    /// A datagram from a priest's address failed authentication: said once per address, at
    /// warn level, since every later one will too. Datagrams from other addresses are only
    /// counted (anyone can send them).
    fn warn_bad_mac(&mut self, from: SocketAddr) {
        if self.bad_mac_from.contains(&from) {
            return;
        }
        let Some(i) = self.priests.index_of(from) else {
            return;
        };
        self.bad_mac_from.push(from);
        tracing::warn!(
            %from,
            priest = i,
            "datagrams from priest {i}'s address fail authentication: its cluster key, or its \
             [membership] founders or alpha, differ from this priest's (they must be the same \
             at every priest); nothing it sends is taken"
        );
    }

    /// Whether `src`, received from `from`, is a member (learning a client's address).
    fn admit(&mut self, src: Id, from: SocketAddr) -> bool {
        let b = bits(src);
        if let Ok(i) = usize::try_from(b) {
            if i < crate::kv::MAX_INDEX as usize {
                return self.priests.get(i) == Some(from);
            }
        }
        if b & CLIENT_BIT == 0 {
            return false;
        }
        if self.clients.len() >= MAX_CLIENTS && !self.clients.contains_key(&src) {
            self.clients.clear();
        }
        self.clients.insert(src, from);
        true
    }

    fn handle(&mut self, f: impl FnOnce(&A, &mut Cow<A::State>, &mut Out<A>)) -> Out<A> {
        let mut out = Out::new();
        // The handler gets the state owned, not borrowed: the host keeps no copy of the
        // state before the handler (the checker needs one, to tell a changed state; the
        // host does not), so the handler's changes are made in place instead of copying
        // every shared `im` node they touch.
        let mut state = Cow::Owned(self.state.take().expect("no handler is running"));
        f(&self.actor, &mut state, &mut out);
        self.state = Some(state.into_owned());
        out
    }

    /// Records the output of the handler that just ran, if traced: its step number.
    fn traced(&mut self, out: &Out<A>) -> u64 {
        match &mut self.trace {
            Some(t) => t.end(out, &crate::clock::take_recorded()),
            None => 0,
        }
    }

    /// Writes the trace's buffered records (before anything leaves or reaches the disk).
    fn flush_trace(&mut self) {
        if let Some(t) = &mut self.trace {
            t.flush();
        }
    }

    /// Applies the commands of handler `step` in order; sends and saves wait for the commit.
    fn absorb(&mut self, out: Out<A>, batch: &mut Batch<A>, step: u64) {
        use rand::Rng;
        let mut saved = false;
        let traced = self.trace.is_some();
        for (i, c) in out.into_iter().enumerate() {
            match c {
                Command::Send(dst, msg) => {
                    batch.sends.push((dst, msg));
                    if traced {
                        batch.tags.push((step, i as u32));
                    }
                }
                Command::Save(storage) => {
                    // The earlier unsaved ledger: an earlier handler's of this batch, or
                    // the one deferred from an earlier batch (copied only when asked for).
                    let (first, first_step) = match batch.save.take() {
                        Some(earlier) => (
                            storage.save_first(&earlier).then_some(earlier),
                            batch.save_step,
                        ),
                        None => (
                            self.deferred
                                .as_ref()
                                .filter(|(d, _)| storage.save_first(d))
                                .map(|(d, _)| d.clone()),
                            self.deferred_step,
                        ),
                    };
                    if first.is_some() {
                        batch.first = first;
                        batch.first_step = first_step;
                    }
                    batch.save = Some(storage);
                    batch.save_step = step;
                    saved = true;
                }
                Command::SetTimer(timer, range) => self.timers.set(timer, range),
                Command::CancelTimer(timer) => self.timers.cancel(&timer),
                Command::ChooseRandom(key, choices) => {
                    if choices.is_empty() {
                        self.randoms.remove(&key);
                    } else {
                        let i = rand::rng().random_range(0..choices.len());
                        self.randoms.insert(key, choices[i].clone());
                    }
                }
            }
        }
        // A handler that saves holds back all its sends, whatever their order in `out`.
        if !batch.unsaved && !saved {
            batch.early = batch.sends.len();
        }
        batch.unsaved |= saved;
    }

    /// The group commit: make the batch's last saved ledger durable, then send. The sends of
    /// handlers that ran before any change not yet durable leave first, without waiting; a
    /// batch none of whose other sends remain defers its save (see the module docs).
    fn commit(&mut self, mut batch: Batch<A>) -> Result<(), HostError>
    where
        A::Storage: PartialEq,
    {
        let late = batch.sends.split_off(batch.early);
        let late_tags = batch.tags.split_off(batch.early.min(batch.tags.len()));
        self.send_all(&batch.sends, &batch.tags);
        if let Some(first) = batch.first {
            // Later than any deferred save: writing it makes that one durable too.
            let since = self.deferred.take().map_or_else(Instant::now, |(_, t)| t);
            self.deferred = Some((first, since));
            self.deferred_step = batch.first_step;
            self.write_deferred()?;
        }
        if let Some(storage) = batch.save {
            let since = self.deferred.take().map_or_else(Instant::now, |(_, t)| t);
            self.deferred = Some((storage, since));
            self.deferred_step = batch.save_step;
        }
        let overdue = self
            .deferred
            .as_ref()
            .is_some_and(|(_, since)| since.elapsed() >= DEFER_SAVE);
        if self.send_before_sync {
            // The seeded fault (tests only): the late messages leave before the sync.
            self.send_all(&late, &late_tags);
            if !late.is_empty() || overdue {
                self.write_deferred()?;
            }
            return Ok(());
        }
        if !late.is_empty() || overdue {
            self.write_deferred()?;
        }
        self.send_all(&late, &late_tags);
        Ok(())
    }

    /// Sends `sends`: every message to one socket goes in as few datagrams as fit (a bundle,
    /// see `wire`), in the order the handlers sent them.
    /// When traced, `tags` names each message (its step and index), and the trace is written
    /// before any leaves, then told which left.
    fn send_all(&mut self, sends: &[(Id, A::Msg)], tags: &[(u64, u32)]) {
        if sends.is_empty() {
            return;
        }
        self.flush_trace();
        let mut left: Vec<(u64, u32)> = Vec::new();
        // Per bundle: the tags of the messages it holds.
        let mut held: Vec<Vec<(u64, u32)>> = Vec::new();
        let mut bundles: Vec<(SocketAddr, wire::Bundle)> = Vec::new();
        for (j, (dst, msg)) in sends.iter().enumerate() {
            let tag = tags.get(j).copied();
            let b = bits(*dst);
            let addr = match usize::try_from(b).ok().and_then(|i| self.priests.get(i)) {
                Some(a) => Some(a),
                None => self.clients.get(dst).copied(),
            };
            let Some(addr) = addr else {
                self.counters.unroutable += 1;
                tracing::debug!(to = b, ?msg, "no address for recipient");
                continue;
            };
            tracing::debug!(to = b, ?msg, "sent");
            let k = match bundles.iter().position(|(a, _)| *a == addr) {
                Some(k) => k,
                None => {
                    bundles.push((addr, wire::Bundle::new()));
                    held.push(Vec::new());
                    bundles.len() - 1
                }
            };
            loop {
                match bundles[k].1.push(self.id, msg, wire::MAX_DATAGRAM) {
                    Ok(true) => {
                        held[k].extend(tag);
                        break;
                    }
                    // Too large for any datagram: it goes alone, in chunks.
                    Ok(false) if bundles[k].1.count() == 0 => {
                        if self.send_chunks(addr, msg) {
                            left.extend(tag);
                        }
                        break;
                    }
                    // Full: send what it holds, then put the message in the emptied bundle.
                    Ok(false) => {
                        if self.send_bundle(addr, &mut bundles[k].1) {
                            left.append(&mut held[k]);
                        }
                        held[k].clear();
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, ?msg, "cannot encode message");
                        self.counters.send_errors += 1;
                        break;
                    }
                }
            }
        }
        for ((addr, mut bundle), mut tags) in bundles.into_iter().zip(held) {
            if bundle.count() > 0 && self.send_bundle(addr, &mut bundle) {
                left.append(&mut tags);
            }
        }
        if let Some(t) = &mut self.trace {
            t.sent(&left);
        }
    }

    /// Writes and syncs the deferred save, if any.
    fn write_deferred(&mut self) -> Result<(), HostError> {
        if let Some((storage, _)) = self.deferred.take() {
            if !self.save_delay.is_zero() {
                std::thread::sleep(self.save_delay);
            }
            // The steps whose save this is are in the trace before it is on disk.
            self.flush_trace();
            let began = Instant::now();
            let bytes = self.journal.save(&storage)?;
            if let Some(t) = &mut self.trace {
                t.synced(self.deferred_step);
            }
            if bytes > 0 {
                let us = began.elapsed().as_micros() as u64;
                if us > self.counters.longest_save_us {
                    self.counters.longest_save_us = us;
                    self.counters.longest_save_bytes = bytes;
                }
                self.counters.syncs += 1;
                if let Some(dir) = self.marker.take() {
                    // The ledger holds a record (synced): the marker no longer vouches.
                    start::remove_marker(&dir)?;
                }
            }
        }
        Ok(())
    }

    /// Sends a message too large for one datagram in chunks (see `wire`); whether it was
    /// queued (not skipped as a repeat, nor refused).
    fn send_chunks(&mut self, addr: SocketAddr, msg: &A::Msg) -> bool {
        let now = Instant::now();
        self.large_sent
            .retain(|(_, _, at)| now.duration_since(*at) < LARGE_RESEND);
        if self
            .large_sent
            .iter()
            .any(|(a, m, _)| *a == addr && m == msg)
        {
            self.counters.large_repeats_skipped += 1;
            return false;
        }
        match wire::chunks(&self.key, self.id, msg, wire::MAX_DATAGRAM) {
            Ok(mut datagrams) => {
                // From a random chunk on, so that a message sent again after losses fills
                // other gaps first.
                let start = rand::random::<u32>() as usize % datagrams.len().max(1);
                datagrams.rotate_left(start);
                self.chunk_queue
                    .extend(datagrams.into_iter().map(|d| (addr, d)));
                self.large_sent.push((addr, msg.clone(), now));
                self.counters.chunked += 1;
                self.counters.sent += 1;
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot send message");
                self.counters.send_errors += 1;
                false
            }
        }
    }

    /// Sends the waiting chunks the pace allows ([`CHUNK_RATE`]; at most a socket buffer's
    /// worth at once).
    fn send_paced_chunks(&mut self) {
        if self.chunk_queue.is_empty() {
            return;
        }
        let now = Instant::now();
        let (budget, since) = self.chunk_budget;
        let earned = (now.duration_since(since).as_secs_f64() * CHUNK_RATE as f64) as u64;
        let mut budget = (budget + earned).min(4 << 20);
        while let Some((addr, d)) = self.chunk_queue.front() {
            if (d.len() as u64) > budget {
                break;
            }
            budget -= d.len() as u64;
            if let Err(e) = self.socket.send_to(d, *addr) {
                self.counters.send_errors += 1;
                tracing::debug!(%addr, error = %e, "send of a chunk failed");
            }
            self.chunk_queue.pop_front();
        }
        self.chunk_budget = (budget, now);
    }

    /// Seals and sends a bundle; whether it left.
    fn send_bundle(&mut self, addr: SocketAddr, bundle: &mut wire::Bundle) -> bool {
        let n = bundle.count() as u64;
        bundle.seal(&self.key, &mut self.send_buf);
        match self.socket.send_to(&self.send_buf, addr) {
            Ok(_) => {
                self.counters.sent += n;
                true
            }
            Err(e) => {
                self.counters.send_errors += n;
                tracing::debug!(%addr, messages = n, error = %e, "send failed");
                false
            }
        }
    }
}

/// Starts priest `cfg.me` as `start` allows and runs it until `stop` is set; returns its
/// counters.
pub fn serve<A>(
    actor: A,
    cfg: NodeConfig,
    start: Start<A::Storage>,
    stop: &AtomicBool,
) -> Result<Counters, HostError>
where
    A: Actor,
    A::Msg: Serialize + DeserializeOwned,
    A::Storage: Durable,
{
    run(Node::start_from(actor, cfg, start)?, stop, None)
}

/// Runs a started priest until `stop` is set, with an [`Observer`] watching it if given;
/// returns its counters.
pub fn run<A>(
    mut node: Node<A>,
    stop: &AtomicBool,
    observer: Option<Observer<A>>,
) -> Result<Counters, HostError>
where
    A: Actor,
    A::Msg: Serialize + DeserializeOwned,
    A::Storage: Durable,
{
    if let Some(f) = observer {
        node.observe(f);
    }
    let result = node.run(stop);
    if let Err(e) = node.journal.finish_compaction() {
        tracing::warn!(error = %e, "ledger snapshot failed; the segments it would replace remain");
    }
    tracing::info!(counters = %node.counters(), "priest stopping");
    result.map(|()| node.counters().clone())
}

#[cfg(test)]
mod tests;
