"""Small helpers shared by tests: building exchange trees inline, settings with sources."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from rsgen.settings import Settings

REPO = Path(__file__).resolve().parent.parent


def build_tree(root: Path, files: dict[str, str | None]) -> Path:
    """Write {relative path: text} under root; None removes the file."""
    for relative, text in files.items():
        path = root / relative
        if text is None:
            path.unlink(missing_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def source_settings(peeringdb_url: str | None = None, irr_host: str | None = None,
                    **overrides: Any) -> Settings:
    """What a command reads from this process's environment, with these sources given as
    --peeringdb-url and --irr-host would give them."""
    return Settings.from_environment(peeringdb_url=peeringdb_url, irr_host=irr_host,
                                     **overrides)


def copy_example(destination: Path, *, with_snapshot: bool = True) -> Path:
    """A private copy of the bundled example exchange (exchange.yml, members/, snapshot/)."""
    destination.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "exchange.yml", destination / "exchange.yml")
    shutil.copytree(REPO / "members", destination / "members")
    if with_snapshot:
        shutil.copytree(REPO / "snapshot", destination / "snapshot")
    return destination
