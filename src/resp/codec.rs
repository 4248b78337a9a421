//! RESP2 framing: turning bytes into requests (server side) and replies (client side), and
//! replies into bytes.
//!
//! A request is either a *multibulk* frame, `*<n>\r\n` followed by `n` bulk strings
//! `$<len>\r\n<len bytes>\r\n` (what every client library sends), or an *inline* command, one
//! line of space-separated words ending in `\n` (what `telnet`, `redis-cli` in some modes and
//! `redis-benchmark`'s inline mode send), with `"..."` and `'...'` quoting as in Redis.
//!
//! The [`Decoder`] is incremental: bytes are fed as they arrive, and [`Decoder::next_request`]
//! returns a request only once it is complete, keeping partial frames buffered. Every size is
//! bounded by [`Limits`]: a frame that declares a bulk string or an array over the limit, or
//! that has buffered more bytes than allowed without completing, is a [`ProtocolError`]
//! *at once* (before its bytes arrive), so a client cannot make the server hold more than
//! `max_buffered` bytes. After a protocol error the stream cannot be resynchronised; the
//! server answers the error and closes the connection, as Redis does.

use std::fmt;

/// The bounds a decoder enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest bulk string (a key or a value), in bytes.
    pub max_bulk_len: usize,
    /// Most elements of one multibulk request.
    pub max_array_len: usize,
    /// Longest inline command line, and longest `*`/`$` header line.
    pub max_inline_len: usize,
    /// Most bytes buffered for one incomplete request.
    pub max_buffered: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 1 << 20,
            max_array_len: 1024,
            max_inline_len: 64 << 10,
            max_buffered: 4 << 20,
        }
    }
}

/// A malformed or oversize frame. Its `Display` is the Redis error text without the `ERR `
/// prefix (`Protocol error: invalid bulk length`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// A `*` header that is not an integer, or above `max_array_len`.
    InvalidMultibulkLength,
    /// A `$` header that is not an integer, negative, or above `max_bulk_len`.
    InvalidBulkLength,
    /// An array element that is not a bulk string.
    ExpectedDollar(u8),
    /// A bulk string not followed by `\r\n`.
    ExpectedCrlf,
    /// An inline line longer than `max_inline_len`, or of more than `max_array_len` words.
    TooBigInlineRequest,
    /// A `*` or `$` header line longer than `max_inline_len`.
    TooBigMultibulkHeader,
    /// An inline line with an unterminated quote.
    UnbalancedQuotes,
    /// More than `max_buffered` bytes without a complete request.
    RequestTooLarge(usize),
    /// A reply frame that does not parse (client side).
    InvalidReply(String),
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Protocol error: ")?;
        match self {
            ProtocolError::InvalidMultibulkLength => f.write_str("invalid multibulk length"),
            ProtocolError::InvalidBulkLength => f.write_str("invalid bulk length"),
            ProtocolError::ExpectedDollar(b) => {
                write!(f, "expected '$', got '{}'", char::from(*b).escape_default())
            }
            ProtocolError::ExpectedCrlf => f.write_str("expected CRLF after bulk string"),
            ProtocolError::TooBigInlineRequest => f.write_str("too big inline request"),
            ProtocolError::TooBigMultibulkHeader => f.write_str("too big mbulk count string"),
            ProtocolError::UnbalancedQuotes => f.write_str("unbalanced quotes in request"),
            ProtocolError::RequestTooLarge(limit) => {
                write!(f, "request larger than {limit} bytes")
            }
            ProtocolError::InvalidReply(why) => write!(f, "invalid reply: {why}"),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// An incremental request decoder (server side).
#[derive(Debug)]
pub struct Decoder {
    limits: Limits,
    buf: Vec<u8>,
    /// Bytes of `buf` already consumed by returned requests.
    start: usize,
}

impl Decoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        Decoder {
            limits,
            buf: Vec::new(),
            start: 0,
        }
    }

    /// Appends received bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 64 << 10 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet returned as requests.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next complete request (its words), `Ok(None)` if more bytes are needed.
    /// Empty requests (`*0`, blank inline lines) are skipped, as Redis does.
    pub fn next_request(&mut self) -> Result<Option<Vec<Vec<u8>>>, ProtocolError> {
        loop {
            let input = &self.buf[self.start..];
            if input.is_empty() {
                return Ok(None);
            }
            let parsed = if input[0] == b'*' {
                parse_multibulk(input, &self.limits)?
            } else {
                parse_inline(input, &self.limits)?
            };
            match parsed {
                Some((words, used)) => {
                    self.start += used;
                    if !words.is_empty() {
                        return Ok(Some(words));
                    }
                }
                None => {
                    if self.buffered() > self.limits.max_buffered {
                        return Err(ProtocolError::RequestTooLarge(self.limits.max_buffered));
                    }
                    return Ok(None);
                }
            }
        }
    }
}

/// Finds the `\r\n`-terminated line at the start of `input`; `Ok(None)` if incomplete.
fn header_line(input: &[u8], limit: usize) -> Result<Option<(&[u8], usize)>, ProtocolError> {
    let window = &input[..input.len().min(limit + 2)];
    match window.iter().position(|&b| b == b'\r') {
        Some(i) if i + 1 < input.len() => {
            if input[i + 1] != b'\n' {
                return Err(ProtocolError::ExpectedCrlf);
            }
            Ok(Some((&input[..i], i + 2)))
        }
        Some(_) => Ok(None),
        None if input.len() > limit => Err(ProtocolError::TooBigMultibulkHeader),
        None => Ok(None),
    }
}

/// A strict decimal integer: optional `-`, digits, no overflow.
fn parse_int(digits: &[u8]) -> Option<i64> {
    let (neg, digits) = match digits.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, digits),
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut n: i64 = 0;
    for &d in digits {
        n = n.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
    }
    Some(if neg { -n } else { n })
}

type Parsed = Option<(Vec<Vec<u8>>, usize)>;

fn parse_multibulk(input: &[u8], limits: &Limits) -> Result<Parsed, ProtocolError> {
    let Some((line, mut pos)) = header_line(input, limits.max_inline_len)? else {
        return Ok(None);
    };
    let n = parse_int(&line[1..]).ok_or(ProtocolError::InvalidMultibulkLength)?;
    if n > limits.max_array_len as i64 {
        return Err(ProtocolError::InvalidMultibulkLength);
    }
    if n <= 0 {
        return Ok(Some((Vec::new(), pos)));
    }
    let mut words = Vec::with_capacity(n as usize);
    let mut declared = 0usize;
    for _ in 0..n {
        let rest = &input[pos..];
        let Some(&first) = rest.first() else {
            return Ok(None);
        };
        if first != b'$' {
            return Err(ProtocolError::ExpectedDollar(first));
        }
        let Some((line, used)) = header_line(rest, limits.max_inline_len)? else {
            return Ok(None);
        };
        let len = parse_int(&line[1..]).ok_or(ProtocolError::InvalidBulkLength)?;
        if len < 0 || len as u64 > limits.max_bulk_len as u64 {
            return Err(ProtocolError::InvalidBulkLength);
        }
        let len = len as usize;
        declared += len;
        if declared > limits.max_buffered {
            return Err(ProtocolError::RequestTooLarge(limits.max_buffered));
        }
        pos += used;
        if input.len() < pos + len + 2 {
            return Ok(None);
        }
        if &input[pos + len..pos + len + 2] != b"\r\n" {
            return Err(ProtocolError::ExpectedCrlf);
        }
        words.push(input[pos..pos + len].to_vec());
        pos += len + 2;
    }
    Ok(Some((words, pos)))
}

fn parse_inline(input: &[u8], limits: &Limits) -> Result<Parsed, ProtocolError> {
    let window = &input[..input.len().min(limits.max_inline_len + 1)];
    let Some(nl) = window.iter().position(|&b| b == b'\n') else {
        if input.len() > limits.max_inline_len {
            return Err(ProtocolError::TooBigInlineRequest);
        }
        return Ok(None);
    };
    let line = input[..nl].strip_suffix(b"\r").unwrap_or(&input[..nl]);
    let words = split_inline(line)?;
    if words.len() > limits.max_array_len {
        return Err(ProtocolError::TooBigInlineRequest);
    }
    Ok(Some((words, nl + 1)))
}

/// Splits an inline command into words, with Redis's quoting rules: `"..."` understands
/// `\n \r \t \b \a \\ \" \xHH`, `'...'` understands `\'`; a closing quote must be followed by
/// a space or the end of the line.
pub fn split_inline(line: &[u8]) -> Result<Vec<Vec<u8>>, ProtocolError> {
    let mut words = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == n {
            return Ok(words);
        }
        let mut word = Vec::new();
        match line[i] {
            b'"' => {
                i += 1;
                loop {
                    if i >= n {
                        return Err(ProtocolError::UnbalancedQuotes);
                    }
                    match line[i] {
                        b'\\'
                            if i + 3 < n
                                && line[i + 1] == b'x'
                                && line[i + 2].is_ascii_hexdigit()
                                && line[i + 3].is_ascii_hexdigit() =>
                        {
                            let hex = std::str::from_utf8(&line[i + 2..i + 4]).expect("ascii");
                            word.push(u8::from_str_radix(hex, 16).expect("hex digits"));
                            i += 4;
                        }
                        b'\\' if i + 1 < n => {
                            word.push(match line[i + 1] {
                                b'n' => b'\n',
                                b'r' => b'\r',
                                b't' => b'\t',
                                b'b' => 8,
                                b'a' => 7,
                                other => other,
                            });
                            i += 2;
                        }
                        b'"' => {
                            i += 1;
                            if i < n && !line[i].is_ascii_whitespace() {
                                return Err(ProtocolError::UnbalancedQuotes);
                            }
                            break;
                        }
                        b => {
                            word.push(b);
                            i += 1;
                        }
                    }
                }
            }
            b'\'' => {
                i += 1;
                loop {
                    if i >= n {
                        return Err(ProtocolError::UnbalancedQuotes);
                    }
                    match line[i] {
                        b'\\' if i + 1 < n && line[i + 1] == b'\'' => {
                            word.push(b'\'');
                            i += 2;
                        }
                        b'\'' => {
                            i += 1;
                            if i < n && !line[i].is_ascii_whitespace() {
                                return Err(ProtocolError::UnbalancedQuotes);
                            }
                            break;
                        }
                        b => {
                            word.push(b);
                            i += 1;
                        }
                    }
                }
            }
            _ => {
                while i < n && !line[i].is_ascii_whitespace() {
                    word.push(line[i]);
                    i += 1;
                }
            }
        }
        words.push(word);
    }
}

/// Encodes a request as a multibulk frame (client side).
pub fn encode_request(words: &[&[u8]], out: &mut Vec<u8>) {
    out.push(b'*');
    out.extend_from_slice(words.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for w in words {
        out.push(b'$');
        out.extend_from_slice(w.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(w);
        out.extend_from_slice(b"\r\n");
    }
}

/// A RESP2 reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`
    Simple(String),
    /// `-ERR ...`: the text after the `-`, including the error kind (`ERR`, `MOVED`, ...).
    Error(String),
    /// `:1`
    Integer(i64),
    /// `$3\r\nfoo`, or `$-1` (nil) for `None`.
    Bulk(Option<Vec<u8>>),
    /// `*2\r\n...`, or `*-1` for `None`.
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// `+OK`.
    pub fn ok() -> Reply {
        Reply::Simple("OK".into())
    }

    /// `-ERR <text>`.
    pub fn err(text: impl fmt::Display) -> Reply {
        Reply::Error(format!("ERR {text}"))
    }

    /// The nil bulk string.
    pub fn nil() -> Reply {
        Reply::Bulk(None)
    }

    /// Appends the wire form. Simple strings and errors have any `\r` or `\n` replaced by a
    /// space, so a reply can never break the framing.
    pub fn encode(&self, out: &mut Vec<u8>) {
        fn line(out: &mut Vec<u8>, prefix: u8, text: &str) {
            out.push(prefix);
            out.extend(
                text.bytes()
                    .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
            );
            out.extend_from_slice(b"\r\n");
        }
        match self {
            Reply::Simple(s) => line(out, b'+', s),
            Reply::Error(s) => line(out, b'-', s),
            Reply::Integer(n) => line(out, b':', &n.to_string()),
            Reply::Bulk(None) => out.extend_from_slice(b"$-1\r\n"),
            Reply::Bulk(Some(b)) => {
                line(out, b'$', &b.len().to_string());
                out.extend_from_slice(b);
                out.extend_from_slice(b"\r\n");
            }
            Reply::Array(None) => out.extend_from_slice(b"*-1\r\n"),
            Reply::Array(Some(items)) => {
                line(out, b'*', &items.len().to_string());
                for item in items {
                    item.encode(out);
                }
            }
        }
    }

    /// The wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Decodes one reply from the start of `input` (client side): the reply and the bytes it
    /// took, or `Ok(None)` if incomplete. Bulk strings and arrays are bounded by `limits`.
    pub fn decode(input: &[u8], limits: &Limits) -> Result<Option<(Reply, usize)>, ProtocolError> {
        decode_reply(input, limits, 0)
    }
}

fn decode_reply(
    input: &[u8],
    limits: &Limits,
    depth: usize,
) -> Result<Option<(Reply, usize)>, ProtocolError> {
    let bad = |why: &str| ProtocolError::InvalidReply(why.to_string());
    if depth > 8 {
        return Err(bad("arrays nested too deep"));
    }
    let Some((line, mut pos)) = header_line(input, limits.max_inline_len)? else {
        return Ok(None);
    };
    let Some((&kind, body)) = line.split_first() else {
        return Err(bad("empty line"));
    };
    let text = || String::from_utf8_lossy(body).into_owned();
    let reply = match kind {
        b'+' => Reply::Simple(text()),
        b'-' => Reply::Error(text()),
        b':' => Reply::Integer(parse_int(body).ok_or_else(|| bad("bad integer"))?),
        b'$' => {
            let len = parse_int(body).ok_or(ProtocolError::InvalidBulkLength)?;
            if len < 0 {
                Reply::Bulk(None)
            } else if len as u64 > limits.max_bulk_len as u64 {
                return Err(ProtocolError::InvalidBulkLength);
            } else {
                let len = len as usize;
                if input.len() < pos + len + 2 {
                    return Ok(None);
                }
                if &input[pos + len..pos + len + 2] != b"\r\n" {
                    return Err(ProtocolError::ExpectedCrlf);
                }
                let b = input[pos..pos + len].to_vec();
                pos += len + 2;
                Reply::Bulk(Some(b))
            }
        }
        b'*' => {
            let n = parse_int(body).ok_or(ProtocolError::InvalidMultibulkLength)?;
            if n < 0 {
                Reply::Array(None)
            } else if n as u64 > limits.max_array_len as u64 {
                return Err(ProtocolError::InvalidMultibulkLength);
            } else {
                let mut items = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    match decode_reply(&input[pos..], limits, depth + 1)? {
                        Some((item, used)) => {
                            items.push(item);
                            pos += used;
                        }
                        None => return Ok(None),
                    }
                }
                Reply::Array(Some(items))
            }
        }
        other => {
            return Err(bad(&format!(
                "unknown type byte '{}'",
                char::from(other).escape_default()
            )))
        }
    };
    Ok(Some((reply, pos)))
}
