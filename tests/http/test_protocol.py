"""The /v1/completions models and the proxy's metrics parsing."""

from __future__ import annotations

import pytest

from toolkit.http.protocol import (
    CompletionUsage,
    parse_completion_request,
    sse_info,
    usage_counts,
)
from toolkit.http.proxy_view import parse_backend_metrics


@pytest.mark.parametrize("prompt, expected", [
    ("hi", ["hi"]),
    ([1, 2], [[1, 2]]),
    ([[1], [2, 3]], [[1], [2, 3]]),
    (["a", "b"], ["a", "b"]),
])
def test_prompt_forms(prompt: object, expected: list) -> None:
    assert parse_completion_request({"prompt": prompt}).prompts() == expected


@pytest.mark.parametrize("body, word", [
    ({}, "prompt"),
    ({"prompt": 5}, "prompt"),
    ({"prompt": []}, "empty"),
    ({"prompt": [1, "a"]}, "prompt"),
    ({"prompt": "x", "max_tokens": -1}, "max_tokens"),
    ({"prompt": "x", "max_tokens": "3"}, "max_tokens"),
    ({"prompt": "x", "top_p": 0}, "top_p"),
    ([1, 2], "object"),
])
def test_bad_requests_name_the_field(body: object, word: str) -> None:
    with pytest.raises(ValueError, match=word):
        parse_completion_request(body)


def test_extra_fields_kept_and_usage_details() -> None:
    req = parse_completion_request({"prompt": "x", "stream": True, "foo": 1,
                                    "stream_options": {"include_usage": True}})
    assert req.model_extra == {"foo": 1} and req.include_usage()
    u = CompletionUsage.of(10, 3, cached_tokens=4).model_dump()
    assert u["total_tokens"] == 13 and u["prompt_tokens_details"]["cached_tokens"] == 4
    assert usage_counts(u) == (3, 4)


def test_sse_info() -> None:
    assert sse_info('data: {"choices": [{"text": "a"}]}') == (True, None, None)
    assert sse_info('data: {"choices": [{"text": ""}], "usage": {"a": 1}}') == (
        False, {"a": 1}, None)
    assert sse_info('data: {"error": {"message": "boom"}}') == (False, None, "boom")
    assert sse_info("data: [DONE]") == (False, None, None)
    assert sse_info("") == (False, None, None)


def test_parse_backend_metrics() -> None:
    js = parse_backend_metrics("application/json", '{"num_running": 3, "kv_used_tokens": 7}')
    assert js == {"num_running": 3.0, "kv_used_tokens": 7.0}
    prom = "\n".join([
        "# HELP vllm:num_requests_running Number of requests running",
        'vllm:num_requests_running{model_name="m"} 2.0',
        'vllm:num_requests_waiting{model_name="m"} 5.0',
        "vllm:other 1",
    ])
    assert parse_backend_metrics("text/plain", prom) == {"num_running": 2.0, "num_waiting": 5.0}
    assert parse_backend_metrics("text/plain", "nothing here") is None
