"""Output checks: the real `bird -p` on every rendered config, before anything is written."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from rsgen.errors import BirdRejected
from rsgen.sources.proc import run

BIRD_PARSE_TIMEOUT = 120.0


def bird_parse(config_text: str, name: str, bird: str = "bird", *,
               keep_rejected: bool = True) -> None:
    """Run `bird -p -c` on a rendered config; raise BirdRejected with BIRD's own message.

    A rejected config is kept (in a private temporary directory, never beside the exchange's
    files, which may be anyone's) and the message points at it, line included, so the
    template author can read what BIRD read."""
    temp = Path(tempfile.mkdtemp(prefix="rsgen-check-"))
    path = temp / name
    path.write_text(config_text, encoding="utf-8")
    try:
        result = run([bird, "-p", "-c", str(path)], timeout=BIRD_PARSE_TIMEOUT)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    if result.returncode == 0 or not keep_rejected:
        shutil.rmtree(temp, ignore_errors=True)
    if result.returncode == 0:
        return
    message = result.stderr.strip() or result.stdout.strip() or \
        f"exit code {result.returncode}"
    raise BirdRejected(f"bird -p rejected {name}: {message}",
                       hint=f"the rejected config is kept at {path}; if you changed "
                            f"templates/, fix the template; otherwise please report this as "
                            f"an rsgen bug")
