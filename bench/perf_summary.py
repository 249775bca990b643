#!/usr/bin/env python3
"""Condenses a `perf record` of a server into where its CPU went.

Reads `perf report --stdio --no-children --sort dso,sym -g none` on stdin
and prints two lists: shares by crate (the first path segment of a Rust
symbol; kernel and libc as they are), then the top symbols. Release builds
carry no frame pointers, so call chains are unreliable; the flat profile is
what can be trusted.
"""

import re
import sys
from collections import defaultdict

LINE = re.compile(r"^\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*?)\s*$")


def crate_of(dso, symbol):
    if dso.startswith("[kernel"):
        return "kernel"
    if not dso.startswith("idstore"):
        return dso
    name = symbol.lstrip("<&*(").removeprefix("dyn ").removeprefix("mut ")
    head = name.split("::", 1)[0]
    return head if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", head) and "::" in name else "other"


def main():
    rows = []
    for line in sys.stdin:
        m = LINE.match(line)
        if m:
            rows.append((float(m.group(1)), m.group(2), m.group(4)))
    by_crate = defaultdict(float)
    for pct, dso, sym in rows:
        by_crate[crate_of(dso, sym)] += pct
    print("share of samples by crate:")
    for crate, pct in sorted(by_crate.items(), key=lambda kv: -kv[1])[:20]:
        print(f"  {pct:6.2f}%  {crate}")
    print("top symbols:")
    for pct, dso, sym in sorted(rows, key=lambda r: -r[0])[:30]:
        print(f"  {pct:6.2f}%  {sym[:140]}")


if __name__ == "__main__":
    main()
