#!/usr/bin/env python3
"""Fixed-rate (open-loop) load for bench/soak. Standard library only.

Request i is due at start + i / rate, whatever happened to the ones before
it: a dispatcher thread hands each request to a pool of worker threads (one
keep-alive connection each) at its due time, and a request's latency is
measured from that due time, not from when a connection was free to send
it. A server that stalls for a second therefore shows a second of latency
on every request due in that second, instead of the generator quietly
sending fewer (the "coordinated omission" of closed-loop tools such as
plain wrk, whose connections each wait for an answer before the next
request). Requests are never retried: a failure counts once as an error.

The mix, exact in every block of 20 requests (shuffled within the block):
8 GET /v1/users/{id}, 8 GET /v1/users/email/{email} (random seed users),
2 GET /v1/users?search=email sw "user<5 digits>"&page_limit=20 (an
index-backed prefix, at most 11 matches of a million), 1 POST /v1/users
(a fresh soak-<nonce>-<n>@example.com) and 1 PUT /v1/users/{id} merging
{"soak": n} into a random seed user's custom_data.

Every minute (by due time) it prints one row: requests, errors, the rate
actually answered in that minute of wall time, p50/p99/max latency,
idstore's VmRSS and the PostgreSQL connections of the database (the most
seen in the minute, sampled every 2 s), the 1-minute load average and the
cores the rest of the machine used (bench/cpu_other.py's accounting). At
the end it writes a markdown report with the table, per-operation
percentiles, the errors seen and a verdict.
"""

import argparse
import http.client
import json
import math
import os
import queue
import random
import subprocess
import sys
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cpu_other  # noqa: E402

OPS = ("get_id", "get_email", "search", "create", "update")
BLOCK = ["get_id"] * 8 + ["get_email"] * 8 + ["search"] * 2 + ["create", "update"]
EXPECTED = {"get_id": 200, "get_email": 200, "search": 200, "create": 201, "update": 200}
LABEL = {
    "get_id": "GET /v1/users/{id}",
    "get_email": "GET /v1/users/email/{email}",
    "search": 'GET /v1/users?search=email sw "userNNNNN"',
    "create": "POST /v1/users",
    "update": "PUT /v1/users/{id}",
}
IDLE_RECONNECT_S = 3.0  # actix closes idle keep-alive connections after 5 s


def pct(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, math.ceil(p / 100 * len(sorted_values)) - 1))  # nearest rank
    return sorted_values[k]


class Stats:
    """Everything measured, by minute of due time."""

    def __init__(self, minutes, wall0):
        self.wall0 = wall0  # UTC seconds at the first due time
        self.lock = threading.Lock()
        self.lat = [[] for _ in range(minutes)]
        self.op_lat = {op: [] for op in OPS}
        self.errors = [0] * minutes
        self.done = [0] * minutes
        self.lag = [[] for _ in range(minutes)]  # dispatcher lateness, ms
        self.answered_at = []  # completion times, for the achieved rate
        self.error_samples = []
        self.error_kinds = {}
        self.slowest = []  # (latency ms, due s, op, path, service ms), the 10 slowest

    def utc(self, due_s):
        return time.strftime("%H:%M:%S", time.gmtime(self.wall0 + due_s))

    def record(self, due_s, op, latency_ms, ok, detail, finished, path, service_ms):
        minute = int(due_s // 60)
        with self.lock:
            if len(self.slowest) < 10 or latency_ms > self.slowest[-1][0]:
                self.slowest.append((latency_ms, due_s, op, path, service_ms))
                self.slowest.sort(reverse=True)
                del self.slowest[10:]
            self.lat[minute].append(latency_ms)
            self.op_lat[op].append(latency_ms)
            self.done[minute] += 1
            self.answered_at.append(finished)
            if not ok:
                self.errors[minute] += 1
                kind = f"{op}: {detail.split(':')[0]}"
                self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1
                if len(self.error_samples) < 20:
                    self.error_samples.append(
                        f"{self.utc(due_s)} UTC (minute {minute + 1}, due {due_s:.1f} s), {op}: "
                        f"{detail} (after {latency_ms:.0f} ms)")


class Worker(threading.Thread):
    def __init__(self, args, jobs, stats, t0, nonce):
        super().__init__(daemon=True)
        self.args, self.jobs, self.stats, self.t0, self.nonce = args, jobs, stats, t0, nonce
        self.conn = None
        self.last_used = 0.0
        self.rng = random.Random()
        self.auth = {"Authorization": f"Bearer {args.token}"}
        self.json_headers = dict(self.auth, **{"Content-Type": "application/json"})

    def connection(self):
        now = time.monotonic()
        if self.conn is not None and now - self.last_used > IDLE_RECONNECT_S:
            self.conn.close()  # the server may be closing it right now
            self.conn = None
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.args.host, self.args.port, timeout=self.args.timeout)
        return self.conn

    def build(self, op, i):
        seed = self.rng.randint(1, self.args.users)
        if op == "get_id":
            return "GET", f"/v1/users/seed{seed:09d}", None
        if op == "get_email":
            return "GET", f"/v1/users/email/user{seed}@example.com", None
        if op == "search":
            prefix = f"user{self.rng.randint(10000, 99999)}"
            q = urllib.parse.urlencode({"search": f'email sw "{prefix}"', "page_limit": "20"}, quote_via=urllib.parse.quote)
            return "GET", f"/v1/users?{q}", None
        if op == "create":
            return "POST", "/v1/users", json.dumps({"email": f"soak-{self.nonce}-{i}@example.com"})
        return "PUT", f"/v1/users/seed{seed:09d}", json.dumps({"custom_data": {"soak": i}})

    def run(self):
        while True:
            job = self.jobs.get()
            if job is None:
                return
            i, due, op = job
            method, path, body = self.build(op, i)
            ok, detail = True, ""
            sent = time.monotonic()
            try:
                conn = self.connection()
                conn.request(method, path, body=body, headers=self.json_headers if body else self.auth)
                resp = conn.getresponse()
                data = resp.read()
                if resp.status != EXPECTED[op]:
                    ok = False
                    detail = f"HTTP {resp.status}: {path} {data[:200].decode(errors='replace')}"
                if resp.will_close:
                    conn.close()
                    self.conn = None
            except Exception as e:  # transport errors: timeouts, resets, refused
                ok = False
                detail = f"{type(e).__name__}: {path} {e}"
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
            finished = time.monotonic()
            self.last_used = finished
            self.stats.record(due - self.t0, op, (finished - due) * 1000, ok, detail, finished, path,
                              (finished - sent) * 1000)


def read_rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def pg_connections(args):
    # Connected to the measured database itself, minus this session.
    q = f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{args.database}' AND pid <> pg_backend_pid()"
    try:
        out = subprocess.run(
            ["psql", "-X", "-At", "-d", args.database, "-c", q],
            capture_output=True, text=True, timeout=10,
        )
        return int(out.stdout.strip())
    except (subprocess.SubprocessError, ValueError):
        return -1


def io_pressure_us():
    """Microseconds some task waited for IO (PSI), or None without PSI."""
    try:
        with open("/proc/pressure/io") as f:
            return int(f.readline().split("total=")[1])
    except (OSError, IndexError, ValueError):
        return None


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


class Sampler(threading.Thread):
    """RSS and PostgreSQL connections every 2 s, the most seen per minute."""

    def __init__(self, args, t0, minutes):
        super().__init__(daemon=True)
        self.args, self.t0 = args, t0
        self.max_conns = [-1] * minutes
        self.max_rss = [-1] * minutes
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            m = int((time.monotonic() - self.t0) // 60)
            if 0 <= m < len(self.max_conns):
                self.max_conns[m] = max(self.max_conns[m], pg_connections(self.args))
                self.max_rss[m] = max(self.max_rss[m], read_rss_kb(self.args.pid))
            self.stop.wait(2.0)


def other_cores(before, before_t, ours_pids, database):
    now = cpu_other.processes()
    ticks = 0
    for pid, (comm, cmdline, own, children) in now.items():
        if cpu_other.ours(comm, cmdline, pid, database, ours_pids):
            continue
        _, _, own0, children0 = before.get(pid, (None, None, 0, 0))
        ticks += max(own - own0, 0) + max(children - children0, 0)
    seconds = time.monotonic() - before_t
    return now, ticks / os.sysconf("SC_CLK_TCK") / seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", default=os.environ.get("SOAK_TOKEN", ""))
    ap.add_argument("--users", type=int, required=True)
    ap.add_argument("--rate", type=float, required=True)
    ap.add_argument("--duration", type=int, required=True)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--pid", type=int, required=True, help="idstore's PID, for VmRSS")
    ap.add_argument("--database", required=True)
    ap.add_argument("--conn-limit", type=int, required=True, help="most PostgreSQL connections allowed")
    ap.add_argument("--ours", default="", help="comma-separated PIDs not counted as other load")
    ap.add_argument("--nonce", default=str(os.getpid()))
    ap.add_argument("--report", required=True, help="markdown report to write")
    ap.add_argument("--tsv", required=True, help="per-minute rows to write")
    args = ap.parse_args()
    u = urllib.parse.urlsplit(args.url)
    args.host, args.port = u.hostname, u.port or 80
    if not args.token:
        sys.exit("soak.py: no token (--token or SOAK_TOKEN)")

    total = int(args.rate * args.duration)
    minutes = (args.duration + 59) // 60
    jobs = queue.Queue()
    t0 = time.monotonic() + 0.5
    stats = Stats(minutes, time.time() + 0.5)
    workers = [Worker(args, jobs, stats, t0, args.nonce) for _ in range(args.connections)]
    for w in workers:
        w.start()
    sampler = Sampler(args, t0, minutes)
    sampler.start()
    ours_pids = {str(p) for p in [os.getpid(), args.pid] + [int(x) for x in args.ours.split(",") if x]}

    def dispatch():
        rng = random.Random(args.nonce)
        block = []
        for i in range(total):
            if not block:
                block = BLOCK[:]
                rng.shuffle(block)
            due = t0 + i / args.rate
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            lateness = (time.monotonic() - due) * 1000
            stats.lag[int((due - t0) // 60)].append(lateness)
            jobs.put((i, due, block.pop()))

    dispatcher = threading.Thread(target=dispatch, daemon=True)
    dispatcher.start()

    scheduled = [0] * minutes
    for i in range(total):
        scheduled[int((i / args.rate) // 60)] += 1

    rows = []
    header = ("minute", "requests", "errors", "answered/s", "p50 ms", "p99 ms", "max ms",
              "RSS MB", "PG conns", "load 1m", "other cores", "IO wait %", "dispatch lag p99 ms")
    print("  ".join(header), flush=True)
    snap, snap_t = cpu_other.processes(), time.monotonic()
    io_before = io_pressure_us()
    for m in range(minutes):
        start, end = t0 + 60 * m, min(t0 + 60 * (m + 1), t0 + args.duration)
        time.sleep(max(0.0, end - time.monotonic()))
        rss = read_rss_kb(args.pid)
        load = loadavg()
        io_now = io_pressure_us()
        io_stall = (io_now - io_before) / 1e6 / (time.monotonic() - snap_t) * 100 if io_now is not None else float("nan")
        io_before = io_now
        snap, other = other_cores(snap, snap_t, ours_pids, args.database)
        snap_t = time.monotonic()
        # The minute's row waits for its last requests (at most the timeout).
        deadline = time.monotonic() + args.timeout + 2
        while time.monotonic() < deadline:
            with stats.lock:
                if stats.done[m] >= scheduled[m]:
                    break
            time.sleep(0.05)
        with stats.lock:
            lat = sorted(stats.lat[m])
            answered = sum(1 for t in stats.answered_at if start <= t < end)
            errors = stats.errors[m] + (scheduled[m] - stats.done[m])
            lag = sorted(stats.lag[m])
        row = {
            "minute": m + 1,
            "seconds": end - start,
            "requests": scheduled[m],
            "answered": stats.done[m],
            "errors": errors,
            "rate": answered / (end - start),
            "p50": pct(lat, 50),
            "p99": pct(lat, 99),
            "max": lat[-1] if lat else float("nan"),
            "rss_mb": rss / 1024,
            "rss_max_mb": sampler.max_rss[m] / 1024,
            "conns": sampler.max_conns[m],
            "load": load,
            "other": other,
            "lag99": pct(lag, 99),
            "io": io_stall,
        }
        rows.append(row)
        print(f"{row['minute']:>6}  {row['requests']:>8}  {row['errors']:>6}  {row['rate']:>10.1f}  "
              f"{row['p50']:>6.2f}  {row['p99']:>6.2f}  {row['max']:>7.1f}  {row['rss_mb']:>6.1f}  "
              f"{row['conns']:>8}  {row['load']:>7.2f}  {row['other']:>11.2f}  {row['io']:>9.1f}  {row['lag99']:>6.2f}",
              flush=True)
    sampler.stop.set()
    for _ in workers:
        jobs.put(None)

    # --- the report ----------------------------------------------------------
    total_errors = sum(r["errors"] for r in rows)
    first = rows[1] if len(rows) > 1 else rows[0]
    last = rows[-1]
    rss_growth = (last["rss_mb"] - first["rss_mb"]) / first["rss_mb"] if first["rss_mb"] > 0 else float("nan")
    max_conns = max(r["conns"] for r in rows)
    checks = [
        (f"errors: {total_errors} (must be 0)", total_errors == 0),
        (f"RSS: {last['rss_mb']:.1f} MB in the last minute against {first['rss_mb']:.1f} MB in minute "
         f"{first['minute']} ({rss_growth * 100:+.1f} %, must stay within 10 %)", abs(rss_growth) <= 0.10),
        (f"PostgreSQL connections: at most {max_conns} (must not exceed {args.conn_limit}: "
         f"pool + readiness connection + 2)", 0 <= max_conns <= args.conn_limit),
    ]
    ok = all(c for _, c in checks)
    out = []
    out.append("| minute | requests | errors | answered/s | p50 ms | p99 ms | max ms | RSS MB | PG conns (max) | load 1m | other cores | IO wait % |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        label = str(r["minute"]) if r["seconds"] >= 59.5 else f"{r['minute']} ({r['seconds']:.0f} s)"
        out.append(f"| {label} | {r['requests']:,} | {r['errors']} | {r['rate']:.1f} | {r['p50']:.2f} | "
                   f"{r['p99']:.2f} | {r['max']:.1f} | {r['rss_mb']:.1f} | {r['conns']} | {r['load']:.2f} | "
                   f"{r['other']:.2f} | {r['io']:.1f} |")
    out.append("")
    out.append("Per operation, over the whole run (latency from each request's due time):")
    out.append("")
    out.append("| operation | requests | p50 ms | p99 ms | p99.9 ms | max ms |")
    out.append("|---|---:|---:|---:|---:|---:|")
    for op in OPS:
        lat = sorted(stats.op_lat[op])
        out.append(f"| {LABEL[op]} | {len(lat):,} | {pct(lat, 50):.2f} | {pct(lat, 99):.2f} | "
                   f"{pct(lat, 99.9):.2f} | {lat[-1] if lat else float('nan'):.1f} |")
    out.append("")
    all_lag = sorted(x for m in stats.lag for x in m)
    out.append(f"Generator: the dispatcher handed requests out at most {all_lag[-1]:.1f} ms after their due "
               f"time (p99 {pct(all_lag, 99):.2f} ms); latencies count from the due time, so any lateness "
               f"of the generator or wait for a free connection is in them, not hidden.")
    out.append("")
    out.append("The slowest requests (service time: from sending to the answer, without any wait for a connection):")
    out.append("")
    out.append("| latency ms | service ms | due (UTC) | minute | operation | path |")
    out.append("|---:|---:|---|---:|---|---|")
    for latency, due_s, op, path, service in stats.slowest:
        out.append(f"| {latency:.1f} | {service:.1f} | {stats.utc(due_s)} | {int(due_s // 60) + 1} | {op} | "
                   f"`{urllib.parse.unquote(path)}` |")
    out.append("")
    if stats.error_kinds:
        out.append("Errors by kind:")
        out.append("")
        for kind, n in sorted(stats.error_kinds.items(), key=lambda kv: -kv[1]):
            out.append(f"- {kind}: {n}")
        out.append("")
        out.append("First errors:")
        out.append("")
        for s in stats.error_samples:
            out.append(f"- `{s}`")
        out.append("")
    out.append("Verdict: **" + ("PASS" if ok else "FAIL") + "**")
    out.append("")
    for text, c in checks:
        out.append(f"- {'ok' if c else 'FAILED'}: {text}")
    report = "\n".join(out) + "\n"
    with open(args.report, "w") as f:
        f.write(report)
    with open(args.tsv, "w") as f:
        keys = list(rows[0].keys())
        f.write("\t".join(keys) + "\n")
        for r in rows:
            f.write("\t".join(f"{r[k]:.3f}" if isinstance(r[k], float) else str(r[k]) for k in keys) + "\n")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
