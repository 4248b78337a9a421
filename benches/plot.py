#!/usr/bin/env python3
"""Plots the time series of benchmark runs as one SVG: for each run, the p99 and the longest
latency of the commands that started in each interval (log scale, left), one line each.

    benches/plot.py RUNS.jsonl [--select 'name=parliament clients=16 workload=set']
                    [--title TEXT] > plot.svg

RUNS.jsonl holds `parliament-bench --json` reports, one a line (benches/compare.sh writes
runs.jsonl so, with `name` and `round` added); a plain pretty-printed report works too.
--select keeps the runs whose fields have the values given (every pair must match).
Standard library only.
"""

import argparse
import json
import math
import sys


def load(path):
    text = open(path).read()
    dec = json.JSONDecoder()
    i, runs = 0, []
    while i < len(text):
        while i < len(text) and text[i].isspace():
            i += 1
        if i == len(text):
            break
        obj, i = dec.raw_decode(text, i)
        runs.append(obj)
    return runs


def matches(run, pairs):
    return all(str(run.get(k)) == v for k, v in pairs)


COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs")
    ap.add_argument("--select", default="")
    ap.add_argument("--title", default="latency over time: p99 (solid) and longest (dotted) per interval")
    a = ap.parse_args()
    pairs = [p.split("=", 1) for p in a.select.split()]
    runs = [r for r in load(a.runs) if matches(r, pairs) and r.get("series")]
    if not runs:
        sys.exit("no run with a time series matches %r" % a.select)
    W, H, L, R, T, B = 900, 420, 70, 220, 40, 50
    tmax = max(i["at_ms"] for r in runs for i in r["series"]) or 1
    vals = [v for r in runs for i in r["series"] for v in (i["p99_us"], i["max_us"]) if v > 0]
    lo = 10 ** math.floor(math.log10(min(vals)))
    hi = 10 ** math.ceil(math.log10(max(vals)))
    x = lambda t: L + (W - L - R) * t / tmax
    y = lambda us: T + (H - T - B) * (1 - (math.log10(max(us, lo)) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)))
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">' % (W, H),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="20" font-size="14">%s</text>' % (L, a.title.replace("&", "&amp;").replace("<", "&lt;"))]
    d = lo
    while d <= hi:
        label = "%g ms" % (d / 1000) if d >= 1000 else "%g us" % d
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (L, W - R, y(d), y(d)))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (L - 5, y(d) + 4, label))
        d *= 10
    step = 10 ** math.floor(math.log10(tmax)) if tmax >= 10 else 1
    t = 0
    while t <= tmax:
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%g s</text>' % (x(t), H - B + 18, t / 1000))
        t += step
    out.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="black"/>' % (L, W - R, H - B, H - B))
    for k, r in enumerate(runs):
        c = COLOURS[k % len(COLOURS)]
        for field, dash in (("p99_us", ""), ("max_us", ' stroke-dasharray="2,3"')):
            pts = " ".join("%.1f,%.1f" % (x(i["at_ms"]), y(i[field])) for i in r["series"])
            out.append('<polyline fill="none" stroke="%s" stroke-width="1.5"%s points="%s"/>' % (c, dash, pts))
        name = "%s %s %s clients%s" % (r.get("name", r.get("system")), r["workload"], r["clients"],
                                       " round %s" % r["round"] if "round" in r else "")
        out.append('<text x="%d" y="%d" fill="%s">%s</text>' % (W - R + 10, T + 16 * k + 10, c, name))
    out.append("</svg>")
    print("\n".join(out))


if __name__ == "__main__":
    main()
