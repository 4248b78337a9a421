//! The TCP listener: many connections, pipelining, answers that come later.
//!
//! One thread, an event loop (`mio`: epoll on Linux), serves every connection. It reads what
//! each readable connection sent, decodes requests ([`Decoder`]), parses each into a
//! [`Command`] and numbers it; `PING`, `COMMAND`, unknown commands and wrong arity are
//! answered at once, every other command is handed to the [`Backend`] with a
//! [`Responder`]. The backend may answer from any thread at any later time (a replicated
//! backend answers when the command's decree has passed): an answer goes into the loop's
//! inbox, waking the loop if it sleeps.
//! The loop puts each connection's answers back in request order (a client pipelining
//! `SET a; GET a` must read the SET's answer first) and writes all that are ready in one
//! `write`.
//!
//! A backend may also give the loop a socket of its own to watch ([`Backend::source`]): the
//! loop calls [`Backend::poll`] on its own thread when that socket is readable, so answers
//! arriving there reach their connections without a thread switch, and calls
//! [`Backend::flush`] once per turn, after every command of the turn was submitted, so a
//! backend can send what a turn gathered together.
//!
//! A backend whose clients may have only one command in flight (the law's sessions) is
//! wrapped in [`OneAtATime`], which queues a connection's pipeline and submits it command by
//! command.
//!
//! Bounds: at most `max_pipeline` commands of one connection are unanswered at once (the
//! loop stops reading that connection until answers go out, so a client that never reads
//! cannot make the server buffer without limit), at most `max_clients` connections (more get
//! `-ERR max number of clients reached` and are closed), and the decoder's [`Limits`].
//!
//! Closing: a client that half-closes (shuts down its writing side) still gets every
//! answer, then the server closes. A protocol error (garbage, an oversize bulk string or
//! array) is answered with `-ERR Protocol error: ...` after the answers to the requests
//! before it; then the server shuts down its side and reads and discards what the client
//! still sends for a moment (`linger`), so the error is not lost to a TCP reset, and closes.
//! A misbehaving connection touches only itself: every socket is non-blocking, so the
//! listener and the other clients go on.
//!
//! # Transactions
//!
//! A connection's transaction is the loop's to keep, as in Redis, whatever the backend. After
//! `MULTI` the loop answers each command `+QUEUED` and keeps it; `EXEC` hands the backend the
//! queue as one command ([`Command::Exec`], one operation of the law: [`crate::kv::Op::Multi`]),
//! whose answer is the array of the queued commands' answers. Only commands of the law may be
//! queued: a command the loop cannot parse (unknown, wrong arity, a bad argument), one that is
//! not an operation of the map (`PING`, `INFO`, `COMMAND`, `MEMBER`, `UNWATCH`), or one that
//! would take the queue past [`ServerConfig::max_transaction_bytes`] is refused with its error,
//! and `EXEC` then answers `-EXECABORT` and executes nothing. `MULTI` and `WATCH` inside a
//! transaction are refused without spoiling it; `EXEC` and `DISCARD` without one are errors.
//!
//! `WATCH` is optimistic *by value*: the loop hands the backend a read of the keys (a
//! linearizable `MGET`), keeps the values it answers, and answers `+OK`; the next `EXEC`
//! carries them, and the law executes the transaction only if every watched key still holds
//! its value. Until a `WATCH`'s read is answered, the loop reads no further request of that
//! connection, so the watches are known before the connection's next `EXEC` is built. `EXEC`,
//! `DISCARD` and `UNWATCH` forget the watches.

use super::codec::{Decoder, Limits, Reply};
use super::Command;
use mio::net::{TcpListener, TcpStream};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// A connection's number, unique for the server's life (1, 2, 3, ...).
pub type ClientId = u64;

/// What executes commands. `submit` is called once per command, in the order its
/// connection sent them; the answer goes to the [`Responder`], now or later, from any
/// thread. A responder dropped without an answer answers `-ERR` for the backend, so a
/// connection never waits forever on a lost command.
///
/// A backend that wraps another (like [`OneAtATime`]) must forward `source`, `poll` and
/// `flush` to it: the defaults do nothing, and a wrapped backend that lives on the loop
/// (the Parliament's) would then never hear its answers.
pub trait Backend: Send + Sync + 'static {
    /// Executes `cmd` for `client` and eventually answers through `reply`.
    fn submit(&self, client: ClientId, cmd: Command, reply: Responder);

    /// The client's connection is gone (its answers, if any come, are discarded).
    fn disconnected(&self, _client: ClientId) {}

    /// A socket the server's event loop should watch for this backend, and the longest the
    /// loop may go without calling [`Backend::poll`] (for the backend's own timers).
    fn source(&self) -> Option<(RawFd, Duration)> {
        None
    }

    /// Called on the event loop's thread when the [`Backend::source`] is readable or its
    /// period passed. The loop watches edge-triggered: read until the socket would block.
    fn poll(&self) {}

    /// Called on the event loop's thread at the end of every turn, after every command the
    /// turn read was submitted.
    fn flush(&self) {}
}

/// Where answers wait for the event loop.
struct Inbox {
    answers: Mutex<Vec<(ClientId, u64, Reply)>>,
    waker: Waker,
    /// The loop is (about to be) blocked in `poll` and needs a wake for a new answer.
    asleep: AtomicBool,
}

impl Inbox {
    fn put(&self, client: ClientId, seq: u64, reply: Reply) {
        self.answers
            .lock()
            .expect("not poisoned")
            .push((client, seq, reply));
        if self.asleep.swap(false, Ordering::SeqCst) {
            let _ = self.waker.wake();
        }
    }

    fn take(&self, into: &mut Vec<(ClientId, u64, Reply)>) {
        std::mem::swap(&mut *self.answers.lock().expect("not poisoned"), into);
    }
}

/// The way back to the connection for one command's answer.
pub struct Responder {
    client: ClientId,
    seq: u64,
    inbox: Option<Arc<Inbox>>,
    /// Runs once the answer is handed to the connection (or the responder is dropped).
    then: Option<Box<dyn FnOnce() + Send>>,
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("client", &self.client)
            .field("seq", &self.seq)
            .field("answered", &self.inbox.is_none())
            .finish()
    }
}

impl Responder {
    fn new(client: ClientId, seq: u64, inbox: Arc<Inbox>) -> Responder {
        Responder {
            client,
            seq,
            inbox: Some(inbox),
            then: None,
        }
    }

    /// Answers the command. If the connection is gone the answer is discarded.
    pub fn send(mut self, reply: Reply) {
        self.deliver(reply);
    }

    /// This responder, running `f` after its answer is handed over (for adapters like
    /// [`OneAtATime`] that wait for an answer before submitting more).
    pub fn then(mut self, f: impl FnOnce() + Send + 'static) -> Responder {
        let before = self.then.take();
        self.then = Some(Box::new(move || {
            if let Some(g) = before {
                g();
            }
            f();
        }));
        self
    }

    fn deliver(&mut self, reply: Reply) {
        if let Some(inbox) = self.inbox.take() {
            inbox.put(self.client, self.seq, reply);
        }
        if let Some(f) = self.then.take() {
            f();
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if self.inbox.is_some() {
            self.deliver(Reply::err("the command was dropped without an answer"));
        }
    }
}

/// An adapter that hands the inner backend at most one command per client at a time, the
/// next only once the previous is answered; the rest wait in a queue per client.
///
/// For backends whose clients must not have two commands in flight, like the law's
/// sessions (a client numbers its commands and sends one at a time): a connection may
/// pipeline, and its commands still reach the law one by one, in order, so they also
/// *execute* in the order sent, as Redis promises for a pipeline.
///
/// An answer given later submits the client's next command from the answering thread, so
/// the inner backend must not answer while holding a lock its `submit` takes. An answer
/// given inside `submit` does not nest: the queue drains in a loop.
pub struct OneAtATime<B> {
    inner: Arc<B>,
    me: std::sync::Weak<OneAtATime<B>>,
    clients: Mutex<HashMap<ClientId, Pending>>,
}

#[derive(Default)]
struct Pending {
    queue: std::collections::VecDeque<(Command, Responder)>,
    /// A command of this client is with the inner backend.
    in_flight: bool,
    /// A thread is in `pump` for this client (so an answer given inside `submit` must not
    /// start another: the loop goes on instead of recursing).
    pumping: bool,
}

impl<B: Backend> OneAtATime<B> {
    /// Wraps `inner`.
    pub fn new(inner: Arc<B>) -> Arc<Self> {
        Arc::new_cyclic(|me| OneAtATime {
            inner,
            me: me.clone(),
            clients: Mutex::new(HashMap::new()),
        })
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &Arc<B> {
        &self.inner
    }

    fn pump(&self, client: ClientId) {
        loop {
            let (cmd, reply) = {
                let mut clients = self.clients.lock().expect("not poisoned");
                let Some(p) = clients.get_mut(&client) else {
                    return;
                };
                if p.in_flight || p.pumping {
                    return;
                }
                let Some(next) = p.queue.pop_front() else {
                    return;
                };
                p.in_flight = true;
                p.pumping = true;
                next
            };
            let me = self.me.clone();
            let reply = reply.then(move || {
                let Some(me) = me.upgrade() else { return };
                let pump = {
                    let mut clients = me.clients.lock().expect("not poisoned");
                    match clients.get_mut(&client) {
                        Some(p) => {
                            p.in_flight = false;
                            !p.pumping
                        }
                        None => false,
                    }
                };
                if pump {
                    me.pump(client);
                }
            });
            self.inner.submit(client, cmd, reply);
            let mut clients = self.clients.lock().expect("not poisoned");
            let Some(p) = clients.get_mut(&client) else {
                return;
            };
            p.pumping = false;
            if p.in_flight {
                return; // its answer will pump the next
            }
        }
    }
}

impl<B: Backend> Backend for OneAtATime<B> {
    fn submit(&self, client: ClientId, cmd: Command, reply: Responder) {
        self.clients
            .lock()
            .expect("not poisoned")
            .entry(client)
            .or_default()
            .queue
            .push_back((cmd, reply));
        self.pump(client);
    }

    fn disconnected(&self, client: ClientId) {
        let gone = self.clients.lock().expect("not poisoned").remove(&client);
        drop(gone); // queued responders answer into a closed connection
        self.inner.disconnected(client);
    }

    fn source(&self) -> Option<(RawFd, Duration)> {
        self.inner.source()
    }

    fn poll(&self) {
        self.inner.poll()
    }

    fn flush(&self) {
        self.inner.flush()
    }
}

/// The listener's bounds.
#[derive(Clone, Copy, Debug)]
pub struct ServerConfig {
    pub limits: Limits,
    /// Most connections at once.
    pub max_clients: usize,
    /// Most unanswered commands per connection.
    pub max_pipeline: usize,
    /// How long to keep reading (and discarding) after a protocol error before closing.
    pub linger: Duration,
    /// The most a transaction's queued commands may take (as [`crate::kv::Command::size`]
    /// counts their keys and values): by default the largest command a priest takes.
    pub max_transaction_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            limits: Limits::default(),
            max_clients: 10_000,
            max_pipeline: 1024,
            linger: Duration::from_millis(500),
            max_transaction_bytes: crate::parliament::MAX_COMMAND_BYTES,
        }
    }
}

/// Counters of a running server.
#[derive(Debug, Default)]
pub struct Stats {
    pub accepted: AtomicU64,
    pub refused: AtomicU64,
    pub commands: AtomicU64,
    pub protocol_errors: AtomicU64,
}

struct Shared {
    stop: AtomicBool,
    connections: AtomicUsize,
    stats: Stats,
}

/// A running listener; [`Server::shutdown`] (or drop) stops it and closes its connections.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    inbox: Arc<Inbox>,
    event_loop: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds `addr` (port 0 for any free port) and starts serving.
    pub fn start<B: Backend>(
        addr: impl ToSocketAddrs,
        backend: Arc<B>,
        config: ServerConfig,
    ) -> io::Result<Server> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let mut listener = TcpListener::from_std(listener);
        let addr = listener.local_addr()?;
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        if let Some((fd, _)) = backend.source() {
            poll.registry()
                .register(&mut SourceFd(&fd), BACKEND, Interest::READABLE)?;
        }
        let inbox = Arc::new(Inbox {
            answers: Mutex::new(Vec::new()),
            waker: Waker::new(poll.registry(), WAKER)?,
            asleep: AtomicBool::new(false),
        });
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            connections: AtomicUsize::new(0),
            stats: Stats::default(),
        });
        let mut event_loop = EventLoop {
            poll,
            listener,
            backend,
            config,
            shared: shared.clone(),
            inbox: inbox.clone(),
            conns: HashMap::new(),
            next_id: 0,
            buf: vec![0u8; 64 << 10],
            touched: Vec::new(),
            lingering: Vec::new(),
        };
        let handle = thread::Builder::new()
            .name("resp-loop".into())
            .spawn(move || event_loop.run())?;
        Ok(Server {
            addr,
            shared,
            inbox,
            event_loop: Some(handle),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Open connections now.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Its counters.
    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// Stops accepting and closes every connection.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = self.inbox.waker.wake();
        if let Some(h) = self.event_loop.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.event_loop.is_some() {
            self.stop();
        }
    }
}

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const BACKEND: Token = Token(2);
/// A connection's token is its id plus this.
const FIRST_CONNECTION: usize = 3;

/// Stop putting answers into a connection's output once this many bytes wait to be written
/// (the client is not reading); its unanswered commands then stop its reading.
const MAX_OUTPUT: usize = 256 << 10;

/// How a connection ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Reading requests.
    Open,
    /// The client half-closed: answer what was asked, then close.
    ReadClosed,
    /// A protocol error was read: answer up to it, then linger.
    Failed,
    /// Every answer is written and our side shut down; discard what the client still
    /// sends until it closes or the deadline (in `EventLoop::lingering`) passes.
    Lingering,
}

struct Connection {
    stream: TcpStream,
    decoder: Decoder,
    phase: Phase,
    /// The number the next request gets.
    next_seq: u64,
    /// The number of the next answer to write.
    next_out: u64,
    /// Answers that came before an earlier one.
    waiting: BTreeMap<u64, Reply>,
    /// Encoded answers not yet written.
    out: Vec<u8>,
    /// Writing would block: wait for the socket to be writable.
    blocked: bool,
    /// Reading stopped at `max_pipeline` unanswered commands; the socket may hold more.
    paused: bool,
    /// Its transaction and watches.
    tx: Transaction,
}

/// A connection's transaction (see "Transactions").
#[derive(Debug, Default)]
struct Transaction {
    /// After `MULTI`: the commands queued so far.
    queued: Option<Vec<Command>>,
    /// The bytes the queued commands take.
    bytes: usize,
    /// A command was refused while queuing: `EXEC` executes nothing.
    refused: bool,
    /// The keys watched, each with the value it held when watched (the first watch of a key
    /// counts).
    watched: Vec<(String, Option<String>)>,
    /// A `WATCH` whose read is not answered yet: its request number and keys. The
    /// connection reads no further request meanwhile.
    watching: Option<(u64, Vec<String>)>,
}

/// What the loop does with a request, given the connection's transaction.
enum Step {
    /// Answer it at once.
    Answer(Reply),
    /// Hand it to the backend (a `WATCH` too: its read).
    Submit(Command),
    /// Not a transaction's business: as any request.
    Pass(Result<Command, super::CommandError>),
}

impl Transaction {
    /// Takes one parsed request through the transaction.
    fn step(&mut self, parsed: Result<Command, super::CommandError>, max_bytes: usize) -> Step {
        let err = |e: &str| Step::Answer(Reply::err(e));
        let Some(queued) = &mut self.queued else {
            return match parsed {
                Ok(Command::Multi) => {
                    self.queued = Some(Vec::new());
                    Step::Answer(Reply::ok())
                }
                Ok(Command::Exec { .. }) => err("EXEC without MULTI"),
                Ok(Command::Discard) => err("DISCARD without MULTI"),
                Ok(Command::Unwatch) => {
                    self.watched.clear();
                    Step::Answer(Reply::ok())
                }
                Ok(watch @ Command::Watch { .. }) => Step::Submit(watch),
                other => Step::Pass(other),
            };
        };
        let refuse = |tx: &mut Transaction, reply: Reply| {
            tx.refused = true;
            Step::Answer(reply)
        };
        match parsed {
            Ok(Command::Exec { .. }) => {
                let cmds = std::mem::take(queued);
                let refused = self.refused;
                let watch = std::mem::take(&mut self.watched);
                *self = Transaction::default();
                if refused {
                    return Step::Answer(Reply::Error(
                        "EXECABORT Transaction discarded because of previous errors.".into(),
                    ));
                }
                Step::Submit(Command::Exec { watch, cmds })
            }
            Ok(Command::Discard) => {
                *self = Transaction::default();
                Step::Answer(Reply::ok())
            }
            Ok(Command::Multi) => err("MULTI calls can not be nested"),
            Ok(Command::Watch { .. }) => err("WATCH inside MULTI is not allowed"),
            Ok(cmd) => match super::law::op_of(&cmd) {
                Some(op) if !matches!(op, crate::kv::Op::Member(_)) => {
                    let bytes = crate::kv::Command::size_of(&op);
                    if self.bytes + bytes > max_bytes {
                        return refuse(
                            self,
                            Reply::err(format!(
                                "transaction too large: its commands would take more than \
                                 {max_bytes} bytes, the largest command the Parliament takes"
                            )),
                        );
                    }
                    self.bytes += bytes;
                    queued.push(cmd);
                    Step::Answer(Reply::Simple("QUEUED".into()))
                }
                _ => refuse(self, Reply::err("Command not allowed inside a transaction")),
            },
            Err(e) => refuse(self, Reply::err(e)),
        }
    }

    /// A `WATCH`'s read answered `reply` (the keys' values, or an error): keeps the values
    /// and gives the `WATCH`'s own answer.
    fn watched(&mut self, keys: Vec<String>, reply: Reply) -> Reply {
        let Reply::Array(Some(values)) = reply else {
            return reply;
        };
        if values.len() != keys.len() {
            return Reply::err("the read of the watched keys answered the wrong number of values");
        }
        let mut read = Vec::new();
        for (key, value) in keys.into_iter().zip(values) {
            let value = match value {
                Reply::Bulk(None) => None,
                Reply::Bulk(Some(b)) => match String::from_utf8(b) {
                    Ok(v) => Some(v),
                    Err(_) => return Reply::err("a watched key holds a value that is not UTF-8"),
                },
                other => return other,
            };
            read.push((key, value));
        }
        for (key, value) in read {
            if !self.watched.iter().any(|(k, _)| *k == key) {
                self.watched.push((key, value));
            }
        }
        Reply::ok()
    }
}

impl Connection {
    fn unanswered(&self) -> u64 {
        self.next_seq - self.next_out
    }
}

struct EventLoop<B> {
    poll: Poll,
    listener: TcpListener,
    backend: Arc<B>,
    config: ServerConfig,
    shared: Arc<Shared>,
    inbox: Arc<Inbox>,
    conns: HashMap<ClientId, Connection>,
    next_id: ClientId,
    buf: Vec<u8>,
    /// Connections read or answered in this turn, to write.
    touched: Vec<ClientId>,
    /// Connections lingering after a protocol error, and when each closes.
    lingering: Vec<(Instant, ClientId)>,
}

impl<B: Backend> EventLoop<B> {
    fn run(&mut self) {
        let mut events = Events::with_capacity(1024);
        let period = self.backend.source().map(|(_, p)| p);
        let mut next_tick = period.map(|p| Instant::now() + p);
        let mut answers = Vec::new();
        while !self.shared.stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            let mut wake: Option<Instant> = next_tick;
            if let Some(&(at, _)) = self.lingering.iter().min() {
                wake = Some(wake.map_or(at, |w| w.min(at)));
            }
            let mut timeout = wake.map(|w| w.saturating_duration_since(now));
            self.inbox.asleep.store(true, Ordering::SeqCst);
            if !self.inbox.answers.lock().expect("not poisoned").is_empty() {
                timeout = Some(Duration::ZERO);
            }
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                self.inbox.asleep.store(false, Ordering::SeqCst);
                if e.kind() != io::ErrorKind::Interrupted {
                    tracing::warn!("event loop poll failed: {e}");
                    thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            self.inbox.asleep.store(false, Ordering::SeqCst);
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(),
                    WAKER => {}
                    BACKEND => self.backend.poll(),
                    Token(t) => {
                        let id = (t - FIRST_CONNECTION) as ClientId;
                        if event.is_writable() {
                            if let Some(c) = self.conns.get_mut(&id) {
                                c.blocked = false;
                            }
                        }
                        self.read(id);
                    }
                }
            }
            if let (Some(p), Some(at)) = (period, next_tick) {
                if Instant::now() >= at {
                    self.backend.poll();
                    next_tick = Some(Instant::now() + p);
                }
            }
            // Answers, writes and the reading they unblock, until nothing moves.
            loop {
                self.backend.flush();
                self.inbox.take(&mut answers);
                if answers.is_empty() && self.touched.is_empty() {
                    break;
                }
                for (id, seq, reply) in answers.drain(..) {
                    if let Some(c) = self.conns.get_mut(&id) {
                        match c.tx.watching.take() {
                            Some((watch, keys)) if watch == seq => {
                                let reply = c.tx.watched(keys, reply);
                                c.waiting.insert(seq, reply);
                                self.read(id); // the requests after the WATCH
                            }
                            watching => {
                                c.tx.watching = watching;
                                c.waiting.insert(seq, reply);
                            }
                        }
                        self.touched.push(id);
                    }
                }
                let mut touched = std::mem::take(&mut self.touched);
                touched.sort_unstable();
                touched.dedup();
                for id in touched {
                    if self.write(id) {
                        // Answers went out: a paused connection may read again.
                        self.read(id);
                    }
                }
            }
            if !self.lingering.is_empty() {
                let now = Instant::now();
                let (expired, waiting) = std::mem::take(&mut self.lingering)
                    .into_iter()
                    .partition(|(at, _)| now >= *at);
                self.lingering = waiting;
                for (_, id) in expired {
                    self.close(id); // if it did not close itself before
                }
            }
        }
        for id in self.conns.keys().copied().collect::<Vec<_>>() {
            self.close(id);
        }
    }

    fn accept(&mut self) {
        loop {
            let (mut stream, _) = match self.listener.accept() {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of file descriptors and the like: try again on the next event.
                    tracing::warn!("accept failed: {e}");
                    return;
                }
            };
            if self.conns.len() >= self.config.max_clients {
                self.shared.stats.refused.fetch_add(1, Ordering::Relaxed);
                let _ = stream.write(&Reply::err("max number of clients reached").to_bytes());
                let _ = stream.shutdown(Shutdown::Both);
                continue;
            }
            self.next_id += 1;
            let id = self.next_id;
            let _ = stream.set_nodelay(true);
            let token = Token(id as usize + FIRST_CONNECTION);
            if let Err(e) = self.poll.registry().register(
                &mut stream,
                token,
                Interest::READABLE | Interest::WRITABLE,
            ) {
                tracing::warn!("cannot watch a connection: {e}");
                continue;
            }
            self.conns.insert(
                id,
                Connection {
                    stream,
                    decoder: Decoder::new(self.config.limits),
                    phase: Phase::Open,
                    next_seq: 0,
                    next_out: 0,
                    waiting: BTreeMap::new(),
                    out: Vec::new(),
                    blocked: false,
                    paused: false,
                    tx: Transaction::default(),
                },
            );
            self.shared.stats.accepted.fetch_add(1, Ordering::Relaxed);
            self.shared
                .connections
                .store(self.conns.len(), Ordering::SeqCst);
            // Data may have come with the connection: read it now (edge-triggered).
            self.read(id);
        }
    }

    /// Reads and submits what connection `id` sent, up to its pipeline bound.
    fn read(&mut self, id: ClientId) {
        self.touched.push(id);
        let max = self.config.max_pipeline.max(1) as u64;
        loop {
            let Some(c) = self.conns.get_mut(&id) else {
                return;
            };
            match c.phase {
                Phase::Open => {}
                Phase::Lingering => {
                    // Discard until the client closes.
                    match c.stream.read(&mut self.buf) {
                        Ok(0) => return self.close(id),
                        Ok(_) => continue,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                        Err(_) => return self.close(id),
                    }
                }
                Phase::ReadClosed | Phase::Failed => return,
            }
            // First the requests already buffered, then the socket; none while a WATCH's
            // read is in flight.
            while c.unanswered() < max && c.tx.watching.is_none() {
                match c.decoder.next_request() {
                    Ok(None) => break,
                    Ok(Some(words)) => {
                        self.shared.stats.commands.fetch_add(1, Ordering::Relaxed);
                        let seq = c.next_seq;
                        c.next_seq += 1;
                        let parsed = match c
                            .tx
                            .step(Command::parse(&words), self.config.max_transaction_bytes)
                        {
                            Step::Answer(reply) => {
                                c.waiting.insert(seq, reply);
                                continue;
                            }
                            Step::Submit(cmd) => {
                                if let Command::Watch { keys } = &cmd {
                                    c.tx.watching = Some((seq, keys.clone()));
                                }
                                let r = Responder::new(id, seq, self.inbox.clone());
                                self.backend.submit(id, cmd, r);
                                continue;
                            }
                            Step::Pass(parsed) => parsed,
                        };
                        match parsed {
                            Ok(Command::Ping(None)) => {
                                c.waiting.insert(seq, Reply::Simple("PONG".into()));
                            }
                            Ok(Command::Ping(Some(m))) => {
                                c.waiting.insert(seq, Reply::Bulk(Some(m.into_bytes())));
                            }
                            Ok(Command::Commands(q)) => {
                                c.waiting.insert(seq, q.reply());
                            }
                            Ok(cmd) => {
                                let r = Responder::new(id, seq, self.inbox.clone());
                                self.backend.submit(id, cmd, r);
                            }
                            Err(e) => {
                                c.waiting.insert(seq, Reply::err(e));
                            }
                        }
                    }
                    Err(e) => {
                        self.shared
                            .stats
                            .protocol_errors
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::debug!("client {id}: {e}");
                        let seq = c.next_seq;
                        c.next_seq += 1;
                        c.waiting.insert(seq, Reply::err(e));
                        c.phase = Phase::Failed;
                        return;
                    }
                }
            }
            if c.tx.watching.is_some() {
                return; // the WATCH's answer reads on
            }
            if c.unanswered() >= max {
                c.paused = true;
                return;
            }
            c.paused = false;
            match c.stream.read(&mut self.buf) {
                Ok(0) => {
                    c.phase = Phase::ReadClosed;
                    return;
                }
                Ok(n) => c.decoder.feed(&self.buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => return self.close(id),
            }
        }
    }

    /// Writes connection `id`'s answers that are ready, in order; closes it when it is done.
    /// Returns whether a paused connection may read again.
    fn write(&mut self, id: ClientId) -> bool {
        let Some(c) = self.conns.get_mut(&id) else {
            return false;
        };
        while c.out.len() < MAX_OUTPUT {
            let Some(reply) = c.waiting.remove(&c.next_out) else {
                break;
            };
            reply.encode(&mut c.out);
            c.next_out += 1;
        }
        let mut written = 0;
        while written < c.out.len() && !c.blocked {
            match c.stream.write(&c.out[written..]) {
                Ok(0) => break,
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => c.blocked = true,
                Err(_) => {
                    // The client is gone or stopped reading for good.
                    self.close(id);
                    return false;
                }
            }
        }
        c.out.drain(..written);
        let done = c.out.is_empty() && c.unanswered() == 0;
        match c.phase {
            Phase::ReadClosed if done => {
                self.close(id);
                false
            }
            Phase::Failed if done => {
                let _ = c.stream.shutdown(Shutdown::Write);
                let at = Instant::now() + self.config.linger;
                c.phase = Phase::Lingering;
                self.lingering.push((at, id));
                true // discard what is waiting
            }
            _ => c.paused && c.unanswered() < self.config.max_pipeline.max(1) as u64,
        }
    }

    fn close(&mut self, id: ClientId) {
        if let Some(mut c) = self.conns.remove(&id) {
            let _ = self.poll.registry().deregister(&mut c.stream);
            let _ = c.stream.shutdown(Shutdown::Both);
            self.shared
                .connections
                .store(self.conns.len(), Ordering::SeqCst);
            self.backend.disconnected(id);
        }
    }
}
