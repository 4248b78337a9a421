//! Every `.tla` file under `tla/` parses with the tree-sitter TLA+ grammar (no TLC needed).
//! Needs Python 3 with `tree-sitter` and `tree-sitter-tlaplus` (`.ci/run` installs them).

#[test]
fn every_tla_file_parses() {
    let out = std::process::Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tla/check_syntax.py"))
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "tla/check_syntax.py failed (pip install tree-sitter==0.26.1 tree-sitter-tlaplus==1.5.0):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Paxos.tla") && text.contains("Synod.tla"),
        "{text}"
    );
}
