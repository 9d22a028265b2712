"""Benchmark: the reload report of `rsgen deploy` on a large config (2,000 sessions, a million
prefixes, about 20 MB), for a one-member change and a shared-policy change.

    .venv/bin/python benchmarks/deploy_impact.py [--members 2000] [--prefixes 500]

It prints the times, never asserts.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rsgen.deployer.impact import reload_impact

GOLDEN = Path(__file__).resolve().parents[1] / "tests/golden/example/expected/rs1.conf"


def synthetic(members: int, prefixes: int) -> str:
    """The example's shared part, then `members` members of one session each."""
    parts = [GOLDEN.read_text().split("# AS9541")[0]]
    for i in range(1, members + 1):
        listed = ",\n".join(f"    10.{(i * 7 + j) % 256}.{j % 256}.0/24" for j in range(prefixes))
        parts.append(
            f"define M{i}_PREFIXES = [\n{listed}\n];\n"
            f"filter import_M{i} {{ int member_asn = {i}; import_checks_v4(member_asn); "
            f"if net ~ M{i}_PREFIXES then accept; reject; }}\n"
            f"protocol bgp P{i} {{ local 192.0.2.1 as RS_ASN; neighbor 192.0.2.{i % 250 + 1} "
            f"as {64512 + i}; ipv4 {{ import filter import_M{i}; }}; }}\n")
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--prefixes", type=int, default=500)
    args = parser.parse_args()
    old = synthetic(args.members, args.prefixes)
    print(f"config: {len(old) / 1e6:.1f} MB, {args.members} sessions")
    changes = {
        "one member's prefix list": ("define M5_PREFIXES = [",
                                     "define M5_PREFIXES = [ 10.99.0.0/24,"),
        "shared import checks": ("function import_checks_v4(int member_asn) {",
                                 "function import_checks_v4(int member_asn) {\n"
                                 "    if net.len = 7 then return false;"),
    }
    for what, (before, after) in changes.items():
        started = time.monotonic()
        impact = reload_impact(old, old.replace(before, after, 1))
        print(f"{what}: {time.monotonic() - started:.1f} s; {impact.summary()}")


if __name__ == "__main__":
    main()
