//! A blocking RESP client: send a request, read its reply. Used by the load generator and
//! the tests; any Redis client would do as well.

use super::codec::{encode_request, Limits, Reply};
use super::Command;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// How large a reply a client accepts (generous: a client trusts its server).
pub const REPLY_LIMITS: Limits = Limits {
    max_bulk_len: 512 << 20,
    max_array_len: 1 << 20,
    max_inline_len: 64 << 10,
    max_buffered: 1 << 30,
};

/// One connection to a RESP server.
#[derive(Debug)]
pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Bytes of `buf` already returned as replies.
    start: usize,
    out: Vec<u8>,
}

impl Client {
    /// Connects (with `TCP_NODELAY`).
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<Client> {
        Client::from_stream(TcpStream::connect(addr)?)
    }

    /// Connects, giving up after `timeout` (with `TCP_NODELAY`).
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<Client> {
        Client::from_stream(TcpStream::connect_timeout(addr, timeout)?)
    }

    /// A client over a connected stream (with `TCP_NODELAY`).
    pub fn from_stream(stream: TcpStream) -> io::Result<Client> {
        stream.set_nodelay(true)?;
        Ok(Client {
            stream,
            buf: Vec::with_capacity(16 << 10),
            start: 0,
            out: Vec::with_capacity(16 << 10),
        })
    }

    /// Gives up on a reply after `timeout` (`None`: wait forever).
    pub fn set_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(timeout)?;
        self.stream.set_write_timeout(timeout)
    }

    /// The socket, for tests that misbehave on purpose.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// The connection's socket, for a caller that goes on without this client (an event
    /// loop). Refused while a reply read from the socket is still unreturned.
    pub fn into_stream(self) -> io::Result<TcpStream> {
        if self.start < self.buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "bytes beyond the last reply are still buffered",
            ));
        }
        Ok(self.stream)
    }

    /// Sends one request without waiting for its reply (pipelining).
    pub fn send(&mut self, words: &[&[u8]]) -> io::Result<()> {
        self.out.clear();
        encode_request(words, &mut self.out);
        self.stream.write_all(&self.out)
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads the next reply. End of stream before a whole reply is `UnexpectedEof`.
    pub fn read_reply(&mut self) -> io::Result<Reply> {
        loop {
            match Reply::decode(&self.buf[self.start..], &REPLY_LIMITS) {
                Ok(Some((reply, used))) => {
                    self.start += used;
                    if self.start == self.buf.len() {
                        self.buf.clear();
                        self.start = 0;
                    }
                    return Ok(reply);
                }
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            let mut chunk = [0u8; 16 << 10];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends a request and reads its reply.
    pub fn call(&mut self, words: &[&[u8]]) -> io::Result<Reply> {
        self.send(words)?;
        self.read_reply()
    }

    /// Sends a typed command and reads its reply.
    pub fn command(&mut self, cmd: &Command) -> io::Result<Reply> {
        let words = cmd.words();
        let refs: Vec<&[u8]> = words.iter().map(Vec::as_slice).collect();
        self.call(&refs)
    }
}
