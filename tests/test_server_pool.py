"""Several servers behind one engine, against fake OpenAI servers on 127.0.0.1: requests are
spread, a server that goes away is routed around and used again when it is back (with its
adapter loaded again), adapters reach every server, and all servers down is one clear error.
tests/test_vllm.py runs a collection against two real vLLM servers."""

from __future__ import annotations

import json
import time
import pytest
from test_openai_engine import FakeServer

from paracycle.config import EngineSpec
from paracycle.engines.base import ChatRequest, EngineUnavailable
from paracycle.engines.openai_engine import OpenAIEngine
from paracycle.engines.pool import ServerPool
from paracycle.models import engine_kind, load_engine
from paracycle.schemas import SamplingParams

REQUEST = ChatRequest([{"role": "user", "content": "hi"}], SamplingParams(max_new_tokens=4))


def connect(url):
    return OpenAIEngine(url, "base", max_retries=0, backoff_s=0.01)


@pytest.fixture
def servers():
    fakes = [FakeServer(), FakeServer()]
    yield fakes
    for f in fakes:
        f.close()


def test_requests_are_spread_over_the_servers(servers):
    pool = ServerPool(connect, [s.url for s in servers], log=lambda _: None)
    results = pool.generate([REQUEST] * 20)
    assert all(r.text == "Hello." for r in results)
    counts = [len(s.chats) for s in servers]
    assert sum(counts) == 20 and min(counts) >= 8, counts
    assert pool.spread() == dict(zip([s.url for s in servers], counts))


def test_a_server_that_goes_away_is_routed_around_and_used_again_when_back(servers, tmp_path):
    lines = []
    pool = ServerPool(connect, [s.url for s in servers], log=lines.append, recheck_s=0.2)
    adapter = tmp_path / "round-0001-lora"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 8}))
    pool.set_adapter(adapter, name="round-0001")
    assert [len(s.loads) for s in servers] == [1, 1]  # on every server

    servers[0].down = True
    before = len(servers[1].chats)
    assert len(pool.generate([REQUEST] * 6)) == 6  # none lost
    assert len(servers[1].chats) - before == 6
    assert any("is down" in line and servers[0].url in line for line in lines)

    servers[0].models, servers[0].down = ["base"], False  # restarted: runtime-loaded adapters are gone
    time.sleep(0.3)  # past recheck_s
    pool.generate([REQUEST] * 6)
    assert len(servers[0].loads) == 2  # loaded again before it served
    assert servers[0].chats and servers[0].chats[-1]["model"] == "round-0001"


def test_all_servers_down_is_one_clear_error(servers):
    pool = ServerPool(connect, [s.url for s in servers], log=lambda _: None)
    for s in servers:
        s.down = True
    with pytest.raises(EngineUnavailable, match="none of the 2 servers answered"):
        pool.generate([REQUEST])
    assert not pool.is_up()


def test_a_list_of_urls_makes_a_pool_and_one_url_an_engine(servers):
    urls = [s.url for s in servers]
    spec = EngineSpec(base_url=",".join(urls), model="base", max_retries=0)
    assert spec.urls() == urls and engine_kind(spec) == "openai"
    assert isinstance(load_engine(spec, log=lambda _: None), ServerPool)
    assert isinstance(load_engine(EngineSpec(base_url=urls[:1], model="base"), log=lambda _: None), OpenAIEngine)


def test_a_server_down_at_the_start_joins_later(servers):
    servers[1].down = True
    pool = ServerPool(connect, [s.url for s in servers], log=lambda _: None, recheck_s=0.0)
    assert len(pool.generate([REQUEST] * 3)) == 3 and len(servers[0].chats) == 3
    servers[1].down = False
    pool.generate([REQUEST] * 4)
    assert servers[1].chats  # connected once it answered
