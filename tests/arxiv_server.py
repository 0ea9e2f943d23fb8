"""A local fake arXiv for tests: the Atom query API and the `/src/<id>` source endpoint.

    with FakeArxiv() as fake:
        fake.add_paper("2312.01552", title="...", source=make_tar_gz({"main.tex": "..."}))
        fetch(ids=["2312.01552"], cache_dir=..., settings=ArxivSettings(api_url=fake.api_url,
              source_url=fake.source_url, delay_s=0))
        assert fake.hits == [...]

The feed mimics export.arxiv.org closely enough for the real `arxiv` client, which (since
4.0) parses it with its own lxml Atom parser: namespaced `opensearch:totalResults`, one
`<entry>` per paper with id `http://arxiv.org/abs/<id>v<version>`, and a PDF link with
`title="pdf"` -- `Result.source_url()` is derived from that link, found by its title.
"""

from __future__ import annotations

import io
import re
import sys
import tarfile
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

ATOM = "http://www.w3.org/2005/Atom"
OPENSEARCH = "http://a9.com/-/spec/opensearch/1.1/"
ARXIV = "http://arxiv.org/schemas/atom"
ET.register_namespace("", ATOM)
ET.register_namespace("opensearch", OPENSEARCH)
ET.register_namespace("arxiv", ARXIV)

_OPERATORS = {"AND", "OR", "ANDNOT", "NOT"}


def make_tar_gz(files: dict[str, bytes | str]) -> bytes:
    """An in-memory .tar.gz with the given files (str contents are UTF-8 encoded)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in files.items():
            data = content.encode("utf-8") if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1700000000
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@dataclass
class FakePaper:
    id: str
    title: str
    abstract: str
    authors: list[str]
    categories: list[str]
    version: int
    source: bytes | None
    content_type: str
    send_content_length: bool = True
    published: str = "2023-12-03T18:00:00Z"
    updated: str = "2023-12-05T09:30:00Z"


@dataclass
class _Rule:
    prefix: str
    times: int
    status: int = 0  # answer this status instead of the real response
    stall_s: float = 0.0  # or sleep this long before answering
    location: str = ""  # or redirect (302) here
    trickle_s: float = 0.0  # or send the real body one byte per trickle_s


@dataclass
class FakeArxiv:
    """Context manager: a ThreadingHTTPServer on 127.0.0.1, random port, daemon thread."""

    papers: dict[str, FakePaper] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)  # request paths, with query strings
    user_agents: list[str] = field(default_factory=list)
    _rules: list[_Rule] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ---- lifecycle -----------------------------------------------------------------

    def __enter__(self) -> FakeArxiv:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        # a short poll interval: shutdown() waits up to one interval, once per test
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/query"

    @property
    def source_url(self) -> str:
        return f"{self.base_url}/src"

    # ---- test controls -------------------------------------------------------------

    def add_paper(
        self,
        id: str,
        *,
        title: str = "A paper",
        abstract: str = "An abstract.",
        authors: list[str] | None = None,
        categories: list[str] | None = None,
        version: int = 1,
        source: bytes | None = None,
        content_type: str = "application/gzip",
        send_content_length: bool = True,
    ) -> FakePaper:
        """Register a paper; `source=None` makes /src/<id> answer 404."""
        paper = FakePaper(
            id=id, title=title, abstract=abstract, authors=authors or ["Ada Lovelace"],
            categories=categories or ["cs.CL"], version=version, source=source,
            content_type=content_type, send_content_length=send_content_length,
        )
        self.papers[id] = paper
        return paper

    def fail_next(self, path_prefix: str, status: int, times: int = 1) -> None:
        """The next `times` requests whose path starts with path_prefix get `status`."""
        with self._lock:
            self._rules.append(_Rule(path_prefix, times, status=status))

    def stall_next(self, path_prefix: str, seconds: float, times: int = 1) -> None:
        """The next `times` matching requests wait `seconds` before answering (timeouts)."""
        with self._lock:
            self._rules.append(_Rule(path_prefix, times, stall_s=seconds))

    def redirect_next(self, path_prefix: str, location: str, times: int = 1) -> None:
        """The next `times` matching requests are redirected (302) to `location`."""
        with self._lock:
            self._rules.append(_Rule(path_prefix, times, location=location))

    def trickle_next(self, path_prefix: str, seconds_per_byte: float, times: int = 1) -> None:
        """The next `times` matching requests get their body one byte at a time, each byte
        well within any per-read timeout (a slow server that never quite stalls)."""
        with self._lock:
            self._rules.append(_Rule(path_prefix, times, trickle_s=seconds_per_byte))

    def hits_for(self, path_prefix: str) -> list[str]:
        return [hit for hit in self.hits if hit.startswith(path_prefix)]

    # ---- behaviour -----------------------------------------------------------------

    def _take_rule(self, path: str) -> _Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.times > 0 and path.startswith(rule.prefix):
                    rule.times -= 1
                    return rule
        return None

    def _select(self, params: dict[str, list[str]]) -> list[tuple[FakePaper, int]]:
        """(paper, version to report) for a query, like arXiv: id_list and/or search_query."""
        id_list = [i for i in ",".join(params.get("id_list", [])).split(",") if i]
        query = " ".join(params.get("search_query", []))
        if id_list:
            chosen = []
            for raw in id_list:
                match = re.fullmatch(r"(.+?)(?:v(\d+))?", raw)
                paper = self.papers.get(match[1])
                version = int(match[2]) if match[2] else None
                if paper is not None and (version is None or version <= paper.version):
                    chosen.append((paper, version or paper.version))
        else:
            chosen = [(paper, paper.version) for paper in self.papers.values()]
        if query:
            terms = _query_terms(query)
            chosen = [(p, v) for p, v in chosen if _matches(p, terms)]
        return chosen


def _query_terms(query: str) -> list[str]:
    """'cat:cs.CL AND ti:"reward model"' -> ['cs.cl', 'reward model']: field prefixes dropped."""
    tokens = re.findall(r'(?:\w+:)?"[^"]*"|[^\s()]+', query)
    terms = []
    for token in tokens:
        if token in _OPERATORS:
            continue
        term = token.split(":", 1)[1] if re.match(r"^\w+:", token) else token
        terms.append(term.strip('"').lower())
    return [t for t in terms if t]


def _matches(paper: FakePaper, terms: list[str]) -> bool:
    """Any term found in title, abstract, authors or categories (a loose OR: enough for tests)."""
    haystack = " ".join([paper.title, paper.abstract, *paper.authors, *paper.categories]).lower()
    return any(term in haystack for term in terms)


def _feed(papers: list[tuple[FakePaper, int]], total: int, start: int, query_url: str) -> bytes:
    feed = ET.Element(f"{{{ATOM}}}feed")
    ET.SubElement(feed, f"{{{ATOM}}}link", href=query_url, rel="self", type="application/atom+xml")
    ET.SubElement(feed, f"{{{ATOM}}}title", type="html").text = "ArXiv Query: fake"
    ET.SubElement(feed, f"{{{ATOM}}}id").text = "http://arxiv.org/api/fake"
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = time.strftime("%Y-%m-%dT00:00:00-05:00")
    ET.SubElement(feed, f"{{{OPENSEARCH}}}totalResults").text = str(total)
    ET.SubElement(feed, f"{{{OPENSEARCH}}}startIndex").text = str(start)
    ET.SubElement(feed, f"{{{OPENSEARCH}}}itemsPerPage").text = str(len(papers))
    for paper, version in papers:
        _entry(feed, paper, version)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(feed, encoding="utf-8")


def _entry(feed: ET.Element, paper: FakePaper, version: int) -> None:
    versioned = f"{paper.id}v{version}"
    entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
    ET.SubElement(entry, f"{{{ATOM}}}id").text = f"http://arxiv.org/abs/{versioned}"
    ET.SubElement(entry, f"{{{ATOM}}}updated").text = paper.updated
    ET.SubElement(entry, f"{{{ATOM}}}published").text = paper.published
    # arXiv hard-wraps titles and abstracts; do the same so the client's cleanup is exercised.
    ET.SubElement(entry, f"{{{ATOM}}}title").text = paper.title.replace(" ", "\n  ", 1)
    ET.SubElement(entry, f"{{{ATOM}}}summary").text = "  " + paper.abstract.replace(". ", ".\n", 1) + "\n"
    for name in paper.authors:
        author = ET.SubElement(entry, f"{{{ATOM}}}author")
        ET.SubElement(author, f"{{{ATOM}}}name").text = name
    ET.SubElement(entry, f"{{{ATOM}}}link", href=f"http://arxiv.org/abs/{versioned}", rel="alternate", type="text/html")
    ET.SubElement(entry, f"{{{ATOM}}}link", title="pdf", href=f"http://arxiv.org/pdf/{versioned}",
                  rel="related", type="application/pdf")
    ET.SubElement(entry, f"{{{ARXIV}}}primary_category", term=paper.categories[0], scheme="http://arxiv.org/schemas/atom")
    for category in paper.categories:
        ET.SubElement(entry, f"{{{ATOM}}}category", term=category, scheme="http://arxiv.org/schemas/atom")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # A client that timed out (stall_next) closes first: the late write breaks the pipe.
        # That is the test working, not an error worth a traceback in pytest's output.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeArxiv  # set on the per-server subclass

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        fake = self.fake
        fake.hits.append(self.path)
        fake.user_agents.append(self.headers.get("User-Agent", ""))
        rule = fake._take_rule(self.path)
        self.trickle_s = rule.trickle_s if rule is not None else 0.0
        if rule is not None and rule.stall_s:
            time.sleep(rule.stall_s)
        elif rule is not None and rule.location:
            return self._redirect(rule.location)
        elif rule is not None and rule.status:
            return self._send(rule.status, b"injected failure\n", "text/plain")
        url = urlsplit(self.path)
        if url.path == "/api/query":
            return self._query(parse_qs(url.query))
        if url.path.startswith("/src/"):
            return self._source(unquote(url.path[len("/src/"):]))
        self._send(404, b"not found\n", "text/plain")

    def _query(self, params: dict[str, list[str]]) -> None:
        chosen = self.fake._select(params)
        start = int(params.get("start", ["0"])[0])
        count = int(params.get("max_results", ["10"])[0])
        page = chosen[start:start + count]
        self._send(200, _feed(page, len(chosen), start, self.path), "application/atom+xml; charset=utf-8")

    def _source(self, raw_id: str) -> None:
        match = re.fullmatch(r"(.+?)(?:v(\d+))?", raw_id)
        paper = self.fake.papers.get(match[1])
        version = int(match[2]) if match[2] else None
        if paper is None or paper.source is None or (version is not None and version > paper.version):
            return self._send(404, b"no source\n", "text/plain")
        self._send(200, paper.source, paper.content_type, length=paper.send_content_length)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send(self, status: int, body: bytes, content_type: str, length: bool = True) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if length:
            self.send_header("Content-Length", str(len(body)))
        else:
            # HTTP/1.0 without a length: the body ends when the connection closes.
            self.close_connection = True
        self.end_headers()
        if not self.trickle_s:
            self.wfile.write(body)
            return
        for i in range(len(body)):
            self.wfile.write(body[i : i + 1])
            self.wfile.flush()
            time.sleep(self.trickle_s)
