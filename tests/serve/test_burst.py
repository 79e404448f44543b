"""The engine server under load: a burst of 500 concurrent requests, and client disconnects."""

from __future__ import annotations

import asyncio
import json
import random
import time

import httpx
import pytest

from tests.serve.conftest import ServerThread

BURST = 500
BURST_DEADLINE_S = 45.0


async def one_streamed(client: httpx.AsyncClient, prompt: list[int], max_tokens: int
                       ) -> tuple[int, int, bool]:
    """(status, usage.completion_tokens, saw [DONE]) of one streamed completion."""
    body = {"prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True,
            "stream": True, "stream_options": {"include_usage": True}}
    tokens, done = -1, False
    async with client.stream("POST", "/v1/completions", json=body) as r:
        async for line in r.aiter_lines():
            payload = line[5:].strip() if line.startswith("data:") else ""
            if payload == "[DONE]":
                done = True
            elif payload:
                usage = json.loads(payload).get("usage")
                if usage:
                    tokens = usage["completion_tokens"]
        return r.status_code, tokens, done


async def one_plain(client: httpx.AsyncClient, prompt: list[int], max_tokens: int
                    ) -> tuple[int, int, bool]:
    body = {"prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True}
    r = await client.post("/v1/completions", json=body)
    return r.status_code, r.json()["usage"]["completion_tokens"], True


async def burst(url: str) -> tuple[list, list[int], float]:
    rng = random.Random(7)
    shared = [rng.randrange(3, 768) for _ in range(16)]
    jobs = []
    for i in range(BURST):
        tail = [rng.randrange(3, 768) for _ in range(rng.randint(1, 24))]
        prompt = shared + tail if i % 2 else tail
        jobs.append((prompt, rng.randint(2, 4), one_streamed if i % 4 else one_plain))
    limits = httpx.Limits(max_connections=BURST + 10, max_keepalive_connections=BURST + 10)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=BURST_DEADLINE_S) as c:
        start = time.perf_counter()
        results = await asyncio.wait_for(
            asyncio.gather(*(fn(c, p, n) for p, n, fn in jobs), return_exceptions=True),
            BURST_DEADLINE_S)
        elapsed = time.perf_counter() - start
    return results, [n for _, n, _ in jobs], elapsed


def test_burst_of_500_concurrent_requests_all_answered(server: ServerThread):
    before = httpx.get(f"{server.url}/metrics").json()
    results, wanted, elapsed = asyncio.run(burst(server.url))
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, repr(errors[:3])
    assert all(r == (200, n, True) for r, n in zip(results, wanted)), results[:5]
    print(f"\n{BURST} concurrent requests answered in {elapsed:.2f} s")
    assert elapsed < BURST_DEADLINE_S
    after = httpx.get(f"{server.url}/metrics").json()
    assert after["num_requests_finished"] - before["num_requests_finished"] == BURST
    assert after["num_running"] == 0 and after["num_waiting"] == 0
    assert after["generation_tokens"] - before["generation_tokens"] == sum(wanted)
    assert after["prefix_hit_tokens"] > before["prefix_hit_tokens"]


def wait_for_abort(url: str, aborted_before: int, timeout_s: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        m = httpx.get(f"{url}/metrics").json()
        if m["num_requests_aborted"] > aborted_before and m["num_inflight"] == 0:
            return m
        time.sleep(0.05)
    raise AssertionError(f"no abort seen within {timeout_s} s: {m}")


def test_stream_disconnect_aborts_the_request(server: ServerThread):
    aborted = httpx.get(f"{server.url}/metrics").json()["num_requests_aborted"]
    body = {"prompt": [5, 6, 7], "max_tokens": 2000, "ignore_eos": True, "stream": True}
    with httpx.Client(base_url=server.url, timeout=30) as c, \
            c.stream("POST", "/v1/completions", json=body) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("data:"):
                break  # the first chunk: leave now
    m = wait_for_abort(server.url, aborted)
    assert m["num_running"] == 0 and m["generation_tokens"] >= 0


def test_non_streamed_disconnect_aborts_the_request(server: ServerThread):
    aborted = httpx.get(f"{server.url}/metrics").json()["num_requests_aborted"]
    body = {"prompt": [5, 6, 7, 8], "max_tokens": 2000, "ignore_eos": True}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{server.url}/v1/completions", json=body, timeout=0.5)
    wait_for_abort(server.url, aborted)


def test_streams_stay_exact_under_preemption(tiny_model_dir):
    from toolkit.engine import LLM, SamplingParams
    from toolkit.engine.config import EngineConfig
    from toolkit.serve.server import build_app

    kw = dict(num_kv_blocks=40, block_size=4, chunk_size=12, engine_id=1)
    rng = random.Random(9)
    prompts = [[rng.randrange(3, 768) for _ in range(rng.randint(10, 20))] for _ in range(8)]
    params = SamplingParams(temperature=0.0, max_tokens=20, ignore_eos=True)
    want = [o.outputs[0].token_ids for o in LLM(model=str(tiny_model_dir), **kw).generate(
        prompts, params)]
    srv = ServerThread(build_app(EngineConfig(model=str(tiny_model_dir), **kw))).start()

    async def run() -> list[list[int]]:
        async with httpx.AsyncClient(base_url=srv.url, timeout=30) as c:
            async def one(p: list[int]) -> list[int]:
                body = {"prompt": p, "max_tokens": 20, "temperature": 0, "ignore_eos": True,
                        "stream": True}
                ids: list[int] = []
                async with c.stream("POST", "/v1/completions", json=body) as r:
                    async for line in r.aiter_lines():
                        if line.startswith("data: {"):
                            ids += json.loads(line[6:])["choices"][0]["token_ids"]
                return ids

            return await asyncio.wait_for(asyncio.gather(*(one(p) for p in prompts)), 30)

    try:
        got = asyncio.run(run())
        metrics = httpx.get(f"{srv.url}/metrics").json()
    finally:
        srv.stop()
    assert got == want
    assert metrics["num_preemptions"] > 0 and metrics["kv_used_tokens"] <= 160
