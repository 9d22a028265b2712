"""`rsgen init`: a new exchange directory that `rsgen check` and `rsgen build` accept at once;
`rsgen member remove`: a member's file out of it.

It holds a commented exchange.yml on documentation addresses (to be replaced), an empty
members/, a .gitignore for what rsgen writes beside the sources, and an empty snapshot that
is not marked as example data. It never overwrites: a directory that already has any of
these is refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rsgen.atomic import write_atomic
from rsgen.errors import ExitCode, RsgenError
from rsgen.lock import exchange_lock
from rsgen.snapshot import SNAPSHOT_DIR, SnapshotMeta, SnapshotTransaction

EXCHANGE_FILE = "exchange.yml"
MEMBERS_DIR = "members"
GITIGNORE = ".gitignore"

# What rsgen writes into an exchange directory that does not belong in git: the configs, the
# lock, and what a killed run leaves beside snapshot/ or out/ (the next run tidies up).
GITIGNORE_TEXT = """\
# Written by rsgen build: review and deploy from CI, never commit.
/out/
# rsgen's lock, the record of the last build, and what a killed run leaves beside
# snapshot/ or out/.
/.rsgen.lock
/.rsgen.build.json
/..rsgen.build.json.*.tmp
.*.rsgen-*/
"""

EXCHANGE_TEXT = """\
# The exchange rsgen builds route-server configs for. Every address below is a documentation
# address (RFC 5737, RFC 3849) and 64500 a documentation ASN (RFC 5398): replace them all.
# The README lists every setting; `rsgen check` says what is wrong, with the line.
name: {name}

# One BIRD config per route server (out/<name>.conf). Members peer with each in the address
# families they have sessions in.
route_servers:
  - name: rs1
    asn: 64500
    router_id: 192.0.2.1
    ipv4: 192.0.2.1
    ipv6: "2001:db8::1"
  - name: rs2
    asn: 64500
    router_id: 192.0.2.2
    ipv4: 192.0.2.2
    ipv6: "2001:db8::2"

# Every member session address and next hop must be inside these.
peering_lan:
  ipv4: 192.0.2.0/24
  ipv6: "2001:db8::/64"

# Where refresh fetches member data (the defaults shown).
# peeringdb:
#   url: https://www.peeringdb.com/api
#   ixlan_id: 1                   # the exchange's LAN in PeeringDB, for rsgen member add
#   source: rest                  # or mirror: a peeringdb sync database (docs/peeringdb-mirror.md)
# irr:
#   host: whois.radb.net          # or a list, in order of preference
#   sources: [RIPE, APNIC, ARIN, AFRINIC, LACNIC, RADB]

# The import policy (the defaults shown); see "The policy in each config" in the README.
# policy:
#   ipv4_max_length: 24
#   ipv6_max_length: 48
#   max_as_path_length: 32
#   max_prefix_action: restart

# RPKI origin validation: on once RTR caches are listed.
# rpki:
#   rtr_servers:
#     - {{host: 192.0.2.250, port: 3323}}
#   invalid: reject

# BLACKHOLE (RFC 7999): where members' blackhole requests send the traffic, per family.
# blackhole:
#   ipv4: 192.0.2.66
#   ipv6: "2001:db8::66"
"""

MEMBER_README = """\
One YAML file per member: AS<asn>.yml. A new member is a pull request adding one, e.g.

    asn: 64496
    name: Example Networks
    sessions:
      - ip: 192.0.2.10
      - ip: "2001:db8::10"

then `rsgen refresh` fetches its PeeringDB and IRR data into snapshot/ for review.
"""


class ScaffoldRefused(RsgenError):
    """What rsgen init and member remove refuse to do (a usage error): overwrite an
    exchange, delete what is not a member file."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class InitResult:
    directory: Path
    written: tuple[Path, ...]
    kept: tuple[Path, ...]  # already there and left alone (.gitignore)


def init_exchange(directory: Path, *, name: str = "New Internet Exchange") -> InitResult:
    """Create the skeleton in `directory` (made if missing); refuse one that has any of
    exchange.yml, members/ or snapshot/, even as a symlink."""
    taken = [n for n in (EXCHANGE_FILE, MEMBERS_DIR, SNAPSHOT_DIR)
             if os.path.lexists(directory / n)]
    if taken:
        raise ScaffoldRefused(
            f"{directory} already has {', '.join(taken)}: rsgen init never overwrites",
            hint="run it on a new or empty directory")
    if not _plain_name(name):
        raise ScaffoldRefused(f"exchange name {name!r}: letters, digits, spaces and "
                                ".,()&+'- only, 1-100 characters",
                                hint="give a plain --name, or edit exchange.yml afterwards")
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    kept: list[Path] = []
    with exchange_lock(directory, "init"):
        (directory / MEMBERS_DIR).mkdir()
        write_atomic(directory / MEMBERS_DIR / "README.md", MEMBER_README)
        written.append(directory / MEMBERS_DIR / "README.md")
        if os.path.lexists(directory / GITIGNORE):
            kept.append(directory / GITIGNORE)
        else:
            write_atomic(directory / GITIGNORE, GITIGNORE_TEXT)
            written.append(directory / GITIGNORE)
        with SnapshotTransaction(directory) as transaction:
            transaction.write_meta(SnapshotMeta(example=False))
        written.append(directory / SNAPSHOT_DIR)
        # Last: until exchange.yml exists, a half-made directory is not an exchange.
        write_atomic(directory / EXCHANGE_FILE, EXCHANGE_TEXT.format(name=name))
        written.append(directory / EXCHANGE_FILE)
    return InitResult(directory, tuple(written), tuple(kept))


def _plain_name(name: str) -> bool:
    """A name that goes into YAML unquoted and means itself there."""
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,()&+'-")
    return 0 < len(name) <= 100 and set(name) <= allowed and name == name.strip() \
        and name[0].isalnum()


def remove_member(directory: Path, asn: int) -> Path:
    """Delete members/AS<asn>.yml (a regular file, not a link); the path deleted. The member's
    snapshot files go with the next refresh of the whole exchange."""
    path = directory / MEMBERS_DIR / f"AS{asn}.yml"
    if not os.path.lexists(path):
        raise ScaffoldRefused(f"no member file {MEMBERS_DIR}/AS{asn}.yml in {directory}",
                                hint="the file name is AS<asn>.yml; see rsgen check")
    if path.is_symlink() or not path.is_file():
        raise ScaffoldRefused(f"{MEMBERS_DIR}/AS{asn}.yml is not a regular file: not removed",
                                hint="look at it and remove it by hand")
    with exchange_lock(directory, "member remove"):
        path.unlink()
    return path
