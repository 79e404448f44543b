"""Readers on the real traces (first N rows), `load_trace` dispatch, malformed rows."""

from __future__ import annotations

import json

import numpy as np
import pytest

from toolkit.core import ConfigError, TraceFormatError
from toolkit.workloads import azure_arrivals, load_trace, read_azure, read_mooncake
from toolkit.workloads.common import request_id


def test_mooncake_first_rows(data_dir) -> None:
    path = data_dir / "mooncake_conversation_trace.jsonl"
    trace = read_mooncake(path, num_requests=50)
    assert len(trace) == 50
    first = json.loads(path.read_text().splitlines()[0])
    r = trace.requests[0]
    assert r.id == request_id(path.stem, 1)
    assert r.prompt_len == first["input_length"] and r.output_len == first["output_length"]
    assert list(r.block_hashes) == first["hash_ids"] and r.block_size == 512
    assert r.arrival_s == first["timestamp"] / 1000


def test_mooncake_time_and_rate_scaling(data_dir) -> None:
    path = data_dir / "mooncake_synthetic_trace.jsonl"
    base = read_mooncake(path, num_requests=400)
    assert read_mooncake(path, 400, time_scale=0.5).duration_s == pytest.approx(base.duration_s / 2)
    fast = read_mooncake(path, 400, rps=20.0)
    assert (len(fast) - 1) / fast.duration_s == pytest.approx(20.0)


def test_azure_first_rows(data_dir) -> None:
    path = data_dir / "AzureLLMInferenceTrace_code.csv"
    trace = read_azure(path, num_requests=4)
    assert [r.prompt_len for r in trace] == [4808, 3180, 110, 7433]
    assert [r.output_len for r in trace] == [10, 8, 27, 14]
    assert [r.arrival_s for r in trace] == pytest.approx([0.0, 0.052, 0.098189, 0.140684])
    hashes = [h for r in trace for h in r.block_hashes]
    assert len(hashes) == len(set(hashes))  # no shared content
    tokens = read_azure(path, num_requests=4, content="tokens")
    assert [len(r.prompt_token_ids) for r in tokens] == [4808, 3180, 110, 7433]
    with pytest.raises(ConfigError, match="content"):
        read_azure(path, 4, content="text")


def test_azure_arrivals_rows_and_scale(data_dir) -> None:
    path = data_dir / "AzureLLMInferenceTrace_conv.csv"
    times = azure_arrivals(path, 100, start_row=200, time_scale=0.7)
    unscaled = azure_arrivals(path, 100, start_row=200)
    assert len(times) == 100 and times[0] == 0.0
    assert np.allclose(times, 0.7 * unscaled)
    assert not np.allclose(unscaled, azure_arrivals(path, 100))


def test_load_trace_dispatch(data_dir, tmp_path) -> None:
    moon = load_trace(data_dir / "mooncake_synthetic_trace.jsonl", num_requests=10)
    azure = load_trace(data_dir / "AzureLLMInferenceTrace_conv.csv", num_requests=10)
    assert moon.requests[0].block_size == 512 and len(azure) == 10
    ours = tmp_path / "ours.jsonl"
    moon.to_jsonl(ours)
    again = load_trace(ours)
    assert [r.block_hashes for r in again] == [r.block_hashes for r in moon]
    with pytest.raises(FileNotFoundError):
        load_trace(tmp_path / "missing.jsonl")


def test_malformed_mooncake_line_names_file_and_line(tmp_path) -> None:
    path = tmp_path / "bad.jsonl"
    good = {"timestamp": 0, "input_length": 600, "output_length": 3, "hash_ids": [1, 2]}
    bad = dict(good, input_length=5000)
    path.write_text(json.dumps(good) + "\n" + json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(TraceFormatError) as err:
        load_trace(path)
    assert err.value.line_no == 3 and str(path) in str(err.value)
    assert len(read_mooncake(path, num_requests=2)) == 2  # the bad row is never read
    path.write_text(json.dumps(good) + "\n{not json\n")
    with pytest.raises(TraceFormatError, match=r"bad.jsonl:2"):
        read_mooncake(path)


def test_malformed_azure_row_names_file_and_line(tmp_path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2023-11-16 18:17:03.9799600,4808,10\n"
        "2023-11-16 18:17:04.0319600,lots,8\n"
    )
    with pytest.raises(TraceFormatError, match=r"bad.csv:3"):
        load_trace(path)
    path.write_text("time,in,out\n")
    with pytest.raises(TraceFormatError, match=r"bad.csv:1"):
        read_azure(path)
