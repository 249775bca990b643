#!/usr/bin/env python3
"""bench/members' report: the targets of the Members benchmark from its
measurements (TSV), medians over rounds of the back-to-back ratios.

    report.py measurements.tsv explain.txt < facts > report.md
"""

import csv
import statistics
import sys


def main():
    tsv, explain = sys.argv[1:3]
    facts = dict(line.rstrip("\n").split("=", 1) for line in sys.stdin if "=" in line)
    rows = list(csv.DictReader(open(tsv), delimiter="\t"))
    by = {}
    for r in rows:
        by.setdefault(r["measure"], {})[r["round"]] = r
    rounds = sorted(by["get_user"], key=int)

    def ratio(a, b):
        return [float(by[a][k]["rps"]) / float(by[b][k]["rps"]) for k in rounds]

    def med(name, field):
        return statistics.median(float(by[name][k][field]) for k in rounds)

    get = ratio("get_member", "get_user")
    put = ratio("set_roles", "put_user")
    errors = sum(int(r["errors"]) for r in rows)
    out = [
        "# idstore Members benchmark (`bench/members`)",
        "",
        f"- command: `{facts['command']}`",
        f"- date: {facts['date']}, commit `{facts['commit']}`",
        f"- machine: {facts['cores']} cores, PostgreSQL {facts['pg']} on the same machine",
        f"- data: {int(facts['users']):,} users, {int(facts['orgs']):,} organizations, "
        f"one with {int(facts['members']):,} members",
        f"- {facts['rounds']} rounds x {facts['duration']} s at {facts['connections']} connections; "
        "ratios are medians of the rounds' back-to-back ratios",
        "",
        "## Targets",
        "",
        "| target | idstore | yardstick | result | needed | |",
        "|---|---:|---:|---:|---:|---|",
    ]

    def row(name, ours, theirs, result, needed, met):
        out.append(f"| {name} | {ours} | {theirs} | {result} | {needed} | {'met' if met else '**missed**'} |")

    g = statistics.median(get)
    row("get member / GET user by id", f"{med('get_member', 'rps'):,.0f} /s",
        f"{med('get_user', 'rps'):,.0f} /s", f"{g:.1%}", "≥ 80 %", g >= 0.8)
    for name, label in [("members_page", "a page of 100 members (`getMembers`, `after`)"),
                        ("users_by_org", "a page of 100 of `GET /v1/users?organization_id=`")]:
        p95 = med(name, "p95_ms")
        row(f"{label} p95", f"{p95:.2f} ms", "", f"{p95:.2f} ms", "≤ 25 ms", p95 <= 25)
    s = statistics.median(put)
    row("set roles / PUT user", f"{med('set_roles', 'rps'):,.0f} /s",
        f"{med('put_user', 'rps'):,.0f} /s", f"{s:.1%}", "≥ 50 %", s >= 0.5)
    out += [
        "",
        f"Per round: get member / get user {', '.join(f'{x:.1%}' for x in get)}; "
        f"set roles / PUT user {', '.join(f'{x:.1%}' for x in put)}.",
        "",
        "Errors (non-2xx and socket errors) over every measurement: "
        + (f"**{errors}**" if errors else "none") + ".",
        "",
        "## Every measurement",
        "",
        "| round | measure | per second | p50 ms | p95 ms | p99 ms | requests | errors |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(f"| {r['round']} | {r['measure']} | {float(r['rps']):,.1f} | {r['p50_ms']} | "
                   f"{r['p95_ms']} | {r['p99_ms']} | {r['requests']} | {r['errors']} |")
    out += ["", "## Plans at this size", "", "```", open(explain).read().rstrip(), "```", ""]
    print("\n".join(out))


if __name__ == "__main__":
    main()
