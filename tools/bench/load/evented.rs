//! The RESP closed loop on one thread: every client's connection in one `mio` event loop,
//! as `redis-benchmark` runs its clients.
//!
//! The loop is the same closed loop as the threaded one ([`super::run_with`]): each client
//! sends one command, waits for its reply, records the latency and sends the next, until
//! the time is up; keys, values, workloads, the histogram and the report are shared. What
//! differs is the cost of the generator itself. A thread per client wakes once per reply,
//! and on the 2-core machine that measures the Parliament those wake-ups take CPU from the
//! servers under test (at 64 clients the threaded generator measured about 20% fewer
//! commands per second than `redis-benchmark` against the same cluster). One thread that
//! collects whatever replies have arrived each time it wakes costs far less.
//!
//! A client's reply that does not come within `load.timeout`, a connection the server
//! closes, or a reply that is not RESP stops the run with an error, as in the threaded loop;
//! with `load.reconnect`, a connection that breaks is instead dropped, its command in flight
//! counted as lost, and opened again to the next server (client `i`'s `k`th reconnection
//! goes to server `i + k`), trying every few milliseconds until one accepts: a run that kills
//! servers measures how long their clients go unanswered.

use super::{answer_of, connect_all, fail, BenchReport, Driver, Load, Pace, Resp, Tally};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use parliament::resp::client::{Client, REPLY_LIMITS};
use parliament::resp::codec::{encode_request, Reply};
use std::io::{self, Read, Write};
use std::time::Instant;

/// One client: its connection, what it has sent and not yet written, what it has read and
/// not yet decoded, and its command in flight.
struct Conn {
    /// `None` while broken, waiting to be opened again.
    stream: Option<TcpStream>,
    /// How many times it was opened again.
    reopened: usize,
    /// Broken when the run's time was up: not opened again.
    finished: bool,
    pace: Pace,
    out: Vec<u8>,
    written: usize,
    inbuf: Vec<u8>,
    /// When the command in flight was sent, and whether it is a GET.
    in_flight: Option<(Instant, bool)>,
}

impl Conn {
    /// Queues the next command and writes what the socket takes.
    fn send_next(&mut self, load: &Load) -> io::Result<()> {
        let (key, get) = self.pace.next(load);
        self.out.clear();
        self.written = 0;
        if get {
            encode_request(&[b"GET", key.as_bytes()], &mut self.out);
        } else {
            encode_request(&[b"SET", key.as_bytes(), &self.pace.value], &mut self.out);
        }
        self.in_flight = Some((Instant::now(), get));
        self.flush()
    }

    /// Writes what is left of the command, until done or the socket is full.
    fn flush(&mut self) -> io::Result<()> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(());
        };
        while self.written < self.out.len() {
            match stream.write(&self.out[self.written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads what arrived; `Ok(Some(reply))` once the reply is whole.
    fn receive(&mut self) -> io::Result<Option<Reply>> {
        let mut chunk = [0u8; 16 << 10];
        let Some(stream) = self.stream.as_mut() else {
            return Ok(None);
        };
        loop {
            match stream.read(&mut chunk) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.inbuf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        match Reply::decode(&self.inbuf, &REPLY_LIMITS) {
            Ok(Some((reply, used))) => {
                if used < self.inbuf.len() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "the server sent more than the one reply asked for",
                    ));
                }
                self.inbuf.clear();
                Ok(Some(reply))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(io::Error::new(io::ErrorKind::InvalidData, e)),
        }
    }
}

/// Runs the load against RESP servers (client `i` to `driver.addrs[i mod n]`) on one thread
/// and reports. Errors: bad settings, a connection that fails, or a server that does not
/// answer within the timeout.
pub fn run_resp(driver: &Resp, load: &Load) -> io::Result<BenchReport> {
    let clients = connect_all(driver, load)?;
    let mut poll = Poll::new()?;
    let mut conns = Vec::with_capacity(load.clients);
    let origin = Instant::now();
    for (i, client) in clients.into_iter().enumerate() {
        conns.push(Conn {
            stream: Some(attach(&poll, client, i)?),
            reopened: 0,
            finished: false,
            pace: Pace::new(load, i, origin),
            out: Vec::with_capacity(256 + load.value_size),
            written: 0,
            inbuf: Vec::with_capacity(256 + load.value_size),
            in_flight: None,
        });
    }

    let started = Instant::now();
    for c in &mut conns {
        c.pace.origin = started;
    }
    let deadline = started + load.duration;
    let lost = |e: io::Error| fail("waiting for a reply", e);
    let mut writing = vec![false; conns.len()];
    for (i, c) in conns.iter_mut().enumerate() {
        c.send_next(load).map_err(lost)?;
        want_write(&poll, c, i, &mut writing[i])?;
    }
    let mut running = conns.len();
    let mut broken = 0;
    let mut events = Events::with_capacity(1024);
    while running > 0 {
        let wait = if broken > 0 {
            RETRY.min(load.timeout)
        } else {
            load.timeout
        };
        match poll.poll(&mut events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        let overdue = || {
            conns.iter().any(|c| {
                c.in_flight
                    .is_some_and(|(t, _)| t.elapsed() >= load.timeout)
            })
        };
        if (events.is_empty() && broken == 0) || (broken > 0 && overdue()) {
            return Err(lost(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no reply in {:?}", load.timeout),
            )));
        }
        for event in events.iter() {
            let i = event.token().0;
            let c = &mut conns[i];
            let mut step = || -> io::Result<()> {
                if event.is_writable() {
                    c.flush()?;
                }
                if event.is_readable() || event.is_read_closed() {
                    if let Some(reply) = c.receive()? {
                        let Some((sent, get)) = c.in_flight.take() else {
                            return Err(io::Error::new(
                                io::ErrorKind::InvalidData,
                                "a reply to no command",
                            ));
                        };
                        c.pace.record(get, answer_of(get, &reply), sent);
                        if Instant::now() < deadline {
                            c.send_next(load)?;
                        } else {
                            running -= 1;
                        }
                    }
                }
                Ok(())
            };
            match step() {
                Ok(()) => want_write(&poll, c, i, &mut writing[i])?,
                Err(e) if load.reconnect && e.kind() != io::ErrorKind::InvalidData => {
                    if let Some(mut stream) = c.stream.take() {
                        let _ = poll.registry().deregister(&mut stream);
                    }
                    if c.in_flight.take().is_some() {
                        c.pace.tally.lost += 1;
                    }
                    writing[i] = false;
                    broken += 1;
                }
                Err(e) => return Err(lost(e)),
            }
        }
        if broken > 0 {
            for (i, c) in conns.iter_mut().enumerate() {
                if c.stream.is_some() || c.finished {
                    continue;
                }
                if Instant::now() >= deadline {
                    // The run is over: a broken client has nothing left to send.
                    c.finished = true;
                    broken -= 1;
                    running -= 1;
                    continue;
                }
                let addr = driver.addrs[(i + c.reopened + 1) % driver.addrs.len()];
                let Ok(client) = Client::connect_timeout(&addr, RETRY) else {
                    continue;
                };
                c.reopened += 1;
                c.stream = Some(attach(&poll, client, i)?);
                c.pace.tally.reconnects += 1;
                broken -= 1;
                c.inbuf.clear();
                c.send_next(load).map_err(lost)?;
                want_write(&poll, c, i, &mut writing[i])?;
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut total = Tally::new();
    for c in &conns {
        total.add(&c.pace.tally);
    }
    Ok(total.report(driver.system(), driver.target(), load, seconds))
}

/// Client `i`'s connection, made part of the loop: non-blocking, watched for replies.
fn attach(poll: &Poll, client: Client, i: usize) -> io::Result<TcpStream> {
    let stream = client.into_stream()?;
    stream.set_nonblocking(true)?;
    let mut stream = TcpStream::from_std(stream);
    poll.registry()
        .register(&mut stream, Token(i), Interest::READABLE)?;
    Ok(stream)
}

/// How long a broken client waits between attempts to connect again (and at most how long
/// one attempt takes).
const RETRY: std::time::Duration = std::time::Duration::from_millis(10);

/// Watches the socket for room to write only while part of a command waits for it.
fn want_write(poll: &Poll, c: &mut Conn, i: usize, writing: &mut bool) -> io::Result<()> {
    let Some(stream) = c.stream.as_mut() else {
        return Ok(());
    };
    let pending = c.written < c.out.len();
    if pending != *writing {
        let interest = if pending {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        poll.registry().reregister(stream, Token(i), interest)?;
        *writing = pending;
    }
    Ok(())
}
