"""The load client: records, timing and rejection of block-hash traces."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from toolkit.core.record import RECORD_COLUMNS
from toolkit.core.request import Request
from toolkit.core.trace import Trace
from toolkit.http.client import main, replay


def make_trace(n: int, spread_s: float = 0.2, max_output: int = 5, prefix_len: int = 16,
               ) -> Trace:
    """`n` token-id requests, evenly spread over `spread_s`, output 1..max_output tokens."""
    reqs = [
        Request(f"r{i}", spread_s * i / max(n, 1), 1 + i % max_output,
                prompt_token_ids=[i % 3] * prefix_len + [i])
        for i in range(n)
    ]
    return Trace(reqs, name="test")


def test_replay_through_proxy_writes_records(backends, proxy, tmp_path) -> None:
    bs = backends(2, token_delay_s=0.003)
    _, srv = proxy([s.url for _, s in bs], "round_robin")
    trace = make_trace(20, max_output=5)
    records = replay(trace, srv.url + "/v1", progress=False)
    assert [r.request_id for r in records] == [r.id for r in trace]
    for rec, req in zip(records, trace):
        assert not rec.failed, rec.error
        assert rec.arrival_s == req.arrival_s
        assert rec.arrival_s <= rec.first_token_s <= rec.finish_s
        if req.output_len > 1:
            assert rec.first_token_s < rec.finish_s
        assert rec.num_output_tokens == req.output_len
        assert rec.num_prompt_tokens == req.prompt_len
        assert rec.engine_id in (0, 1)
    assert any(r.num_cached_tokens > 0 for r in records)  # the fake reports prefix hits


def test_cli_writes_parquet(backends, tmp_path) -> None:
    bs = backends(1)
    trace = make_trace(6, max_output=3)
    path = tmp_path / "t.jsonl"
    trace.to_jsonl(path)
    out = tmp_path / "out" / "records.parquet"
    main(["--url", bs[0][1].url, "--trace", str(path), "--num-requests", "4",
          "--time-scale", "0.5", "--out", str(out), "--no-progress"])
    df = pd.read_parquet(out)
    assert list(df.columns) == RECORD_COLUMNS
    assert len(df) == 4 and not df["failed"].any()
    assert (df["engine_id"] == -1).all()  # no proxy: no x-backend-id header
    assert (df["first_token_s"] <= df["finish_s"]).all()


def test_block_hash_trace_rejected() -> None:
    reqs = [Request("ok", 0.0, 2, prompt_token_ids=[1, 2]),
            Request("hashed-7", 0.1, 2, prompt_len=32, block_hashes=[5, 6], block_size=16)]
    with pytest.raises(ValueError, match="hashed-7"):
        replay(Trace(reqs), "http://127.0.0.1:9", progress=False)


def test_unreachable_server_marks_every_request_failed() -> None:
    records = replay(make_trace(3), "http://127.0.0.1:9", model="m", progress=False,
                     timeout_s=5.0)
    assert len(records) == 3
    assert all(r.failed and r.error and math.isnan(r.first_token_s) for r in records)
