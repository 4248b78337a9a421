//! The wire format: how one message travels in one UDP datagram.
//!
//! ```text
//! offset  size  field
//! 0       1     version (currently 1)
//! 1       8     sender's actor Id, big-endian u64 (see the Id scheme in `runtime`)
//! 9       n     the message, postcard-encoded (compact binary serde)
//! 9+n     16    MAC: keyed BLAKE3 of bytes 0..9+n under the cluster key, first 16 bytes
//! ```
//!
//! The MAC proves the datagram was made by a holder of the cluster key and that the claimed
//! sender, which the receiver uses as the message's `src`, was not altered. Nothing stops a
//! replay; replays are harmless by construction, since the checked model has a duplicating
//! network. A datagram is checked in this order, and the first failure names the drop:
//! length and version ([`Reject::Malformed`]), MAC ([`Reject::BadMac`]), then the message
//! ([`Reject::Undecodable`]); whether the sender is a member is the runtime's business.

use serde::de::DeserializeOwned;
use serde::Serialize;
use stateright::actor::Id;
use std::fmt;
use std::path::Path;

/// The version byte this build writes and accepts.
pub const VERSION: u8 = 1;
/// Bytes before the message: version and sender.
pub const HEADER: usize = 9;
/// Bytes of the MAC at the end.
pub const MAC_LEN: usize = 16;
/// The largest UDP payload over IPv4.
pub const MAX_DATAGRAM: usize = 65_507;

/// The cluster key: 32 bytes shared by every priest and client of one cluster.
#[derive(Clone)]
pub struct Key([u8; 32]);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(..)")
    }
}

impl Key {
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Key(bytes)
    }

    /// A fresh random key.
    pub fn random() -> Self {
        Key(rand::random())
    }

    /// Parses 64 hexadecimal digits (surrounding whitespace is ignored).
    pub fn from_hex(text: &str) -> Result<Self, String> {
        let text = text.trim();
        blake3::Hash::from_hex(text)
            .map(|h| Key(*h.as_bytes()))
            .map_err(|_| {
                format!(
                    "a cluster key is 64 hexadecimal digits (32 bytes); found {} characters",
                    text.len()
                )
            })
    }

    /// The key as 64 hexadecimal digits.
    pub fn to_hex(&self) -> String {
        blake3::Hash::from_bytes(self.0).to_hex().to_string()
    }

    /// Reads a key file (64 hexadecimal digits).
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read cluster key file {}: {e}", path.display()))?;
        Key::from_hex(&text).map_err(|e| format!("cluster key file {}: {e}", path.display()))
    }

    fn mac(&self, bytes: &[u8]) -> [u8; MAC_LEN] {
        let full = blake3::keyed_hash(&self.0, bytes);
        let mut mac = [0; MAC_LEN];
        mac.copy_from_slice(&full.as_bytes()[..MAC_LEN]);
        mac
    }
}

/// Why a datagram was dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reject {
    /// Too short, or a version this build does not speak.
    Malformed(String),
    /// The MAC does not match: wrong key, truncated or altered.
    BadMac,
    /// The MAC matched but the message did not decode (a peer running another protocol).
    Undecodable(String),
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reject::Malformed(why) => write!(f, "malformed datagram: {why}"),
            Reject::BadMac => write!(f, "bad MAC"),
            Reject::Undecodable(why) => write!(f, "undecodable message: {why}"),
        }
    }
}

fn id_bits(id: Id) -> u64 {
    usize::from(id) as u64
}

fn id_from_bits(bits: u64) -> Id {
    Id::from(bits as usize)
}

/// Appends the datagram carrying `msg` from `src` to `out` (which is cleared first).
pub fn encode<M: Serialize>(
    key: &Key,
    src: Id,
    msg: &M,
    out: &mut Vec<u8>,
) -> Result<(), postcard::Error> {
    out.clear();
    out.push(VERSION);
    out.extend_from_slice(&id_bits(src).to_be_bytes());
    let taken = std::mem::take(out);
    *out = postcard::to_extend(msg, taken)?;
    let mac = key.mac(out);
    out.extend_from_slice(&mac);
    Ok(())
}

/// Checks and decodes one datagram into its sender and message.
pub fn decode<M: DeserializeOwned>(key: &Key, bytes: &[u8]) -> Result<(Id, M), Reject> {
    if bytes.len() < HEADER + MAC_LEN {
        return Err(Reject::Malformed(format!(
            "{} bytes, shorter than the {} of header and MAC",
            bytes.len(),
            HEADER + MAC_LEN
        )));
    }
    if bytes[0] != VERSION {
        return Err(Reject::Malformed(format!(
            "version {}, this build speaks {VERSION}",
            bytes[0]
        )));
    }
    let (signed, mac) = bytes.split_at(bytes.len() - MAC_LEN);
    // Constant-time comparison through blake3's Hash equality is not needed for a truncated
    // MAC checked once per datagram, but it costs nothing to avoid an early exit.
    let expected = key.mac(signed);
    if expected
        .iter()
        .zip(mac)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        != 0
    {
        return Err(Reject::BadMac);
    }
    let src = id_from_bits(u64::from_be_bytes(
        signed[1..HEADER].try_into().expect("8 bytes"),
    ));
    let msg =
        postcard::from_bytes(&signed[HEADER..]).map_err(|e| Reject::Undecodable(e.to_string()))?;
    Ok((src, msg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ballot::Ballot;
    use crate::synod::{Msg, Vote};

    fn key(b: u8) -> Key {
        Key::from_bytes([b; 32])
    }

    #[test]
    fn every_synod_message_round_trips() {
        let b = Ballot::new(7, 2);
        let msgs: Vec<Msg<String>> = vec![
            Msg::NextBallot(b),
            Msg::LastVote(b, None),
            Msg::LastVote(
                b,
                Some(Vote {
                    ballot: Ballot::new(3, 1),
                    decree: "x".into(),
                }),
            ),
            Msg::BeginBallot(b, "decree".into()),
            Msg::Voted(b),
            Msg::Success("decree".into()),
            Msg::Propose("p".into()),
            Msg::Chosen("c".into()),
        ];
        let mut buf = Vec::new();
        for m in msgs {
            encode(&key(1), Id::from(2usize), &m, &mut buf).unwrap();
            let (src, back): (Id, Msg<String>) = decode(&key(1), &buf).unwrap();
            assert_eq!(src, Id::from(2usize));
            assert_eq!(back, m);
            assert!(buf.len() < 64, "{m}: {} bytes", buf.len());
        }
    }

    #[test]
    fn wrong_key_truncation_and_garbage_are_rejected() {
        let mut buf = Vec::new();
        let m: Msg<String> = Msg::Success("d".into());
        encode(&key(1), Id::from(0usize), &m, &mut buf).unwrap();
        assert_eq!(
            decode::<Msg<String>>(&key(2), &buf).unwrap_err(),
            Reject::BadMac
        );
        for cut in 0..buf.len() {
            assert!(decode::<Msg<String>>(&key(1), &buf[..cut]).is_err());
        }
        let mut flipped = buf.clone();
        flipped[3] ^= 0x10;
        assert_eq!(
            decode::<Msg<String>>(&key(1), &flipped).unwrap_err(),
            Reject::BadMac
        );
        let mut other_version = buf.clone();
        other_version[0] = 9;
        assert!(matches!(
            decode::<Msg<String>>(&key(1), &other_version),
            Err(Reject::Malformed(_))
        ));
        // A correctly signed datagram whose body is not a message of this protocol.
        let mut nonsense = vec![VERSION];
        nonsense.extend_from_slice(&0u64.to_be_bytes());
        nonsense.extend_from_slice(&[0xff, 0xff, 0xff]);
        let mac = key(1).mac(&nonsense);
        nonsense.extend_from_slice(&mac);
        assert!(matches!(
            decode::<Msg<String>>(&key(1), &nonsense),
            Err(Reject::Undecodable(_))
        ));
    }

    #[test]
    fn keys_parse_from_hex_with_clear_errors() {
        let k = Key::random();
        let back = Key::from_hex(&format!("  {}\n", k.to_hex())).unwrap();
        assert_eq!(back.0, k.0);
        let err = Key::from_hex("abc").unwrap_err();
        assert!(err.contains("64 hexadecimal digits"), "{err}");
    }
}
