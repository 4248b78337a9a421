//! `parliament kv`, `parliament bench` and `parliament-bench` as a user runs them, against the
//! in-memory server.

use parliament::resp::memory::MemoryBackend;
use parliament::resp::server::{Server, ServerConfig};
use std::process::Command;
use std::sync::Arc;

fn parliament(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_parliament"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn kv_commands_print_answers_and_exit_with_their_status() {
    let server = Server::start(
        "127.0.0.1:0",
        Arc::new(MemoryBackend::new()),
        ServerConfig::default(),
    )
    .unwrap();
    let addr = server.local_addr().to_string();
    let kv = |args: &[&str]| {
        let mut all = vec!["kv", "--addr", &addr];
        all.extend_from_slice(args);
        parliament(&all)
    };
    assert_eq!(kv(&["ping"]), (0, "PONG\n".into(), String::new()));
    assert_eq!(kv(&["get", "k"]), (1, String::new(), String::new()));
    assert_eq!(kv(&["exists", "k"]), (1, "0\n".into(), String::new()));
    assert_eq!(
        kv(&["setnx", "k", "a b"]),
        (0, "OK\n".into(), String::new())
    );
    assert_eq!(kv(&["setnx", "k", "c"]), (1, String::new(), String::new()));
    assert_eq!(kv(&["get", "k"]), (0, "a b\n".into(), String::new()));
    assert_eq!(
        kv(&["cas", "k", "x", "y"]),
        (1, "0\n".into(), String::new())
    );
    assert_eq!(
        kv(&["cas", "k", "a b", "y"]),
        (0, "1\n".into(), String::new())
    );
    assert_eq!(kv(&["set", "k", "z"]), (0, "OK\n".into(), String::new()));
    assert_eq!(kv(&["get", "k"]), (0, "z\n".into(), String::new()));
    assert_eq!(kv(&["exists", "k"]), (0, "1\n".into(), String::new()));
    assert_eq!(kv(&["del", "k"]), (0, "1\n".into(), String::new()));
    assert_eq!(kv(&["del", "k"]), (1, "0\n".into(), String::new()));
    server.shutdown();
    let (code, out, err) = kv(&["get", "k"]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(err.contains(&addr), "{err}");
}

#[test]
fn bench_command_prints_text_and_json() {
    let server = Server::start(
        "127.0.0.1:0",
        Arc::new(MemoryBackend::new()),
        ServerConfig::default(),
    )
    .unwrap();
    let addr = server.local_addr().to_string();
    let common = [
        "bench",
        "--addr",
        &addr,
        "--clients",
        "2",
        "--seconds",
        "0.3",
        "--keys",
        "100",
    ];
    let (code, out, err) = parliament(&common);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("set workload, 2 clients, 100 keys, 100-byte values"),
        "{out}"
    );
    assert!(
        out.contains(" ops/s (") && out.contains("latency p50 "),
        "{out}"
    );

    let mut args = common.to_vec();
    args.extend(["--workload", "mixed", "--value-size", "10", "--json"]);
    let (code, out, err) = parliament(&args);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["workload"], "mixed");
    assert_eq!(report["value_size"], 10);
    assert_eq!(report["errors"], 0);
    assert!(report["ops"].as_u64().unwrap() > 0);
    assert!(
        report["latency"]["p99_us"].as_f64().unwrap()
            >= report["latency"]["p50_us"].as_f64().unwrap()
    );

    let mut bad = common.to_vec();
    bad.extend(["--workload", "scan"]);
    let (code, _, err) = parliament(&bad);
    assert_eq!(code, 2);
    assert!(err.contains("unknown workload 'scan'"), "{err}");
    let (code, _, err) =
        parliament(&["bench", "--addr", &addr, "--clients", "0", "--seconds", "1"]);
    assert_eq!(code, 1);
    assert!(err.contains("--clients must be at least 1"), "{err}");
    server.shutdown();
    let (code, _, err) = parliament(&["bench", "--addr", &addr, "--seconds", "1"]);
    assert_eq!(code, 1);
    assert!(err.contains("connecting to"), "{err}");
}

#[test]
fn parliament_bench_is_the_same_load_generator_with_the_same_flags() {
    let bench = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_parliament-bench"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let server = Server::start(
        "127.0.0.1:0",
        Arc::new(MemoryBackend::new()),
        ServerConfig::default(),
    )
    .unwrap();
    let addr = server.local_addr().to_string();
    let common = ["--addr", &addr, "--clients", "2", "--seconds", "0.3"];
    let mut args = common.to_vec();
    args.extend(["--keys", "100", "--workload", "get", "--preload", "--json"]);
    let (code, out, err) = bench(&args);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (&report["system"], &report["workload"]),
        (&"resp".into(), &"get".into())
    );
    assert_eq!(report["get_hits"], report["ops"]);
    assert!(report["ops"].as_u64().unwrap() > 0);

    assert_eq!(bench(&[]).0, 2, "--addr or --etcd is required");
    let mut bad = common.to_vec();
    bad.extend(["--workload", "scan"]);
    assert_eq!(bench(&bad).0, 2);
    server.shutdown();
    let (code, _, err) = bench(&common);
    assert_eq!(code, 1);
    assert!(err.starts_with("parliament-bench: connecting to"), "{err}");
}

#[test]
fn serve_memory_serves_until_sigterm() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_parliament"))
        .args(["serve-memory", "--listen", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(
        line.starts_with("serving an in-memory map over RESP on 127.0.0.1:"),
        "{line}"
    );
    assert_eq!(parliament(&["kv", "--addr", &addr, "set", "a", "1"]).0, 0);
    assert_eq!(parliament(&["kv", "--addr", &addr, "get", "a"]).1, "1\n");
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    assert!(child.wait().unwrap().success());
    assert_eq!(parliament(&["kv", "--addr", &addr, "ping"]).0, 2);
}
