//! `parliament serve`: one priest of a configured cluster; `parliament serve-memory`: the
//! unreplicated yardstick.

use super::{load_config, usage_error};
use clap::Args;
use parliament::host;
use parliament::service;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args)]
pub struct ServeArgs {
    /// The cluster's TOML configuration.
    #[arg(long, value_name = "FILE")]
    config: std::path::PathBuf,
    /// Which priest to run (its id in the configuration).
    #[arg(long)]
    id: usize,
    /// The first start of a priest of a new cluster: create its ledger (with a
    /// BOOTSTRAPPED marker). Refused if the ledger holds records. Without this flag (or
    /// --rejoin) a missing or empty ledger is refused: the priest may have lost it.
    #[arg(long, conflicts_with_all = ["rejoin", "join"])]
    bootstrap: bool,
    /// Bring back a priest that lost its ledger (a replaced disk): it begins from an
    /// empty ledger marked as rejoining. Refused if the ledger holds records.
    #[arg(long, conflicts_with = "join")]
    rejoin: bool,
    /// A new priest of a running cluster whose Chamber changes by decree ([membership]): it
    /// begins from an empty ledger with a new token, and takes part once the cluster adds it
    /// (`parliament member add`). Refused if the ledger holds records.
    #[arg(long)]
    join: bool,
    /// Record this priest's run in DIR (its file `priest-<id>.trace`), for `parliament trace
    /// check DIR`; overrides the configuration's `[trace] dir`.
    #[arg(long, value_name = "DIR")]
    trace: Option<std::path::PathBuf>,
}

/// Runs the priest until SIGINT/SIGTERM: 0 on a clean stop, 1 on an error, 2 on a usage error.
pub fn run(args: ServeArgs) -> ExitCode {
    host::init_logging();
    let mut cfg = match load_config(&args.config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Some(dir) = args.trace {
        if cfg.protocol != host::config::Protocol::Parliament {
            return usage_error(
                "--trace is for protocol = \"parliament\" (the Synod's priests do not record)",
            );
        }
        cfg.trace_dir = Some(dir);
    }
    // The nice value first: `ask_slice` keeps the thread's nice value.
    if let Some(nice) = cfg.nice {
        if let Err(e) = host::scheduling::set_nice(nice) {
            return usage_error(&format!(
                "scheduling.nice = {nice}: the kernel refused it ({e}); a value below the \
                 one the priest started with needs root or CAP_SYS_NICE"
            ));
        }
    }
    if let Some(slice) = cfg.slice {
        if let Err(e) = host::scheduling::ask_slice(slice) {
            tracing::warn!(
                "the kernel refused a CPU slice of {} us ({e}); its default stays",
                slice.as_micros()
            );
        }
    }
    let stop = match host::stop_on_signals() {
        Ok(s) => s,
        Err(e) => return usage_error(&format!("cannot install signal handlers: {e}")),
    };
    let mode = match (args.bootstrap, args.rejoin, args.join) {
        (true, _, _) => host::StartMode::Bootstrap,
        (_, true, _) => host::StartMode::Rejoin,
        (_, _, true) => host::StartMode::Join,
        _ => host::StartMode::Restart,
    };
    let served = match cfg.protocol {
        host::config::Protocol::Synod => service::synod::serve(&cfg, args.id, mode, &stop),
        host::config::Protocol::Parliament => {
            service::parliament::serve(&cfg, args.id, mode, &stop)
        }
    };
    match served {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

#[derive(Args)]
pub struct ServeMemoryArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:6380")]
    listen: String,
}

/// Serves an in-memory map over RESP until SIGINT/SIGTERM.
pub fn run_memory(args: ServeMemoryArgs) -> ExitCode {
    use parliament::resp::memory::MemoryBackend;
    use parliament::resp::server::{Server, ServerConfig};
    use std::sync::Arc;
    let listen = args.listen.as_str();
    let stop = match host::stop_on_signals() {
        Ok(s) => s,
        Err(e) => return usage_error(&format!("cannot install signal handlers: {e}")),
    };
    let server = match Server::start(
        listen,
        Arc::new(MemoryBackend::new()),
        ServerConfig::default(),
    ) {
        Ok(s) => s,
        Err(e) => return usage_error(&format!("cannot listen on {listen}: {e}")),
    };
    eprintln!(
        "serving an in-memory map over RESP on {}",
        server.local_addr()
    );
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
    server.shutdown();
    ExitCode::SUCCESS
}
