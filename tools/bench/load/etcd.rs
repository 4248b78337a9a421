//! The etcd v3 driver of the load generator (cargo feature `etcd`): etcd's own gRPC API
//! through the `etcd-client` crate, so that `parliament-bench --etcd` measures etcd with
//! the same closed loop, keys, values and histogram as the Parliament.
//!
//! Each client has its own `etcd-client` client, that is its own HTTP/2 connection, to one
//! member: client `i` talks to endpoint `i mod n`, as etcd's `benchmark` tool spreads its
//! connections. SET is a Put; GET is a Range of one key with etcd's default, linearizable
//! consistency (the member confirms with the leader before it answers, as the Parliament's
//! GET is confirmed by a round of the president's quorum). One request is in flight per client. The async client runs on a small
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

#[cfg(test)]
mod tests {
    use super::super::{run_etcd, run_with, Workload};
    use super::*;
    use std::net::TcpListener;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    #[test]
    fn endpoints_are_a_comma_separated_list() {
        let e = Etcd::new(" 127.0.0.1:1, http://127.0.0.1:2 ,").unwrap();
        assert_eq!(e.target(), "127.0.0.1:1,http://127.0.0.1:2");
        assert_eq!(e.system(), "etcd");
        let err = Etcd::new(" , ").err().unwrap();
        assert_eq!(err.to_string(), "--etcd needs at least one HOST:PORT");
    }

    /// One etcd member (`/usr/bin/etcd`, Debian's `etcd-server`) in a temporary directory,
    /// killed when dropped.
    struct Member(
        Child,
        #[allow(dead_code)] // kept for its Drop: the member's data directory
        tempfile::TempDir,
        String,
    );

    impl Drop for Member {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    fn member() -> Member {
        let dir = tempfile::tempdir().unwrap();
        let (client, peer) = (free_port(), free_port());
        let child = Command::new("etcd")
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args([
                "--listen-client-urls",
                &format!("http://127.0.0.1:{client}"),
                "--advertise-client-urls",
                &format!("http://127.0.0.1:{client}"),
                "--listen-peer-urls",
                &format!("http://127.0.0.1:{peer}"),
                "--initial-advertise-peer-urls",
                &format!("http://127.0.0.1:{peer}"),
                "--initial-cluster",
                &format!("default=http://127.0.0.1:{peer}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("this test needs etcd: apt-get install -y etcd-server");
        Member(child, dir, format!("127.0.0.1:{client}"))
    }

    fn load(workload: Workload, preload: bool) -> Load {
        Load {
            clients: 3,
            duration: Duration::from_millis(300),
            keys: 50,
            value_size: 100,
            workload,
            preload,
            seed: 1,
            timeout: Duration::from_secs(5),
            series_ms: 100,
            requests: false,
            reconnect: false,
        }
    }

    #[test]
    fn the_same_loop_drives_a_real_etcd_member() {
        let m = member();
        let etcd = Etcd::new(&m.2).unwrap();
        // Until the member has elected itself and answers.
        let deadline = Instant::now() + Duration::from_secs(20);
        while etcd.connect(0, &load(Workload::Get, false)).is_err() {
            assert!(Instant::now() < deadline, "etcd at {} never answered", m.2);
            std::thread::sleep(Duration::from_millis(100));
        }
        let empty = run_with(&etcd, &load(Workload::Get, false)).unwrap();
        assert!(empty.ops > 0);
        assert_eq!((empty.get_misses, empty.errors), (empty.ops, 0));

        let set = run_with(&etcd, &load(Workload::Set, false)).unwrap();
        assert!(set.ops > 0, "{set}");
        assert_eq!(set.errors + set.get_hits + set.get_misses, 0);

        let get = run_etcd(&m.2, &load(Workload::Get, true)).unwrap();
        assert_eq!((get.get_hits, get.errors), (get.ops, 0), "{get}");
        assert_eq!((get.system, get.target.as_str()), ("etcd", m.2.as_str()));

        // A member that is gone: a clear error, not a report.
        let addr = m.2.clone();
        drop(m);
        let e = run_etcd(&addr, &load(Workload::Set, false)).unwrap_err();
        assert!(
            e.to_string()
                .contains(&format!("connecting to etcd at {addr}")),
            "{e}"
        );
    }
}
