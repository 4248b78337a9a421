//! `parliament kv OP`: one command against a RESP server, for scripts.

use clap::{Args, Subcommand};
use parliament::resp::client::Client;
use parliament::resp::{Command as Cmd, Reply};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args)]
pub struct KvArgs {
    /// The server, HOST:PORT.
    #[arg(long, default_value = "127.0.0.1:6379")]
    addr: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    #[command(subcommand)]
    op: KvOp,
}

#[derive(Subcommand)]
enum KvOp {
    /// Print the key's value (status 1, and nothing printed, if absent).
    Get { key: String },
    /// Write the key.
    Set { key: String, value: String },
    /// Remove the key (status 1 if it was absent).
    Del { key: String },
    /// Status 0 if the key exists, 1 if not.
    Exists { key: String },
    /// Write NEW if the key holds EXPECTED (status 1 if it did not).
    Cas {
        key: String,
        expected: String,
        new: String,
    },
    /// Write the key only if it is absent (status 1 if it was present).
    Setnx { key: String, value: String },
    /// Check the server answers.
    Ping,
}

/// Prints the answer: exit status 0 for yes (found, deleted, swapped), 1 for no, 2 for an
/// error.
pub fn run(args: KvArgs) -> ExitCode {
    let KvArgs { addr, timeout, op } = args;
    let cmd = match op {
        KvOp::Get { key } => Cmd::Get { key },
        KvOp::Set { key, value } => Cmd::Set { key, value },
        KvOp::Del { key } => Cmd::Del { key },
        KvOp::Exists { key } => Cmd::Exists { key },
        KvOp::Cas { key, expected, new } => Cmd::Cas {
            key,
            expected: Some(expected),
            new,
        },
        KvOp::Setnx { key, value } => Cmd::Cas {
            key,
            expected: None,
            new: value,
        },
        KvOp::Ping => Cmd::Ping(None),
    };
    let reply = Client::connect(&addr).and_then(|mut c| {
        c.set_timeout(Some(Duration::from_secs(timeout.max(1))))?;
        c.command(&cmd)
    });
    match reply {
        Err(e) => {
            eprintln!("parliament kv: {addr}: {e}");
            ExitCode::from(2)
        }
        Ok(Reply::Error(e)) => {
            eprintln!("parliament kv: {e}");
            ExitCode::from(2)
        }
        Ok(Reply::Bulk(Some(v))) => {
            println!("{}", String::from_utf8_lossy(&v));
            ExitCode::SUCCESS
        }
        Ok(Reply::Simple(s)) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Ok(Reply::Integer(n)) => {
            println!("{n}");
            if n > 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Ok(Reply::Bulk(None) | Reply::Array(None)) => ExitCode::from(1),
        Ok(other @ Reply::Array(Some(_))) => {
            println!("{other:?}");
            ExitCode::SUCCESS
        }
    }
}
