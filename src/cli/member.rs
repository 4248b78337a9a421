//! `parliament member`: add, remove, replace or list the priests of a running Parliament
//! whose configuration has a `[membership]` table (see docs/membership.md).

use super::{load_config, usage_error};
use clap::{Args, Subcommand};
use parliament::service::membership::{self, Request};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args)]
pub struct MemberArgs {
    /// The cluster's TOML configuration.
    #[arg(long, value_name = "FILE")]
    config: std::path::PathBuf,
    /// How long to wait for each listener to connect and answer INFO, in milliseconds (a
    /// change also waits for its decree, up to the listener's client timeout).
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
    #[command(subcommand)]
    op: MemberOp,
}

#[derive(Subcommand)]
enum MemberOp {
    /// Make priest ID a member. Start it first with `serve --join` from a configuration
    /// that lists it; its address and token are read from there unless given.
    Add {
        #[arg(long)]
        id: usize,
        /// Its UDP address (default: its `address` in the configuration).
        #[arg(long)]
        address: Option<SocketAddr>,
        /// Its RESP listener, whose INFO gives its token (default: its `client_address` in
        /// the configuration).
        #[arg(long)]
        client_address: Option<SocketAddr>,
        /// Its ledger's token, 16 hex digits (default: asked from its listener's INFO).
        #[arg(long, value_parser = hex_token)]
        token: Option<u64>,
    },
    /// Remove priest ID.
    Remove {
        #[arg(long)]
        id: usize,
    },
    /// Remove priest OLD and add priest ID in one change.
    Replace {
        #[arg(long)]
        old: usize,
        #[arg(long)]
        id: usize,
        #[arg(long)]
        address: Option<SocketAddr>,
        #[arg(long)]
        client_address: Option<SocketAddr>,
        #[arg(long, value_parser = hex_token)]
        token: Option<u64>,
    },
    /// Print the members in force (id, incarnation, token, address) and any pending change.
    List,
}

fn hex_token(s: &str) -> Result<u64, String> {
    u64::from_str_radix(s, 16)
        .ok()
        .filter(|&t| t != 0)
        .ok_or_else(|| format!("{s:?} is not a token (16 hex digits, not all zero)"))
}

/// Prints the answer: 0 on success, 1 if the law refused or no listener answered, 2 on a
/// usage error.
pub fn run(args: MemberArgs) -> ExitCode {
    let cfg = match load_config(&args.config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let request = match args.op {
        MemberOp::Add {
            id,
            address,
            client_address,
            token,
        } => Request::Add {
            id,
            address,
            client_address,
            token,
        },
        MemberOp::Remove { id } => Request::Remove { id },
        MemberOp::Replace {
            old,
            id,
            address,
            client_address,
            token,
        } => Request::Replace {
            old,
            id,
            address,
            client_address,
            token,
        },
        MemberOp::List => Request::List,
    };
    if cfg.membership.is_none() {
        return usage_error(&format!(
            "{} has no [membership] table: its priests are the ones listed, for good",
            args.config.display()
        ));
    }
    let timeout = Duration::from_millis(args.timeout_ms.max(1));
    match membership::run(&cfg, &request, timeout) {
        Ok(text) => {
            print!("{text}");
            if !text.ends_with('\n') {
                println!();
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("parliament member: {e}");
            ExitCode::from(1)
        }
    }
}
