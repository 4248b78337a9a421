#!/usr/bin/env python3
"""Faults under load: how long a 3-priest Parliament answers nobody when one priest fails.

    benches/faults.py [--faults N] [--clients C] [--kinds kill,pause,president] [--pause-ms MS]
                      [--every-s S] [--quiet-s S] [--out FILE]

Starts a local `parliament cluster` (its supervisor restarts a killed priest after 100 ms),
runs `parliament-bench` (SET, C clients, default 16) for the whole run, and after a quiet stretch (default 3 s) injects N faults (default 20), one
every S seconds (default 2), taking the kinds by turns:

- kill: kill -9 of a follower, chosen at random (the supervisor restarts it);
- pause: SIGSTOP of a follower for MS milliseconds (default 500), then SIGCONT;
- president: kill -9 of the president (the supervisor restarts it; another priest is
  elected).

The clients spread over the three listeners (client i to priest i mod 3, each listener
sends its commands on to the president), and a client whose listener is killed connects
to the next one (`parliament-bench --reconnect`; its command in flight counts as lost).

Each fault waits until every priest answers `parliament status` and has applied every decree
the president had chosen when the wait began (a restarted priest may come back late: the
supervisor's delay doubles while a priest keeps dying young; and it first catches up), so
every fault is one priest failing, never a second beside one still down or catching up; a
fault that would come later than the load's end is left out. For every fault it measures the longest silence: the longest time between consecutive
answers (to any client) from the fault to 1.5 s after it. It prints, per kind, the median
and the maximum over the faults, whether the victim was in the president's quorum, and
beside them the quiet stretch's figures: its p50 and p99 latency, its longest silence, and
the median and maximum of the longest silence in each 1.5 s window of it, back to back: what
a window with no fault costs, the baseline of a fault's (a longer --quiet-s gives more such
windows). The goal of docs/performance.md is a longest silence per fault of at most twice the
quiet p99. The bench's JSON report (every command's start and latency) and the faults are
written to FILE (default: a new file under /tmp, printed at the end).

Exit status 0 when the run completed (whatever the figures), 1 when the cluster or the bench
failed, 2 on bad usage.
"""

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WINDOW_S = 1.5


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--faults", type=int, default=20)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--kinds", default="kill,pause,president")
    p.add_argument("--pause-ms", type=int, default=500)
    p.add_argument("--every-s", type=float, default=2.0)
    p.add_argument("--quiet-s", type=float, default=3.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out")
    a = p.parse_args()
    kinds = a.kinds.split(",")
    if a.faults < 1 or a.clients < 1 or a.every_s < WINDOW_S or a.quiet_s < 2 * WINDOW_S:
        p.error(
            "--faults and --clients must be positive, --every-s at least %s, --quiet-s at least %s"
            % (WINDOW_S, 2 * WINDOW_S)
        )
    if not kinds or any(k not in ("kill", "pause", "president") for k in kinds):
        p.error("--kinds is a comma-separated list of kill, pause and president")
    if a.pause_ms < 1 or a.pause_ms / 1000 >= a.every_s:
        p.error("--pause-ms must be positive and shorter than --every-s")
    a.kinds = kinds
    return a


def status(binary, config):
    out = subprocess.run(
        [binary, "status", "--config", config, "--json"],
        capture_output=True, text=True, timeout=10,
    )
    return json.loads(out.stdout) if out.returncode in (0, 1) and out.stdout else []


def president_of(rows):
    for r in rows:
        if r.get("role") == "president":
            return r
    return None


def caught_up(rows, mark):
    """Whether every priest answered, one presides, and each has applied every decree up to
    `mark` (the president's highest chosen when the wait began; None: no president heard
    yet, so not caught up)."""
    if mark is None or not rows or any(not r.get("role") for r in rows):
        return False
    return all((r.get("highest_applied") or 0) >= mark for r in rows)


def silences(answers, start, end):
    """The longest gap between consecutive answer times (sorted) that overlaps [start, end]."""
    longest = 0
    prev = None
    for a in answers:
        if prev is not None and a >= start and prev <= end:
            longest = max(longest, a - prev)
        if a > end:
            break
        prev = a
    return longest


def quantile(xs, q):
    xs = sorted(xs)
    return xs[max(0, min(len(xs) - 1, int(len(xs) * q + 0.999999) - 1))] if xs else 0


def main():
    a = parse_args()
    rng = random.Random(a.seed)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target/release/parliament")
    bench = os.path.join(ROOT, "target/release/parliament-bench")
    d = tempfile.mkdtemp(prefix="faults.")
    out_path = a.out or os.path.join(d, "faults.json")
    cluster = subprocess.Popen(
        [binary, "cluster", "--dir", d], stdout=open(os.path.join(d, "cluster.out"), "w"),
        stderr=subprocess.STDOUT,
    )
    try:
        config = os.path.join(d, "cluster.toml")
        for _ in range(200):
            try:
                if "ready" in open(os.path.join(d, "cluster.out")).read():
                    break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            print("the cluster did not start:\n" + open(os.path.join(d, "cluster.out")).read())
            return 1
        pres = president_of(status(binary, config))
        if pres is None:
            print("no president after start")
            return 1
        seconds = a.quiet_s + a.faults * a.every_s + WINDOW_S
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True).stdout.strip()
        print("commit %s, %s, %d cores; %d clients, %d faults (%s), one every %.1f s"
              % (commit, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), os.cpu_count(),
                 a.clients, a.faults, ",".join(a.kinds), a.every_s))
        listeners = ",".join(r["client_address"] for r in status(binary, config))
        load = subprocess.Popen(
            [bench, "--addr", listeners, "--clients", str(a.clients), "--reconnect",
             "--seconds", str(seconds), "--json", "--requests", "--timeout", "30"],
            stdout=subprocess.PIPE, text=True,
        )
        t0 = time.time()
        faults = []
        not_before = 0.0
        for i in range(a.faults):
            # Never within the last fault's window, however late the last one came.
            due = max(t0 + a.quiet_s + i * a.every_s, not_before)
            time.sleep(max(0, due - time.time()))
            rows = status(binary, config)
            wait_began = time.time()
            mark = None
            while True:
                if mark is None and president_of(rows):
                    mark = president_of(rows).get("highest_chosen") or 0
                if caught_up(rows, mark) or time.time() >= t0 + seconds - 2 * WINDOW_S:
                    break
                time.sleep(0.05)
                rows = status(binary, config)
            waited = time.time() - wait_began
            if time.time() > t0 + seconds - 2 * WINDOW_S:
                print("fault %d: past the load's end; left out" % i)
                break
            pres = president_of(rows)
            if pres is None:
                print("fault %d: no president to ask; skipped" % i)
                continue
            followers = [r for r in rows if r["priest"] != pres["priest"]
                         and (r.get("supervisor") or {}).get("pid")]
            if not followers:
                print("fault %d: no follower running; skipped" % i)
                continue
            kind = a.kinds[i % len(a.kinds)]
            victim = pres if kind == "president" else rng.choice(followers)
            pid = (victim.get("supervisor") or {}).get("pid")
            if pid is None:
                print("fault %d: the president's process is not known; skipped" % i)
                continue
            at = time.time()
            if kind in ("kill", "president"):
                os.kill(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGSTOP)
                time.sleep(a.pause_ms / 1000)
                os.kill(pid, signal.SIGCONT)
            not_before = time.time() + WINDOW_S
            faults.append({
                "kind": kind, "unix_s": at, "victim": victim["priest"],
                "president": pres["priest"],
                "in_quorum": kind == "president"
                or victim["priest"] in (pres.get("quorum") or []),
                "waited_s": waited,
                "quorum": pres.get("quorum"),
                "ballots": {r["priest"]: r.get("ballot") for r in rows},
            })
        report_text, _ = load.communicate()
        if load.returncode != 0:
            print("the bench failed (exit %d)" % load.returncode)
            return 1
        report = json.loads(report_text)
    finally:
        cluster.send_signal(signal.SIGINT)
        try:
            cluster.wait(timeout=10)
        except subprocess.TimeoutExpired:
            cluster.kill()

    start_s = report["started_unix_us"] / 1e6
    reqs = report["requests"]
    answers = sorted((s + l) / 1e6 for s, l in reqs)
    quiet = [l / 1e3 for s, l in reqs if 0.5 <= s / 1e6 < a.quiet_s - WINDOW_S / 2]
    quiet_silence = silences(answers, 0.5, a.quiet_s - WINDOW_S / 2) * 1e3
    q50, q99 = quantile(quiet, 0.5), quantile(quiet, 0.99)
    print("quiet (%.1f-%.1f s): %d commands, p50 %.2f ms, p99 %.2f ms, longest silence %.1f ms"
          % (0.5, a.quiet_s - WINDOW_S / 2, len(quiet), q50, q99, quiet_silence))
    # The baseline a fault's window compares with: the longest silence of each window as
    # long as a fault's, one after another through the quiet stretch, with no fault at all.
    free = []
    t = 0.5
    while t + WINDOW_S <= a.quiet_s - WINDOW_S / 2:
        free.append(silences(answers, t, t + WINDOW_S) * 1e3)
        t += WINDOW_S
    if free:
        print("fault-free %.1f s windows: %d, longest silence median %.1f ms, max %.1f ms"
              % (WINDOW_S, len(free), statistics.median(free), max(free)))
    for f in faults:
        rel = f["unix_s"] - start_s
        f["at_s"] = rel
        f["silence_ms"] = silences(answers, rel, rel + WINDOW_S) * 1e3
    print("fault | victim in quorum | faults | longest silence, median | max | max / quiet p99")
    for kind in a.kinds:
        for inq in (True, False):
            fs = [f["silence_ms"] for f in faults if f["kind"] == kind and f["in_quorum"] == inq]
            if not fs:
                continue
            print("%s | %s | %d | %.1f ms | %.1f ms | %.1fx"
                  % (kind, "yes" if inq else "no", len(fs), statistics.median(fs), max(fs),
                     max(fs) / q99 if q99 else float("inf")))
    waits = [f["waited_s"] for f in faults if f["waited_s"] > 0.1]
    if waits:
        print("%d faults waited for a priest to come back, %.1f s at most"
              % (len(waits), max(waits)))
    print("all commands: %d, %.0f ops/s, p99 %.2f ms; %d lost with a killed listener, %d reconnections"
          % (report["ops"], report["ops_per_sec"], report["latency"]["p99_us"] / 1e3,
             report["lost"], report["reconnects"]))
    with open(out_path, "w") as f:
        json.dump({"faults": faults, "quiet": {"p50_ms": q50, "p99_ms": q99,
                                               "silence_ms": quiet_silence,
                                               "window_silences_ms": free},
                   "bench": report}, f)
    print("kept in %s" % out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
