"""PeeringDB REST client: bulk `net` look-ups by ASN, with retries, as typed PeeringDbNet records.

Everything PeeringDB sends is untrusted: the answer's shape and every field's type are checked
here and text fields are length-capped; policy code validates their contents (AS-SET names,
comments) before they reach bgpq4 or a BIRD config.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

import httpx

from rsgen import __version__
from rsgen.errors import InvalidInput, SourceFailed
from rsgen.model import PeeringDbNet
from rsgen.values import MAX_ASN, safe_comment

# 150 ASNs of up to 10 digits keep the query URL under ~1.7 KB, well inside what proxies accept,
# and a big exchange still needs only a handful of queries (anonymous clients get ~20 a minute).
BATCH_SIZE = 150
# Longer waits than this are a rate limit for the day, not a blip: better to say so and stop.
MAX_RETRY_AFTER = 120.0
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 30.0
# 150 net objects are a few hundred KB; anything near this limit is not a PeeringDB answer.
MAX_RESPONSE_BYTES = 50 * 1024 * 1024
MAX_NAME_LENGTH = 255
MAX_IRR_AS_SET_LENGTH = 1024
MAX_REDIRECTS = 3
API_KEY_ENV = "PEERINGDB_API_KEY"
# Where the API key may go without the operator pinning the URL: PeeringDB itself, over HTTPS.
PEERINGDB_HOSTS = frozenset({"www.peeringdb.com", "peeringdb.com"})
_PIN_HINT = (
    f"{API_KEY_ENV} goes only over https:// to www.peeringdb.com, or to a URL pinned outside "
    "the repository with --peeringdb-url or RSGEN_PEERINGDB_URL; peeringdb.url in exchange.yml "
    "(which a pull request can change) cannot send it anywhere else"
)

_OFFLINE_HINT = "try again later; `rsgen build --offline` still builds from the committed snapshot"
# Only a rate limit is helped by an API key; other failures must not send people after one.
_RATE_LIMIT_HINT = (
    "try again later; set PEERINGDB_API_KEY for a higher rate limit; "
    "`rsgen build --offline` still builds from the committed snapshot"
)
_URL_HINT = "peeringdb.url in exchange.yml must be the API base, like https://www.peeringdb.com/api"


def api_key_refusal(url: httpx.URL, *, pinned: bool) -> str | None:
    """Why the PeeringDB API key must not be sent to `url`, or None when it may be.

    `pinned`: the URL comes from the operator (command line or environment), not from
    exchange.yml, which any pull request can point at its own server.
    """
    if url.scheme != "https":
        return "it would travel unencrypted over http://"
    if pinned:
        return None
    if url.host in PEERINGDB_HOSTS and url.port in (None, 443):
        return None
    return "that URL comes from exchange.yml and is not PeeringDB's https://www.peeringdb.com"


@dataclass(frozen=True)
class _Retry:
    """A failed attempt that may succeed later; `delay` is the server's own Retry-After."""

    reason: str
    delay: float | None = None
    rate_limited: bool = False


class PeeringDbClient:
    """Fetches PeeringDB `net` objects for many ASNs in a few bulk queries."""

    def __init__(self, url: str, *, api_key: str | None = None, pinned: bool = False,
                 timeout: float = 30.0, max_attempts: int = 5,
                 sleep: Callable[[float], None] = time.sleep,
                 transport: httpx.BaseTransport | None = None,
                 max_response_bytes: int = MAX_RESPONSE_BYTES) -> None:
        """`pinned`: the operator chose `url` (--peeringdb-url, RSGEN_PEERINGDB_URL), so the
        API key may go there over HTTPS; otherwise only to PeeringDB (api_key_refusal).
        When the key is withheld, `key_withheld` says why (the key itself never)."""
        self._base = url.rstrip("/")
        try:
            parsed = httpx.URL(self._base)
        except httpx.InvalidURL as exc:
            raise InvalidInput(f"PeeringDB URL {_redacted(url)!r} is invalid: {exc}",
                               hint=_URL_HINT) from exc
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise InvalidInput(f"PeeringDB URL {_redacted(url)!r} is not an http(s) URL",
                               hint=_URL_HINT)
        self._shown = _redacted(self._base)  # for messages: no user:password@
        if api_key is not None and not (api_key.isascii() and api_key.isprintable()):
            # httpx would fail on it deep inside a request; say which setting is wrong instead.
            raise InvalidInput(f"{API_KEY_ENV} holds characters an API key cannot have",
                               hint="copy the key again from your PeeringDB profile")
        if max_attempts < 1 or timeout <= 0:
            raise ValueError("max_attempts must be >= 1 and timeout > 0")
        self.key_withheld: str | None = None
        refusal = api_key_refusal(parsed, pinned=pinned) if api_key else None
        if refusal is not None:
            self.key_withheld = (f"{API_KEY_ENV} is set but not sent to {self._shown}: "
                                 f"{refusal}; querying PeeringDB anonymously "
                                 f"(hint: {_PIN_HINT})")
            api_key = None
        self._origin = parsed
        self._api_key = api_key or None
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._transport = transport
        self._max_bytes = max_response_bytes

    def fetch_nets(self, asns: Iterable[int]) -> dict[int, PeeringDbNet]:
        """The `net` objects of these ASNs, by ASN; an ASN unknown to PeeringDB is absent.

        Raises SourceFailed when PeeringDB cannot be reached or answers something malformed.
        """
        wanted = sorted(set(asns))
        found: dict[int, PeeringDbNet] = {}
        if not wanted:
            return found
        with self._client() as client:
            for batch in _batches(wanted, BATCH_SIZE):
                url = f"{self._base}/net?asn__in={','.join(map(str, batch))}"
                body = self._get(client, url)
                try:
                    found.update(parse_nets(body, frozenset(batch)))
                except ValueError as exc:
                    raise SourceFailed(
                        f"PeeringDB answer to {_short(url)} is malformed: {exc}",
                        hint="check peeringdb.url in exchange.yml; if it is right, "
                             "PeeringDB or a proxy on the way is misbehaving: " + _OFFLINE_HINT,
                    ) from exc
        return dict(sorted(found.items()))

    def fetch_never_via_route_servers(self) -> frozenset[int]:
        """Every network PeeringDB says is never reachable via route servers (all of them, not
        only members: any may appear in a member's path). SourceFailed as fetch_nets."""
        url = (f"{self._base}/net?info_never_via_route_servers=1"
               "&fields=asn,info_never_via_route_servers,status")
        with self._client() as client:
            body = self._get(client, url)
        try:
            return parse_never_via(body)
        except ValueError as exc:
            raise SourceFailed(f"PeeringDB answer to {_short(url)} is malformed: {exc}",
                               hint="check peeringdb.url in exchange.yml; " + _OFFLINE_HINT,
                               ) from exc

    def fetch_netixlan(self, asn: int, ixlan_id: int) -> list[NetIxLan]:
        """The network's connections to one peering LAN (`netixlan` of `ixlan_id`), in
        PeeringDB's order; SourceFailed as fetch_nets."""
        url = f"{self._base}/netixlan?asn={int(asn)}&ixlan_id={int(ixlan_id)}"
        with self._client() as client:
            body = self._get(client, url)
        try:
            return parse_netixlan(body, asn, ixlan_id)
        except ValueError as exc:
            raise SourceFailed(f"PeeringDB answer to {_short(url)} is malformed: {exc}",
                               hint="check peeringdb.url in exchange.yml; " + _OFFLINE_HINT,
                               ) from exc

    def _client(self) -> httpx.Client:
        headers = {"User-Agent": f"rsgen/{__version__} (route-server config generator)",
                   "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Api-Key {self._api_key}"
        return httpx.Client(headers=headers, timeout=httpx.Timeout(self._timeout),
                            transport=self._transport, follow_redirects=True,
                            max_redirects=MAX_REDIRECTS,
                            event_hooks={"request": [self._refuse_other_hosts]})

    def _refuse_other_hosts(self, request: httpx.Request) -> None:
        # The API key must never travel to a host the operator did not configure, nor in clear.
        url = request.url
        downgrade = self._origin.scheme == "https" and url.scheme != "https"
        if url.host != self._origin.host or downgrade:
            raise SourceFailed(
                f"PeeringDB URL {self._shown} redirects to {_short(str(url))}; rsgen does not "
                "follow redirects to another host or from https to http",
                hint="set peeringdb.url in exchange.yml to the address it redirects to, "
                     "if you trust it",
            )

    def _get(self, client: httpx.Client, url: str) -> bytes:
        """GET url, retrying rate limits, 5xx and network failures; the 200 answer's body."""
        last = _Retry("no attempt made")
        for attempt in range(1, self._max_attempts + 1):
            outcome = self._attempt(client, url)
            if isinstance(outcome, bytes):
                return outcome
            last = outcome
            if attempt < self._max_attempts:
                delay = outcome.delay
                self._sleep(delay if delay is not None else _backoff(attempt))
        raise SourceFailed(
            f"PeeringDB query {_short(url)} failed after {self._max_attempts} attempts: "
            f"{last.reason}",
            hint=_RATE_LIMIT_HINT if last.rate_limited else _OFFLINE_HINT,
        )

    def _attempt(self, client: httpx.Client, url: str) -> bytes | _Retry:
        # httpx's timeout bounds each read; the deadline also stops a server that drips bytes.
        deadline = time.monotonic() + self._timeout
        try:
            with client.stream("GET", url) as response:
                if response.status_code == 200:
                    return self._read_body(response, url, deadline)
                return self._judge_status(response, url)
        except httpx.TimeoutException:
            return _Retry(f"no answer within {self._timeout:g} s")
        except httpx.TooManyRedirects as exc:
            raise SourceFailed(f"PeeringDB URL {self._shown} redirects more than "
                               f"{MAX_REDIRECTS} times", hint=_URL_HINT) from exc
        except httpx.DecodingError as exc:
            raise SourceFailed(f"PeeringDB answer to {_short(url)} has a broken encoding: {exc}",
                               hint=_OFFLINE_HINT) from exc
        except httpx.RequestError as exc:  # refused, reset, DNS, connection closed mid-answer
            return _Retry(f"connection failed ({type(exc).__name__}: {exc or 'no detail'})")

    def _read_body(self, response: httpx.Response, url: str, deadline: float) -> bytes:
        too_big = SourceFailed(
            f"PeeringDB answer to {_short(url)} is larger than {self._max_bytes} bytes",
            hint="check peeringdb.url in exchange.yml points at the PeeringDB API",
        )
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            raise too_big
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self._max_bytes:
                raise too_big
            if time.monotonic() > deadline:
                raise httpx.ReadTimeout("answer took too long", request=response.request)
            chunks.append(chunk)
        return b"".join(chunks)

    def _judge_status(self, response: httpx.Response, url: str) -> _Retry:
        """Turn a non-200 answer into a retry, or raise SourceFailed when retrying cannot help."""
        status = response.status_code
        if status == 429:
            delay = _retry_after(response.headers.get("Retry-After"))
            if delay is not None and delay > MAX_RETRY_AFTER:
                raise SourceFailed(
                    f"PeeringDB rate limit: asked to wait {delay:.0f} s before querying "
                    f"{_short(url)} again, more than the {MAX_RETRY_AFTER:.0f} s rsgen waits",
                    hint=_RATE_LIMIT_HINT,
                )
            return _Retry("HTTP 429 Too Many Requests (rate limited)", delay, rate_limited=True)
        if status >= 500:
            return _Retry(f"HTTP {status}{_error_detail(response)}")
        message = f"PeeringDB refused {_short(url)}: HTTP {status}{_error_detail(response)}"
        if status in (401, 403):
            hint = (f"check {API_KEY_ENV}, or unset it to query anonymously" if self._api_key
                    else f"set {API_KEY_ENV} to a valid PeeringDB API key")
            raise SourceFailed(message, hint=hint)
        raise SourceFailed(message, hint=_URL_HINT)


def _batches(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _backoff(attempt: int) -> float:
    return float(min(BACKOFF_FIRST * 2 ** (attempt - 1), BACKOFF_MAX))


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or HTTP-date); None if absent."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None  # unreadable: fall back to our own backoff
    return max(0.0, when.timestamp() - time.time())


def _error_detail(response: httpx.Response) -> str:
    """PeeringDB's own error text (`meta.error`), cleaned for a terminal, or nothing."""
    body = b""
    try:
        for chunk in response.iter_bytes():  # an error page is short; read no more than that
            body += chunk
            if len(body) > 4096:
                return ""
        error = json.loads(body)["meta"]["error"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError, RecursionError):
        return ""
    return f" ({safe_comment(error, 200)})" if isinstance(error, str) and error.strip() else ""


def _short(url: str, limit: int = 160) -> str:
    """A URL for a one-line message: a 150-ASN query string is too long to show whole."""
    url = _redacted(url)
    return url if len(url) <= limit else url[:limit] + "..."


def _redacted(url: str) -> str:
    """A URL without its user:password@ part: an operator's URL may carry credentials."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return url if "@" not in url else "(a URL with credentials, not shown)"
    return str(parsed.copy_with(username=None, password=None)) if parsed.userinfo else url


def parse_nets(body: bytes, requested: frozenset[int]) -> dict[int, PeeringDbNet]:
    """Parse a `/net` answer; raise ValueError saying what is wrong with it.

    Only records with status "ok" count (deleted ones appear in some queries); unknown fields
    are ignored, so PeeringDB can add fields without breaking rsgen.
    """
    try:
        document = json.loads(body)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc
    except ValueError as exc:  # also bad UTF-8 and absurdly long integers
        raise ValueError(f"not valid JSON, or cut short ({exc})") from exc
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise ValueError('expected a JSON object with a "data" list')
    return nets_from_records(document["data"], requested)


def nets_from_records(records: Sequence[Any], requested: frozenset[int],
                      ) -> dict[int, PeeringDbNet]:
    """parse_nets on records already decoded (from a /net answer, or a local mirror's rows
    shaped like one): the same checks whatever the path."""
    nets: dict[int, PeeringDbNet] = {}
    for index, record in enumerate(records):
        net = _parse_net(record, f"data[{index}]", requested)
        if net is None:
            continue
        if net.asn in nets:
            raise ValueError(f"data[{index}] is AS{net.asn} again, which appeared before")
        nets[net.asn] = net
    return nets


def parse_never_via(body: bytes) -> frozenset[int]:
    """The ASNs of a `/net?info_never_via_route_servers=1` answer; ValueError when malformed.

    A record that is not "ok" or that says the flag is off (a server ignoring the filter) does
    not count."""
    return never_via_from_records(_data_list(body))


def never_via_from_records(records: Sequence[Any]) -> frozenset[int]:
    """parse_never_via on records already decoded (a /net answer's, or a mirror's rows)."""
    found = set()
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise ValueError(f"data[{index}] is not an object")
        asn = record.get("asn")
        if not _is_int(asn) or not 0 < asn <= MAX_ASN:
            raise ValueError(f"data[{index}].asn is {_show(asn)}, not an ASN")
        if record.get("status", "ok") == "ok" and \
                record.get("info_never_via_route_servers", True) is True:
            found.add(asn)
    return frozenset(found)


def _data_list(body: bytes) -> list[Any]:
    """The `data` list of a PeeringDB answer; ValueError when it has none."""
    try:
        document = json.loads(body)
    except (RecursionError, ValueError) as exc:
        raise ValueError(f"not valid JSON, or cut short ({exc})") from exc
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise ValueError('expected a JSON object with a "data" list')
    data: list[Any] = document["data"]
    return data


def _parse_net(record: Any, where: str, requested: frozenset[int]) -> PeeringDbNet | None:
    if not isinstance(record, dict):
        raise ValueError(f"{where} is not an object")
    status = record.get("status", "ok")
    if not isinstance(status, str):
        raise ValueError(f"{where}.status is not a string")
    if status != "ok":
        return None
    asn = record.get("asn")
    if not _is_int(asn) or not 0 < asn <= MAX_ASN:
        raise ValueError(f"{where}.asn is {_show(asn)}, expected an AS number")
    if asn not in requested:
        raise ValueError(f"{where} is AS{asn}, which was not asked for")
    never = record.get("info_never_via_route_servers", False)
    if not isinstance(never, bool):
        raise ValueError(f"{where}.info_never_via_route_servers is {_show(never)}, "
                         "expected true or false")
    return PeeringDbNet(
        asn=asn,
        name=_text(record, "name", where, MAX_NAME_LENGTH, required=True),
        irr_as_set=_text(record, "irr_as_set", where, MAX_IRR_AS_SET_LENGTH, required=False),
        info_prefixes4=_count(record, "info_prefixes4", where),
        info_prefixes6=_count(record, "info_prefixes6", where),
        never_via_route_servers=never,
    )


def _text(record: dict[str, Any], key: str, where: str, limit: int, *, required: bool) -> str:
    if key not in record and not required:
        return ""
    value = record.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{where}.{key} is {_show(value)}, expected a string")
    if len(value) > limit:
        raise ValueError(f"{where}.{key} is longer than {limit} characters")
    return value


def _count(record: dict[str, Any], key: str, where: str) -> int | None:
    value = record.get(key)
    if value is None:
        return None
    # BIRD's import limits are 32-bit; a larger "count" is junk, not a policy input.
    if not _is_int(value) or not 0 <= value <= 2**32 - 1:
        raise ValueError(f"{where}.{key} is {_show(value)}, expected a prefix count or null")
    return value


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON true is not a number


def _show(value: object) -> str:
    """An untrusted value, short and printable, for an error message."""
    return "missing or null" if value is None else repr(value)[:40]


@dataclass(frozen=True)
class NetIxLan:
    """One PeeringDB `netixlan`: a network's port on a peering LAN, with its addresses."""

    asn: int
    ixlan_id: int
    ipaddr4: str | None  # untrusted text: checked as addresses by whoever uses them
    ipaddr6: str | None
    is_rs_peer: bool
    operational: bool


def parse_netixlan(body: bytes, asn: int, ixlan_id: int) -> list[NetIxLan]:
    """Parse a `/netixlan?asn=N&ixlan_id=M` answer; ValueError saying what is wrong.

    Records that are not "ok" are left out; a record of another network or LAN (a server
    ignoring the filter) is an error, not data."""
    return netixlan_from_records(_data_list(body), asn, ixlan_id)


def netixlan_from_records(records: Sequence[Any], asn: int, ixlan_id: int) -> list[NetIxLan]:
    """parse_netixlan on records already decoded (a /netixlan answer's, or a mirror's rows)."""
    found = []
    for index, record in enumerate(records):
        where = f"data[{index}]"
        if not isinstance(record, dict):
            raise ValueError(f"{where} is not an object")
        if record.get("status", "ok") != "ok":
            continue
        if record.get("asn") != asn or record.get("ixlan_id") != ixlan_id:
            raise ValueError(f"{where} is AS{_show(record.get('asn'))} on ixlan "
                             f"{_show(record.get('ixlan_id'))}, which was not asked for")
        addresses = []
        for key in ("ipaddr4", "ipaddr6"):
            value = record.get(key)
            if value is not None and (not isinstance(value, str) or len(value) > 64):
                raise ValueError(f"{where}.{key} is {_show(value)}, expected an address or null")
            addresses.append(value or None)
        flags = []
        for key in ("is_rs_peer", "operational"):
            value = record.get(key, key == "operational")
            if not isinstance(value, bool):
                raise ValueError(f"{where}.{key} is {_show(value)}, expected true or false")
            flags.append(value)
        found.append(NetIxLan(asn, ixlan_id, addresses[0], addresses[1], flags[0], flags[1]))
    return found
