//! parliament: Lamport's Paxos from "The Part-Time Parliament" as `stateright` actors.
//!
//! - [`ballot`]: ballot numbers and quorum systems (B1, B2).
//! - [`synod`]: the single-decree Synod priest (paper, section 2).
//! - [`parliament`]: the multi-decree Parliament priest (paper, section 3).
//! - [`kv`]: the law, a key-value state machine with client sessions.
//! - [`models`]: the checked models built from the actors, with their properties.
//! - [`check`]: running the checker and reporting.
//! - [`clock`]: the wall clock as a handler's input, recorded and replayed with a trace.
//! - [`host`]: any actor on UDP with a durable ledger, knowing no protocol (deployment).
//! - [`service`]: the priests deployed on the host: the key-value service, the Synod, status
//!   and the local cluster supervisor.
//! - [`resp`]: the client protocol (RESP2, Redis's), and its TCP listener.

pub mod ballot;
pub mod check;
pub mod clock;
pub mod host;
pub mod kv;
pub mod parliament;
pub mod resp;
pub mod service;
pub mod synod;

#[path = "../models/mod.rs"]
pub mod models;
