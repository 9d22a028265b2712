"""Benchmark: wall time of `rsgen verify` on the bundled example exchange (all members).

Run as root from the repository: `.venv/bin/python benchmarks/verify_example.py [RUNS]`.
Prints one line per run and the median; the README quotes the median.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from rsgen.verification.run import VerifyOptions, verify

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    seconds = []
    for number in range(runs):
        started = time.monotonic()
        report = verify(VerifyOptions(REPO))
        elapsed = time.monotonic() - started
        seconds.append(elapsed)
        print(f"run {number + 1}: {elapsed:.2f} s, {len(report.outcomes)} checks, "
              f"{len(report.members)} members, ok={report.ok}")
    print(f"median: {statistics.median(seconds):.2f} s over {runs} runs")


if __name__ == "__main__":
    main()
