"""Reading an IX-F member export from a file or over HTTPS, with a size cap and a deadline."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import httpx

from rsgen import __version__
from rsgen.errors import InvalidInput, SourceFailed
from rsgen.ixf import MAX_EXPORT_BYTES

MAX_REDIRECTS = 3
_HINT = "check the URL; a file saved from it can be imported instead"


def is_url(source: str) -> bool:
    return source.startswith(("https://", "http://"))


def read_export_file(path: Path, limit: int = MAX_EXPORT_BYTES) -> bytes:
    """The file's bytes: a regular file of at most `limit` bytes (no FIFO, no device)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InvalidInput(f"{path}: not a regular file")
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, 1 << 20):
            size += len(chunk)
            if size > limit:
                raise InvalidInput(f"{path}: more than {limit} bytes; not an IX-F export "
                                   "rsgen reads")
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


def fetch_export(url: str, *, timeout: float = 30.0, limit: int = MAX_EXPORT_BYTES,
                 allow_http: bool = False,
                 transport: httpx.BaseTransport | None = None) -> bytes:
    """GET an export: https:// only (`allow_http` for a test's local server), redirects within
    https only, at most `limit` bytes within `timeout` seconds; SourceFailed otherwise."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise InvalidInput(f"{url[:160]!r} is not a URL: {exc}") from exc
    if parsed.scheme != "https" and not (allow_http and parsed.scheme == "http"):
        raise InvalidInput(f"{_shown(parsed)}: only https:// URLs are fetched (an export "
                           "over http:// could be changed on the way)",
                           hint="use the https:// URL, or download the file and import it")

    def refuse_downgrade(request: httpx.Request) -> None:
        if request.url.scheme != parsed.scheme:
            raise SourceFailed(f"{_shown(parsed)} redirects to {_shown(request.url)}: not "
                               "followed from https to http", hint=_HINT)

    deadline = time.monotonic() + timeout
    headers = {"User-Agent": f"rsgen/{__version__}", "Accept": "application/json"}
    try:
        with httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=True,
                          max_redirects=MAX_REDIRECTS, headers=headers, transport=transport,
                          event_hooks={"request": [refuse_downgrade]}) as client, \
                client.stream("GET", url) as response:
            if response.status_code != 200:
                raise SourceFailed(f"{_shown(parsed)} answered HTTP {response.status_code}",
                                   hint=_HINT)
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > limit:
                raise SourceFailed(f"{_shown(parsed)}: the export is larger than {limit} "
                                   "bytes", hint=_HINT)
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise SourceFailed(f"{_shown(parsed)}: the export is larger than {limit} "
                                       "bytes", hint=_HINT)
                if time.monotonic() > deadline:
                    raise SourceFailed(f"{_shown(parsed)}: not read within {timeout:g} s",
                                       hint=_HINT)
                chunks.append(chunk)
    except httpx.TimeoutException as exc:
        raise SourceFailed(f"{_shown(parsed)}: no answer within {timeout:g} s",
                           hint=_HINT) from exc
    except httpx.TooManyRedirects as exc:
        raise SourceFailed(f"{_shown(parsed)} redirects more than {MAX_REDIRECTS} times",
                           hint=_HINT) from exc
    except httpx.HTTPError as exc:
        raise SourceFailed(f"{_shown(parsed)}: {type(exc).__name__}", hint=_HINT) from exc
    return b"".join(chunks)


def _shown(url: httpx.URL) -> str:
    """A URL for a message: without user:password@ and without its query."""
    return str(url.copy_with(username=None, password=None, query=None))[:160]
