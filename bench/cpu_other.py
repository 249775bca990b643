#!/usr/bin/env python3
"""How much CPU the rest of the machine took during a measurement.

`cpu_other.py snap FILE` records every process's CPU time; `cpu_other.py
since FILE DATABASE PID...` prints the cores (CPU seconds per second) used
since then by processes that are not part of the measurement. Ours are the
given server PIDs, wrk, pgbench, the PostgreSQL backends of DATABASE,
PostgreSQL's own background processes (which mostly work for our writes)
and the postmaster (which inherits the times of exited backends),
and the benchmark script itself, whose cumulative child times take in wrk
and pgbench once they exit.

On a 2-core machine shared with builds and test suites this tells a clean
measurement from a disturbed one; the load average cannot, since the
benchmark's own threads fill it. Children that exited within the interval
are counted through their parent's cumulative times.
"""

import json
import os
import sys
import time


def processes():
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        own = int(fields[11]) + int(fields[12])
        children = int(fields[13]) + int(fields[14])
        out[pid] = (comm, cmdline, own, children)
    return out


def ours(comm, cmdline, pid, database, servers):
    if pid in servers or comm in ("wrk", "pgbench"):
        return True
    if comm == "postgres" and not cmdline.startswith("postgres: "):
        # The postmaster: its cumulative child times take in the backends
        # that exited, ours (pgbench's) among them.
        return True
    if cmdline.startswith("postgres: "):
        # Backends name their database; background processes name none.
        words = cmdline.split()
        is_backend = len(words) >= 4 and ("(" in cmdline or "[local]" in cmdline or "autovacuum worker" in cmdline)
        return not is_backend or f" {database} " in f" {cmdline} "
    return False


def main():
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "snap":
        with open(path, "w") as f:
            json.dump({"t": time.monotonic(), "p": processes()}, f)
        return
    database, servers = sys.argv[3], set(sys.argv[4:])
    with open(path) as f:
        before = json.load(f)
    now = processes()
    seconds = time.monotonic() - before["t"]
    ticks = 0
    for pid, (comm, cmdline, own, children) in now.items():
        if ours(comm, cmdline, pid, database, servers):
            continue
        # A process born in the interval spent all its time (and its
        # children's) inside it.
        _, _, own0, children0 = before["p"].get(pid, (None, None, 0, 0))
        ticks += max(own - own0, 0) + max(children - children0, 0)
    print(f"{ticks / os.sysconf('SC_CLK_TCK') / seconds:.2f}")


if __name__ == "__main__":
    main()
