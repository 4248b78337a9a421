//! A client of a cluster of hosted actors: sends a request to priests until one answers.

use super::wire::{self, Key};
use super::{bits, client_id};
use serde::de::DeserializeOwned;
use serde::Serialize;
use stateright::actor::Id;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// A client of the cluster: sends a request to priests until one answers.
pub struct UdpClient {
    socket: UdpSocket,
    key: Key,
    id: Id,
    priests: Vec<SocketAddr>,
    buf: Vec<u8>,
}

impl UdpClient {
    /// A client with a fresh id, on an ephemeral port of the priests' address family.
    pub fn new(priests: Vec<SocketAddr>, key: Key) -> io::Result<Self> {
        let local: SocketAddr = match priests.first() {
            Some(SocketAddr::V6(_)) => (Ipv6Addr::UNSPECIFIED, 0).into(),
            _ => (Ipv4Addr::UNSPECIFIED, 0).into(),
        };
        Ok(UdpClient {
            socket: UdpSocket::bind(local)?,
            key,
            id: client_id(),
            priests,
            buf: vec![0; 65_536],
        })
    }

    /// The same client under another id (a test's client that began long ago, say).
    pub fn with_id(mut self, id: Id) -> Self {
        self.id = id;
        self
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
