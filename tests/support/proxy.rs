//! A fault-injecting UDP relay between the priests of a cluster, with no fault code in the
//! binary under test.
//!
//! Every priest's configured `address` A_i is a socket of this relay; priest i's own socket
//! binds elsewhere, at B_i (the configuration's `bind`). A datagram that priest j sends to
//! priest i therefore arrives at A_i from B_j; the relay forwards it to B_i **from its socket
//! A_j**, so priest i sees it come from j's configured address, which is what its runtime
//! checks before it believes the sender id in the datagram.
//!
//! Datagrams from anything that is not a priest (the RESP listeners' backends are UDP clients
//! on ephemeral ports) are relayed like a NAT: one relay socket per client address, from
//! which the client's datagrams go to the priests and through which the priests' replies come
//! back; a reply from priest k is returned to the client from A_k, the address the client
//! expects priest k's answers from.
//!
//! Each datagram crosses one link (priest to priest, client to priest, or priest to client)
//! and meets the faults in force: it is dropped with probability `drop`, sent twice with
//! probability `duplicate`, and held back for a random time up to `max_delay` with
//! probability `delay` (which reorders it with whatever is sent meanwhile). A partition cuts
//! one priest off from the other priests, both ways, until healed; its clients still reach
//! it. Every random choice comes from one generator seeded by the test.
//!
//! The relay also reads the datagrams it forwards (it holds the cluster key): the highest
//! ballot seen in a president's `Heartbeat` or `BeginBallot` names the current president
//! (a ballot's number includes the priest that owns it), so the nemesis knows whom to kill.

use parliament::ballot::Ballot;
use parliament::host::wire::{self, Key};
use parliament::parliament::Msg;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The faults applied to every datagram (partitions apart).
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    /// Probability that a datagram is lost.
    pub drop: f64,
    /// Probability that a datagram is delivered twice.
    pub duplicate: f64,
    /// Probability that a copy is held back.
    pub delay: f64,
    /// The longest hold.
    pub max_delay: Duration,
}

/// What the relay did, for the test to assert that faults really happened.
#[derive(Debug, Default)]
pub struct Counters {
    pub forwarded: AtomicU64,
    pub dropped: AtomicU64,
    pub duplicated: AtomicU64,
    pub delayed: AtomicU64,
    /// Dropped because a partition cut the link.
    pub cut: AtomicU64,
}

impl Counters {
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

impl std::fmt::Display for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} forwarded, {} dropped, {} duplicated, {} delayed, {} cut by partitions",
            Counters::get(&self.forwarded),
            Counters::get(&self.dropped),
            Counters::get(&self.duplicated),
            Counters::get(&self.delayed),
            Counters::get(&self.cut)
        )
    }
}

/// A datagram held back until `due`.
struct Held {
    due: Instant,
    order: u64,
    from: Arc<UdpSocket>,
    to: SocketAddr,
    bytes: Vec<u8>,
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.order) == (other.due, other.order)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.due, self.order).cmp(&(other.due, other.order))
    }
}

/// Which link a datagram crosses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    Priests { from: usize, to: usize },
    Client,
}

struct Inner {
    /// The key the priests authenticate with (bound to `[membership]`, when the cluster has
    /// it: see [`Proxy::set_key`]).
    key: Mutex<Key>,
    /// A_i: the priests' configured addresses, bound by the relay.
    advertised: Vec<Arc<UdpSocket>>,
    /// B_i: where the priests really are.
    binds: Vec<SocketAddr>,
    /// One relay socket per client address.
    nat: Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>,
    rng: Mutex<StdRng>,
    faults: Mutex<Faults>,
    isolated: Mutex<Option<usize>>,
    president: Mutex<Option<Ballot>>,
    held: Mutex<(BinaryHeap<Reverse<Held>>, u64)>,
    wake: Condvar,
    counters: Counters,
    stop: AtomicBool,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// The relay; stops its threads when dropped.
pub struct Proxy {
    inner: Arc<Inner>,
}

impl Proxy {
    /// The key the relay reads datagrams with, from now on.
    pub fn set_key(&self, key: Key) {
        *self.inner.key.lock().unwrap() = key;
    }

    /// Binds `n` advertised addresses on 127.0.0.1 and relays to the priests at `binds`.
    pub fn start(key: Key, binds: Vec<SocketAddr>, seed: u64) -> Proxy {
        let advertised: Vec<Arc<UdpSocket>> = binds
            .iter()
            .map(|_| Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap()))
            .collect();
        for s in &advertised {
            s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        }
        let inner = Arc::new(Inner {
            key: Mutex::new(key),
            advertised,
            binds,
            nat: Mutex::new(HashMap::new()),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            faults: Mutex::new(Faults::default()),
            isolated: Mutex::new(None),
            president: Mutex::new(None),
            held: Mutex::new((BinaryHeap::new(), 0)),
            wake: Condvar::new(),
            counters: Counters::default(),
            stop: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
        });
        for i in 0..inner.advertised.len() {
            let me = inner.clone();
            let t = thread::spawn(move || me.serve_priest_address(i));
            inner.threads.lock().unwrap().push(t);
        }
        let me = inner.clone();
        let t = thread::spawn(move || me.deliver_held());
        inner.threads.lock().unwrap().push(t);
        Proxy { inner }
    }

    /// The priests' configured addresses (A_i).
    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.inner
            .advertised
            .iter()
            .map(|s| s.local_addr().unwrap())
            .collect()
    }

    pub fn set_faults(&self, faults: Faults) {
        *self.inner.faults.lock().unwrap() = faults;
    }

    /// Cuts priest `i` off from the other priests (`None`: heals).
    pub fn isolate(&self, i: Option<usize>) {
        *self.inner.isolated.lock().unwrap() = i;
    }

    /// The president of the highest ballot seen at work, if any.
    pub fn president(&self) -> Option<usize> {
        self.inner
            .president
            .lock()
            .unwrap()
            .map(|b| usize::from(b.priest))
    }

    /// The highest ballot seen at work.
    pub fn president_ballot(&self) -> Option<Ballot> {
        *self.inner.president.lock().unwrap()
    }

    pub fn counters(&self) -> &Counters {
        &self.inner.counters
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        self.inner.wake.notify_all();
        let threads = std::mem::take(&mut *self.inner.threads.lock().unwrap());
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Inner {
    /// Relays what arrives at A_i: from a priest j (at B_j), to priest i from A_j; from a
    /// client, to priest i from the client's relay socket.
    fn serve_priest_address(self: Arc<Self>, i: usize) {
        let mut buf = vec![0u8; 65_536];
        while !self.stop.load(Ordering::SeqCst) {
            let Ok((len, from)) = self.advertised[i].recv_from(&mut buf) else {
                continue;
            };
            let bytes = &buf[..len];
            if let Some(j) = self.binds.iter().position(|b| *b == from) {
                self.observe(bytes);
                let socket = self.advertised[j].clone();
                self.forward(
                    Link::Priests { from: j, to: i },
                    socket,
                    self.binds[i],
                    bytes,
                );
            } else {
                let socket = self.nat_socket(from);
                self.forward(Link::Client, socket, self.binds[i], bytes);
            }
        }
    }

    /// The relay socket of the client at `client`, made (with its thread) on first use.
    fn nat_socket(self: &Arc<Self>, client: SocketAddr) -> Arc<UdpSocket> {
        let mut nat = self.nat.lock().unwrap();
        if let Some(s) = nat.get(&client) {
            return s.clone();
        }
        let s = Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        nat.insert(client, s.clone());
        let me = self.clone();
        let socket = s.clone();
        let t = thread::spawn(move || me.serve_client_socket(socket, client));
        self.threads.lock().unwrap().push(t);
        s
    }

    /// Relays the priests' replies to `client` from the replying priest's address.
    fn serve_client_socket(self: Arc<Self>, socket: Arc<UdpSocket>, client: SocketAddr) {
        let mut buf = vec![0u8; 65_536];
        while !self.stop.load(Ordering::SeqCst) {
            let Ok((len, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            if let Some(k) = self.binds.iter().position(|b| *b == from) {
                let socket = self.advertised[k].clone();
                self.forward(Link::Client, socket, client, &buf[..len]);
            }
        }
    }

    /// Notes the ballot of a president at work.
    fn observe(&self, bytes: &[u8]) {
        let key = self.key.lock().unwrap().clone();
        let Ok(msgs) = wire::decode::<Msg>(&key, bytes) else {
            return;
        };
        for (_, msg) in msgs {
            let ballot = match msg {
                Msg::Heartbeat { ballot, .. } => ballot,
                Msg::BeginBallot { ballot, .. } => ballot,
                _ => continue,
            };
            let mut p = self.president.lock().unwrap();
            if p.is_none_or(|b| b < ballot) {
                *p = Some(ballot);
            }
        }
    }

    fn forward(&self, link: Link, from: Arc<UdpSocket>, to: SocketAddr, bytes: &[u8]) {
        let c = &self.counters;
        if let (Link::Priests { from: a, to: b }, Some(k)) = (link, *self.isolated.lock().unwrap())
        {
            if a == k || b == k {
                c.cut.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        let faults = *self.faults.lock().unwrap();
        // Decide everything under one lock, send after.
        let plan: Vec<Option<Duration>> = {
            let mut rng = self.rng.lock().unwrap();
            if rng.random_bool(faults.drop) {
                c.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let copies = if rng.random_bool(faults.duplicate) {
                c.duplicated.fetch_add(1, Ordering::Relaxed);
                2
            } else {
                1
            };
            (0..copies)
                .map(|_| {
                    (rng.random_bool(faults.delay) && !faults.max_delay.is_zero())
                        .then(|| rng.random_range(Duration::ZERO..faults.max_delay))
                })
                .collect()
        };
        for hold in plan {
            c.forwarded.fetch_add(1, Ordering::Relaxed);
            match hold {
                None => {
                    let _ = from.send_to(bytes, to);
                }
                Some(d) => {
                    c.delayed.fetch_add(1, Ordering::Relaxed);
                    let mut held = self.held.lock().unwrap();
                    held.1 += 1;
                    let order = held.1;
                    held.0.push(Reverse(Held {
                        due: Instant::now() + d,
                        order,
                        from: from.clone(),
                        to,
                        bytes: bytes.to_vec(),
                    }));
                    self.wake.notify_one();
                }
            }
        }
    }

    /// Sends held datagrams when they fall due.
    fn deliver_held(self: Arc<Self>) {
        let mut held = self.held.lock().unwrap();
        while !self.stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            match held.0.peek() {
                Some(Reverse(h)) if h.due <= now => {
                    let Reverse(h) = held.0.pop().unwrap();
                    let _ = h.from.send_to(&h.bytes, h.to);
                }
                Some(Reverse(h)) => {
                    let wait = h.due - now;
                    held = self.wake.wait_timeout(held, wait).unwrap().0;
                }
                None => {
                    held = self
                        .wake
                        .wait_timeout(held, Duration::from_millis(50))
                        .unwrap()
                        .0;
                }
            }
        }
    }
}
