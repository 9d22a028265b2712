"""What rsgen takes from the process it runs in: read once, at the entry point, into one value.

Environment variables (BGP passwords, the snapshot key, the PeeringDB API key and URL, the IRR
host) and tool paths are read here and nowhere else; every stage below the entry points takes
a Settings and never looks at os.environ itself, so a test or a library caller states exactly
what a run sees.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from rsgen import provenance
from rsgen.values import PASSWORD_ENV_PREFIX, Secret

SNAPSHOT_KEY_ENV = provenance.KEY_ENV
PEERINGDB_API_KEY_ENV = "PEERINGDB_API_KEY"
PEERINGDB_URL_ENV = "RSGEN_PEERINGDB_URL"
IRR_HOST_ENV = "RSGEN_IRR_HOST"
PEERINGDB_MIRROR_ENV = "RSGEN_PEERINGDB_MIRROR"
SOURCE_DATE_EPOCH_ENV = "SOURCE_DATE_EPOCH"  # reproducible-builds.org: `export ixf`'s time


@dataclass(frozen=True)
class Tools:
    """The external programs rsgen runs (names looked up on PATH, or paths)."""

    bird: str = "bird"
    birdc: str = "birdc"
    bgpq4: str = "bgpq4"


def _no_passwords() -> Mapping[str, Secret]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Settings:
    """One run's view of its environment. Secrets stay Secrets (they print as <secret>)."""

    # RS_PW_* variables: BGP passwords, by the name a member file references.
    passwords: Mapping[str, Secret] = field(default_factory=_no_passwords)
    # RSGEN_SNAPSHOT_KEY, checked on construction (provenance.check_key: BadKey when too
    # short), so no Settings holds a key a build or refresh would refuse later.
    snapshot_key: Secret | None = None
    peeringdb_api_key: Secret | None = None
    peeringdb_url: str | None = None  # pinned by the operator (the API key may go there)
    irr_host: str | None = None  # HOST[:PORT], overriding exchange.yml's irr.host
    # The SQLite database of a local `peeringdb sync` mirror: the operator's, so a pull
    # request (exchange.yml) can choose the mirror but never which file is read.
    peeringdb_mirror: str | None = None
    source_date_epoch: str | None = None  # SOURCE_DATE_EPOCH as set (checked where used)
    tools: Tools = field(default_factory=Tools)

    def __post_init__(self) -> None:
        object.__setattr__(self, "snapshot_key", provenance.check_key(self.snapshot_key))

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None,
                         **overrides: Any) -> Settings:
        """Read the process environment (or `environ`) once; keyword overrides win (command-line
        options such as --peeringdb-url). Empty variables count as unset: CI systems hand pull
        requests from forks empty secrets."""
        environ = os.environ if environ is None else environ

        def text(name: str) -> str | None:
            value = environ.get(name, "").strip()
            return value or None

        passwords = {name: Secret(value) for name, value in sorted(environ.items())
                     if name.startswith(PASSWORD_ENV_PREFIX)}
        # The snapshot key as set (only "" counts as unset; check_key refuses a short one);
        # the API key stripped, as a key pasted with a newline still works.
        snapshot_key = environ.get(SNAPSHOT_KEY_ENV, "")
        api_key = text(PEERINGDB_API_KEY_ENV)
        settings = cls(passwords=MappingProxyType(passwords),
                       snapshot_key=Secret(snapshot_key) if snapshot_key else None,
                       peeringdb_api_key=None if api_key is None else Secret(api_key),
                       peeringdb_url=text(PEERINGDB_URL_ENV),
                       irr_host=text(IRR_HOST_ENV),
                       peeringdb_mirror=text(PEERINGDB_MIRROR_ENV),
                       source_date_epoch=text(SOURCE_DATE_EPOCH_ENV))
        overrides = {k: v for k, v in overrides.items() if v is not None}
        return replace(settings, **overrides) if overrides else settings
