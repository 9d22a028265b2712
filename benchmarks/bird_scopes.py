"""Why `bird -p` is superlinear in members: BIRD 2's symbol table and filter scopes.

Run from the repository: .venv/bin/python benchmarks/bird_scopes.py [--counts 1000,2000,4000,8000]

BIRD 2.0.12 looks every identifier up as a symbol first, keywords included (conf/cf-lex.l,
cf_lex_symbol -> cf_get_symbol). A word not found in an active scope becomes a new SYM_VOID
symbol of the current scope, inserted at the head of its hash chain. Each `filter` and
`function` body is a scope, popped (made inactive) at its end but never removed from the
table. So every filter that uses `if`, `then`, `accept`, `net`, `bgp_path` ... adds one more
inactive `if`, `then`, ... to that word's chain, and the first use of the word in the next
filter walks the whole chain (strcmp on equal strings, then the scope check): quadratic in the
number of filters. A filter whose body only calls functions defined once, with numbers and
defined names as arguments, adds no symbol and parses in constant time.

This script times `bird -p` on two synthetic configs per count: N filters with three
statements of keywords each, and N filters that call one shared function instead. It prints,
never asserts.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADER = "router id 192.0.2.1;\nprotocol device { }\n"


def keywords_in_each(count: int) -> str:
    body = "if net.len > 24 then reject; if bgp_path.len > 32 then reject; accept;"
    return HEADER + "".join(f"filter f{i} {{ {body} }}\n" for i in range(count))


def shared_function(count: int) -> str:
    function = ("function checks(int member_asn) {\n"
                "    if net.len > 24 then reject;\n"
                "    if bgp_path.first != member_asn then reject;\n"
                "    accept;\n}\n")
    return HEADER + function + "".join(f"filter f{i} {{ checks({i + 1}); }}\n"
                                       for i in range(count))


def parse_seconds(bird: str, path: Path) -> float:
    started = time.monotonic()
    done = subprocess.run([bird, "-p", "-c", str(path)], capture_output=True, text=True,
                          check=False, timeout=600)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"bird -p {path.name}: {done.stderr.strip()}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--counts", default="1000,2000,4000,8000")
    args = parser.parse_args()
    bird = shutil.which("bird")
    if bird is None:
        print("bird is not installed (apt-get install bird2)", file=sys.stderr)
        return 7
    counts = [int(c) for c in args.counts.split(",")]
    print("| filters | keywords in each filter, s | one shared function, s |")
    print("|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="rsgen-bird-scopes-") as work:
        for count in counts:
            first, second = Path(work) / "keywords.conf", Path(work) / "shared.conf"
            first.write_text(keywords_in_each(count), encoding="utf-8")
            second.write_text(shared_function(count), encoding="utf-8")
            print(f"| {count:,} | {parse_seconds(bird, first):.2f} | "
                  f"{parse_seconds(bird, second):.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
