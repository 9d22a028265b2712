"""Which PeeringDB a run reads: the REST API (the default) or a local `peeringdb sync` mirror.

exchange.yml (`peeringdb.source`) may choose the mirror, but the file read is always the
operator's (--peeringdb-mirror, RSGEN_PEERINGDB_MIRROR): exchange.yml may come from a pull
request, and a path from it could make a CI runner read any file it can open.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from rsgen.errors import ExitCode, RsgenError
from rsgen.model import PeeringDbNet, PeeringDbSettings
from rsgen.settings import PEERINGDB_MIRROR_ENV, PEERINGDB_URL_ENV, Settings

if TYPE_CHECKING:  # httpx (with the REST client) is imported only when the API is asked
    from rsgen.sources.peeringdb import NetIxLan


class PeeringDbSource(Protocol):
    """What refresh and member add ask of PeeringDB (PeeringDbClient, PeeringDbMirror)."""

    key_withheld: str | None

    def fetch_nets(self, asns: Iterable[int]) -> dict[int, PeeringDbNet]: ...

    def fetch_never_via_route_servers(self) -> frozenset[int]: ...

    def fetch_netixlan(self, asn: int, ixlan_id: int) -> list[NetIxLan]: ...


class MirrorUsage(RsgenError):
    """The mirror asked for without a path, or with a REST URL too: a usage error."""

    exit_code = ExitCode.USAGE


def uses_mirror(peeringdb: PeeringDbSettings, settings: Settings) -> bool:
    """True when this run reads the mirror: the operator named one, or exchange.yml asks."""
    return settings.peeringdb_mirror is not None or peeringdb.source == "mirror"


def open_peeringdb(peeringdb: PeeringDbSettings, settings: Settings) -> PeeringDbSource:
    """The PeeringDB this run reads; no I/O yet (a missing mirror fails on the first fetch,
    as an unreachable API does, so refresh keeps the old data and says so)."""
    if not uses_mirror(peeringdb, settings):
        from rsgen.sources.peeringdb import PeeringDbClient

        key = settings.peeringdb_api_key
        return PeeringDbClient(settings.peeringdb_url or peeringdb.url,
                               api_key=None if key is None else key.reveal(),
                               pinned=bool(settings.peeringdb_url),
                               timeout=peeringdb.timeout_seconds)
    if settings.peeringdb_mirror is None:
        raise MirrorUsage("exchange.yml sets peeringdb.source: mirror, but no mirror database "
                          "was given",
                          hint=f"pass --peeringdb-mirror PATH or set {PEERINGDB_MIRROR_ENV} to "
                               "the SQLite database `peeringdb sync` fills "
                               "(docs/peeringdb-mirror.md)")
    if settings.peeringdb_url is not None:
        raise MirrorUsage("both a PeeringDB mirror and a PeeringDB URL were given",
                          hint=f"give one: --peeringdb-mirror / {PEERINGDB_MIRROR_ENV}, or "
                               f"--peeringdb-url / {PEERINGDB_URL_ENV}")
    from rsgen.sources.peeringdb_mirror import PeeringDbMirror

    return PeeringDbMirror(Path(settings.peeringdb_mirror))
