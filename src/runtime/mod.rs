//! The runtime: a checked actor, unchanged, on a real network with a durable ledger.
//!
//! The protocol lives only in the actor (any `stateright::actor::Actor` whose messages and
//! Storage serialize). The runtime moves bytes, keeps the ledger durable and fires timers,
//! with the semantics stateright gives the actor in the model:
//!
//! - `on_start(id, storage)` gets the last ledger that was durably saved ([`ledger`]);
//! - a handler's commands take effect in order: `SetTimer` (re)arms a timer at a random
//!   moment in its range, `CancelTimer` disarms it, `ChooseRandom` picks one of the choices
//!   and delivers it by `on_random` on the next step, `Save` replaces the ledger, `Send`
//!   sends one datagram ([`wire`]);
//! - **every `Save` of a handler is durable (`fdatasync`) before any `Send` of that handler,
//!   or of any later handler, leaves.** Handlers run in batches (group commit): the runtime
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
//! An actor [`Id`] is a `u64`. The runtime gives priest `i` (its index in the configuration)
//! the id `Id::from(i)`: the very ids the checked model uses, so a deployed priest runs with
//! the `priests: Vec<Id>` it was checked with, whatever its address family. Clients take ids
//! with the top bit set ([`client_id`]) and random low bits. Every datagram carries its
//! sender's id under the MAC; the runtime maps ids to socket addresses:
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
//! # Running a cluster
//!
//! ```text
//! parliament keygen cluster.key                  # once; copy it to every host
//! $EDITOR cluster.toml                           # see `config` for the format
//! parliament serve --config cluster.toml --id 0 --bootstrap  # and --id 1, --id 2 on
//!                                                # their hosts; restarts without --bootstrap
//! parliament synod propose --config cluster.toml "the decree"   # prints the passed decree
//! parliament synod ledger --config cluster.toml --id 0          # a priest's ledger, as JSON
//! ```
//!
//! For the key-value service on one machine, `parliament cluster --dir DIR` writes the key and
//! configuration and runs every priest ([`cluster`]); `parliament status --config FILE` shows
//! what each priest is doing ([`status`]).
//!
//! `serve` logs with `tracing` to standard error (`RUST_LOG=parliament=debug` shows every
//! message sent and every datagram dropped), stops cleanly on SIGINT or SIGTERM and then logs
//! its counters. A priest whose ledger is corrupt refuses to start and names the file and
//! offset; one whose last record was torn by a crash cuts it off and starts. One whose
//! ledger is missing or empty refuses to start unless told it is new (`--bootstrap`) or
//! coming back after losing its ledger (`--rejoin`): see [`start`].

pub mod cluster;
pub mod config;
pub mod ledger;
pub mod parliament;
pub mod start;
pub mod status;
pub mod synod;
pub mod wire;

use ledger::{Durable, Ledger, LedgerError, LedgerOptions};
use serde::de::DeserializeOwned;
use serde::Serialize;
pub use start::{Start, StartMode};
use stateright::actor::{Actor, Command, Id, Out};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use wire::Key;

/// Longest a save of a batch that sent nothing waits for a batch that sends (see the
/// module docs) before it is written and synced on its own.
pub const DEFER_SAVE: Duration = Duration::from_millis(50);

/// The bit that marks a client's id.
pub const CLIENT_BIT: u64 = 1 << 63;
/// How many clients' addresses a priest remembers.
pub const MAX_CLIENTS: usize = 65_536;

/// A fresh client id: the top bit set, the rest random.
pub fn client_id() -> Id {
    Id::from((CLIENT_BIT | (rand::random::<u64>() >> 1)) as usize)
}

fn bits(id: Id) -> u64 {
    usize::from(id) as u64
}

/// What a priest's runtime needs to know.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// This priest's index.
    pub me: usize,
    /// Every priest's address, by index.
    pub priests: Vec<SocketAddr>,
    /// The address this priest's socket binds, if not `priests[me]` (see [`config`]: behind
    /// address translation, or a relay, the address peers use is not the local one).
    pub bind: Option<SocketAddr>,
    pub key: Key,
    /// This priest's ledger directory.
    pub ledger_dir: PathBuf,
    pub ledger: LedgerOptions,
    /// Most datagrams handled under one sync.
    pub max_batch: usize,
    /// Fault injection for crash tests: sleep this long before each ledger write, which widens
    /// the window in which a kill lands between a handler and its commit. Zero when deployed;
    /// `serve` reads it from the environment variable `PARLIAMENT_SLOW_LEDGER_MS`.
    pub save_delay: Duration,
}

impl NodeConfig {
    /// Priest `me` of a cluster configuration.
    pub fn from_config(cfg: &config::Config, me: usize) -> Self {
        NodeConfig {
            me,
            priests: cfg.priests.clone(),
            bind: Some(cfg.binds[me]),
            key: cfg.key.clone(),
            ledger_dir: cfg.ledger_of(me),
            ledger: LedgerOptions::default(),
            max_batch: 256,
            save_delay: std::env::var("PARLIAMENT_SLOW_LEDGER_MS")
                .ok()
                .and_then(|v| v.parse().ok())
                .map_or(Duration::ZERO, Duration::from_millis),
        }
    }
}

/// Why a priest stopped.
#[derive(Debug)]
pub enum RuntimeError {
    Ledger(LedgerError),
    /// The ledger directory does not allow the start asked for ([`start`]).
    Refused(String),
    Bind {
        addr: SocketAddr,
        error: io::Error,
    },
    Socket(io::Error),
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuntimeError::Ledger(e) => write!(f, "{e}"),
            RuntimeError::Refused(why) => write!(f, "{why}"),
            RuntimeError::Bind { addr, error } => write!(f, "cannot bind {addr}: {error}"),
            RuntimeError::Socket(e) => write!(f, "socket error: {e}"),
        }
    }
}

impl std::error::Error for RuntimeError {}

impl From<LedgerError> for RuntimeError {
    fn from(e: LedgerError) -> Self {
        RuntimeError::Ledger(e)
    }
}

/// What a priest's runtime has done, and what it dropped.
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
             dropped_non_member={} unroutable={}",
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
            self.unroutable
        )
    }
}

/// The effects of a batch of handlers waiting for the group commit.
struct Batch<A: Actor> {
    sends: Vec<(Id, A::Msg)>,
    save: Option<A::Storage>,
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
            save: None,
            unsaved,
            early: 0,
        }
    }
}

/// Watches a priest: called with the actor's state and the runtime's counters once the node
/// starts and after every batch, to publish a status view ([`status`]). It only reads.
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
    /// Non-blocking; [`wait_readable`] waits on it.
    socket: UdpSocket,
    key: Key,
    priests: Vec<SocketAddr>,
    clients: HashMap<Id, SocketAddr>,
    ledger: Ledger<A::Storage>,
    timers: HashMap<A::Timer, Instant>,
    randoms: HashMap<String, A::Random>,
    max_batch: usize,
    save_delay: Duration,
    /// The newest saved ledger not yet written (its batch sent nothing), since when.
    deferred: Option<(A::Storage, Instant)>,
    counters: Counters,
    recv_buf: Vec<u8>,
    send_buf: Vec<u8>,
    observer: Option<Observer<A>>,
    /// The bootstrap marker's directory, while the marker vouches for an empty ledger: it is
    /// removed once a save has made the ledger hold a record ([`start`]).
    marker: Option<PathBuf>,
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
    pub fn start(actor: A, cfg: NodeConfig) -> Result<Self, RuntimeError> {
        Self::start_from(actor, cfg, Start::Unchecked)
    }

    /// Opens the ledger as `start` allows (see [`start`]): refuses a missing or empty
    /// ledger that is not a new cluster's, and an intact one for `--bootstrap` or
    /// `--rejoin`; then binds the socket and starts the actor with its last durable ledger.
    pub fn start_from(
        actor: A,
        cfg: NodeConfig,
        start: Start<A::Storage>,
    ) -> Result<Self, RuntimeError> {
        let dir = &cfg.ledger_dir;
        let exists = dir.try_exists().map_err(|error| LedgerError::Io {
            path: dir.clone(),
            error,
        })?;
        if !exists && matches!(start, Start::Restart) {
            // Refused before anything is created.
            return Err(RuntimeError::Refused(start::refusal(dir)));
        }
        // Opened (and locked) before the verdict, so no other process changes what it reads.
        let (mut ledger, mut storage, recovery) = Ledger::open(dir, cfg.ledger)?;
        let mut marker = None;
        match (start, storage.is_some()) {
            (Start::Unchecked, _) => {}
            (Start::Restart, true) => start::remove_marker(dir)?,
            (Start::Restart, false) => {
                if !start::has_marker(dir)? {
                    let mut why = start::refusal(dir);
                    if let Some((path, offset, _)) = &recovery.torn {
                        // A record synced before the marker went was damaged since.
                        why += &format!(
                            " (its last record, at offset {offset} of {}, was damaged and \
                             has been cut off)",
                            path.display()
                        );
                    }
                    return Err(RuntimeError::Refused(why));
                }
                marker = Some(dir.clone());
            }
            (Start::Bootstrap, true) => {
                return Err(RuntimeError::Refused(start::bootstrap_refusal(dir)))
            }
            (Start::Bootstrap, false) => {
                start::write_marker(dir, cfg.me)?;
                tracing::info!(ledger = %dir.display(), "bootstrapped: a new cluster's ledger");
                marker = Some(dir.clone());
            }
            (Start::Rejoin(_), true) => {
                return Err(RuntimeError::Refused(start::rejoin_refusal(dir)))
            }
            (Start::Rejoin(rejoin), false) => {
                let rejoining = rejoin().map_err(RuntimeError::Refused)?;
                ledger.save(&rejoining)?;
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
        let socket = UdpSocket::bind(addr).map_err(|error| RuntimeError::Bind { addr, error })?;
        socket.set_nonblocking(true).map_err(RuntimeError::Socket)?;
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
        let state = actor.on_start(id, &storage, &mut out);
        let mut node = Node {
            actor,
            id,
            state: Some(state),
            socket,
            key: cfg.key,
            priests: cfg.priests,
            clients: HashMap::new(),
            ledger,
            timers: HashMap::new(),
            randoms: HashMap::new(),
            max_batch: cfg.max_batch.max(1),
            save_delay: cfg.save_delay,
            deferred: None,
            counters: Counters::default(),
            recv_buf: vec![0; 65_536],
            send_buf: Vec::new(),
            observer: None,
            marker,
        };
        let mut batch = Batch::new(false);
        node.absorb(out, &mut batch);
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
    pub fn run(&mut self, stop: &AtomicBool) -> Result<(), RuntimeError> {
        while !stop.load(Ordering::Relaxed) {
            self.step(Duration::from_millis(100))?;
        }
        self.write_deferred()
    }

    /// One batch: waits up to `max_wait` (less if a timer is due sooner) for a datagram, takes
    /// every datagram waiting (up to `max_batch`) and every due timer, runs their handlers,
    /// syncs the ledger once, then sends. Returns how many handlers ran.
    pub fn step(&mut self, max_wait: Duration) -> Result<usize, RuntimeError> {
        let now = Instant::now();
        let mut wake = now + max_wait;
        if let Some(t) = self.timers.values().min() {
            wake = wake.min(*t);
        }
        if !self.randoms.is_empty() {
            wake = now;
        }
        if let Some((_, since)) = &self.deferred {
            wake = wake.min(*since + DEFER_SAVE);
        }
        let mut batch = Batch::new(self.deferred.is_some());
        let mut handled = 0;
        let mut taken = 0;
        let mut wait = wake.saturating_duration_since(now);
        // Bounded by datagrams taken, not handled, so a flood of garbage cannot starve the
        // commit and the timers.
        while taken < self.max_batch {
            if !wait.is_zero() {
                wait_readable(&self.socket, wait).map_err(RuntimeError::Socket)?;
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
        let mut due: Vec<A::Timer> = self
            .timers
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(t, _)| t.clone())
            .collect();
        due.sort_by_key(|t| self.timers[t]);
        for timer in due {
            // An earlier handler of this batch may have re-armed or cancelled it.
            if self.timers.get(&timer).is_none_or(|at| *at > now) {
                continue;
            }
            self.timers.remove(&timer);
            self.counters.timeouts += 1;
            let id = self.id;
            let out = self.handle(|a, s, o| a.on_timeout(id, s, &timer, o));
            self.absorb(out, &mut batch);
            handled += 1;
        }
        for (_, random) in std::mem::take(&mut self.randoms) {
            let id = self.id;
            let out = self.handle(|a, s, o| a.on_random(id, s, &random, o));
            self.absorb(out, &mut batch);
            handled += 1;
        }
        self.commit(batch)?;
        if let (Some(f), Some(state)) = (&mut self.observer, &self.state) {
            f(state, &self.counters);
        }
        Ok(handled)
    }

    /// Checks one datagram and runs the handler of each of its messages; returns how many
    /// were handled.
    fn receive(&mut self, len: usize, from: SocketAddr, batch: &mut Batch<A>) -> usize {
        let msgs = match wire::decode::<A::Msg>(&self.key, &self.recv_buf[..len]) {
            Ok(ok) => ok,
            Err(reject) => {
                match reject {
                    wire::Reject::Malformed(_) => self.counters.dropped_malformed += 1,
                    wire::Reject::BadMac => self.counters.dropped_bad_mac += 1,
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
            let out = self.handle(|a, s, o| a.on_msg(id, s, src, msg, o));
            self.absorb(out, batch);
        }
        handled
    }

    /// Whether `src`, received from `from`, is a member (learning a client's address).
    fn admit(&mut self, src: Id, from: SocketAddr) -> bool {
        let b = bits(src);
        if let Some(addr) = usize::try_from(b).ok().and_then(|i| self.priests.get(i)) {
            return *addr == from;
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
        // The handler gets the state owned, not borrowed: the runtime keeps no copy of the
        // state before the handler (the checker needs one, to tell a changed state; the
        // runtime does not), so the handler's changes are made in place instead of copying
        // every shared `im` node they touch.
        let mut state = Cow::Owned(self.state.take().expect("no handler is running"));
        f(&self.actor, &mut state, &mut out);
        self.state = Some(state.into_owned());
        out
    }

    /// Applies a handler's commands in order; sends and saves wait for the commit.
    fn absorb(&mut self, out: Out<A>, batch: &mut Batch<A>) {
        use rand::Rng;
        let mut saved = false;
        for c in out {
            match c {
                Command::Send(dst, msg) => batch.sends.push((dst, msg)),
                Command::Save(storage) => {
                    batch.save = Some(storage);
                    saved = true;
                }
                Command::SetTimer(timer, range) => {
                    let d = if range.start < range.end {
                        rand::rng().random_range(range)
                    } else {
                        range.start
                    };
                    self.timers.insert(timer, Instant::now() + d);
                }
                Command::CancelTimer(timer) => {
                    self.timers.remove(&timer);
                }
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
    fn commit(&mut self, mut batch: Batch<A>) -> Result<(), RuntimeError>
    where
        A::Storage: PartialEq,
    {
        let late = batch.sends.split_off(batch.early);
        self.send_all(&batch.sends);
        if let Some(storage) = batch.save {
            let since = self.deferred.take().map_or_else(Instant::now, |(_, t)| t);
            self.deferred = Some((storage, since));
        }
        let overdue = self
            .deferred
            .as_ref()
            .is_some_and(|(_, since)| since.elapsed() >= DEFER_SAVE);
        if !late.is_empty() || overdue {
            self.write_deferred()?;
        }
        self.send_all(&late);
        Ok(())
    }

    /// Sends `sends`: every message to one socket goes in as few datagrams as fit (a bundle,
    /// see `wire`), in the order the handlers sent them.
    fn send_all(&mut self, sends: &[(Id, A::Msg)]) {
        if sends.is_empty() {
            return;
        }
        let mut bundles: Vec<(SocketAddr, wire::Bundle)> = Vec::new();
        for (dst, msg) in sends {
            let b = bits(*dst);
            let addr = match usize::try_from(b).ok().and_then(|i| self.priests.get(i)) {
                Some(a) => Some(*a),
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
                    bundles.len() - 1
                }
            };
            loop {
                match bundles[k].1.push(self.id, msg, wire::MAX_DATAGRAM) {
                    Ok(true) => break,
                    // Full: send what it holds, then put the message in the emptied bundle.
                    Ok(false) => self.send_bundle(addr, &mut bundles[k].1),
                    Err(e) => {
                        tracing::warn!(error = %e, ?msg, "cannot encode message");
                        self.counters.send_errors += 1;
                        break;
                    }
                }
            }
        }
        for (addr, mut bundle) in bundles {
            if bundle.count() > 0 {
                self.send_bundle(addr, &mut bundle);
            }
        }
    }

    /// Writes and syncs the deferred save, if any.
    fn write_deferred(&mut self) -> Result<(), RuntimeError> {
        if let Some((storage, _)) = self.deferred.take() {
            if !self.save_delay.is_zero() {
                std::thread::sleep(self.save_delay);
            }
            if self.ledger.save(&storage)? > 0 {
                self.counters.syncs += 1;
                if let Some(dir) = self.marker.take() {
                    // The ledger holds a record (synced): the marker no longer vouches.
                    start::remove_marker(&dir)?;
                }
            }
        }
        Ok(())
    }

    fn send_bundle(&mut self, addr: SocketAddr, bundle: &mut wire::Bundle) {
        let n = bundle.count() as u64;
        bundle.seal(&self.key, &mut self.send_buf);
        match self.socket.send_to(&self.send_buf, addr) {
            Ok(_) => self.counters.sent += n,
            Err(e) => {
                self.counters.send_errors += n;
                tracing::debug!(%addr, messages = n, error = %e, "send failed");
            }
        }
    }
}

/// Waits until `socket` is readable or `timeout` passes, to the microsecond: `ppoll` takes
/// a high-resolution timeout, where a socket's read timeout is rounded up to the kernel's
/// tick (4 ms at 250 Hz), which would make a timer of a fraction of a millisecond fire
/// milliseconds late.
fn wait_readable(socket: &UdpSocket, timeout: Duration) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut fd = libc::pollfd {
        fd: socket.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: one valid pollfd, a valid timespec, no signal mask.
    let r = unsafe { libc::ppoll(&mut fd, 1, &ts, std::ptr::null()) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    Ok(())
}

/// Starts priest `cfg.me` as `start` allows and runs it until `stop` is set; returns its
/// counters.
pub fn serve<A>(
    actor: A,
    cfg: NodeConfig,
    start: Start<A::Storage>,
    stop: &AtomicBool,
) -> Result<Counters, RuntimeError>
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
) -> Result<Counters, RuntimeError>
where
    A: Actor,
    A::Msg: Serialize + DeserializeOwned,
    A::Storage: Durable,
{
    if let Some(f) = observer {
        node.observe(f);
    }
    let result = node.run(stop);
    if let Err(e) = node.ledger.finish_compaction() {
        tracing::warn!(error = %e, "ledger snapshot failed; the segments it would replace remain");
    }
    tracing::info!(counters = %node.counters(), "priest stopping");
    result.map(|()| node.counters().clone())
}

/// A client of the cluster: sends a request to priests until one answers.
pub struct Client {
    socket: UdpSocket,
    key: Key,
    id: Id,
    priests: Vec<SocketAddr>,
    buf: Vec<u8>,
}

impl Client {
    /// A client with a fresh id, on an ephemeral port of the priests' address family.
    pub fn new(priests: Vec<SocketAddr>, key: Key) -> io::Result<Self> {
        let local: SocketAddr = match priests.first() {
            Some(SocketAddr::V6(_)) => (Ipv6Addr::UNSPECIFIED, 0).into(),
            _ => (Ipv4Addr::UNSPECIFIED, 0).into(),
        };
        Ok(Client {
            socket: UdpSocket::bind(local)?,
            key,
            id: client_id(),
            priests,
            buf: vec![0; 65_536],
        })
    }

    pub fn id(&self) -> Id {
        self.id
    }

    /// Sends `msg` to the priests `to` every `resend` until `answer` accepts a reply from a
    /// priest (by index), or `timeout` passes.
    pub fn ask<M, R>(
        &mut self,
        msg: &M,
        to: &[usize],
        resend: Duration,
        timeout: Duration,
        mut answer: impl FnMut(usize, M) -> Option<R>,
    ) -> Result<R, String>
    where
        M: Serialize + DeserializeOwned,
    {
        let mut out = Vec::new();
        wire::encode(&self.key, self.id, msg, &mut out).map_err(|e| e.to_string())?;
        let deadline = Instant::now() + timeout;
        loop {
            for &p in to {
                // A priest that is down is not an error: another may answer.
                let _ = self.socket.send_to(&out, self.priests[p]);
            }
            let next = (Instant::now() + resend).min(deadline);
            loop {
                let now = Instant::now();
                if now >= next {
                    break;
                }
                self.socket
                    .set_read_timeout(Some(next - now))
                    .map_err(|e| e.to_string())?;
                let Ok((len, from)) = self.socket.recv_from(&mut self.buf) else {
                    continue;
                };
                let Ok(replies) = wire::decode::<M>(&self.key, &self.buf[..len]) else {
                    continue;
                };
                for (src, reply) in replies {
                    let Some(ix) = usize::try_from(bits(src)).ok() else {
                        continue;
                    };
                    if self.priests.get(ix) != Some(&from) {
                        continue;
                    }
                    if let Some(r) = answer(ix, reply) {
                        return Ok(r);
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "no answer from priests {to:?} within {:.1} s",
                    timeout.as_secs_f64()
                ));
            }
        }
    }
}

/// Sets a flag on SIGINT or SIGTERM, for [`Node::run`] to stop at.
pub fn stop_on_signals() -> io::Result<std::sync::Arc<AtomicBool>> {
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    Ok(stop)
}

/// Structured logs to standard error, filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// A small actor that is not a priest: the runtime is generic over any actor.
    #[derive(Clone)]
    struct Echo;

    #[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
    enum EchoMsg {
        Ping(u64),
        Pong(u64),
        /// Answered with `Pong(pings)`, saving nothing (as a priest answering `Confirm`).
        Ask,
    }

    #[derive(Clone, Debug, PartialEq, Eq, Hash)]
    enum Tick {
        Fires,
        Cancelled,
        Rearmed,
    }

    #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
    struct EchoState {
        pings: u64,
        fired: Vec<String>,
        recovered: Option<u64>,
    }

    impl Durable for u64 {
        type Delta = ();
    }

    impl Actor for Echo {
        type Msg = EchoMsg;
        type State = EchoState;
        type Timer = Tick;
        type Random = ();
        type Storage = u64;

        fn on_start(&self, _: Id, storage: &Option<u64>, o: &mut Out<Self>) -> EchoState {
            o.set_timer(
                Tick::Fires,
                Duration::from_millis(5)..Duration::from_millis(6),
            );
            o.set_timer(
                Tick::Cancelled,
                Duration::from_millis(1)..Duration::from_millis(2),
            );
            o.cancel_timer(Tick::Cancelled);
            o.set_timer(
                Tick::Rearmed,
                Duration::from_millis(1)..Duration::from_millis(2),
            );
            o.set_timer(
                Tick::Rearmed,
                Duration::from_secs(3600)..Duration::from_secs(3601),
            );
            EchoState {
                pings: storage.unwrap_or(0),
                fired: vec![],
                recovered: *storage,
            }
        }

        fn on_msg(
            &self,
            _: Id,
            state: &mut Cow<EchoState>,
            src: Id,
            msg: EchoMsg,
            o: &mut Out<Self>,
        ) {
            match msg {
                EchoMsg::Ping(n) => {
                    let s = state.to_mut();
                    s.pings += 1;
                    o.save(s.pings);
                    o.send(src, EchoMsg::Pong(n));
                }
                // A handler that saves and sends nothing (as a priest learning a decree).
                EchoMsg::Pong(n) => {
                    state.to_mut().pings = n;
                    o.save(n);
                }
                EchoMsg::Ask => o.send(src, EchoMsg::Pong(state.pings)),
            }
        }

        fn on_timeout(&self, _: Id, state: &mut Cow<EchoState>, t: &Tick, _: &mut Out<Self>) {
            state.to_mut().fired.push(format!("{t:?}"));
        }
    }

    fn echo_cluster() -> (Vec<SocketAddr>, UdpSocket) {
        let me = UdpSocket::bind("127.0.0.1:0").unwrap();
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addrs = vec![me.local_addr().unwrap(), peer.local_addr().unwrap()];
        drop(me);
        (addrs, peer)
    }

    fn config(addrs: &[SocketAddr], key: &Key, dir: &std::path::Path) -> NodeConfig {
        NodeConfig {
            me: 0,
            priests: addrs.to_vec(),
            bind: None,
            key: key.clone(),
            ledger_dir: dir.to_path_buf(),
            ledger: LedgerOptions::default(),
            max_batch: 256,
            save_delay: Duration::ZERO,
        }
    }

    fn refused(started: Result<Node<Echo>, RuntimeError>) -> String {
        match started {
            Err(RuntimeError::Refused(why)) => why,
            Err(e) => panic!("not a refusal: {e}"),
            Ok(_) => panic!("started"),
        }
    }

    fn rejoin(storage: Result<u64, &'static str>) -> Start<u64> {
        Start::Rejoin(Box::new(move || storage.map_err(str::to_string)))
    }

    /// The ledger files (segments and snapshots) in `dir`, removed: a disk that lost them.
    fn lose_ledger_files(dir: &std::path::Path) {
        for f in std::fs::read_dir(dir).unwrap() {
            let f = f.unwrap();
            let name = f.file_name().into_string().unwrap();
            if name.starts_with("log-") || name.starts_with("snap-") {
                std::fs::remove_file(f.path()).unwrap();
            }
        }
    }

    #[test]
    fn a_missing_or_empty_ledger_is_refused_unless_the_start_says_why() {
        let key = Key::random();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("priest-0");
        let (addrs, peer) = echo_cluster();
        let cfg = || config(&addrs, &key, &dir);
        // Missing: refused, naming the directory, and nothing is created.
        let why = refused(Node::start_from(Echo, cfg(), Start::Restart));
        let want = format!("ledger {} is missing or empty", dir.display());
        assert!(why.starts_with(&want), "{why}");
        assert!(!dir.exists());
        // Bootstrapped: marked, so restarts before the first record are accepted (and a
        // second --bootstrap, the ledger still empty).
        drop(Node::start_from(Echo, cfg(), Start::Bootstrap).unwrap());
        assert!(start::has_marker(&dir).unwrap());
        drop(Node::start_from(Echo, cfg(), Start::Bootstrap).unwrap());
        let mut node = Node::start_from(Echo, cfg(), Start::Restart).unwrap();
        assert!(start::has_marker(&dir).unwrap());
        // The first record, synced, removes the marker.
        let mut buf = Vec::new();
        wire::encode(&key, Id::from(1usize), &EchoMsg::Ping(1), &mut buf).unwrap();
        peer.send_to(&buf, addrs[0]).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        node.step(Duration::from_millis(100)).unwrap();
        assert_eq!(node.ledger.durable(), Some(&1));
        assert!(!start::has_marker(&dir).unwrap());
        drop(node);
        // A ledger with records restarts; --bootstrap and --rejoin are refused, and change
        // nothing.
        let node = Node::start_from(Echo, cfg(), Start::Restart).unwrap();
        assert_eq!(node.state().recovered, Some(1));
        drop(node);
        let why = refused(Node::start_from(Echo, cfg(), Start::Bootstrap));
        assert!(why.contains("holds records"), "{why}");
        assert!(!start::has_marker(&dir).unwrap());
        let why = refused(Node::start_from(Echo, cfg(), rejoin(Ok(7))));
        assert!(why.contains("this ledger is intact"), "{why}");
        // A marker left by a crash between the first save and its removal goes at start.
        start::write_marker(&dir, 0).unwrap();
        drop(Node::start_from(Echo, cfg(), Start::Restart).unwrap());
        assert!(!start::has_marker(&dir).unwrap());
        // The files lost, the directory kept: no marker vouches for it, so it is refused.
        lose_ledger_files(&dir);
        let why = refused(Node::start_from(Echo, cfg(), Start::Restart));
        assert!(why.starts_with(&want), "{why}");
        // Rejoining: the protocol's refusal is the priest's; its ledger is saved before the
        // actor starts, so a restart without --rejoin finds it.
        assert_eq!(
            refused(Node::start_from(Echo, cfg(), rejoin(Err("not yet")))),
            "not yet"
        );
        let node = Node::start_from(Echo, cfg(), rejoin(Ok(42))).unwrap();
        assert_eq!(node.state().recovered, Some(42));
        assert_eq!(node.ledger.durable(), Some(&42));
        drop(node);
        let node = Node::start_from(Echo, cfg(), Start::Restart).unwrap();
        assert_eq!(node.state().recovered, Some(42));
    }

    #[test]
    fn a_marker_alone_restarts_and_a_damaged_ledger_never_starts_empty() {
        let key = Key::random();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("priest-0");
        let (addrs, _peer) = echo_cluster();
        let cfg = || config(&addrs, &key, &dir);
        // A directory holding only the marker is a new cluster's empty ledger.
        std::fs::create_dir(&dir).unwrap();
        start::write_marker(&dir, 0).unwrap();
        let node = Node::start_from(Echo, cfg(), Start::Restart).unwrap();
        assert_eq!(node.state().recovered, None);
        drop(node);
        // One record, synced (so the marker is gone), then damaged: it is cut off as torn,
        // and the empty ledger left is refused, saying so.
        let (mut l, _, _) = Ledger::<u64>::open(&dir, LedgerOptions::default()).unwrap();
        l.save(&5).unwrap();
        drop(l);
        start::remove_marker(&dir).unwrap();
        let rec = ledger::scan(&dir).unwrap()[0].clone();
        let mut bytes = std::fs::read(&rec.path).unwrap();
        bytes[rec.offset as usize + 12] ^= 0x01;
        std::fs::write(&rec.path, &bytes).unwrap();
        let why = refused(Node::start_from(Echo, cfg(), Start::Restart));
        assert!(
            why.contains("missing or empty") && why.contains("was damaged"),
            "{why}"
        );
        // Two records, the first damaged: corrupt, whatever the start asks.
        lose_ledger_files(&dir);
        let (mut l, _, _) = Ledger::<u64>::open(&dir, LedgerOptions::default()).unwrap();
        l.save(&5).unwrap();
        l.save(&6).unwrap();
        drop(l);
        let rec = ledger::scan(&dir).unwrap()[0].clone();
        let mut bytes = std::fs::read(&rec.path).unwrap();
        bytes[rec.offset as usize + 12] ^= 0x01;
        std::fs::write(&rec.path, &bytes).unwrap();
        let starts: [fn() -> Start<u64>; 4] = [
            || Start::Restart,
            || Start::Bootstrap,
            || rejoin(Ok(1)),
            || Start::Unchecked,
        ];
        for start in starts {
            match Node::start_from(Echo, cfg(), start()) {
                Err(RuntimeError::Ledger(e @ LedgerError::Corrupt { .. })) => {
                    let text = e.to_string();
                    assert!(text.contains(&rec.path.display().to_string()), "{text}");
                }
                Err(e) => panic!("not corrupt: {e}"),
                Ok(_) => panic!("a corrupt ledger started"),
            }
        }
        assert!(!start::has_marker(&dir).unwrap(), "no marker was written");
    }

    #[test]
    fn messages_of_handlers_before_the_first_save_leave_without_waiting_for_it() {
        let key = Key::random();
        let dir = tempfile::tempdir().unwrap();
        let (addrs, peer) = echo_cluster();
        let mut node = Node::start(Echo, config(&addrs, &key, dir.path())).unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let batch = |msgs: &[EchoMsg]| {
            let mut b = wire::Bundle::new();
            for m in msgs {
                assert!(b.push(Id::from(1usize), m, wire::MAX_DATAGRAM).unwrap());
            }
            let mut buf = Vec::new();
            b.seal(&key, &mut buf);
            peer.send_to(&buf, addrs[0]).unwrap();
        };
        let mut rbuf = [0u8; 4096];
        let mut receive = || {
            let (len, _) = peer.recv_from(&mut rbuf).unwrap();
            wire::decode::<EchoMsg>(&key, &rbuf[..len]).unwrap()
        };
        // Ask, then a save that sends nothing: the answer leaves, the save stays deferred.
        batch(&[EchoMsg::Ask, EchoMsg::Pong(7)]);
        node.step(Duration::from_millis(500)).unwrap();
        assert_eq!(receive(), vec![(Id::from(0usize), EchoMsg::Pong(0))]);
        assert_eq!((node.counters().syncs, node.ledger.durable()), (0, None));
        // A save, then an Ask: the answer depends on the save, so the save is durable first.
        batch(&[EchoMsg::Pong(9), EchoMsg::Ask]);
        node.step(Duration::from_millis(500)).unwrap();
        assert_eq!(
            (node.counters().syncs, node.ledger.durable()),
            (1, Some(&9))
        );
        assert_eq!(receive(), vec![(Id::from(0usize), EchoMsg::Pong(9))]);
        // With a save deferred from an earlier batch, even a first Ask waits for it.
        batch(&[EchoMsg::Pong(11)]);
        node.step(Duration::from_millis(500)).unwrap();
        assert_eq!(node.counters().syncs, 1, "deferred");
        batch(&[EchoMsg::Ask]);
        node.step(Duration::from_millis(500)).unwrap();
        assert_eq!(
            (node.counters().syncs, node.ledger.durable()),
            (2, Some(&11))
        );
        assert_eq!(receive(), vec![(Id::from(0usize), EchoMsg::Pong(11))]);
    }

    #[test]
    fn a_batch_of_datagrams_shares_one_sync_and_replies_follow_it() {
        let key = Key::random();
        let dir = tempfile::tempdir().unwrap();
        let (addrs, peer) = echo_cluster();
        let mut node = Node::start(Echo, config(&addrs, &key, dir.path())).unwrap();
        let mut buf = Vec::new();
        for n in 0..50 {
            wire::encode(&key, Id::from(1usize), &EchoMsg::Ping(n), &mut buf).unwrap();
            peer.send_to(&buf, addrs[0]).unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
        let handled = node.step(Duration::from_millis(100)).unwrap();
        assert!(handled >= 50, "{handled}");
        assert_eq!(node.counters().handled, 50);
        assert_eq!(node.counters().syncs, 1, "one group commit for the batch");
        assert_eq!(node.counters().sent, 50);
        assert_eq!(node.ledger.durable(), Some(&50));
        // The 50 answers to one socket travel as one bundle, in order.
        let mut rbuf = [0u8; 4096];
        peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let (len, _) = peer.recv_from(&mut rbuf).unwrap();
        let got = wire::decode::<EchoMsg>(&key, &rbuf[..len]).unwrap();
        assert_eq!(
            got,
            (0..50)
                .map(|n| (Id::from(0usize), EchoMsg::Pong(n)))
                .collect::<Vec<_>>()
        );
        // Restarted, the actor gets its last durable storage.
        drop(node);
        let node = Node::start(Echo, config(&addrs, &key, dir.path())).unwrap();
        assert_eq!(node.state().recovered, Some(50));
    }

    #[test]
    fn a_batch_that_sends_nothing_defers_its_save_to_the_next_that_sends() {
        let key = Key::random();
        let dir = tempfile::tempdir().unwrap();
        let (addrs, peer) = echo_cluster();
        let mut node = Node::start(Echo, config(&addrs, &key, dir.path())).unwrap();
        let mut buf = Vec::new();
        let mut send = |m: EchoMsg, node: &mut Node<Echo>| {
            wire::encode(&key, Id::from(1usize), &m, &mut buf).unwrap();
            peer.send_to(&buf, addrs[0]).unwrap();
            std::thread::sleep(Duration::from_millis(5));
            node.step(Duration::from_millis(50)).unwrap();
        };
        // Two batches that only save: nothing is written yet.
        send(EchoMsg::Pong(5), &mut node);
        send(EchoMsg::Pong(6), &mut node);
        assert_eq!(node.state().pings, 6);
        assert_eq!((node.counters().syncs, node.ledger.durable()), (0, None));
        // A batch that sends: the newest ledger is durable before its message leaves.
        send(EchoMsg::Ping(1), &mut node);
        assert_eq!(
            (node.counters().syncs, node.ledger.durable()),
            (1, Some(&7))
        );
        // A deferred save is written once it has waited DEFER_SAVE, with nothing to send.
        send(EchoMsg::Pong(9), &mut node);
        assert_eq!(node.ledger.durable(), Some(&7));
        std::thread::sleep(DEFER_SAVE);
        node.step(Duration::ZERO).unwrap();
        assert_eq!(
            (node.counters().syncs, node.ledger.durable()),
            (2, Some(&9))
        );
        // And when the priest stops.
        send(EchoMsg::Pong(11), &mut node);
        assert_eq!(node.ledger.durable(), Some(&9));
        node.run(&AtomicBool::new(true)).unwrap();
        assert_eq!(node.ledger.durable(), Some(&11));
        drop(node);
        let node = Node::start(Echo, config(&addrs, &key, dir.path())).unwrap();
        assert_eq!(node.state().recovered, Some(11));
    }

    #[test]
    fn an_observer_sees_the_state_and_counters_after_every_batch() {
        let key = Key::random();
        let dir = tempfile::tempdir().unwrap();
        let (addrs, peer) = echo_cluster();
        let mut node = Node::start(Echo, config(&addrs, &key, dir.path())).unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = seen.clone();
        node.observe(Box::new(move |state: &EchoState, c: &Counters| {
            s.lock().unwrap().push((state.pings, c.handled));
        }));
        assert_eq!(*seen.lock().unwrap(), vec![(0, 0)], "called at once");
        let mut buf = Vec::new();
        for n in 0..3 {
            wire::encode(&key, Id::from(1usize), &EchoMsg::Ping(n), &mut buf).unwrap();
            peer.send_to(&buf, addrs[0]).unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
        node.step(Duration::from_millis(100)).unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![(0, 0), (3, 3)]);
        node.step(Duration::ZERO).unwrap();
        assert_eq!(
            seen.lock().unwrap().len(),
            3,
            "after every batch, even an empty one"
        );
    }

    #[test]
    fn timers_fire_once_and_cancel_and_rearm_take_effect() {
        let key = Key::random();
        let dir = tempfile::tempdir().unwrap();
        let (addrs, _peer) = echo_cluster();
        let mut node = Node::start(Echo, config(&addrs, &key, dir.path())).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while node.state().fired.is_empty() {
            assert!(Instant::now() < deadline, "the timer never fired");
            node.step(Duration::from_millis(50)).unwrap();
        }
        for _ in 0..3 {
            node.step(Duration::from_millis(10)).unwrap();
        }
        assert_eq!(node.state().fired, vec!["Fires".to_string()]);
        assert_eq!(node.counters().timeouts, 1);
    }

    #[test]
    fn impostors_and_unknown_ids_are_non_members_and_clients_get_answers() {
        let key = Key::random();
        let dir = tempfile::tempdir().unwrap();
        let (addrs, _peer) = echo_cluster();
        let mut node = Node::start(Echo, config(&addrs, &key, dir.path())).unwrap();
        let other = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut buf = Vec::new();
        for src in [Id::from(1usize), Id::from(2usize), client_id()] {
            wire::encode(&key, src, &EchoMsg::Ping(7), &mut buf).unwrap();
            other.send_to(&buf, addrs[0]).unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
        node.step(Duration::from_millis(50)).unwrap();
        assert_eq!(node.counters().dropped_non_member, 2);
        assert_eq!(node.counters().handled, 1);
        other
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut rbuf = [0u8; 256];
        let (len, from) = other.recv_from(&mut rbuf).unwrap();
        assert_eq!(from, addrs[0]);
        assert_eq!(
            wire::decode::<EchoMsg>(&key, &rbuf[..len]).unwrap(),
            vec![(Id::from(0usize), EchoMsg::Pong(7))]
        );
        // The same three in one bundle: each message is admitted or dropped on its own.
        let mut bundle = wire::Bundle::new();
        for src in [Id::from(1usize), client_id(), Id::from(2usize)] {
            bundle
                .push(src, &EchoMsg::Ping(8), wire::MAX_DATAGRAM)
                .unwrap();
        }
        bundle.seal(&key, &mut buf);
        other.send_to(&buf, addrs[0]).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        node.step(Duration::from_millis(50)).unwrap();
        assert_eq!(node.counters().dropped_non_member, 4);
        assert_eq!(node.counters().handled, 2);
        let (len, _) = other.recv_from(&mut rbuf).unwrap();
        assert_eq!(
            wire::decode::<EchoMsg>(&key, &rbuf[..len]).unwrap(),
            vec![(Id::from(0usize), EchoMsg::Pong(8))]
        );
    }
}
