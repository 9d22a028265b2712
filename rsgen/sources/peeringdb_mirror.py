"""PeeringDB from a local mirror: the SQLite database that `peeringdb sync` (the `peeringdb`
package, through django-peeringdb's models) keeps up to date.

The database is opened read-only with the standard library's sqlite3, not through
django-peeringdb's ORM: Django is configured once per process (global settings, an app
registry), its client may run migrations, which write, and it would make the extra a runtime
dependency. Two tables (peeringdb_network, peeringdb_network_ixlan) and a few of their columns
are all rsgen reads; they carry the REST API's field names, so each row becomes the record the
API would send and goes through the same parsers (rsgen.sources.peeringdb). A mirror is as
untrusted as an answer from the network, and the same records give the same snapshot bytes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from rsgen.errors import SourceFailed
from rsgen.model import PeeringDbNet
from rsgen.sources.peeringdb import (
    NetIxLan,
    netixlan_from_records,
    nets_from_records,
    never_via_from_records,
)
from rsgen.values import printable

T = TypeVar("T")

NET_TABLE = "peeringdb_network"
NETIXLAN_TABLE = "peeringdb_network_ixlan"
NET_COLUMNS = ("asn", "name", "irr_as_set", "info_prefixes4", "info_prefixes6",
               "info_never_via_route_servers", "status")
NETIXLAN_COLUMNS = ("asn", "ixlan_id", "ipaddr4", "ipaddr6", "is_rs_peer", "operational",
                    "status")
# SQLite stores Django's booleans as 0 and 1; the parsers want JSON's true and false.
BOOLEAN_COLUMNS = frozenset({"info_never_via_route_servers", "is_rs_peer", "operational"})
# Older SQLite builds allow 999 bound parameters per statement.
BATCH_SIZE = 500
# A `peeringdb sync` committing at the same moment holds the write lock for a moment only.
BUSY_TIMEOUT = 30.0
# PeeringDB's networks change every day; a mirror whose newest record is older has stopped
# syncing (cron gone, or `peeringdb sync` failing, which it does with exit code 0).
STALE_AFTER = timedelta(days=2)

_SYNC_HINT = ("run `peeringdb sync` (docs/peeringdb-mirror.md), and check that "
              "--peeringdb-mirror or RSGEN_PEERINGDB_MIRROR names its orm.database.name; "
              "`rsgen build --offline` still builds from the committed snapshot")


class PeeringDbMirror:
    """Reads PeeringDB `net` and `netixlan` records from a `peeringdb sync` SQLite database,
    with the interface of rsgen.sources.peeringdb.PeeringDbClient."""

    # No API key is ever sent anywhere: nothing to withhold.
    key_withheld: str | None = None

    def __init__(self, database: Path) -> None:
        """`database`: the operator's path (never exchange.yml's); opened on each fetch."""
        self._path = database
        self._shown = printable(str(database))

    def fetch_nets(self, asns: Iterable[int]) -> dict[int, PeeringDbNet]:
        """The `net` records of these ASNs, by ASN; an ASN the mirror lacks is absent.

        Raises SourceFailed when the mirror cannot be read, holds no networks (never synced)
        or holds a record the REST parser refuses."""
        wanted = sorted(set(asns))
        if not wanted:
            return {}
        records: list[dict[str, Any]] = []
        with self._connect() as reader:
            for start in range(0, len(wanted), BATCH_SIZE):
                batch = wanted[start:start + BATCH_SIZE]
                marks = ",".join("?" * len(batch))
                records += reader.rows(NET_TABLE, NET_COLUMNS, f"asn IN ({marks})", batch)
        return dict(sorted(self._parsed(nets_from_records, records, frozenset(wanted)).items()))

    def fetch_never_via_route_servers(self) -> frozenset[int]:
        """Every network the mirror says is never reachable via route servers."""
        with self._connect() as reader:
            records = reader.rows(NET_TABLE, ("asn", "info_never_via_route_servers", "status"),
                                  "info_never_via_route_servers = 1", [])
        return self._parsed(never_via_from_records, records)

    def fetch_netixlan(self, asn: int, ixlan_id: int) -> list[NetIxLan]:
        """The network's connections to one peering LAN, in the mirror's (PeeringDB's id)
        order."""
        with self._connect() as reader:
            records = reader.rows(NETIXLAN_TABLE, NETIXLAN_COLUMNS,
                                  "asn = ? AND ixlan_id = ?", [int(asn), int(ixlan_id)])
        return self._parsed(netixlan_from_records, records, asn, ixlan_id)

    def stale_notice(self, now: datetime) -> str | None:
        """A warning when the mirror's newest network record is older than STALE_AFTER at
        `now`, or None; a date the mirror holds in another form gives None, not a guess."""
        with self._connect() as reader:
            newest = reader.newest_update(NET_TABLE)
        if newest is None or now - newest <= STALE_AFTER:
            return None
        return (f"PeeringDB mirror {self._shown}: its newest network record changed on "
                f"{newest:%Y-%m-%d}, {(now - newest).days} days ago; is `peeringdb sync` still "
                "running? (docs/peeringdb-mirror.md)")

    def _parsed(self, parser: Callable[..., T], records: list[dict[str, Any]], *args: Any) -> T:
        try:
            return parser(records, *args)
        except ValueError as exc:
            raise SourceFailed(f"PeeringDB mirror {self._shown} holds a malformed record: "
                               f"{printable(str(exc))}", hint=_SYNC_HINT) from exc

    def _connect(self) -> _Reader:
        path = self._path
        if not path.exists():
            raise SourceFailed(f"PeeringDB mirror {self._shown} does not exist", hint=_SYNC_HINT)
        if not path.is_file():
            raise SourceFailed(f"PeeringDB mirror {self._shown} is not a file (it must be the "
                               "SQLite database, not the peeringdb config directory)",
                               hint=_SYNC_HINT)
        return _Reader(path, self._shown)


class _Reader:
    """One read-only connection and one read transaction: every query of a fetch sees the
    same state of the mirror, even while a `peeringdb sync` commits."""

    def __init__(self, path: Path, shown: str) -> None:
        self._path = path
        self._shown = shown
        self._connection: sqlite3.Connection | None = None

    def __enter__(self) -> _Reader:
        try:
            # mode=ro: rsgen never writes the mirror, and cannot create a file by mistake.
            self._connection = sqlite3.connect(f"{self._path.resolve().as_uri()}?mode=ro",
                                               uri=True, timeout=BUSY_TIMEOUT,
                                               isolation_level=None)
            self._connection.execute("BEGIN")
            networks = self._connection.execute(
                f"SELECT EXISTS (SELECT 1 FROM {NET_TABLE})").fetchone()[0]  # noqa: S608 (constant)
        except sqlite3.Error as exc:
            self.__exit__()
            raise self._failure(exc) from exc
        if not networks:
            self.__exit__()
            raise SourceFailed(f"PeeringDB mirror {self._shown} holds no networks: "
                               "`peeringdb sync` has not filled it yet", hint=_SYNC_HINT)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._connection is not None:
            self._connection.close()  # a read transaction: nothing to commit
            self._connection = None

    def rows(self, table: str, columns: Sequence[str], where: str,
             parameters: Sequence[int]) -> list[dict[str, Any]]:
        """The rows as the REST API's records: {column: value}, booleans as booleans."""
        assert self._connection is not None
        # Table, columns and condition are this module's constants; values are bound.
        query = f"SELECT {', '.join(columns)} FROM {table} WHERE {where} ORDER BY id"  # noqa: S608
        try:
            found = self._connection.execute(query, parameters).fetchall()
        except sqlite3.Error as exc:
            raise self._failure(exc) from exc
        return [{name: _api_value(name, value) for name, value in zip(columns, row, strict=True)}
                for row in found]

    def newest_update(self, table: str) -> datetime | None:
        """The latest `updated` in the table (UTC; django-peeringdb stores it without a zone),
        or None when there is none or it is not a date."""
        assert self._connection is not None
        try:
            value = self._connection.execute(
                f"SELECT max(updated) FROM {table}").fetchone()[0]  # noqa: S608 (constant)
            when = datetime.fromisoformat(value)
        except sqlite3.Error as exc:
            raise self._failure(exc) from exc
        except (TypeError, ValueError):
            return None
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when

    def _failure(self, exc: sqlite3.Error) -> SourceFailed:
        detail = printable(str(exc))
        if "no such table" in detail or "no such column" in detail:
            return SourceFailed(f"PeeringDB mirror {self._shown} is not a django-peeringdb "
                                f"database rsgen can read ({detail})",
                                hint="set orm.backend to django_peeringdb in the peeringdb "
                                     "config (docs/peeringdb-mirror.md); " + _SYNC_HINT)
        return SourceFailed(f"PeeringDB mirror {self._shown} cannot be read: {detail}",
                            hint=_SYNC_HINT)


def _api_value(column: str, value: object) -> object:
    """A column's value as the API sends it; anything unexpected is left for the parser to
    refuse (a 2 in a boolean column stays 2)."""
    if column in BOOLEAN_COLUMNS and type(value) is int and value in (0, 1):
        return bool(value)
    return value
