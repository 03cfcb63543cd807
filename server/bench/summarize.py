"""Median table of run.sh's result lines: req/s, p50, p99 per (target, op, c), with ratios."""
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    if not line.startswith("round="):
        continue
    f = dict(kv.split("=", 1) for kv in line.split())
    def ms(x):
        m = re.match(r"([\d.]+)(us|ms|s)", x or "")
        return float(m[1]) * {"us": 1e-3, "ms": 1, "s": 1e3}[m[2]] if m else float("nan")
    rows.setdefault((f["target"], f["op"], int(f["c"])), []).append((float(f["rps"]), ms(f["p50"]), ms(f["p99"])))
med = {k: tuple(statistics.median(x[i] for x in v) for i in range(3)) for k, v in rows.items()}
base = any(k[0] == "base" for k in med)
print("| op | c | kvstore req/s (p50/p99 ms) |" + (" base req/s (p50/p99 ms) |" if base else "") + " etcd req/s (p50/p99 ms) | bare map req/s (p50/p99 ms) | kvstore/etcd | kvstore/map |")
print("|---|---|---|" + ("---|" if base else "") + "---|---|---|---|")
for op in ("set", "get", "stale"):
    for c in sorted({k[2] for k in med}):
        cell = lambda t: (f"{med[(t, op, c)][0]:,.0f} ({med[(t, op, c)][1]:.2f}/{med[(t, op, c)][2]:.2f})" if (t, op, c) in med else "-")
        ratio = lambda t: (f"{med[('kvstore', op, c)][0] / med[(t, op, c)][0]:.2f}×" if ("kvstore", op, c) in med and (t, op, c) in med else "-")
        b = f" {cell('base')} |" if base else ""
        print(f"| {op} | {c} | {cell('kvstore')} |{b} {cell('etcd')} | {cell('map')} | {ratio('etcd')} | {ratio('map')} |")
