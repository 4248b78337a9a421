//! parliament: Lamport's Paxos from "The Part-Time Parliament" as `stateright` actors.
//!
//! - [`ballot`]: ballot numbers and quorum systems (B1, B2).
//! - [`synod`]: the single-decree Synod priest (paper, section 2).
//! - [`parliament`]: the multi-decree Parliament priest (paper, section 3).
//! - [`kv`]: the law, a key-value state machine with client sessions.
//! - [`models`]: the checked models built from the actors, with their properties.
//! - [`check`]: running the checker and reporting.
//! - [`runtime`]: the actors on UDP with a durable ledger (deployment).
//! - [`resp`]: the client protocol (RESP2, Redis's), and its TCP listener.

pub mod ballot;
pub mod check;
pub mod kv;
pub mod parliament;
pub mod resp;
pub mod runtime;
pub mod synod;

#[path = "../models/mod.rs"]
pub mod models;
