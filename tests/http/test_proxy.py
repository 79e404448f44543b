"""The router proxy: routing, streaming pass-through, validation, bursts."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx
import pytest

from toolkit.core.trace import Trace
from toolkit.http.client import replay
from toolkit.http.proxy import PromptTokenizer
from toolkit.route.base import Router

from .test_client import make_trace


def wait_until(cond: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    """Poll `cond` until it holds or `timeout_s` passes (the proxy finishes its bookkeeping
    just after the client has read the last byte)."""
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _post(url: str, body: object, **kw: object) -> httpx.Response:
    return httpx.post(f"{url}/v1/completions", json=body, timeout=10.0, **kw)


def test_round_robin_alternates_and_reports(backends, proxy) -> None:
    bs = backends(2)
    px, srv = proxy([s.url for _, s in bs], "round_robin")
    ids = []
    for i in range(4):
        r = _post(srv.url, {"prompt": [1, 2, i], "max_tokens": 3})
        assert r.status_code == 200, r.text
        assert r.json()["usage"]["completion_tokens"] == 3
        ids.append(int(r.headers["x-backend-id"]))
    assert ids == [0, 1, 0, 1]
    assert [fb.served for fb, _ in bs] == [2, 2]
    m = httpx.get(f"{srv.url}/metrics").json()
    assert [b["routed"] for b in m["backends"]] == [2, 2]
    assert all(b["outstanding"] == 0 and b["alive"] for b in m["backends"])
    assert httpx.get(f"{srv.url}/health").status_code == 200
    assert httpx.get(f"{srv.url}/v1/models").json()["data"][0]["id"] == "fake-0"


def test_streaming_passes_through(backends, proxy) -> None:
    bs = backends(2)
    _, srv = proxy([s.url for _, s in bs], "least_load")
    body = {"prompt": "hello", "max_tokens": 5, "stream": True,
            "stream_options": {"include_usage": True}}
    with httpx.stream("POST", f"{srv.url}/v1/completions", json=body, timeout=10.0) as r:
        assert r.status_code == 200
        assert r.headers["x-backend-id"] in ("0", "1")
        data = [ln[6:] for ln in r.iter_lines() if ln.startswith("data: ")]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert "".join(c["choices"][0]["text"] for c in chunks if c["choices"]) == (
        "t0 t1 t2 t3 t4 ")
    assert chunks[-1]["usage"]["completion_tokens"] == 5


@pytest.mark.parametrize("content, word", [
    (json.dumps({"max_tokens": 3}), "prompt"),
    (json.dumps({"prompt": [1, 2], "max_tokens": -2}), "max_tokens"),
    (json.dumps({"prompt": {"a": 1}}), "prompt"),
    (json.dumps({"prompt": "x", "stream": "maybe"}), "stream"),
    ("{not json", "invalid request"),
])
def test_malformed_request_gets_400_with_reason(backends, proxy, content: str,
                                                word: str) -> None:
    bs = backends(1)
    _, srv = proxy([bs[0][1].url])
    r = httpx.post(f"{srv.url}/v1/completions", content=content,
                   headers={"content-type": "application/json"}, timeout=10.0)
    assert r.status_code == 400
    assert word in r.json()["error"]["message"]
    assert bs[0][0].served == 0


def test_e2_keeps_shared_prefixes_together(backends, proxy) -> None:
    bs = backends(2)
    px, srv = proxy([s.url for _, s in bs], "preble_e2")
    groups = {g: list(range(1000 * g, 1000 * g + 200)) for g in (1, 2, 3)}
    placed: dict[int, set[int]] = {g: set() for g in groups}
    for k in range(4):
        for g, prefix in groups.items():
            r = _post(srv.url, {"prompt": prefix + [7, k, g], "max_tokens": 2})
            assert r.status_code == 200, r.text
            placed[g].add(int(r.headers["x-backend-id"]))
    assert all(len(s) == 1 for s in placed.values()), placed
    assert len(set().union(*placed.values())) == 2  # new prefixes explore the idle backend
    assert px.router.last_decision.kind == "exploit"
    px.router.check_integrity()
    assert not px.router.state.inflight  # every finish event came back


def test_text_prompts_route_by_bytes(backends, proxy) -> None:
    bs = backends(2)
    _, srv = proxy([s.url for _, s in bs], "consistent_hash")
    ids = {_post(srv.url, {"prompt": "same prefix " * 20 + str(i), "max_tokens": 1})
           .headers["x-backend-id"] for i in range(6)}
    assert len(ids) == 1


def test_burst_of_500_all_answered(backends, proxy) -> None:
    bs = backends(2, token_delay_s=0.001)
    px, srv = proxy([s.url for _, s in bs], "least_load")
    trace = make_trace(500, spread_s=0.0, max_output=2)
    records = replay(trace, srv.url, progress=False, timeout_s=60.0)
    assert len(records) == 500
    assert [r.error for r in records if r.failed] == []
    assert sum(fb.served for fb, _ in bs) == 500
    assert wait_until(lambda: all(b.outstanding == 0 for b in px.view.backends))


def test_no_live_backend_gets_503(backends, proxy) -> None:
    bs = backends(1)
    px, srv = proxy([bs[0][1].url])
    px.view.mark_dead(0, "test")
    px.view.backends[0].next_probe_s = 1e9
    r = _post(srv.url, {"prompt": [1], "max_tokens": 1})
    assert r.status_code == 503 and "no backend" in r.json()["error"]["message"]
    assert isinstance(px.router, Router)
    assert Trace([]).duration_s == 0.0


def test_tokenizer_directory_used_for_text_prompts(tmp_path) -> None:
    transformers = pytest.importorskip("transformers")
    tokenizers = pytest.importorskip("tokenizers")
    vocab = {"[UNK]": 0, "hello": 1, "world": 2}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]"
                                         ).save_pretrained(tmp_path)
    pt = PromptTokenizer(str(tmp_path))
    assert pt.ids("hello world zzz") == (1, 2, 0)
    assert pt.ids([5, 6]) == (5, 6)
    assert PromptTokenizer(None).ids("hé") == (104, 195, 169)  # UTF-8 bytes fallback
