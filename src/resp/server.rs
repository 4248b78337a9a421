//! The TCP listener: many connections, pipelining, answers that come later.
//!
//! Each connection has two threads. The *reader* reads bytes, decodes requests
//! ([`Decoder`]), parses each into a [`Command`] and numbers it; `PING`, unknown commands
//! and wrong arity are answered at once, every other command is handed to the
//! [`Backend`] with a [`Responder`]. The backend may answer from any thread at any later
//! time (a replicated backend answers when the command's decree has passed). The *writer*
//! puts answers back in request order (a client pipelining `SET a; GET a` must read the
//! SET's answer first) and writes all that are ready in one `write`.
//!
//! A backend whose clients may have only one command in flight (the law's sessions) is
//! wrapped in [`OneAtATime`], which queues a connection's pipeline and submits it command by
//! command.
//!
//! Bounds: at most `max_pipeline` commands of one connection are unanswered at once (the
//! reader stops reading until answers go out, so a client that never reads cannot make
//! the server buffer without limit), at most `max_clients` connections (more get
//! `-ERR max number of clients reached` and are closed), and the decoder's [`Limits`].
//!
//! Closing: a client that half-closes (shuts down its writing side) still gets every
//! answer, then the server closes. A protocol error (garbage, an oversize bulk string or
//! array) is answered with `-ERR Protocol error: ...` after the answers to the requests
//! before it; then the server closes the connection, reading and discarding what the client
//! still sends for a moment so the error is not lost to a TCP reset. A misbehaving
//! connection touches only its own threads: the listener and other clients go on.

use super::codec::{Decoder, Limits, Reply};
use super::Command;
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Stack of a connection's threads: they keep their buffers on the heap.
const STACK: usize = 256 << 10;

/// A connection's number, unique for the server's life (1, 2, 3, ...).
pub type ClientId = u64;

/// What executes commands. `submit` is called once per command, in the order its
/// connection sent them; the answer goes to the [`Responder`], now or later, from any
/// thread. A responder dropped without an answer answers `-ERR` for the backend, so a
/// connection never waits forever on a lost command.
pub trait Backend: Send + Sync + 'static {
    /// Executes `cmd` for `client` and eventually answers through `reply`.
    fn submit(&self, client: ClientId, cmd: Command, reply: Responder);

    /// The client's connection is gone (its answers, if any come, are discarded).
    fn disconnected(&self, _client: ClientId) {}
}

/// The way back to the connection for one command's answer.
pub struct Responder {
    seq: u64,
    tx: Option<Sender<(u64, Reply)>>,
    /// Runs once the answer is handed to the connection (or the responder is dropped).
    then: Option<Box<dyn FnOnce() + Send>>,
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("seq", &self.seq)
            .field("answered", &self.tx.is_none())
            .finish()
    }
}

impl Responder {
    fn new(seq: u64, tx: Sender<(u64, Reply)>) -> Responder {
        Responder {
            seq,
            tx: Some(tx),
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
        if let Some(tx) = self.tx.take() {
            let _ = tx.send((self.seq, reply));
        }
        if let Some(f) = self.then.take() {
            f();
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if self.tx.is_some() {
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
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            limits: Limits::default(),
            max_clients: 10_000,
            max_pipeline: 1024,
            linger: Duration::from_millis(500),
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
    conns: Mutex<HashMap<ClientId, TcpStream>>,
    stats: Stats,
}

/// A running listener; [`Server::shutdown`] (or drop) stops it and closes its connections.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds `addr` (port 0 for any free port) and starts accepting.
    pub fn start<B: Backend>(
        addr: impl ToSocketAddrs,
        backend: Arc<B>,
        config: ServerConfig,
    ) -> io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            conns: Mutex::new(HashMap::new()),
            stats: Stats::default(),
        });
        let s = shared.clone();
        let accept = thread::Builder::new()
            .name("resp-accept".into())
            .spawn(move || accept_loop(listener, backend, config, s))?;
        Ok(Server {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Open connections now.
    pub fn connections(&self) -> usize {
        self.shared.conns.lock().expect("not poisoned").len()
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
        // Wake the blocking accept.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(if wake.is_ipv4() {
                [127, 0, 0, 1].into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        for (_, c) in self.shared.conns.lock().expect("not poisoned").drain() {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.accept.is_some() {
            self.stop();
        }
    }
}

fn accept_loop<B: Backend>(
    listener: TcpListener,
    backend: Arc<B>,
    config: ServerConfig,
    shared: Arc<Shared>,
) {
    let mut next_id: ClientId = 0;
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                // Out of file descriptors and the like: back off rather than spin.
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        {
            let conns = shared.conns.lock().expect("not poisoned");
            if conns.len() >= config.max_clients {
                drop(conns);
                shared.stats.refused.fetch_add(1, Ordering::Relaxed);
                let _ = stream.write_all(&Reply::err("max number of clients reached").to_bytes());
                continue;
            }
        }
        next_id += 1;
        let id = next_id;
        let _ = stream.set_nodelay(true);
        let clones = (stream.try_clone(), stream.try_clone());
        let (Ok(writer_half), Ok(registry_half)) = clones else {
            continue;
        };
        shared
            .conns
            .lock()
            .expect("not poisoned")
            .insert(id, registry_half);
        shared.stats.accepted.fetch_add(1, Ordering::Relaxed);
        let (b, s) = (backend.clone(), shared.clone());
        let spawned = thread::Builder::new()
            .name(format!("resp-conn-{id}"))
            .stack_size(STACK)
            .spawn(move || connection(id, stream, writer_half, b, config, s));
        if let Err(e) = spawned {
            tracing::warn!("cannot start a connection thread: {e}");
            if let Some(c) = shared.conns.lock().expect("not poisoned").remove(&id) {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
    }
}

/// The reader side of one connection (this thread) and its writer thread.
fn connection<B: Backend>(
    id: ClientId,
    mut stream: TcpStream,
    writer_half: TcpStream,
    backend: Arc<B>,
    config: ServerConfig,
    shared: Arc<Shared>,
) {
    let (tx, rx) = mpsc::channel::<(u64, Reply)>();
    // A bounded channel used as a counting semaphore: one token per unanswered command.
    let (credit_tx, credit_rx) = mpsc::sync_channel::<()>(config.max_pipeline.max(1));
    let writer = thread::Builder::new()
        .name(format!("resp-write-{id}"))
        .stack_size(STACK)
        .spawn(move || write_loop(writer_half, rx, credit_rx));
    let Ok(writer) = writer else {
        let _ = stream.shutdown(Shutdown::Both);
        shared.conns.lock().expect("not poisoned").remove(&id);
        return;
    };

    let mut decoder = Decoder::new(config.limits);
    let mut buf = vec![0u8; 64 << 10];
    let mut seq = 0u64;
    let mut protocol_error = false;
    // Answers `reply` as command number `seq`, waiting for a credit first.
    let answer_slot = |seq: &mut u64| -> Option<Responder> {
        credit_tx.send(()).ok()?;
        let r = Responder::new(*seq, tx.clone());
        *seq += 1;
        Some(r)
    };
    'read: loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        decoder.feed(&buf[..n]);
        loop {
            match decoder.next_request() {
                Ok(None) => break,
                Ok(Some(words)) => {
                    shared.stats.commands.fetch_add(1, Ordering::Relaxed);
                    let Some(slot) = answer_slot(&mut seq) else {
                        break 'read; // the writer is gone: the client stopped reading
                    };
                    match Command::parse(&words) {
                        Ok(Command::Ping(None)) => slot.send(Reply::Simple("PONG".into())),
                        Ok(Command::Ping(Some(m))) => slot.send(Reply::Bulk(Some(m.into_bytes()))),
                        Ok(cmd) => backend.submit(id, cmd, slot),
                        Err(e) => slot.send(Reply::err(e)),
                    }
                }
                Err(e) => {
                    shared.stats.protocol_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!("client {id}: {e}");
                    if let Some(slot) = answer_slot(&mut seq) {
                        slot.send(Reply::err(e));
                    }
                    protocol_error = true;
                    break 'read;
                }
            }
        }
    }
    drop(tx);
    drop(credit_tx);
    if protocol_error {
        // Let the writer send the answers and the error, then drain what the client is
        // still sending for a moment so closing does not reset the connection under it.
        let _ = writer.join();
        let deadline = Instant::now() + config.linger;
        let _ = stream.set_read_timeout(Some(config.linger));
        while Instant::now() < deadline {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    } else {
        let _ = writer.join();
    }
    let _ = stream.shutdown(Shutdown::Both);
    shared.conns.lock().expect("not poisoned").remove(&id);
    backend.disconnected(id);
}

/// Writes answers in command order; ends when every sender is gone and all are written,
/// or when the client stops reading.
fn write_loop(mut stream: TcpStream, rx: Receiver<(u64, Reply)>, credit: Receiver<()>) {
    let mut next = 0u64;
    let mut waiting: BTreeMap<u64, Reply> = BTreeMap::new();
    let mut out = Vec::with_capacity(64 << 10);
    'outer: while let Ok((seq, reply)) = rx.recv() {
        waiting.insert(seq, reply);
        loop {
            while let Some(reply) = waiting.remove(&next) {
                reply.encode(&mut out);
                next += 1;
                let _ = credit.try_recv();
            }
            if out.len() > 256 << 10 {
                break;
            }
            match rx.try_recv() {
                Ok((seq, reply)) => {
                    waiting.insert(seq, reply);
                }
                Err(_) => break,
            }
        }
        if !out.is_empty() {
            if stream.write_all(&out).is_err() {
                // The client stopped reading: wake the reader, whatever it waits on.
                let _ = stream.shutdown(Shutdown::Both);
                break 'outer;
            }
            out.clear();
        }
    }
    // Done (or the client is gone): no more answers will be written.
    let _ = stream.shutdown(Shutdown::Write);
}
