"""Fetch arXiv papers: metadata through the `arxiv` package, LaTeX source from `/src/<id>`.

Design
------
* Two modes. `query=` sends an arXiv API search (always sent: results change over time);
  `ids=` looks each id up in the cache first and asks the API only for the ids it lacks,
  so a fully cached batch makes no network request at all.
* One HTTP session for everything (`_PoliteSession`). It names paracycle in the User-Agent,
  puts a timeout on every request and spaces *all* requests, API and source alike, by
  `delay_s` (arXiv's policy is one request every three seconds, whatever the endpoint).
  The `arxiv.Client` is handed this session, with its own delay and retries switched off,
  and `_Client._parse_feed` wraps each API page in our retry loop, so one backoff policy
  (`backoff_s`, doubling) covers API pages and source downloads.
* Cache layout, one folder per paper (the id without version, "/" -> "_"):
      <cache_dir>/<safe_id>/meta.json   PaperMeta
      <cache_dir>/<safe_id>/source      the archive bytes exactly as served
  Both are written as `*.partial` and renamed with `os.replace`, so a file under its final
  name is always complete; a leftover `.partial` is just overwritten on the next run.
  meta.json is written before the source is downloaded, so a failed or interrupted source
  download never costs the metadata request again. A folder holds one version: a newer
  version (asked for explicitly, or seen in search results) replaces it.
* Failures. A paper whose source is missing (404), too large, or keeps answering 5xx is
  returned with `source=None` and an `error`; the batch goes on, and the next run tries its
  source again. Anything that says "stop talking to arXiv" -- HTTP 429 or the network being
  unreachable after all retries, or any failure of the API search itself -- raises
  `ArxivError`, whose str is one line the CLI prints as is. Papers finished before that are
  cached, so running the same command again resumes.
* The stored source is not decoded: we ask for `Accept-Encoding: identity` and read the
  raw stream, so `source` holds what arXiv serves (usually a .tar.gz, sometimes a gzipped
  single .tex, occasionally a PDF). Readers should sniff magic bytes rather than trust the
  content type.
* Bounds. A redirect is followed only to the same host (http -> https on arxiv.org is fine;
  a redirect elsewhere makes that paper's source unavailable, or the search an ArxivError),
  so the configured server is the only one ever contacted. A source download has a total
  deadline (`download_deadline_s`) besides the per-read timeout: a server that trickles
  bytes is cut off when it passes, and the paper's source is unavailable for this run.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urljoin, urlsplit

import arxiv
import requests
import urllib3
from pydantic import Field, ValidationError

from paracycle import __version__
from paracycle.fsutil import atomic_file, write_atomic
from paracycle.schemas import Strict

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://export.arxiv.org/api/query"
DEFAULT_SOURCE_URL = "https://arxiv.org/src"
API_URL_ENV = "PARACYCLE_ARXIV_API_URL"
SOURCE_URL_ENV = "PARACYCLE_ARXIV_SOURCE_URL"
USER_AGENT = f"paracycle/{__version__} (arXiv ingestion; python-requests/{requests.__version__})"

_CHUNK = 64 * 1024
# New-style ids (0704.0001 onwards) and old-style archive/subject-class ids (hep-th/9901001).
_ID_RE = re.compile(
    r"^(?P<id>\d{4}\.\d{4,5}|[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7})(?:v(?P<version>\d+))?$"
)

T = TypeVar("T")


class ArxivError(Exception):
    """arXiv could not be used for this batch; str(err) is one line for the user."""


class ArxivSettings(Strict):
    """How politely to talk to arXiv, and where (the URLs can point at a mirror or a fake)."""

    api_url: str = Field(default_factory=lambda: os.environ.get(API_URL_ENV) or DEFAULT_API_URL)
    source_url: str = Field(default_factory=lambda: os.environ.get(SOURCE_URL_ENV) or DEFAULT_SOURCE_URL)
    delay_s: float = Field(default=3.0, ge=0, description="minimum gap between any two requests")
    retries: int = Field(default=3, ge=0, description="retries after the first attempt")
    backoff_s: float = Field(default=2.0, ge=0, description="wait before the first retry; doubles")
    timeout_s: float = Field(default=30.0, gt=0, description="per request (connect, and between bytes)")
    download_deadline_s: float = Field(default=600.0, gt=0, description="total time one source download may take")
    max_source_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    page_size: int = Field(default=50, ge=1, le=2000)


class PaperMeta(Strict):
    id: str = Field(description="arXiv id without version, e.g. 2312.01552 or hep-th/9901001")
    version: int | None
    title: str
    authors: list[str]
    categories: list[str]
    primary_category: str | None
    published: str
    updated: str
    abstract: str
    source_content_type: str | None = None


@dataclass
class FetchedPaper:
    meta: PaperMeta
    source: Path | None  # the cached archive, None if unavailable
    error: str | None  # why the source is missing
    cached: bool  # True when nothing was downloaded for it this run


# --------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------


def fetch(
    *,
    query: str | None = None,
    ids: list[str] | None = None,
    max_results: int = 10,
    cache_dir: Path,
    settings: ArxivSettings | None = None,
    on_paper: Callable[[FetchedPaper], None] | None = None,
) -> list[FetchedPaper]:
    """Fetch metadata and source for a search (`query`) or explicit `ids`, through the cache.

    `ids` mode trusts the cache: an id without a version is served from the cache when any
    version is there; ask for `<id>v<n>` to get a newer one.

    Raises ValueError for a call that gives both or neither of query/ids, and ArxivError
    (one line) when arXiv cannot be used: bad ids, unknown ids, rate limiting, the API
    failing after retries, the network being down.
    """
    if (query is None) == (ids is None):
        raise ValueError("give exactly one of query= or ids=")
    settings = settings or ArxivSettings()
    cache = _Cache(Path(cache_dir))
    with _PoliteSession(settings) as session:
        if query is not None:
            metas = _search(session, settings, query, max_results)
        else:
            metas = _lookup_ids(session, settings, cache, ids or [])
        papers = []
        for meta, meta_downloaded in metas:
            paper = _complete(session, settings, cache, meta, meta_downloaded)
            papers.append(paper)
            if on_paper is not None:
                on_paper(paper)
    return papers


def split_id(raw: str) -> tuple[str, int | None]:
    """'arXiv:2312.01552v2' -> ('2312.01552', 2); raises ArxivError for something else."""
    text = raw.strip()
    if text.lower().startswith("arxiv:"):
        text = text[len("arxiv:"):]
    match = _ID_RE.match(text)
    if match is None:
        raise ArxivError(f"not an arXiv id: {raw!r} (expected e.g. 2312.01552, 2312.01552v2 or hep-th/9901001)")
    version = match["version"]
    return match["id"], int(version) if version else None


def safe_id(paper_id: str) -> str:
    """Old-style ids contain a '/', which cannot be a folder name."""
    return paper_id.replace("/", "_")


# --------------------------------------------------------------------------------------
# Metadata: search, id lookup
# --------------------------------------------------------------------------------------


def _search(session: _PoliteSession, settings: ArxivSettings, query: str, max_results: int):
    if not query.strip():
        raise ValueError("query is empty")
    if max_results < 1:
        raise ValueError("max_results must be at least 1")
    search = arxiv.Search(query=query, max_results=max_results)
    metas = _run_search(session, settings, search, page_size=min(settings.page_size, max_results))
    # The search is a batch-level request; per paper, only a source download counts.
    return [(meta, False) for meta in metas]


def _lookup_ids(session: _PoliteSession, settings: ArxivSettings, cache: _Cache, raw_ids: list[str]):
    """Cached metadata where it matches the asked version; one API search for the rest."""
    wanted = list(dict.fromkeys(split_id(raw) for raw in raw_ids))  # dedupe, keep order
    found: dict[tuple[str, int | None], PaperMeta] = {}
    missing = []
    for paper_id, version in wanted:
        meta = cache.meta(paper_id)
        if meta is not None and (version is None or meta.version == version):
            found[(paper_id, version)] = meta
        else:
            missing.append((paper_id, version))
    fresh: set[tuple[str, int | None]] = set()
    if missing:
        asked = [f"{i}v{v}" if v else i for i, v in missing]
        search = arxiv.Search(id_list=asked, max_results=len(asked))
        metas = _run_search(session, settings, search, page_size=min(settings.page_size, len(asked)))
        by_id = {(m.id, m.version): m for m in metas} | {(m.id, None): m for m in metas}
        absent = [a for a, key in zip(asked, missing) if key not in by_id]
        if absent:
            raise ArxivError(f"arXiv returned no paper for {', '.join(absent)}; check the id(s)")
        for key in missing:
            found[key] = by_id[key]
            fresh.add(key)
    return [(found[key], key in fresh) for key in wanted]


def _run_search(session: _PoliteSession, settings: ArxivSettings, search: arxiv.Search, page_size: int):
    client = _Client(session, settings, page_size)
    return [_to_meta(result) for result in client.results(search) if "/abs/" in result.entry_id]


def _to_meta(result: arxiv.Result) -> PaperMeta:
    paper_id, version = split_id(result.get_short_id())
    return PaperMeta(
        id=paper_id,
        version=version,
        title=result.title.strip(),
        authors=[author.name for author in result.authors],
        categories=list(result.categories),
        primary_category=result.primary_category or None,
        published=result.published.isoformat(),
        updated=result.updated.isoformat(),
        # arXiv hard-wraps abstracts at ~80 columns; the line breaks carry no meaning.
        abstract=" ".join(result.summary.split()),
    )


class _Client(arxiv.Client):
    """`arxiv.Client` on our session, with our retry/backoff around each page.

    The stock client retries immediately (no backoff), has no request timeout and sends
    its own User-Agent; we switch its retries and delay off (num_retries=0, delay 0: the
    session spaces requests) and wrap `_parse_feed`, which fetches and parses one page.
    """

    def __init__(self, session: _PoliteSession, settings: ArxivSettings, page_size: int):
        super().__init__(page_size=page_size, delay_seconds=0.0, num_retries=0)
        self._session.close()  # the one the stock client made; ours replaces it
        self._session = session
        self._settings = settings
        # The client formats its URL as query_url_format.format(urlencode(args)).
        base = settings.api_url.replace("{", "{{").replace("}", "}}")
        self.query_url_format = base + ("&{}" if "?" in base else "?{}")

    def _parse_feed(self, url: str, first_page: bool = True, _try_index: int = 0):
        try:
            return _with_retries(self._settings, lambda: self._parse_once(url, first_page))
        except _Exhausted as err:
            raise ArxivError(err.message) from err

    def _parse_once(self, url: str, first_page: bool):
        try:
            return super()._parse_feed(url, first_page=first_page)
        except arxiv.HTTPError as err:
            if _transient_status(err.status):
                raise _Transient(url, status=err.status) from err
            raise ArxivError(f"arXiv answered HTTP {err.status} for {url}; check the query or ids") from err
        except _RedirectRefused as err:
            raise ArxivError(str(err)) from err
        except arxiv.UnexpectedEmptyPageError as err:
            # arXiv sporadically returns an empty page mid-way; arxiv.py documents retrying.
            raise _Transient(url, reason="an unexpectedly empty page of results") from err
        except requests.RequestException as err:
            raise _Transient(url, reason=_one_line(err), network=True) from err


# --------------------------------------------------------------------------------------
# Source archives
# --------------------------------------------------------------------------------------


def _complete(
    session: _PoliteSession, settings: ArxivSettings, cache: _Cache, meta: PaperMeta, meta_downloaded: bool
) -> FetchedPaper:
    """Make sure the paper's meta and source are on disk; download only what is missing."""
    cached_meta = cache.meta(meta.id)
    same_version = cached_meta is not None and cached_meta.version == meta.version
    if same_version and cache.source(meta.id).exists():
        return FetchedPaper(cached_meta, cache.source(meta.id), None, cached=not meta_downloaded)
    if same_version:
        meta = cached_meta  # keeps what the cache knows; only the source is missing
    else:
        # A new version (or no cache): drop any old archive first, so meta and source
        # never disagree, and store the metadata before the slow, failure-prone download.
        cache.source(meta.id).unlink(missing_ok=True)
        cache.write_meta(meta)
    url = f"{settings.source_url.rstrip('/')}/{meta.id}" + (f"v{meta.version}" if meta.version else "")
    # One deadline for every attempt: retries must not multiply it.
    deadline = time.monotonic() + settings.download_deadline_s
    try:
        content_type = _with_retries(
            settings, lambda: _download(session, settings, url, cache.source(meta.id), deadline)
        )
    except _Unavailable as err:
        return FetchedPaper(meta, None, str(err), cached=False)
    except _Exhausted as err:
        # 5xx for one paper: skip it. 429 or no network: every next paper would fail too.
        if err.last.status is not None and err.last.status != 429:
            return FetchedPaper(meta, None, err.message, cached=False)
        raise ArxivError(err.message) from err
    meta = meta.model_copy(update={"source_content_type": content_type})
    cache.write_meta(meta)
    return FetchedPaper(meta, cache.source(meta.id), None, cached=False)


def _download(
    session: _PoliteSession, settings: ArxivSettings, url: str, dest: Path, deadline: float
) -> str | None:
    """One attempt: stream `url` into dest.partial, rename on success. Returns the content type."""
    limit = settings.max_source_bytes
    left = deadline - time.monotonic()
    if left <= 0:
        raise _Unavailable(_too_slow(url, settings.download_deadline_s))
    try:
        # identity: store the bytes as served, not a transparently un-gzipped copy.
        timeout = min(settings.timeout_s, left)  # no read may outlast the deadline either
        with session.get(url, stream=True, headers={"Accept-Encoding": "identity"}, timeout=timeout) as resp:
            _check_source_status(resp, url)
            declared = resp.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise _Unavailable(_too_large(url, limit))
            with _Deadline(resp, deadline, settings.download_deadline_s) as clock:
                _stream_to(resp, dest, limit, url, clock)
            return resp.headers.get("Content-Type")
    except (requests.RequestException, urllib3.exceptions.HTTPError) as err:
        if time.monotonic() >= deadline:  # the deadline cut the connection; not worth a retry
            raise _Unavailable(_too_slow(url, settings.download_deadline_s)) from err
        # raw.stream raises urllib3's own errors (read timeout, connection cut mid-body).
        raise _Transient(url, reason=_one_line(err), network=True) from err
    finally:
        session.mark()  # the body is read now: space the next request from here


class _Deadline:
    """Shuts the response's socket down when `deadline` passes, so that a read blocked on a
    server trickling one byte at a time (each within the per-read timeout) ends there too."""

    def __init__(self, resp: requests.Response, deadline: float, seconds: float):
        self.deadline, self.seconds = deadline, seconds
        abort = getattr(resp.raw, "shutdown", None) or resp.close  # shutdown(): urllib3 >= 2.3
        self._timer = threading.Timer(max(deadline - time.monotonic(), 0.0), abort)
        self._timer.daemon = True

    def passed(self) -> bool:
        return time.monotonic() >= self.deadline

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()


def _check_source_status(resp: requests.Response, url: str) -> None:
    if resp.status_code == 200:
        return
    if _transient_status(resp.status_code):
        raise _Transient(url, status=resp.status_code)
    if resp.status_code == 404:
        raise _Unavailable(f"no source on arXiv (HTTP 404 for {url})")
    raise _Unavailable(f"source download refused: HTTP {resp.status_code} for {url}")


def _stream_to(resp: requests.Response, dest: Path, limit: int, url: str, clock: _Deadline) -> None:
    """Copy the raw body into dest atomically, aborting past `limit` bytes or the deadline."""
    size = 0
    with atomic_file(dest) as out:
        # decode_content=False: count and keep the bytes on the wire (Content-Length may lie
        # or be absent, so the cap is enforced while streaming, not only from the header).
        for chunk in resp.raw.stream(_CHUNK, decode_content=False):
            size += len(chunk)
            if size > limit:
                raise _Unavailable(_too_large(url, limit))
            if clock.passed():
                raise _Unavailable(_too_slow(url, clock.seconds))
            out.write(chunk)
        # A body without Content-Length ends when the connection does: the deadline's
        # shutdown looks like the end, and must not be kept as a complete file.
        if clock.passed():
            raise _Unavailable(_too_slow(url, clock.seconds))


def _too_large(url: str, limit: int) -> str:
    return f"source larger than max_source_bytes ({limit} bytes) at {url}; not kept"


def _too_slow(url: str, deadline_s: float) -> str:
    return f"source download from {url} took longer than download_deadline_s ({deadline_s:g} s); not kept"


# --------------------------------------------------------------------------------------
# Retries, politeness
# --------------------------------------------------------------------------------------


class _Transient(Exception):
    """A failure worth retrying: HTTP 429 / 5xx, a timeout, a dropped connection."""

    def __init__(self, url: str, *, status: int | None = None, reason: str = "", network: bool = False):
        super().__init__(url)
        self.url, self.status, self.reason, self.network = url, status, reason, network

    def describe(self, attempts: int) -> str:
        tries = f"after {attempts} attempt{'s' if attempts != 1 else ''}"
        if self.status == 429:
            return (f"arXiv answered HTTP 429 (rate limited) for {self.url} {tries}; "
                    "wait a few minutes and run the same command again")
        if self.status is not None:
            return (f"arXiv answered HTTP {self.status} (server error) for {self.url} {tries}; "
                    "arXiv may be down, try again later")
        if self.network:
            return (f"could not reach arXiv at {self.url} {tries} ({self.reason}); "
                    f"check the network, or {API_URL_ENV} / {SOURCE_URL_ENV}")
        return f"arXiv sent {self.reason} for {self.url} {tries}; try again later"


class _Unavailable(Exception):
    """This paper's source cannot be had; the batch goes on without it."""


class _RedirectRefused(_Unavailable):
    """The server redirected to another host; nothing is sent there."""


class _Exhausted(Exception):
    """Still failing after every retry; `message` is the one line for the user."""

    def __init__(self, last: _Transient, attempts: int):
        super().__init__(last.describe(attempts))
        self.last, self.message = last, last.describe(attempts)


def _with_retries(settings: ArxivSettings, attempt: Callable[[], T]) -> T:
    """Call `attempt` until it succeeds, sleeping backoff_s, 2*backoff_s, ... between tries.

    Only _Transient failures are retried; after the last one it raises _Exhausted and the
    caller decides whether that is fatal (API, 429, network) or one paper's loss (5xx).
    """
    wait = settings.backoff_s
    attempts = settings.retries + 1
    for number in range(1, attempts + 1):
        try:
            return attempt()
        except _Transient as err:
            if number == attempts:
                raise _Exhausted(err, attempts) from err
            log.info("arXiv: %s; retrying in %.1fs", err.describe(number), wait)
            time.sleep(wait)
            wait *= 2
    raise AssertionError("unreachable")


def _transient_status(status: int) -> bool:
    return status == 429 or 500 <= status < 600


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return f"{type(err).__name__}: {text[:200]}"


class _PoliteSession(requests.Session):
    """Every request: paracycle's User-Agent, the timeout, and at least delay_s since the last."""

    def __init__(self, settings: ArxivSettings):
        super().__init__()
        self.headers["User-Agent"] = USER_AGENT
        self._timeout = settings.timeout_s
        self._delay = settings.delay_s
        self._last: float | None = None

    def request(self, method, url, *args, headers=None, **kwargs):
        # arxiv.Client passes its own "user-agent" per request, which would beat ours.
        headers = {k: v for k, v in (headers or {}).items() if k.lower() != "user-agent"}
        kwargs.setdefault("timeout", self._timeout)
        self._wait_turn()
        try:
            return super().request(method, url, *args, headers=headers, **kwargs)
        finally:
            self.mark()

    def mark(self) -> None:
        self._last = time.monotonic()

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        """requests asks this before following any redirect: one to another host is refused
        (it would send our requests, and trust, to a server nobody configured)."""
        target = super().get_redirect_target(resp)
        if target is not None:
            destination = urljoin(resp.url, target)
            if _host(destination) != _host(resp.url):
                raise _RedirectRefused(f"refused a redirect from {resp.url} to another host ({destination})")
        return target

    def _wait_turn(self) -> None:
        if self._last is None:
            return
        remaining = self._delay - (time.monotonic() - self._last)
        if remaining > 0:
            time.sleep(remaining)


def _host(url: str) -> str | None:
    return urlsplit(url).hostname  # lower-cased; the port and scheme may change


# --------------------------------------------------------------------------------------
# Cache
# --------------------------------------------------------------------------------------


class _Cache:
    def __init__(self, root: Path):
        self.root = root

    def folder(self, paper_id: str) -> Path:
        return self.root / safe_id(paper_id)

    def source(self, paper_id: str) -> Path:
        return self.folder(paper_id) / "source"

    def meta(self, paper_id: str) -> PaperMeta | None:
        """The cached metadata, or None when absent or unreadable (then it is fetched again)."""
        path = self.folder(paper_id) / "meta.json"
        try:
            return PaperMeta.model_validate_json(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, ValidationError):
            return None

    def write_meta(self, meta: PaperMeta) -> None:
        path = self.folder(meta.id) / "meta.json"
        write_atomic(path, json.dumps(meta.model_dump(), indent=2, ensure_ascii=False).encode("utf-8"))
