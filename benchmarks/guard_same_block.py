"""Benchmark: the shrink guard's admitted-prefix count on a hostile same-block list.

Run from the repository: `.venv/bin/python benchmarks/guard_same_block.py [ENTRIES]`.
Prints the time to count 20,000 (or ENTRIES) distinct entries on the nested blocks
2400::/12, /13, ...; the old quadratic count needed minutes of CPU for lists of this shape.
"""

from __future__ import annotations

import sys
import time

from rsgen.guard import admitted_count
from tests.security.test_guard_sweep import hostile_same_block


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    entries = hostile_same_block(count)
    started = time.perf_counter()
    admitted = admitted_count(entries)
    elapsed = time.perf_counter() - started
    print(f"{len(entries)} same-block entries: {elapsed * 1000:.1f} ms "
          f"({admitted.bit_length()}-bit count)")


if __name__ == "__main__":
    main()
