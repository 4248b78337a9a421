//! `parliament status`: every priest's view, asked over its RESP listener, and its restarts,
//! from the supervisor file of `parliament cluster` when there is one.

use super::{load_config, usage_error};
use clap::Args;
use parliament::service::status;
use parliament::service::supervisor::Supervision;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args)]
pub struct StatusArgs {
    /// The cluster's TOML configuration.
    #[arg(long, value_name = "FILE")]
    config: std::path::PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// How long to wait for each priest, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    timeout_ms: u64,
}

/// Prints the table (or JSON): 0 if any priest answered, 1 if none did, 2 on a usage error.
pub fn run(args: StatusArgs) -> ExitCode {
    let config = &args.config;
    let cfg = match load_config(config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if cfg.protocol != parliament::host::config::Protocol::Parliament {
        return usage_error(&format!(
            "{} does not say protocol = \"parliament\": only Parliament priests report a status",
            config.display()
        ));
    }
    let mut rows = status::query_cluster(&cfg, Duration::from_millis(args.timeout_ms.max(1)));
    // The restarts, from `parliament cluster`'s supervisor file next to the configuration.
    let supervision = Supervision::load(config);
    status::with_supervision(&mut rows, &supervision);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).expect("rows serialize")
        );
    } else {
        print!("{}", status::render(&rows, &supervision));
    }
    if rows.iter().any(|r| r.status.is_ok()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
