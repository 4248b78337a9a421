//! An in-memory, single-node [`Backend`]: the law's map ([`KvMap`]) behind a mutex,
//! answering at once.
//!
//! Not replicated and not durable: it is the yardstick the listener and the load generator
//! are tested against. It executes every command as the replicated service's priests do,
//! through the same mapping ([`super::law`]) and the same map, so its answers are the
//! semantics every backend's answers must match.

use super::law::{op_of, reply_of};
use super::server::{Backend, ClientId, Responder};
use super::{Command, Reply};
use crate::kv::{KvMap, Op};
use std::sync::Mutex;

/// The map.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    /// The map, and the latest time it executed at (its clock never goes back).
    map: Mutex<(KvMap, u64)>,
}

impl MemoryBackend {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Executes one command on the map.
    pub fn execute(&self, cmd: Command) -> Reply {
        let mut guard = self.map.lock().expect("not poisoned");
        let (map, clock) = &mut *guard;
        match (&cmd, op_of(&cmd)) {
            (Command::Ping(None), _) => Reply::Simple("PONG".into()),
            (Command::Ping(Some(m)), _) => Reply::Bulk(Some(m.clone().into_bytes())),
            (Command::Info(_), _) => Reply::Bulk(Some(
                format!("# Memory\r\nbackend:memory\r\nkeys:{}\r\n", map.len()).into_bytes(),
            )),
            (Command::Commands(q), _) => q.reply(),
            (_, Some(Op::Member(_))) => Reply::err("the in-memory map has no Chamber to change"),
            (_, Some(op)) => {
                // Keys expire by this machine's clock, which may go back: the map's never does.
                *clock = crate::kv::unix_millis().max(*clock);
                let now = *clock;
                map.expire_through(now);
                reply_of(&cmd, map.execute_at(&op, now))
            }
            (_, None) => Reply::err("the in-memory map does not execute this command"),
        }
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.map.lock().expect("not poisoned").0.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Backend for MemoryBackend {
    fn submit(&self, _client: ClientId, cmd: Command, reply: Responder) {
        reply.send(self.execute(cmd));
    }
}
