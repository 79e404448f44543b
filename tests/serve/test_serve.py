"""The engine server: outputs against the offline `LLM`, streaming, usage, cache hits,
malformed requests, metrics."""

from __future__ import annotations

import json
import random
from pathlib import Path

import httpx
import pytest

from tests.serve.conftest import SERVER_KW, ServerThread

MAX_MODEL_LEN = SERVER_KW["num_kv_blocks"] * SERVER_KW["block_size"]  # 4096 > 2048 positions


@pytest.fixture(scope="module")
def llm(tiny_model_dir: Path):
    from toolkit.engine import LLM

    return LLM(model=str(tiny_model_dir), **SERVER_KW)


@pytest.fixture(scope="module")
def client(server: ServerThread):
    with httpx.Client(base_url=server.url, timeout=30.0) as c:
        yield c


def reference(llm, prompt, n: int) -> list[int]:
    from toolkit.engine import SamplingParams

    params = SamplingParams(temperature=0.0, max_tokens=n, ignore_eos=True)
    return llm.generate([prompt], params)[0].outputs[0].token_ids


def complete(client: httpx.Client, **body) -> dict:
    r = client.post("/v1/completions", json=body)
    assert r.status_code == 200, r.text
    assert r.headers["x-backend-id"] == "3"
    return r.json()


def stream(client: httpx.Client, **body) -> tuple[list[dict], bool]:
    """(the JSON chunks, whether `[DONE]` ended the stream)."""
    chunks, done = [], False
    with client.stream("POST", "/v1/completions", json={**body, "stream": True}) as r:
        assert r.status_code == 200 and r.headers["x-backend-id"] == "3"
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if not line.startswith("data:"):
                continue
            payload = line[5:].strip()
            if payload == "[DONE]":
                done = True
                continue
            assert not done, "a chunk after [DONE]"
            chunks.append(json.loads(payload))
    return chunks, done


@pytest.mark.parametrize("prompt", [[random.Random(1).randrange(3, 768) for _ in range(23)],
                                    "the radix cache serves a prefix of the prompt"])
def test_greedy_matches_llm_streamed_and_not(client, llm, prompt):
    want = reference(llm, prompt, 12)
    body = dict(prompt=prompt, max_tokens=12, temperature=0, ignore_eos=True)
    full = complete(client, **body)
    choice = full["choices"][0]
    assert choice["token_ids"] == want and choice["finish_reason"] == "length"
    num_prompt = len(prompt) if isinstance(prompt, list) else len(llm.get_tokenizer().encode(prompt))
    usage = full["usage"]
    assert usage["prompt_tokens"] == num_prompt and usage["completion_tokens"] == 12
    assert usage["total_tokens"] == num_prompt + 12
    chunks, done = stream(client, **body, stream_options={"include_usage": True})
    assert done and chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 12
    pieces = chunks[:-1]
    assert [t for c in pieces for t in c["choices"][0]["token_ids"]] == want
    assert "".join(c["choices"][0]["text"] for c in pieces) == choice["text"]
    assert pieces[-1]["choices"][0]["finish_reason"] == "length"
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"] != full["id"]


def test_stream_without_usage_and_eos_respected(client, llm):
    prompt = [random.Random(2).randrange(3, 768) for _ in range(9)]
    chunks, done = stream(client, prompt=prompt, max_tokens=5, temperature=0)
    assert done and all(c["usage"] is None and c["choices"] for c in chunks)
    ids = [t for c in chunks for t in c["choices"][0]["token_ids"]]
    from toolkit.engine import SamplingParams

    out = llm.generate([prompt], SamplingParams(temperature=0.0, max_tokens=5))[0].outputs[0]
    assert ids == out.token_ids and chunks[-1]["choices"][0]["finish_reason"] == out.finish_reason


def test_repeated_long_prompt_hits_the_cache(client):
    prompt = [random.Random(3).randrange(3, 768) for _ in range(120)]
    body = dict(prompt=prompt, max_tokens=2, temperature=0, ignore_eos=True)
    first = complete(client, **body)["usage"]["prompt_tokens_details"]["cached_tokens"]
    second = complete(client, **body)["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert first == 0 and 100 <= second < 120
    chunks, _ = stream(client, **body, stream_options={"include_usage": True})
    assert chunks[-1]["usage"]["prompt_tokens_details"]["cached_tokens"] >= 100
    metrics = client.get("/metrics").json()
    assert metrics["prefix_hit_tokens"] >= 200 and metrics["window_hit_ratio"] > 0


def test_list_of_prompts_and_n(client, llm):
    prompts = [[5, 6, 7, 8], [9, 10, 11, 12, 13]]
    full = complete(client, prompt=prompts, n=2, max_tokens=3, temperature=0, ignore_eos=True)
    choices = full["choices"]
    assert [c["index"] for c in choices] == [0, 1, 2, 3]
    for i, c in enumerate(choices):
        assert c["token_ids"] == reference(llm, prompts[i // 2], 3)
    assert full["usage"]["prompt_tokens"] == 2 * (4 + 5)
    assert full["usage"]["completion_tokens"] == 12
    chunks, done = stream(client, prompt=prompts, max_tokens=3, temperature=0, ignore_eos=True)
    by_index: dict[int, list[int]] = {0: [], 1: []}
    for c in chunks:
        by_index[c["choices"][0]["index"]] += c["choices"][0]["token_ids"]
    assert done and by_index == {0: choices[0]["token_ids"], 1: choices[2]["token_ids"]}


@pytest.mark.parametrize(("body", "reason"), [
    ({"max_tokens": 3}, "prompt"),
    ({"prompt": [1, 2], "max_tokens": "three"}, "max_tokens"),
    ({"prompt": [1, 2], "max_tokens": 0}, "max_tokens"),
    ({"prompt": [1, 2], "temperature": -1}, "temperature"),
    ({"prompt": []}, "empty"),
    ({"prompt": ""}, "empty"),
    ({"prompt": [1, 2, 99999]}, "vocabulary"),
    ({"prompt": [1, -2]}, "vocabulary"),
    ({"prompt": [1, 2], "stop": ["x"]}, "stop"),
    ({"prompt": [1, 2], "logprobs": 3}, "logprobs"),
    ({"prompt": [1, 2], "n": 2000}, "n"),
    ({"prompt": [3] * 2048}, "max length"),
    ({"prompt": "word " * 3000}, "max length"),
    ({"prompt": [[1, 2], [1, 3] * 2048]}, "prompt[1]"),
    ([1, 2, 3], "JSON object"),
])
def test_malformed_requests_get_400_with_reason(client, body, reason):
    r = client.post("/v1/completions", json=body)
    assert r.status_code == 400, r.text
    assert r.headers["x-backend-id"] == "3"
    message = r.json()["error"]["message"]
    assert reason in message, message


def test_invalid_json_gets_400(client):
    r = client.post("/v1/completions", content=b"{not json",
                    headers={"content-type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["error"]["message"]


def test_request_exceeding_the_kv_pool_is_rejected(tiny_model_dir):
    from toolkit.engine.config import EngineConfig
    from toolkit.serve.server import build_app

    app = build_app(EngineConfig(model=str(tiny_model_dir), num_kv_blocks=8, block_size=4,
                                 max_model_len=64))
    srv = ServerThread(app).start()
    try:
        r = httpx.post(f"{srv.url}/v1/completions", timeout=30,
                       json={"prompt": list(range(3, 23)), "max_tokens": 30})
        assert r.status_code == 400 and "KV pool" in r.json()["error"]["message"]
        ok = httpx.post(f"{srv.url}/v1/completions", timeout=30,
                        json={"prompt": list(range(3, 10)), "max_tokens": 3, "ignore_eos": True})
        assert ok.status_code == 200 and ok.json()["usage"]["completion_tokens"] == 3
    finally:
        srv.stop()


def test_health_models_and_metrics(client):
    assert client.get("/health").status_code == 200
    models = client.get("/v1/models").json()
    assert models["data"][0]["id"] == "tiny-llama"
    m = client.get("/metrics")
    assert m.headers["x-backend-id"] == "3"
    body = m.json()
    for key in ("num_running", "num_waiting", "kv_used_tokens", "kv_capacity_tokens",
                "window_hit_ratio", "prefix_hit_tokens", "num_preemptions",
                "num_requests_finished", "num_requests_aborted"):
        assert isinstance(body[key], (int, float)), key
    assert body["kv_capacity_tokens"] == MAX_MODEL_LEN and body["engine_id"] == 3
    from toolkit.http.proxy_view import parse_backend_metrics

    parsed = parse_backend_metrics(m.headers["content-type"], m.text)
    assert parsed is not None and set(parsed) >= {"num_running", "window_hit_ratio"}


def test_in_process_app_over_asgi_transport(tiny_model_dir):
    import asyncio

    from toolkit.engine.config import EngineConfig
    from toolkit.serve.server import build_app

    app = build_app(EngineConfig(model=str(tiny_model_dir), num_kv_blocks=64, block_size=4,
                                 engine_id=5))

    async def run() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            body = {"prompt": [4, 5, 6], "max_tokens": 3, "ignore_eos": True}
            plain = await c.post("/v1/completions", json=body, timeout=30)
            streamed = await c.post("/v1/completions", json={**body, "stream": True}, timeout=30)
            return plain, streamed

    try:
        plain, streamed = asyncio.run(run())
    finally:
        app.state.server.aengine.stop()
    assert plain.status_code == 200 and plain.headers["x-backend-id"] == "5"
    assert len(plain.json()["choices"][0]["token_ids"]) == 3
    assert streamed.text.rstrip().endswith("data: [DONE]")
