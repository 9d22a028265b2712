"""Output checks: the real `bird -p` on every rendered config, before anything is written."""

from __future__ import annotations

import tempfile
from pathlib import Path

from rsgen.errors import BirdRejected
from rsgen.sources.proc import run

BIRD_PARSE_TIMEOUT = 120.0


def bird_parse(config_text: str, name: str, bird: str = "bird") -> None:
    """Run `bird -p -c` on a rendered config; raise BirdRejected with BIRD's own message."""
    with tempfile.TemporaryDirectory(prefix="rsgen-check-") as temp:
        path = Path(temp) / name
        path.write_text(config_text, encoding="utf-8")
        result = run([bird, "-p", "-c", str(path)], timeout=BIRD_PARSE_TIMEOUT)
    if result.returncode != 0:
        message = (result.stderr.strip() or result.stdout.strip() or
                   f"exit code {result.returncode}").replace(str(path), name)
        raise BirdRejected(f"bird -p rejected {name}: {message}",
                           hint="if you changed templates/, fix the template; otherwise "
                                "please report this as an rsgen bug")
