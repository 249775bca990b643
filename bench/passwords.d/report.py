#!/usr/bin/env python3
"""Turns bench/passwords' measurements into its Markdown report.

As bench/report.py: medians over rounds, and a ratio is the median of the
rounds' ratios, each taken between two measurements that ran back to back
(creates beside raw hashes, logins beside raw verifications, the loaded GET
beside the idle one).
"""

import argparse
import csv
import statistics

# The targets (#12, "Benchmarks").
CREATE_TARGET = 0.85  # creates/s >= 85 % of raw argon2id hashes/s
LOGIN_TARGET = 0.80  # logins/s >= 80 % of raw argon2id verifications/s
P99_TARGET = 3.0  # GET-by-id p99 under a login burst <= 3 x its idle p99

LABELS = {
    "raw_hash": "raw argon2id hashes (idstore-argon2-rate --mode hash)",
    "create": "POST /v1/users with a password (201s)",
    "raw_verify": "raw argon2id verifications (idstore-argon2-rate --mode verify)",
    "login": "POST /v1/auth/password/login (200s)",
    "get_idle": "GET /v1/users/{id}, idle",
    "get_loaded": "GET /v1/users/{id}, beside the login burst",
    "burst_login": "the login burst (200s)",
}


def args():
    p = argparse.ArgumentParser()
    p.add_argument("tsv")
    for name in [
        "command", "commit", "date", "nproc", "cpu", "pg-version", "users", "duration",
        "rounds", "connections", "burst-connections", "get-connections", "login-users",
        "workers", "hash-workers", "hash-queue", "raw-threads", "costs", "peak-kb", "rss-kb", "threads",
    ]:
        p.add_argument("--" + name, required=True)
    return p.parse_args()


def num(v):
    return float(v) if v not in ("", None) else None


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=1):
    return "–" if v is None else f"{v:,.{digits}f}"


def pct(v):
    return "–" if v is None else f"{v * 100:.1f} %"


def main():
    a = args()
    with open(a.tsv, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    by = {}
    for r in rows:
        by.setdefault(r["measure"], {})[r["round"]] = r
    rounds = sorted({r["round"] for r in rows}, key=int)

    def col(measure, field):
        return [num(by.get(measure, {}).get(rnd, {}).get(field)) for rnd in rounds]

    def med(measure, field):
        return median(col(measure, field))

    def paired(top, bottom, field):
        out = []
        for t, b in zip(col(top, field), col(bottom, field)):
            out.append(t / b if t is not None and b else None)
        return out

    create_r = paired("create", "raw_hash", "rate")
    login_r = paired("login", "raw_verify", "rate")
    login_hash_r = paired("login", "raw_hash", "rate")
    p99_r = paired("get_loaded", "get_idle", "p99_ms")
    # CPU per operation: the raw binary's per hash against idstore's per
    # request. Unlike the rates, a neighbour taking cores barely moves it.
    create_cpu_r = paired("raw_hash", "create", "cpu_us_per_req")
    login_cpu_r = paired("raw_verify", "login", "cpu_us_per_req")
    create_ratio, login_ratio = median(create_r), median(login_r)
    login_hash_ratio, p99_ratio = median(login_hash_r), median(p99_r)

    def verdict(value, target, at_least):
        if value is None:
            return "not measured"
        ok = value >= target if at_least else value <= target
        return "**met**" if ok else "**missed**"

    out = []
    w = out.append
    w("# idstore password benchmark (`bench/passwords`)")
    w("")
    w(f"- command: `{a.command}`")
    w(f"- date: {a.date}, commit `{a.commit}`")
    w(f"- machine: {a.nproc} cores ({a.cpu}), PostgreSQL {a.pg_version} on the same machine")
    w(f"- {a.rounds} rounds x {a.duration} s; medians over rounds; ratios are medians of the rounds' back-to-back ratios")
    w(f"- idstore: workers {a.workers}, hash_workers {a.hash_workers}, hash_queue {a.hash_queue}; "
      f"argon2id {a.costs} (idstore's `config-table`); raw rate on {a.raw_threads} threads")
    w(f"- creates and logins: wrk at {a.connections} connections; logins draw from {a.login_users} users "
      f"made before the clock started; GET /v1/users/{{id}} at {a.get_connections} connections over "
      f"{a.users} seed users, alone and beside a login burst at {a.burst_connections} connections")
    w(f"- idstore memory: peak RSS (VmHWM) {int(a.peak_kb) / 1024:.1f} MB; at the end RSS "
      f"{int(a.rss_kb) / 1024:.1f} MB, {a.threads} threads")
    w("")
    w("## Targets")
    w("")
    w("| target | idstore | yardstick | ratio | needed | |")
    w("|---|---:|---:|---:|---:|---|")
    w(f"| creates with a password / raw argon2id hashes | {fmt(med('create', 'rate'))} /s | "
      f"{fmt(med('raw_hash', 'rate'))} /s | {pct(create_ratio)} | ≥ {CREATE_TARGET * 100:.0f} % | "
      f"{verdict(create_ratio, CREATE_TARGET, True)} |")
    w(f"| logins / raw argon2id verifications | {fmt(med('login', 'rate'))} /s | "
      f"{fmt(med('raw_verify', 'rate'))} /s | {pct(login_ratio)} | ≥ {LOGIN_TARGET * 100:.0f} % | "
      f"{verdict(login_ratio, LOGIN_TARGET, True)} |")
    w(f"| GET-by-id p99 beside a login burst / idle | {fmt(med('get_loaded', 'p99_ms'), 2)} ms | "
      f"{fmt(med('get_idle', 'p99_ms'), 2)} ms | {fmt(p99_ratio, 2)} x | ≤ {P99_TARGET:.0f} x | "
      f"{verdict(p99_ratio, P99_TARGET, False)} |")
    w("")
    others = [num(r["other_cores"]) for r in rows]
    steals = [num(r.get("steal_cores")) for r in rows]
    others, steals = [v for v in others if v is not None], [v for v in steals if v is not None]
    if others:
        w(f"Load: other work took a median {median(others):.2f} cores during a measurement (at most "
          f"{max(others):.2f}); the hypervisor stole a median {median(steals or [0]):.2f} (at most "
          f"{max(steals or [0]):.2f}). See \"Every measurement\".")
        w("")
    w(f"Logins against raw *hashes* instead (same argon2 work): {pct(login_hash_ratio)}.")
    w("")
    w("CPU per operation (user + system; idstore's process only, PostgreSQL's and wrk's not included): "
      f"a create costs idstore {fmt(med('create', 'cpu_us_per_req'), 0)} µs against "
      f"{fmt(med('raw_hash', 'cpu_us_per_req'), 0)} µs per raw hash "
      f"(raw / idstore {pct(median(create_cpu_r))}); a login {fmt(med('login', 'cpu_us_per_req'), 0)} µs "
      f"against {fmt(med('raw_verify', 'cpu_us_per_req'), 0)} µs per raw verification "
      f"({pct(median(login_cpu_r))}). This is the share the rates would reach if idstore had the "
      "cores to itself and PostgreSQL and the load generator cost nothing.")
    w("")
    w("## Medians")
    w("")
    w("| measurement | per second | p50 ms | p99 ms | CPU µs/req (idstore; raw: per hash) | answers (all rounds) |")
    w("|---|---:|---:|---:|---:|---|")
    for m, label in LABELS.items():
        if m not in by:
            continue
        totals = {}
        for r in by[m].values():
            for kv in filter(None, r["statuses"].split(",")):
                k, v = kv.split(":")
                totals[k] = totals.get(k, 0) + int(v)
        answers = ", ".join(f"{k}: {v:,}" for k, v in sorted(totals.items())) or "–"
        w(f"| {label} | {fmt(med(m, 'rate'))} | {fmt(med(m, 'p50_ms'), 2)} | {fmt(med(m, 'p99_ms'), 2)} | "
          f"{fmt(med(m, 'cpu_us_per_req'), 0)} | {answers} |")
    w("")
    w("Per round: creates / hashes " + ", ".join(pct(x) for x in create_r)
      + "; logins / verifications " + ", ".join(pct(x) for x in login_r)
      + "; loaded / idle p99 " + ", ".join(fmt(x, 2) for x in p99_r) + ".")
    w("")
    unexpected = [r for r in rows if r["statuses"] and any(
        not kv.startswith(("200:", "201:")) for kv in r["statuses"].split(","))]
    w("## Errors")
    w("")
    if unexpected:
        w("Answers other than the expected 201 (creates) and 200 (logins, GETs); only the expected ones count in the rates:")
        w("")
        for r in unexpected:
            w(f"- round {r['round']}, {LABELS.get(r['measure'], r['measure'])}: {r['statuses']}")
    else:
        w("None: every answer was the expected 201 or 200.")
    w("")
    w("## Every measurement")
    w("")
    w("**other cores**: CPU the rest of the machine took during the measurement (`bench/cpu_other.py`); "
      "**stolen**: cores the hypervisor gave other guests meanwhile (`steal` in `/proc/stat`). "
      "Near 0 both, the measurement had the machine to itself.")
    w("")
    w("| round | measurement | per second | p50 ms | p99 ms | requests | expected answers | answers | CPU µs/req | other cores | stolen |")
    w("|---:|---|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    for r in rows:
        w(f"| {r['round']} | {LABELS.get(r['measure'], r['measure'])} | {fmt(num(r['rate']))} | "
          f"{fmt(num(r['p50_ms']), 2)} | {fmt(num(r['p99_ms']), 2)} | {r['requests']} | {r['ok']} | "
          f"{r['statuses'] or '–'} | {r['cpu_us_per_req'] or '–'} | {r['other_cores']} | {r['steal_cores']} |")
    print("\n".join(out))


if __name__ == "__main__":
    main()
