//! `parliament cluster`: a local Parliament, every priest a child process of this one.

use super::usage_error;
use clap::Args;
use parliament::service::cluster::{self, ClusterArgs};
use std::process::ExitCode;

#[derive(Args)]
pub struct ClusterFlags {
    /// Number of priests (default 3 for a new cluster; must match an existing one).
    #[arg(long)]
    replicas: Option<usize>,
    /// The cluster's directory (cluster.toml, cluster.key, ledger/, priest-N.log).
    #[arg(long, value_name = "DIR")]
    dir: std::path::PathBuf,
    /// Priest i uses port P+i (UDP and TCP) on 127.0.0.1; default: free ports.
    #[arg(long, value_name = "P")]
    base_port: Option<u16>,
    /// Add a priest to the cluster running in DIR (the next id, a free port): the running
    /// cluster starts it, and it is added by decree. Prints the answer and exits.
    #[arg(long, conflicts_with_all = ["remove", "replicas", "base_port"])]
    add: bool,
    /// Remove priest ID from the cluster running in DIR by decree; the running cluster then
    /// stops it. Prints the answer and exits.
    #[arg(long, value_name = "ID", conflicts_with_all = ["replicas", "base_port"])]
    remove: Option<usize>,
    /// Every priest records its run in DIR (`serve --trace DIR`), for `parliament trace
    /// check DIR`.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["add", "remove"])]
    trace: Option<std::path::PathBuf>,
    /// Leave a priest that dies dead. By default it is restarted from its ledger after a
    /// delay that doubles from 100 ms to 30 s while it keeps failing (docs/operations.md).
    #[arg(long, conflicts_with_all = ["add", "remove"])]
    no_restart: bool,
}

/// Runs the cluster until Ctrl-C or SIGTERM; the exit status is `cluster::run`'s.
pub fn run(flags: ClusterFlags) -> ExitCode {
    if flags.add || flags.remove.is_some() {
        let timeout = std::time::Duration::from_secs(10);
        let done = match flags.remove {
            Some(id) => cluster::remove(&flags.dir, id, timeout),
            None => cluster::add(&flags.dir, timeout),
        };
        return match done {
            Ok(answer) => {
                println!("{answer}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        };
    }
    let args = ClusterArgs {
        replicas: flags.replicas,
        dir: flags.dir,
        base_port: flags.base_port,
    };
    let (mut cfg, created) = match cluster::prepare(&args) {
        Ok(c) => c,
        Err(e) => return usage_error(&e),
    };
    if let Some(dir) = flags.trace {
        cfg.trace_dir = Some(dir);
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return usage_error(&format!("cannot find this program's path: {e}")),
    };
    let stop = match parliament::host::stop_on_signals() {
        Ok(s) => s,
        Err(e) => return usage_error(&format!("cannot install signal handlers: {e}")),
    };
    match cluster::run(
        &cfg,
        &exe,
        created,
        !flags.no_restart,
        &stop,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    ) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
