"""Pause/resume over HTTP: a client drives a request through /v1/completions and /v1/resume
(equal to unpaused generations of the same contexts); bad resumes get 4xx; a tool that never
returns times out."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from tests.serve.conftest import SERVER_KW, ServerThread

TIMEOUT_S = 3.0


@pytest.fixture(scope="module")
def pause_server(tiny_model_dir: Path):
    from toolkit.engine.config import EngineConfig
    from toolkit.serve.server import build_app

    config = EngineConfig(model=str(tiny_model_dir), pause_policy={"_target_": "toolkit.sched.pause.SwapPausePolicy"},
                          pause_timeout_s=TIMEOUT_S, **SERVER_KW)
    srv = ServerThread(build_app(config)).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(pause_server: ServerThread):
    with httpx.Client(base_url=pause_server.url, timeout=30.0) as c:
        yield c


@pytest.fixture(scope="module")
def llm(tiny_model_dir: Path):
    from toolkit.engine import LLM

    return LLM(model=str(tiny_model_dir), **SERVER_KW)


def reference(llm, context: list[int], n: int) -> list[int]:
    from toolkit.engine import SamplingParams

    params = SamplingParams(temperature=0.0, max_tokens=n, ignore_eos=True)
    return llm.generate([context], params)[0].outputs[0].token_ids


def post(client: httpx.Client, path: str, body: dict) -> dict:
    r = client.post(path, json=body)
    assert r.status_code == 200, r.text
    return r.json()


def stream(client: httpx.Client, path: str, body: dict) -> list[dict]:
    chunks, done = [], False
    with client.stream("POST", path, json={**body, "stream": True}) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("data:"):
                payload = line[5:].strip()
                if payload == "[DONE]":
                    done = True
                else:
                    chunks.append(json.loads(payload))
    assert done
    return chunks


PROMPT = [17, 230, 45, 9, 301, 77, 5, 640, 12, 99, 150]
TOOL_1, TOOL_2 = [33, 34, 35, 36, 37], [400, 401]


def test_three_calls_through_completions_and_resume(client, llm):
    first = post(client, "/v1/completions", dict(prompt=PROMPT, max_tokens=5, temperature=0,
                                                 ignore_eos=True, pause_after=[4, 3]))
    rid, choice = first["id"], first["choices"][0]
    assert choice["finish_reason"] == "pause" and len(choice["token_ids"]) == 4
    assert choice["token_ids"] == reference(llm, PROMPT, 4)
    assert first["usage"]["prompt_tokens"] == len(PROMPT)
    context = PROMPT + choice["token_ids"] + TOOL_1

    second = post(client, "/v1/resume", dict(request_id=rid, prompt_token_ids=TOOL_1))
    choice = second["choices"][0]
    assert second["id"] == rid and choice["finish_reason"] == "pause"
    assert choice["token_ids"] == reference(llm, context, 3)
    assert second["usage"]["prompt_tokens"] == len(context)
    assert second["usage"]["completion_tokens"] == 3
    context += choice["token_ids"] + TOOL_2

    chunks = stream(client, "/v1/resume", dict(request_id=rid, prompt_token_ids=TOOL_2,
                                               stream_options={"include_usage": True}))
    pieces = [c for c in chunks if c["choices"]]
    assert all(c["id"] == rid for c in chunks)
    assert [t for c in pieces for t in c["choices"][0]["token_ids"]] == reference(llm, context, 5)
    assert pieces[-1]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["usage"]["prompt_tokens"] == len(context)

    r = client.post("/v1/resume", json=dict(request_id=rid, prompt_token_ids=[1]))
    assert r.status_code == 404  # finished


def test_streamed_pause_and_text_resume(client, llm):
    chunks = stream(client, "/v1/completions", dict(prompt="a tool call follows", max_tokens=3,
                                                    temperature=0, ignore_eos=True,
                                                    pause_after=[2]))
    assert chunks[-1]["choices"][0]["finish_reason"] == "pause"
    rid = chunks[-1]["id"]
    out = post(client, "/v1/resume", dict(request_id=rid, text=" result: 42."))
    choice = out["choices"][0]
    assert choice["finish_reason"] == "length" and len(choice["token_ids"]) == 3
    tool = llm.get_tokenizer().encode(" result: 42.", add_special_tokens=False)
    assert out["usage"]["prompt_tokens"] == len(llm.get_tokenizer().encode(
        "a tool call follows")) + 2 + len(tool)


@pytest.mark.parametrize("body,status", [
    ({"request_id": "cmpl-nobody", "prompt_token_ids": [5]}, 404),
    ({"prompt_token_ids": [5]}, 400),
    ({"request_id": "x", "prompt_token_ids": [5], "text": "both"}, 400),
    ({"request_id": "x"}, 400),
    ({"request_id": "x", "prompt_token_ids": [10**6]}, 400),
    ({"request_id": "x", "prompt_token_ids": [5], "bogus": 1}, 400),
])
def test_bad_resume(client, body, status):
    r = client.post("/v1/resume", json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["message"]


@pytest.mark.parametrize("extra", [{"pause_after": [0]}, {"pause_after": "3"},
                                   {"pause_after": [2], "n": 2},
                                   {"pause_after": [2], "prompt": [[5, 6], [7, 8]]}])
def test_bad_pause_after(client, extra):
    r = client.post("/v1/completions", json={"prompt": [5, 6, 7], "max_tokens": 2, **extra})
    assert r.status_code == 400 and "pause_after" in r.json()["error"]["message"]


def test_resume_of_a_running_request_is_409_and_too_long_is_400(client):
    body = dict(prompt=PROMPT, max_tokens=2, temperature=0, ignore_eos=True, pause_after=[1500],
                stream=True)
    with client.stream("POST", "/v1/completions", json=body) as r:
        lines = r.iter_lines()
        first = next(line for line in lines if line.startswith("data:"))
        rid = json.loads(first[5:])["id"]
        res = client.post("/v1/resume", json=dict(request_id=rid, prompt_token_ids=[5]))
        assert res.status_code == 409, res.text
    first = post(client, "/v1/completions", dict(prompt=PROMPT, max_tokens=2, pause_after=[1]))
    res = client.post("/v1/resume", json=dict(request_id=first["id"],
                                              prompt_token_ids=[5] * 5000))
    assert res.status_code == 400 and "max_model_len" in res.json()["error"]["message"]
    ok = post(client, "/v1/resume", dict(request_id=first["id"], prompt_token_ids=[5]))
    assert ok["choices"][0]["finish_reason"] in ("length", "stop")


def test_tool_that_never_returns_times_out(client):
    before = client.get("/metrics").json()["num_requests_failed"]
    first = post(client, "/v1/completions", dict(prompt=PROMPT, max_tokens=2, pause_after=[2]))
    assert first["choices"][0]["finish_reason"] == "pause"
    deadline = time.monotonic() + TIMEOUT_S + 10
    while client.get("/metrics").json()["num_requests_failed"] == before:
        assert time.monotonic() < deadline, "the paused request did not time out"
        time.sleep(0.2)
    assert client.get("/metrics").json()["num_paused"] == 0
    r = client.post("/v1/resume", json=dict(request_id=first["id"], prompt_token_ids=[5]))
    assert r.status_code == 404
