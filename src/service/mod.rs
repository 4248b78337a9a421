//! The services built on the host ([`crate::host`]): the priests of the paper deployed, and
//! the commands that run and watch them.
//!
//! - [`parliament`]: the key-value service, the Parliament priest with a RESP listener;
//! - [`synod`]: the Synod priest, and the client of `parliament synod propose`;
//! - [`status`]: what each priest of a running Parliament is doing (`INFO`, `parliament status`);
//! - [`cluster`]: `parliament cluster`, a whole Parliament on this machine, supervised;
//! - [`supervisor`]: when `cluster` restarts a priest that died, and what it tells `status`;
//! - [`membership`]: `parliament member`, changing the Chamber of a running Parliament;
//! - [`trace`]: `parliament trace check`, a recorded run replayed and checked.
//!
//! # Running a cluster
//!
//! ```text
//! parliament keygen cluster.key                  # once; copy it to every host
//! $EDITOR cluster.toml                           # see `host::config` for the format
//! parliament serve --config cluster.toml --id 0 --bootstrap  # and --id 1, --id 2 on
//!                                                # their hosts; restarts without --bootstrap
//! parliament synod propose --config cluster.toml "the decree"   # prints the passed decree
//! parliament synod ledger --config cluster.toml --id 0          # a priest's ledger, as JSON
//! ```
//!
//! For the key-value service on one machine, `parliament cluster --dir DIR` writes the key and
//! configuration and runs every priest ([`cluster`]); `parliament status --config FILE` shows
//! what each priest is doing ([`status`]).
//!
//! `serve` logs with `tracing` to standard error (`RUST_LOG=parliament=debug` shows every
//! message sent and every datagram dropped), stops cleanly on SIGINT or SIGTERM and then logs
//! its counters. A priest whose ledger is corrupt refuses to start and names the file and
//! offset; one whose last record was torn by a crash cuts it off and starts. One whose
//! ledger is missing or empty refuses to start unless told it is new (`--bootstrap`) or
//! coming back after losing its ledger (`--rejoin`): see [`crate::host::start`].

pub mod cluster;
pub mod membership;
pub mod parliament;
pub mod status;
pub mod supervisor;
pub mod synod;
pub mod trace;
