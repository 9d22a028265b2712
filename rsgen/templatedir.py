"""Where rsgen's own BIRD templates are: apart from rsgen.render, so that a build with nothing
changed (rsgen.buildrecord hashes the templates) finds them without importing Jinja2."""

from __future__ import annotations

from pathlib import Path

import rsgen
from rsgen.errors import InvalidInput

MAIN_TEMPLATE = "bird2/route-server.conf.j2"


def default_templates_dir() -> Path:
    """Templates shipped in the package, or the repository's templates/ in a source checkout."""
    package_dir = Path(rsgen.__file__).parent
    for candidate in (package_dir / "templates", package_dir.parent / "templates"):
        if (candidate / MAIN_TEMPLATE).is_file():
            return candidate
    raise InvalidInput("rsgen's BIRD templates are missing from this installation",
                       hint="reinstall rsgen, or pass --templates DIR")
