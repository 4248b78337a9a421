//! `parliament member`: changing the Chamber of a running Parliament, by decree.
//!
//! A cluster whose configuration has a `[membership]` table keeps its members in the law
//! (see docs/membership.md). The commands here are clients of the Parliament: each is a
//! `MEMBER` command sent to a listener, passed as a decree like any write, and answered when
//! the law executed it:
//!
//! - `add --id N`: priest N, already started with `serve --join` from a configuration that
//!   lists it, becomes a member. Its address is its `address` in the configuration, and its
//!   token (which tells its new ledger apart from any earlier machine with the same id) is
//!   read from its own listener's `INFO`; both can be given instead.
//! - `remove --id N`, `replace --old O --id N`, `list`.
//!
//! The law refuses, with the reason, a change while another is pending, an id in use, the
//! removal of a non-member or of the last priest: one change at a time, never queued. The
//! answer says from which decree number the change is in force; from then on the priests
//! vote by the new membership.

use super::status;
use crate::host::config::Config;
use crate::resp::client::Client;
use crate::resp::{Command, MemberCommand, Reply};
use std::net::SocketAddr;
use std::time::Duration;

/// A membership command, as the operator gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Add priest `id`; its address and token from the configuration and its `INFO` unless
    /// given.
    Add {
        id: usize,
        address: Option<SocketAddr>,
        /// Where its listener is, to read its token from (default: its `client_address` in
        /// the configuration).
        client_address: Option<SocketAddr>,
        token: Option<u64>,
    },
    Remove {
        id: usize,
    },
    /// Remove `old` and add `id` in one change.
    Replace {
        old: usize,
        id: usize,
        address: Option<SocketAddr>,
        client_address: Option<SocketAddr>,
        token: Option<u64>,
    },
    List,
}

/// What a new priest is added with: its address and token.
fn newcomer(
    cfg: &Config,
    id: usize,
    address: Option<SocketAddr>,
    client_address: Option<SocketAddr>,
    token: Option<u64>,
    timeout: Duration,
) -> Result<(SocketAddr, u64), String> {
    if id >= crate::kv::MAX_INDEX as usize {
        return Err(format!("priest id {id} is not 0 to 63"));
    }
    let listed = |what: &str| {
        format!(
            "priest {id} is not listed in {} (give --{what}, or add its [[priest]] entry)",
            cfg.path.display()
        )
    };
    let address = match address {
        Some(a) => a,
        None => *cfg.priests.get(id).ok_or_else(|| listed("address"))?,
    };
    let token = match token {
        Some(t) => t,
        None => {
            let client = client_address
                .or_else(|| cfg.client_addresses.get(id).copied().flatten())
                .ok_or_else(|| listed("token or --client-address"))?;
            let s = status::query(client, timeout).map_err(|e| {
                format!("cannot read priest {id}'s token from its listener: {e} (is it running with serve --join?)")
            })?;
            let t = s.token.ok_or_else(|| {
                format!(
                    "priest {id} at {client} has no token: it was not started with `serve \
                     --join`, so it is a founder's ledger or an older one"
                )
            })?;
            u64::from_str_radix(&t, 16)
                .map_err(|_| format!("priest {id} reports token {t:?}, not hex"))?
        }
    };
    Ok((address, token))
}

/// The `MEMBER` command for `request`.
pub fn command(cfg: &Config, request: &Request, timeout: Duration) -> Result<Command, String> {
    if cfg.membership.is_none() {
        return Err(format!(
            "{} has no [membership] table: its priests are the ones listed, for good",
            cfg.path.display()
        ));
    }
    let ix = |id: usize| {
        u8::try_from(id)
            .ok()
            .filter(|&i| i < crate::kv::MAX_INDEX)
            .ok_or_else(|| format!("priest id {id} is not 0 to 63"))
    };
    Ok(Command::Member(match request {
        Request::Add {
            id,
            address,
            client_address,
            token,
        } => {
            let (address, token) = newcomer(cfg, *id, *address, *client_address, *token, timeout)?;
            MemberCommand::Add {
                id: ix(*id)?,
                token,
                address: address.to_string(),
            }
        }
        Request::Remove { id } => MemberCommand::Remove { id: ix(*id)? },
        Request::Replace {
            old,
            id,
            address,
            client_address,
            token,
        } => {
            let (address, token) = newcomer(cfg, *id, *address, *client_address, *token, timeout)?;
            MemberCommand::Replace {
                old: ix(*old)?,
                id: ix(*id)?,
                token,
                address: address.to_string(),
            }
        }
        Request::List => MemberCommand::List,
    }))
}

/// Sends `request` through the first listener of the configuration that answers, and
/// returns the answer's text: `OK in force from decree N`, or the members. A refusal by the
/// law, or no listener answering, is an error.
pub fn run(cfg: &Config, request: &Request, timeout: Duration) -> Result<String, String> {
    let cmd = command(cfg, request, timeout)?;
    let mut tried = Vec::new();
    for addr in cfg.client_addresses.iter().flatten() {
        let reply = Client::connect_timeout(addr, timeout).and_then(|mut c| {
            // A change waits for its decree: allow the listener its own client timeout.
            c.set_timeout(Some(
                timeout.max(cfg.client_timeout + Duration::from_secs(1)),
            ))?;
            c.command(&cmd)
        });
        match reply {
            Ok(Reply::Simple(s)) => return Ok(s),
            Ok(Reply::Bulk(Some(text))) => return Ok(String::from_utf8_lossy(&text).into()),
            Ok(Reply::Error(e)) if e.contains("refused") => return Err(e),
            Ok(other) => tried.push(format!("{addr}: {other:?}")),
            Err(e) => tried.push(format!("{addr}: {e}")),
        }
    }
    Err(format!(
        "no listener took the command: {}",
        if tried.is_empty() {
            "no priest has a client_address".to_string()
        } else {
            tried.join("; ")
        }
    ))
}
