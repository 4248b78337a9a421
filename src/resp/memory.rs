//! An in-memory, single-node [`Backend`]: a map behind a mutex, answering at once.
//!
//! Not replicated and not durable: it is the yardstick the listener and the load generator
//! are tested against, and the semantics every backend's answers must match (see the
//! command table in [`super`]).

use super::server::{Backend, ClientId, Responder};
use super::{Command, Reply};
use std::collections::HashMap;
use std::sync::Mutex;

/// The map.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    map: Mutex<HashMap<String, String>>,
}

impl MemoryBackend {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Executes one command on the map.
    pub fn execute(&self, cmd: Command) -> Reply {
        let mut map = self.map.lock().expect("not poisoned");
        match cmd {
            Command::Ping(None) => Reply::Simple("PONG".into()),
            Command::Ping(Some(m)) => Reply::Bulk(Some(m.into_bytes())),
            Command::Info(_) => Reply::Bulk(Some(
                format!("# Memory\r\nbackend:memory\r\nkeys:{}\r\n", map.len()).into_bytes(),
            )),
            Command::Member(_) => Reply::err("the in-memory map has no Chamber to change"),
            Command::Get { key } => Reply::Bulk(map.get(&key).map(|v| v.clone().into_bytes())),
            Command::Set { key, value } => {
                map.insert(key, value);
                Reply::ok()
            }
            Command::Del { key } => Reply::Integer(map.remove(&key).is_some() as i64),
            Command::Exists { key } => Reply::Integer(map.contains_key(&key) as i64),
            Command::Cas { key, expected, new } => {
                let swapped = map.get(&key) == expected.as_ref();
                if swapped {
                    map.insert(key, new);
                }
                match expected {
                    Some(_) => Reply::Integer(swapped as i64),
                    None if swapped => Reply::ok(),
                    None => Reply::nil(),
                }
            }
        }
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.map.lock().expect("not poisoned").len()
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
