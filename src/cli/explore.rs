//! `parliament explore MODEL`: stateright's explorer over a model, in the paper's words
//! (`parliament::check::explore`).

use super::usage_error;
use clap::Subcommand;
use parliament::check::explore;
use parliament::models::parliament::ParliamentArgs;
use parliament::models::paxos_spec::PaxosSpecArgs;
use parliament::models::synod::SynodArgs;
use std::net::SocketAddr;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum ExploreModel {
    /// The single-decree Synod protocol (paper, section 2).
    Synod {
        #[command(flatten)]
        model: SynodArgs,
        /// Where the explorer listens.
        #[arg(long, default_value = "127.0.0.1:3000")]
        addr: SocketAddr,
    },
    /// The multi-decree Parliament replicating a key-value map (paper, section 3).
    Parliament {
        #[command(flatten)]
        model: ParliamentArgs,
        /// Where the explorer listens.
        #[arg(long, default_value = "127.0.0.1:3000")]
        addr: SocketAddr,
    },
    /// tla/Paxos.tla, transliterated.
    PaxosSpec {
        #[command(flatten)]
        model: PaxosSpecArgs,
        /// Where the explorer listens.
        #[arg(long, default_value = "127.0.0.1:3000")]
        addr: SocketAddr,
    },
}

/// Prints the URL, then serves until interrupted; 2 when the flags are refused or the
/// address cannot be had.
pub fn run(model: ExploreModel) -> ExitCode {
    let served = match model {
        ExploreModel::Synod { model, addr } => {
            let cfg = model.config();
            if let Err(e) = cfg.validate() {
                return usage_error(&e);
            }
            explore::serve(cfg.into_model(), addr, &|| announce(addr))
        }
        ExploreModel::Parliament { model, addr } => {
            let cfg = model.config();
            if let Err(e) = cfg.validate() {
                return usage_error(&e);
            }
            explore::serve(cfg.into_model(), addr, &|| announce(addr))
        }
        ExploreModel::PaxosSpec { model, addr } => {
            let cfg = model.config();
            if let Err(e) = cfg.validate() {
                return usage_error(&e);
            }
            explore::serve(cfg.into_model(), addr, &|| announce(addr))
        }
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => usage_error(&e),
    }
}

fn announce(addr: SocketAddr) {
    println!("explorer: http://{addr}/ (Ctrl-C stops it)");
    use std::io::Write;
    let _ = std::io::stdout().flush();
}
