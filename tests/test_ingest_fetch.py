"""arXiv fetch layer against a local fake arXiv (tests/arxiv_server.py): offline and fast."""

from __future__ import annotations

import json
import time

import pytest

from arxiv_server import FakeArxiv, make_tar_gz
from paracycle.ingest.arxiv_fetch import (
    USER_AGENT,
    ArxivError,
    ArxivSettings,
    FetchedPaper,
    PaperMeta,
    fetch,
)

SRC_A = make_tar_gz({"main.tex": "\\documentclass{article}\\begin{document}Alignment\\end{document}"})
SRC_B = make_tar_gz({"paper.tex": "\\documentclass{article}\\begin{document}Strings\\end{document}"})
SRC_C = make_tar_gz({"ms.tex": "\\documentclass{article}\\begin{document}Parsing\\end{document}"})


@pytest.fixture
def fake():
    with FakeArxiv() as server:
        server.add_paper(
            "2312.01552", title="Reward hacking in alignment", abstract="We study alignment. It is hard.",
            authors=["Ada Lovelace", "Alan Turing"], categories=["cs.CL", "cs.LG"], version=2, source=SRC_A,
        )
        server.add_paper(
            "hep-th/9901001", title="Strings on branes", abstract="Old-style identifier.",
            categories=["hep-th"], source=SRC_B, content_type="application/x-eprint-tar",
        )
        server.add_paper(
            "2401.00001", title="Constituency parsing with alignment", abstract="Trees.",
            categories=["cs.CL"], source=SRC_C,
        )
        yield server


def settings_for(fake: FakeArxiv, **overrides) -> ArxivSettings:
    # timeout_s stays generous: on a busy machine a local request can take seconds, and a
    # timeout would turn into a retry and change the hit counts the tests assert on.
    values = dict(api_url=fake.api_url, source_url=fake.source_url, delay_s=0, backoff_s=0.01, timeout_s=60)
    return ArxivSettings(**(values | overrides))


# ---- id mode -------------------------------------------------------------------------


def test_ids_mode_returns_metadata_and_source(fake, tmp_path):
    seen: list[FetchedPaper] = []
    papers = fetch(ids=["2312.01552", "hep-th/9901001v1"], cache_dir=tmp_path,
                   settings=settings_for(fake), on_paper=seen.append)

    a, b = papers
    assert seen == papers
    assert a.meta.id == "2312.01552" and a.meta.version == 2
    assert a.meta.title == "Reward hacking in alignment"
    assert a.meta.abstract == "We study alignment. It is hard."  # arXiv's line wrap removed
    assert a.meta.authors == ["Ada Lovelace", "Alan Turing"]
    assert a.meta.categories == ["cs.CL", "cs.LG"] and a.meta.primary_category == "cs.CL"
    assert a.meta.published.startswith("2023-12-03T18:00:00")
    assert a.source == tmp_path / "2312.01552" / "source" and a.source.read_bytes() == SRC_A
    assert a.meta.source_content_type == "application/gzip"
    assert (a.error, a.cached) == (None, False)

    # old-style id: "/" becomes "_" on disk, the meta keeps the real id
    assert b.meta.id == "hep-th/9901001" and b.meta.version == 1
    assert b.source == tmp_path / "hep-th_9901001" / "source" and b.source.read_bytes() == SRC_B
    assert b.meta.source_content_type == "application/x-eprint-tar"

    on_disk = PaperMeta.model_validate_json((tmp_path / "2312.01552" / "meta.json").read_text())
    assert on_disk == a.meta
    # one API search for both ids, then the versioned source URLs
    assert len(fake.hits_for("/api/query")) == 1
    assert fake.hits_for("/src/") == ["/src/2312.01552v2", "/src/hep-th/9901001v1"]
    assert set(fake.user_agents) == {USER_AGENT} and "paracycle" in USER_AGENT
    assert not list(tmp_path.rglob("*.partial"))


def test_ids_mode_second_run_makes_no_request(fake, tmp_path):
    settings = settings_for(fake)
    first = fetch(ids=["2312.01552", "hep-th/9901001"], cache_dir=tmp_path, settings=settings)
    hits = len(fake.hits)

    second = fetch(ids=["2312.01552", "hep-th/9901001"], cache_dir=tmp_path, settings=settings)

    assert len(fake.hits) == hits  # not a single request
    assert [p.cached for p in second] == [True, True]
    assert [p.meta for p in second] == [p.meta for p in first]
    assert second[0].source.read_bytes() == SRC_A


def test_asking_for_another_version_refetches(fake, tmp_path):
    settings = settings_for(fake)
    fetch(ids=["2312.01552v1"], cache_dir=tmp_path, settings=settings)
    assert fake.hits_for("/src/") == ["/src/2312.01552v1"]

    (newer,) = fetch(ids=["2312.01552v2"], cache_dir=tmp_path, settings=settings)

    assert newer.meta.version == 2 and not newer.cached
    assert fake.hits_for("/src/") == ["/src/2312.01552v1", "/src/2312.01552v2"]
    assert PaperMeta.model_validate_json((tmp_path / "2312.01552" / "meta.json").read_text()).version == 2


def test_unknown_or_malformed_id_is_one_line_error(fake, tmp_path):
    with pytest.raises(ArxivError, match="no paper for 2312.99999"):
        fetch(ids=["2312.01552", "2312.99999"], cache_dir=tmp_path, settings=settings_for(fake))
    hits = len(fake.hits)
    with pytest.raises(ArxivError, match="not an arXiv id: 'attention is all you need'"):
        fetch(ids=["attention is all you need"], cache_dir=tmp_path, settings=settings_for(fake))
    assert len(fake.hits) == hits  # rejected before any request


def test_exactly_one_of_query_and_ids(tmp_path):
    with pytest.raises(ValueError):
        fetch(cache_dir=tmp_path)
    with pytest.raises(ValueError):
        fetch(query="ti:x", ids=["2312.01552"], cache_dir=tmp_path)


# ---- query mode ----------------------------------------------------------------------


def test_query_mode_pages_and_honours_max_results(fake, tmp_path):
    papers = fetch(query="cat:cs.CL AND ti:alignment", max_results=2, cache_dir=tmp_path,
                   settings=settings_for(fake, page_size=1))

    assert [p.meta.id for p in papers] == ["2312.01552", "2401.00001"]
    assert [p.source.read_bytes() for p in papers] == [SRC_A, SRC_C]
    api = fake.hits_for("/api/query")
    assert len(api) == 2 and "start=0" in api[0] and "start=1" in api[1]  # page_size=1: two pages
    assert "search_query=cat%3Acs.CL+AND+ti%3Aalignment" in api[0]


def test_query_mode_second_run_searches_but_does_not_redownload(fake, tmp_path):
    settings = settings_for(fake)
    fetch(query="ti:alignment", cache_dir=tmp_path, settings=settings)
    sources = len(fake.hits_for("/src/"))

    again = fetch(query="ti:alignment", cache_dir=tmp_path, settings=settings)

    assert len(fake.hits_for("/api/query")) == 2  # the search itself is always sent
    assert len(fake.hits_for("/src/")) == sources == 2
    assert [p.cached for p in again] == [True, True]
    assert again[0].source.read_bytes() == SRC_A


def test_query_mode_fetches_a_newer_version(fake, tmp_path):
    settings = settings_for(fake)
    fetch(query="ti:strings", cache_dir=tmp_path, settings=settings)
    fake.add_paper("hep-th/9901001", title="Strings on branes", categories=["hep-th"], version=2, source=b"v2")

    (paper,) = fetch(query="ti:strings", cache_dir=tmp_path, settings=settings)

    assert paper.meta.version == 2 and not paper.cached and paper.source.read_bytes() == b"v2"
    assert fake.hits_for("/src/") == ["/src/hep-th/9901001v1", "/src/hep-th/9901001v2"]


# ---- resume, retries, failures -------------------------------------------------------


def test_leftover_partial_is_downloaded_again(fake, tmp_path):
    settings = settings_for(fake)
    fetch(ids=["2312.01552"], cache_dir=tmp_path, settings=settings)
    # simulate a run killed mid-download: only a truncated .partial is left
    source = tmp_path / "2312.01552" / "source"
    source.with_name("source.partial").write_bytes(SRC_A[:10])
    source.unlink()
    api_hits = len(fake.hits_for("/api/query"))

    (paper,) = fetch(ids=["2312.01552"], cache_dir=tmp_path, settings=settings)

    assert paper.source.read_bytes() == SRC_A and not paper.cached
    assert len(fake.hits_for("/api/query")) == api_hits  # metadata came from the cache
    assert fake.hits_for("/src/") == ["/src/2312.01552v2", "/src/2312.01552v2"]
    assert not source.with_name("source.partial").exists()


def test_rate_limited_twice_then_success(fake, tmp_path):
    fake.fail_next("/api/query", 429, times=2)
    fake.fail_next("/src/", 429, times=2)

    (paper,) = fetch(ids=["2312.01552"], cache_dir=tmp_path, settings=settings_for(fake, retries=3))

    assert paper.source.read_bytes() == SRC_A and paper.error is None
    assert len(fake.hits_for("/api/query")) == 3 and len(fake.hits_for("/src/")) == 3


def test_rate_limit_outlasting_retries_is_one_line_error(fake, tmp_path):
    fake.fail_next("/api/query", 429, times=2)
    with pytest.raises(ArxivError) as info:
        fetch(ids=["2312.01552"], cache_dir=tmp_path, settings=settings_for(fake, retries=1))
    message = str(info.value)
    assert "HTTP 429 (rate limited)" in message and "after 2 attempts" in message
    assert "run the same command again" in message and "\n" not in message


def test_backoff_doubles_between_retries(fake, tmp_path):
    fake.fail_next("/api/query", 503, times=2)
    start = time.monotonic()
    fetch(ids=["2401.00001"], cache_dir=tmp_path, settings=settings_for(fake, backoff_s=0.2))
    assert time.monotonic() - start >= 0.2 + 0.4


def test_persistent_503_on_api_raises(fake, tmp_path):
    fake.fail_next("/api/query", 503, times=100)
    with pytest.raises(ArxivError) as info:
        fetch(query="ti:alignment", cache_dir=tmp_path, settings=settings_for(fake, retries=2))
    message = str(info.value)
    assert "HTTP 503" in message and fake.api_url in message and "\n" not in message
    assert len(fake.hits_for("/api/query")) == 3  # first attempt + 2 retries
    assert not any(tmp_path.iterdir())


def test_failed_sources_do_not_stop_the_batch(fake, tmp_path):
    fake.add_paper("2402.00002", title="No source", source=None)  # PDF-only: /src 404
    fake.add_paper("2402.00003", title="Huge", source=b"x" * 5000)  # Content-Length over the cap
    fake.add_paper("2402.00004", title="Huge, no length", source=b"y" * 5000, send_content_length=False)
    fake.add_paper("2402.00005", title="Broken server", source=b"z")
    fake.fail_next("/src/2402.00005", 503, times=100)
    ids = ["2402.00002", "2402.00003", "2402.00004", "2402.00005", "2401.00001"]

    papers = fetch(ids=ids, cache_dir=tmp_path, settings=settings_for(fake, max_source_bytes=1000, retries=1))

    missing, huge, huge_stream, broken, good = papers
    assert missing.source is None and "HTTP 404" in missing.error
    assert huge.source is None and "max_source_bytes" in huge.error
    assert huge_stream.source is None and "max_source_bytes" in huge_stream.error
    assert broken.source is None and "HTTP 503" in broken.error
    assert good.source.read_bytes() == SRC_C and good.error is None
    for paper in papers[:4]:
        folder = tmp_path / paper.meta.id
        assert sorted(p.name for p in folder.iterdir()) == ["meta.json"]  # no source, no .partial
        assert json.loads((folder / "meta.json").read_text())["title"] == paper.meta.title
    assert len(fake.hits_for("/src/2402.00005")) == 2  # retried, then given up


def test_failed_source_is_retried_next_run_without_metadata_request(fake, tmp_path):
    fake.fail_next("/src/", 503, times=2)
    (first,) = fetch(ids=["2401.00001"], cache_dir=tmp_path, settings=settings_for(fake, retries=1))
    assert first.source is None
    api_hits = len(fake.hits_for("/api/query"))

    (second,) = fetch(ids=["2401.00001"], cache_dir=tmp_path, settings=settings_for(fake, retries=1))

    assert second.source.read_bytes() == SRC_C and second.error is None
    assert len(fake.hits_for("/api/query")) == api_hits


def test_request_timeout(fake, tmp_path):
    fake.stall_next("/api/query", 1.0)
    with pytest.raises(ArxivError, match="could not reach arXiv .* after 1 attempt .*Timeout"):
        fetch(ids=["2401.00001"], cache_dir=tmp_path, settings=settings_for(fake, timeout_s=0.2, retries=0))


def test_delay_spaces_every_request(fake, tmp_path):
    start = time.monotonic()
    fetch(ids=["2312.01552", "2401.00001"], cache_dir=tmp_path, settings=settings_for(fake, delay_s=0.15))
    assert len(fake.hits) == 3 and time.monotonic() - start >= 2 * 0.15  # API, src, src


# ---- configuration -------------------------------------------------------------------


def test_env_vars_point_default_settings_at_another_server(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("PARACYCLE_ARXIV_API_URL", fake.api_url)
    monkeypatch.setenv("PARACYCLE_ARXIV_SOURCE_URL", fake.source_url)

    settings = ArxivSettings(delay_s=0)
    assert (settings.api_url, settings.source_url) == (fake.api_url, fake.source_url)
    (paper,) = fetch(ids=["2401.00001"], cache_dir=tmp_path, settings=settings)

    assert paper.source.read_bytes() == SRC_C
    assert len(fake.hits_for("/api/query")) == 1 and fake.hits_for("/src/") == ["/src/2401.00001v1"]


def test_defaults_without_env(monkeypatch):
    monkeypatch.delenv("PARACYCLE_ARXIV_API_URL", raising=False)
    monkeypatch.delenv("PARACYCLE_ARXIV_SOURCE_URL", raising=False)
    settings = ArxivSettings()
    assert settings.api_url == "https://export.arxiv.org/api/query"
    assert settings.source_url == "https://arxiv.org/src"
    assert (settings.delay_s, settings.retries, settings.max_source_bytes) == (3.0, 3, 50 * 1024 * 1024)


# ---- where and how long a download may go --------------------------------------------


def test_redirect_to_another_host_is_refused(fake, tmp_path):
    # "localhost" is this same fake server under another host name: following the redirect
    # would succeed, so only the host check can stop it.
    other_host = fake.base_url.replace("127.0.0.1", "localhost")
    fake.redirect_next("/src/2401.00001", f"{other_host}/src/2401.00001v1")

    (paper,) = fetch(ids=["2401.00001"], cache_dir=tmp_path, settings=settings_for(fake))

    assert paper.source is None and "redirect" in paper.error and "localhost" in paper.error
    assert fake.hits_for("/src/") == ["/src/2401.00001v1"]  # the redirect was not followed
    assert sorted(p.name for p in (tmp_path / "2401.00001").iterdir()) == ["meta.json"]


def test_redirect_on_the_same_host_is_followed(fake, tmp_path):
    fake.redirect_next("/src/2401.00001", "/src/2401.00001v1?mirror=1")  # relative: same host

    (paper,) = fetch(ids=["2401.00001"], cache_dir=tmp_path, settings=settings_for(fake))

    assert paper.source.read_bytes() == SRC_C and paper.error is None
    assert fake.hits_for("/src/") == ["/src/2401.00001v1", "/src/2401.00001v1?mirror=1"]


def test_api_redirect_to_another_host_is_one_line_error(fake, tmp_path):
    fake.redirect_next("/api/query", "http://localhost:9/api/query")
    with pytest.raises(ArxivError, match="redirect .* to another host") as info:
        fetch(ids=["2401.00001"], cache_dir=tmp_path, settings=settings_for(fake))
    assert "\n" not in str(info.value)


def test_a_trickling_download_stops_at_its_deadline(fake, tmp_path):
    # 200 bytes at one per 50 ms: every read is far inside timeout_s, the whole takes 10 s.
    fake.add_paper("2402.00009", title="Slow", source=b"t" * 200)
    fake.trickle_next("/src/2402.00009", 0.05)
    settings = settings_for(fake, download_deadline_s=1.0)

    start = time.monotonic()
    slow, good = fetch(ids=["2402.00009", "2401.00001"], cache_dir=tmp_path, settings=settings)

    assert time.monotonic() - start < 4
    assert slow.source is None and "download_deadline_s" in slow.error
    assert good.source.read_bytes() == SRC_C  # the batch went on
    assert len(fake.hits_for("/src/2402.00009")) == 1  # a deadline is not retried
    assert sorted(p.name for p in (tmp_path / "2402.00009").iterdir()) == ["meta.json"]


def test_a_trickling_download_without_length_is_not_kept_as_complete(fake, tmp_path):
    # Without Content-Length the body "ends" when the deadline shuts the socket: a truncated
    # body must not be renamed into place as if it were the whole archive.
    fake.add_paper("2402.00010", title="Slow, no length", source=b"u" * 200, send_content_length=False)
    fake.trickle_next("/src/2402.00010", 0.05)

    (paper,) = fetch(ids=["2402.00010"], cache_dir=tmp_path, settings=settings_for(fake, download_deadline_s=1.0))

    assert paper.source is None and "download_deadline_s" in paper.error
    assert not (tmp_path / "2402.00010" / "source").exists()


def test_retries_share_the_download_deadline(fake, tmp_path):
    # Backoff 0.4, 0.8, 1.6... s: without one deadline for all attempts, six attempts of a
    # failing source would take over 12 s.
    fake.fail_next("/src/2401.00001", 503, times=10)
    settings = settings_for(fake, retries=5, backoff_s=0.4, download_deadline_s=1.0)

    start = time.monotonic()
    (paper,) = fetch(ids=["2401.00001"], cache_dir=tmp_path, settings=settings)

    assert time.monotonic() - start < 3
    assert paper.source is None and "download_deadline_s" in paper.error
    assert len(fake.hits_for("/src/")) <= 2  # at 0 s and 0.4 s; the next would start after 1 s
