#!/usr/bin/env python3
"""Turns bench/run's measurements into bench/results/latest.md.

Medians across rounds, taken per column: one noisy round on a shared
2-core machine moves a median far less than a mean. A ratio is the median of
the per-round ratios: the two measurements of a round ran back to back, so
their ratio cancels the drift between rounds that a ratio of medians keeps.
"""

import argparse
import csv
import statistics
import sys

SCENARIOS = [
    ("get_id", "GET /v1/users/{id}"),
    ("get_email", "GET /v1/users/email/{email}"),
    ("list", "GET /v1/users (page 1 of 100)"),
    ("count", "GET /v1/users/count"),
    ("update", "PUT /v1/users/{id} (custom_data merge)"),
    ("create", "POST /v1/users (no password)"),
]

# The targets: scenario -> least share of the baseline's throughput.
RATIO_TARGETS = {"get_id": 0.60, "get_email": 0.60, "create": 0.50}
P99_TARGET_MS = {"get_id": 20.0, "get_email": 20.0}
RSS_TARGET_MB = 150.0


def args():
    p = argparse.ArgumentParser()
    p.add_argument("tsv")
    for name in [
        "users", "total-users", "duration", "rounds", "connections", "workers", "pool",
        "nproc", "cpu", "pg-version", "date", "command", "commit",
        "idstore-peak-kb", "baseline-peak-kb",
    ]:
        p.add_argument("--" + name, required=True)
    return p.parse_args()


def median(rows, field):
    values = [float(r[field]) for r in rows if r[field] != ""]
    return statistics.median(values) if values else None


def fmt(value, digits=0):
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def paired_ratio(num, den):
    by_round = {r["round"]: float(r["rps"]) for r in den}
    ratios = [float(r["rps"]) / by_round[r["round"]] for r in num if by_round.get(r["round"])]
    return statistics.median(ratios) if ratios else None


def main():
    a = args()
    with open(a.tsv, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))

    def of(scenario, target):
        return [r for r in rows if r["scenario"] == scenario and r["target"] == target]

    out = []
    w = out.append
    w("# idstore benchmark: latest run\n")
    w(f"- **When**: {a.date}, idstore commit `{a.commit}`")
    w(f"- **Machine**: {a.nproc} cores ({a.cpu}), PostgreSQL {a.pg_version} on the same machine")
    w(f"- **Data**: {int(a.total_users):,} users in the tenant; requests pick seed users 1..{int(a.users):,} at random")
    w(f"- **Load**: wrk, {a.connections} connections, {a.duration} s per measurement, "
      f"{a.rounds} round(s), medians shown; servers with {a.workers} workers and {a.pool} pooled connections each")
    w(f"- **Command**: `{a.command}`")
    w("")
    w("| scenario | idstore rps | p50 ms | p99 ms | baseline rps | p50 ms | p99 ms "
      "| idstore / baseline | raw SQL tps | idstore / raw SQL | CPU µs/req idstore | CPU µs/req baseline |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    summary = {}
    errors = []
    for key, label in SCENARIOS:
        ids, base, raw = of(key, "idstore"), of(key, "baseline"), of(key, "raw")
        if not (ids or base or raw):
            continue
        s = {
            "rps": median(ids, "rps"), "p50": median(ids, "p50_ms"), "p99": median(ids, "p99_ms"),
            "cpu": median(ids, "cpu_us_per_req"),
            "b_rps": median(base, "rps"), "b_p50": median(base, "p50_ms"),
            "b_p99": median(base, "p99_ms"), "b_cpu": median(base, "cpu_us_per_req"),
            "raw": median(raw, "rps"),
        }
        s["ratio"] = paired_ratio(ids, base)
        s["raw_ratio"] = paired_ratio(ids, raw)
        summary[key] = s
        for r in ids + base + raw:
            if r["errors"] not in ("", "0"):
                errors.append(f"{key} {r['target']} round {r['round']}: {r['errors']} errors of {r['requests']}")
        w(f"| {label} | {fmt(s['rps'])} | {fmt(s['p50'], 2)} | {fmt(s['p99'], 2)} "
          f"| {fmt(s['b_rps'])} | {fmt(s['b_p50'], 2)} | {fmt(s['b_p99'], 2)} "
          f"| {fmt(s['ratio'], 2)} | {fmt(s['raw'])} | {fmt(s['raw_ratio'], 2)} "
          f"| {fmt(s['cpu'])} | {fmt(s['b_cpu'])} |")
    w("")
    others = [float(r["other_cores"]) for r in rows]
    w(f"Other work on the machine (builds, tests; cores it used during a measurement): "
      f"median {statistics.median(others):.2f}, at most {max(others):.2f} of {a.nproc}.")
    w("")
    idstore_mb = int(a.idstore_peak_kb) / 1024
    baseline_mb = int(a.baseline_peak_kb) / 1024
    w(f"Peak RSS (VmHWM over the whole run): idstore **{idstore_mb:.1f} MB**, baseline {baseline_mb:.1f} MB.")
    w("")
    w("CPU µs/req is the server process's user + system CPU time during a measurement "
      "divided by the requests it answered; PostgreSQL's and wrk's CPU are not in it.")
    w("")

    w("## Targets\n")
    w("| target | measured | |")
    w("|---|---:|---|")
    for key, least in RATIO_TARGETS.items():
        s = summary.get(key)
        if s and s["ratio"] is not None:
            ok = s["ratio"] >= least
            w(f"| {key}: ≥ {least:.0%} of the baseline's rps | {s['ratio']:.0%} | {'met' if ok else 'MISSED'} |")
    for key, most in P99_TARGET_MS.items():
        s = summary.get(key)
        if s and s["p99"] is not None:
            ok = s["p99"] <= most
            w(f"| {key}: p99 ≤ {most:.0f} ms at {a.connections} connections | {s['p99']:.2f} ms | {'met' if ok else 'MISSED'} |")
    ok = idstore_mb <= RSS_TARGET_MB
    w(f"| idstore peak RSS ≤ {RSS_TARGET_MB:.0f} MB | {idstore_mb:.1f} MB | {'met' if ok else 'MISSED'} |")
    w("")

    if errors:
        w("## Errors\n")
        w("Non-2xx responses or socket errors (timeouts) during measurements; "
          "their rates are suspect:\n")
        for e in errors:
            w(f"- {e}")
        w("")

    w("## Every measurement\n")
    w("Other cores: CPU the rest of the machine took during the measurement (builds, "
      f"other test suites), in cores of {a.nproc}; near 0 is a clean measurement.\n")
    w("| round | scenario | target | rps | p50 ms | p99 ms | requests | errors | CPU µs/req | other cores |")
    w("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        w(f"| {r['round']} | {r['scenario']} | {r['target']} | {fmt(float(r['rps']))} "
          f"| {r['p50_ms'] or '–'} | {r['p99_ms'] or '–'} | {r['requests']} | {r['errors']} "
          f"| {r['cpu_us_per_req'] or '–'} | {r['other_cores']} |")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
