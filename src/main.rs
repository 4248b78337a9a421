//! The `parliament` command: model-check the protocols (`check`, `bugs`), run and inspect a
//! deployed cluster (`serve`, `cluster`, `status`, `synod`, `keygen`), and talk to or load
//! a key-value server (`kv`, `bench`, `serve-memory`).
//!
//! Each verb is a module of [`cli`] with its flags and its `run`; the load generator behind
//! `bench` is `tools/bench/`, shared with the `parliament-bench` binary and kept out of the
//! library. Exit status: 0 on success, 2 on a usage error, and per verb as its help says
//! (`check`: 1 a property fails, 3 unknown).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../tools/bench/mod.rs"]
mod bench;
mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    cli::Cli::parse().run()
}
