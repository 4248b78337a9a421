//! `parliament keygen FILE`: a fresh random cluster key.

use super::usage_error;
use std::process::ExitCode;

/// Writes a fresh key (64 hex digits) to `file`, which must not exist.
pub fn run(file: &std::path::Path) -> ExitCode {
    use std::io::Write;
    let key = parliament::host::wire::Key::random();
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(file)
        .and_then(|mut f| writeln!(f, "{}", key.to_hex()));
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => usage_error(&format!("cannot write {}: {e}", file.display())),
    }
}
