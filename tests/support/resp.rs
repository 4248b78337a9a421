//! Small helpers for tests that talk RESP to a listener over raw TCP (the in-memory server's
//! tests and the replicated service's bad-client test).

use parliament::resp::Reply;
use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

/// A bulk-string reply holding `s`.
pub fn bulk(s: &str) -> Reply {
    Reply::Bulk(Some(s.as_bytes().to_vec()))
}

/// Everything the server sends until it closes the connection.
pub fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return out,
            Err(e) => panic!(
                "reading until close: {e} (got {:?})",
                String::from_utf8_lossy(&out)
            ),
        }
    }
}
