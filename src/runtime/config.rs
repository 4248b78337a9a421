//! The cluster's configuration file (TOML).
//!
//! ```toml
//! # Paths are relative to this file's directory.
//! ledger_dir = "ledger"        # priest N keeps its ledger in ledger_dir/priest-N
//! key_file = "cluster.key"     # 64 hex digits; `parliament keygen FILE` writes one
//! protocol = "synod"           # or "parliament" (the key-value service); default "synod"
//!
//! [timers]
//! retry_ms = [100, 200]        # a priest with a proposal retries a ballot after this long
//!
//! [[priest]]
//! id = 0
//! address = "127.0.0.1:7000"
//!
//! [[priest]]
//! id = 1
//! address = "127.0.0.1:7001"   # or all IPv6: "[::1]:7001"
//! client_address = "127.0.0.1:6380"  # parliament only: its RESP (Redis) listener, TCP
//! ```
//!
//! Priest ids are their indices, listed in order from 0: they are the actor [`Id`]s the
//! checked model uses, so a deployed priest runs with exactly the ids it was checked with.

use super::wire::Key;
use serde::Deserialize;
use stateright::actor::Id;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The most priests a cluster may have (the [`crate::ballot::Priests`] bit set).
pub const MAX_PRIESTS: usize = 64;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    ledger_dir: PathBuf,
    key_file: PathBuf,
    #[serde(default)]
    protocol: Protocol,
    #[serde(default)]
    timers: RawTimers,
    #[serde(default)]
    priest: Vec<RawPriest>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTimers {
    #[serde(default = "default_retry")]
    retry_ms: [u64; 2],
}

impl Default for RawTimers {
    fn default() -> Self {
        RawTimers {
            retry_ms: default_retry(),
        }
    }
}

fn default_retry() -> [u64; 2] {
    [100, 200]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPriest {
    id: usize,
    address: String,
    #[serde(default)]
    client_address: Option<String>,
}

/// Which priest `parliament serve` runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// The single-decree Synod priest ([`crate::synod`]).
    #[default]
    Synod,
    /// The multi-decree Parliament priest ([`crate::parliament`]) with a RESP listener.
    Parliament,
}

/// A validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// The priests' addresses, by index.
    pub priests: Vec<SocketAddr>,
    /// Where the priests' ledgers live.
    pub ledger_dir: PathBuf,
    pub key: Key,
    /// How long a priest waits before retrying a ballot.
    pub retry: Range<Duration>,
    /// Which priest `serve` runs.
    pub protocol: Protocol,
    /// Each priest's RESP listener (TCP), if it has one.
    pub client_addresses: Vec<Option<SocketAddr>>,
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read configuration {}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::parse(&text, base, path)
            .map_err(|e| format!("configuration {}: {e}", path.display()))
    }

    /// Parses configuration text; relative paths are taken from `base`.
    pub fn parse(text: &str, base: &Path, path: &Path) -> Result<Config, String> {
        let raw: Raw = toml::from_str(text).map_err(|e| e.to_string())?;
        if raw.priest.is_empty() {
            return Err("no [[priest]] listed".into());
        }
        if raw.priest.len() > MAX_PRIESTS {
            return Err(format!(
                "{} priests listed; at most {MAX_PRIESTS} are supported",
                raw.priest.len()
            ));
        }
        let mut priests: Vec<SocketAddr> = Vec::new();
        let mut client_addresses = Vec::new();
        for (i, p) in raw.priest.iter().enumerate() {
            let client: Option<SocketAddr> = match &p.client_address {
                None => None,
                Some(a) => Some(a.parse().map_err(|e| {
                    format!("priest {i}: client_address {a:?} is not IP:PORT ({e})")
                })?),
            };
            client_addresses.push(client);
            if p.id != i {
                return Err(format!(
                    "priest ids must be 0, 1, 2, ... in the order listed; the priest at \
                     position {i} has id {}",
                    p.id
                ));
            }
            let addr: SocketAddr = p.address.parse().map_err(|e| {
                format!(
                    "priest {i}: address {:?} is not IP:PORT ({e}); write IPv6 as [::1]:7000",
                    p.address
                )
            })?;
            if addr.port() == 0 {
                return Err(format!("priest {i}: port 0 is not a fixed address"));
            }
            if addr.ip().is_unspecified() {
                return Err(format!(
                    "priest {i}: {addr} is unspecified; give the address peers reach it at"
                ));
            }
            if let Some(first) = priests.first() {
                if first.is_ipv4() != addr.is_ipv4() {
                    return Err(format!(
                        "priest {i}: {addr} is not of the same address family as priest 0 \
                         ({first}); one cluster speaks IPv4 or IPv6"
                    ));
                }
            }
            if let Some(j) = priests.iter().position(|a| *a == addr) {
                return Err(format!("priests {j} and {i} share the address {addr}"));
            }
            priests.push(addr);
        }
        let [lo, hi] = raw.timers.retry_ms;
        if lo == 0 || lo > hi {
            return Err(format!(
                "timers.retry_ms = [{lo}, {hi}] must be [least, most] with 0 < least <= most"
            ));
        }
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let key = Key::read(&resolve(&raw.key_file))?;
        Ok(Config {
            path: path.to_path_buf(),
            priests,
            ledger_dir: resolve(&raw.ledger_dir),
            key,
            retry: Duration::from_millis(lo)..Duration::from_millis(hi.max(lo + 1)),
            protocol: raw.protocol,
            client_addresses,
        })
    }

    /// The priests' actor ids (their indices).
    pub fn priest_ids(&self) -> Vec<Id> {
        Id::vec_from(0..self.priests.len())
    }

    /// Priest `ix`'s ledger directory.
    pub fn ledger_of(&self, ix: usize) -> PathBuf {
        self.ledger_dir.join(format!("priest-{ix}"))
    }

    /// Checks that `ix` names a priest.
    pub fn check_priest(&self, ix: usize) -> Result<(), String> {
        if ix < self.priests.len() {
            Ok(())
        } else {
            Err(format!(
                "there is no priest {ix}: {} lists priests 0 to {}",
                self.path.display(),
                self.priests.len() - 1
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k"), Key::random().to_hex()).unwrap();
        Config::parse(text, dir.path(), Path::new("test.toml"))
    }

    const GOOD: &str = r#"
ledger_dir = "l"
key_file = "k"
[timers]
retry_ms = [10, 20]
[[priest]]
id = 0
address = "127.0.0.1:7000"
[[priest]]
id = 1
address = "127.0.0.1:7001"
"#;

    #[test]
    fn a_good_configuration() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.priests.len(), 2);
        assert!(c.priests[1].is_ipv4());
        let v6 = GOOD.replace("127.0.0.1:7000", "[::1]:7000");
        let v6 = v6.replace("127.0.0.1:7001", "[::1]:7001");
        assert!(parse(&v6).unwrap().priests[1].is_ipv6());
        assert_eq!(
            c.retry,
            Duration::from_millis(10)..Duration::from_millis(20)
        );
        assert!(c.ledger_of(1).ends_with("l/priest-1"));
        assert!(c.check_priest(2).unwrap_err().contains("priests 0 to 1"));
        assert_eq!(c.protocol, Protocol::Synod);
        assert_eq!(c.client_addresses, vec![None, None]);
        let p = GOOD.replace("id = 1\n", "id = 1\nclient_address = \"127.0.0.1:6380\"\n");
        let c = parse(&format!("protocol = \"parliament\"\n{p}")).unwrap();
        assert_eq!(c.protocol, Protocol::Parliament);
        assert_eq!(
            c.client_addresses[1],
            Some("127.0.0.1:6380".parse().unwrap())
        );
    }

    #[test]
    fn bad_configurations_say_what_is_wrong() {
        let cases = [
            (GOOD.replace("id = 1", "id = 3"), "position 1 has id 3"),
            (GOOD.replace(":7001", ":7000"), "share the address"),
            (GOOD.replace("127.0.0.1:7001", "::1:7001"), "not IP:PORT"),
            (
                GOOD.replace("127.0.0.1:7001", "[::1]:7001"),
                "same address family",
            ),
            (GOOD.replace("[10, 20]", "[20, 10]"), "retry_ms"),
            (
                GOOD.replace("key_file = \"k\"", "key_file = \"nope\""),
                "nope",
            ),
            (GOOD.replace("ledger_dir", "ledger_dri"), "ledger_dri"),
            (format!("protocol = \"raft\"\n{GOOD}"), "raft"),
            (
                GOOD.replace("id = 1\n", "id = 1\nclient_address = \"nowhere\"\n"),
                "client_address",
            ),
            (
                GOOD.replace("127.0.0.1:7000", "0.0.0.0:7000"),
                "unspecified",
            ),
        ];
        for (text, want) in cases {
            let err = parse(&text).unwrap_err();
            assert!(err.contains(want), "expected {want:?} in {err:?}");
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k"), "123").unwrap();
        let err = Config::parse(GOOD, dir.path(), Path::new("x")).unwrap_err();
        assert!(err.contains("64 hexadecimal digits"), "{err}");
    }
}
