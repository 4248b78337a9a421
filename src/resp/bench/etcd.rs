//! The etcd v3 driver of the load generator (cargo feature `etcd`): etcd's own gRPC API
//! through the `etcd-client` crate, so that `parliament bench --etcd` measures etcd with
//! the same closed loop, keys, values and histogram as the Parliament.
//!
//! Each client has its own `etcd-client` client, that is its own HTTP/2 connection, to one
//! member: client `i` talks to endpoint `i mod n`, as etcd's `benchmark` tool spreads its
//! connections. SET is a Put; GET is a Range of one key with etcd's default, linearizable
//! consistency (the member confirms with the leader before it answers, as the Parliament's
//! GET is a decree). One request is in flight per client. The async client runs on a small
//! tokio runtime shared by the connections; each bench thread blocks on its own request.
//!
//! A gRPC status that means the member cannot be reached or did not answer in time
//! (`Unavailable`, `DeadlineExceeded`, `Cancelled`) stops the run like a broken RESP
//! connection; any other status is an error answer, counted.

use super::{fail, key_name, Answer, Connection, Driver, Load};
use etcd_client::{Client, ConnectOptions, Error, KvClient};
use std::io;
use tokio::runtime::{Handle, Runtime};
use tonic::Code;

/// Connections to the members of one etcd cluster.
pub struct Etcd {
    endpoints: Vec<String>,
    runtime: Runtime,
}

impl Etcd {
    /// `endpoints` is `HOST:PORT[,HOST:PORT...]` (an `http://` prefix is allowed).
    pub fn new(endpoints: &str) -> io::Result<Etcd> {
        let endpoints: Vec<String> = endpoints
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(String::from)
            .collect();
        if endpoints.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "--etcd needs at least one HOST:PORT",
            ));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("etcd-client")
            .enable_all()
            .build()?;
        Ok(Etcd { endpoints, runtime })
    }
}

/// One client's connection to one member.
pub struct EtcdConnection {
    kv: KvClient,
    handle: Handle,
    // Keeps the channel's other clients (watch, lease, ...) alive with the KV client.
    _client: Client,
}

impl Driver for Etcd {
    type Conn = EtcdConnection;

    fn system(&self) -> &'static str {
        "etcd"
    }

    fn target(&self) -> String {
        self.endpoints.join(",")
    }

    fn connect(&self, index: usize, load: &Load) -> io::Result<EtcdConnection> {
        let endpoint = &self.endpoints[index % self.endpoints.len()];
        let options = ConnectOptions::new()
            .with_connect_timeout(load.timeout)
            .with_timeout(load.timeout);
        let handle = self.runtime.handle().clone();
        let connecting = format!("connecting to etcd at {endpoint}");
        let client = handle
            .block_on(Client::connect([endpoint.as_str()], Some(options)))
            .map_err(|e| fail(&connecting, to_io(e)))?;
        let mut conn = EtcdConnection {
            kv: client.kv_client(),
            handle,
            _client: client,
        };
        // The channel connects lazily: one read now, so the first measured request does
        // not pay for the TCP and HTTP/2 handshakes.
        match conn.get(&key_name(0)) {
            Ok(Answer::Error) => Err(io::Error::other(format!(
                "{connecting}: the first request was refused"
            ))),
            Ok(_) => Ok(conn),
            Err(e) => Err(fail(&connecting, e)),
        }
    }
}

impl Connection for EtcdConnection {
    fn set(&mut self, key: &str, value: &[u8]) -> io::Result<Answer> {
        let kv = &mut self.kv;
        match self.handle.block_on(kv.put(key, value, None)) {
            Ok(_) => Ok(Answer::Written),
            Err(e) => answer_error(e),
        }
    }

    fn get(&mut self, key: &str) -> io::Result<Answer> {
        let kv = &mut self.kv;
        match self.handle.block_on(kv.get(key, None)) {
            Ok(r) if r.kvs().is_empty() => Ok(Answer::Miss),
            Ok(_) => Ok(Answer::Hit),
            Err(e) => answer_error(e),
        }
    }
}

/// An error status the server answered is counted; an unreachable or silent server is not.
fn answer_error(e: Error) -> io::Result<Answer> {
    match e {
        Error::GRpcStatus(s)
            if !matches!(
                s.code(),
                Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled
            ) =>
        {
            Ok(Answer::Error)
        }
        e => Err(to_io(e)),
    }
}

fn to_io(e: Error) -> io::Error {
    match e {
        Error::IoError(e) => e,
        Error::GRpcStatus(s) if s.code() == Code::DeadlineExceeded => {
            io::Error::new(io::ErrorKind::TimedOut, s.message().to_string())
        }
        e => io::Error::other(e.to_string()),
    }
}
