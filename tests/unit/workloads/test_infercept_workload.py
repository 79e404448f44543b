"""InferCept workload: Table 1 statistics, seeds, segment validation, JSONL, reader, configs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hydra.utils import instantiate
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from toolkit.core import ConfigError, Request, Segment, Trace
from toolkit.core.errors import TraceFormatError
from toolkit.workloads import make_workload
from toolkit.workloads.infercept import (
    AUGMENTATION_NAMES,
    ToolShape,
    infercept_mixed_trace,
    shape_request,
)
from toolkit.workloads.infercept_reader import InferceptTraceError, read_infercept
from toolkit.workloads.segment_stats import segment_stats, table1_comparison

DATA = Path(__file__).parent / "data" / "infercept_sample.json"
CONF = Path(__file__).parents[3] / "experiments" / "infercept" / "conf" / "workload"


def _fingerprint(trace: Trace) -> list[tuple]:
    return [(r.id, r.arrival_s, r.prompt_len, r.prompt_token_ids, r.block_hashes, r.output_len,
             tuple(r.segments or ()), r.meta.get("augmentation")) for r in trace]


@pytest.mark.parametrize("aug", AUGMENTATION_NAMES)
def test_statistics_match_table1(aug: str) -> None:
    trace = infercept_mixed_trace(num_requests=3000, augmentations=[aug], output_cap=None)
    cmp = table1_comparison(trace).set_index("statistic")
    for stat, row in cmp.iterrows():
        if stat == "return_len_mean":
            continue
        tol = 0.06 if stat.endswith("_std") else 0.04
        assert abs(row.rel_err) < tol, (aug, stat, row.paper, row.measured)
    returned = cmp.at["return_len_mean", "rel_err"]
    if aug == "chatbot":
        # 4.45 calls x (64 generated + 286.5 returned) + 64 final = 1,623.7 tokens do not fit
        # the 753-token context less the prompt's 10% share (677.7): scaled by 677.7 / 1,623.7,
        # returns come to 119.6 a call, -58.3% (per-request scaling moves it a little)
        assert returned == pytest.approx(677.7 / 1623.7 - 1, abs=0.03), returned
    else:
        assert abs(returned) < 0.04, (aug, returned)


def test_mixed_trace_draws_every_augmentation_uniformly() -> None:
    trace = infercept_mixed_trace(rps=2.0, duration_s=1200.0, seed=1)
    assert len(trace) == 2400 and trace.name == "infercept"
    counts = segment_stats(trace)["num_requests"]
    assert set(counts.index) == set(AUGMENTATION_NAMES)
    assert counts.min() > 330 and counts.max() < 470
    assert abs((len(trace) - 1) / trace.duration_s - 2.0) < 0.15


def test_same_seed_same_trace_bit_for_bit() -> None:
    for opts in ({}, {"token_ids": True, "vocab_size": 50, "max_context_len": 256}):
        a = infercept_mixed_trace(num_requests=300, seed=7, **opts)
        b = infercept_mixed_trace(num_requests=300, seed=7, **opts)
        c = infercept_mixed_trace(num_requests=300, seed=8, **opts)
        assert _fingerprint(a) == _fingerprint(b)
        assert _fingerprint(a) != _fingerprint(c)


def test_prompt_content_block_hashes_unique_or_token_ids_in_vocab() -> None:
    trace = infercept_mixed_trace(num_requests=200, block_size=32)
    hashes = [h for r in trace for h in r.block_hashes]
    assert len(hashes) == len(set(hashes)) and min(hashes) >= 0
    assert all(r.block_size == 32 and len(r.block_hashes) == -(-r.prompt_len // 32)
               for r in trace)
    tok = infercept_mixed_trace(num_requests=50, token_ids=True, vocab_size=97)
    assert all(0 <= t < 97 for r in tok for t in r.prompt_token_ids)


def test_burst_start_puts_first_floor_rps_plus_one_at_zero() -> None:
    trace = infercept_mixed_trace(rps=2.5, num_requests=40, burst_start=True)
    times = [r.arrival_s for r in trace]
    assert times[:3] == [0.0, 0.0, 0.0] and times[3] > 0.0


def test_output_cap_stops_at_the_first_call_that_would_cross_it() -> None:
    shape = ToolShape(100, [Segment(10, 1.0, 50), Segment(20, 1.0, 50)], 30)
    capped = shape_request(shape, output_cap=100)
    assert capped == ToolShape(100, [Segment(10, 1.0, 50)], 20)
    assert shape_request(shape, output_cap=500) == shape
    trace = infercept_mixed_trace(num_requests=600, augmentations=["virtual_env", "qa"],
                                  output_cap=512)
    assert all(r.total_output_len + r.total_return_len <= 512 for r in trace)


def test_request_totals_and_validation_name_request_and_segment() -> None:
    segs = [Segment(5, 0.5, 7), Segment(3, 1.0, 0)]
    r = Request("r1", 0.0, 4, prompt_token_ids=[1] * 10, segments=segs)
    assert (r.total_output_len, r.total_return_len, r.final_context_len) == (12, 7, 29)
    plain = Request("r2", 0.0, 4, prompt_token_ids=[1] * 10)
    assert (plain.total_output_len, plain.total_return_len, plain.final_context_len) == (4, 0, 14)
    bad = [Segment(-1, 0.1, 0), Segment(1, -0.1, 0), Segment(1, math.nan, 0),
           Segment(1, math.inf, 0), Segment(1, 0.1, -2)]
    for seg in bad:
        with pytest.raises(ValueError, match=r"request req-9: segment 1:"):
            Request("req-9", 0.0, 1, prompt_token_ids=[1], segments=[Segment(1, 0.0, 0), seg])


def test_jsonl_round_trip_keeps_segments(tmp_path: Path) -> None:
    trace = infercept_mixed_trace(num_requests=60, seed=3)
    path = tmp_path / "t.jsonl"
    trace.to_jsonl(path)
    back = Trace.from_jsonl(path)
    assert [(r.id, r.segments, r.output_len, r.final_context_len) for r in back] == [
        (r.id, r.segments, r.output_len, r.final_context_len) for r in trace
    ]


@pytest.mark.parametrize(
    "segment",
    ['{"output_len": 3, "pause_s": -1.0, "return_len": 2}',
     '{"output_len": 3, "pause_s": NaN, "return_len": 2}',
     '{"output_len": -3, "pause_s": 1.0, "return_len": 2}',
     '{"output_len": 3, "pause_s": "soon", "return_len": 2}',
     '{"pause_s": 1.0}'],
)
def test_bad_segment_in_jsonl_names_file_line_and_request(tmp_path: Path, segment: str) -> None:
    good = '{"id": "a", "arrival_s": 0, "output_len": 1, "prompt_token_ids": [1]}'
    bad = ('{"id": "tool-7", "arrival_s": 1, "output_len": 1, "prompt_token_ids": [1], '
           f'"segments": [{{"output_len": 1, "pause_s": 0.5, "return_len": 0}}, {segment}]}}')
    path = tmp_path / "bad.jsonl"
    path.write_text(good + "\n" + bad + "\n")
    with pytest.raises(TraceFormatError, match=r"bad\.jsonl:2: request tool-7: segment"):
        Trace.from_jsonl(path)


def test_reader_on_fixture() -> None:
    trace = read_infercept(DATA, rps=2.0, seed=1)
    by_key = {r.meta["key"]: r for r in trace}
    gsm = by_key["gsm8k-0001"]
    assert (gsm.prompt_len, gsm.output_len) == (412, 9)
    assert gsm.segments == [Segment(37, 8e-05, 120), Segment(21, 0.00011, 118)]
    assert by_key["chat-0003"].output_len == 0  # ends in a call
    hotpot = by_key["hotpot-0004"]  # a no-call segment joins the next call's output
    assert [s.output_len for s in hotpot.segments] == [50, 74] and hotpot.output_len == 18
    stats = segment_stats(trace, by=None)
    assert stats.loc["all", "calls_mean"] == pytest.approx(9 / 4)
    assert stats.loc["all", "context_len_mean"] == pytest.approx((717 + 1575 + 401 + 1522) / 4)


def test_reader_sampling_and_context_cap() -> None:
    assert len(read_infercept(DATA, rps=2.0, duration_s=30.0, sampling="with_replacement")) == 60
    drawn = read_infercept(DATA, num_requests=50, sampling="with_replacement", seed=2)
    assert len(drawn) == 50 and {r.meta["key"] for r in drawn} <= set(
        r.meta["key"] for r in read_infercept(DATA))
    small = read_infercept(DATA, token_ids=True, vocab_size=64, max_context_len=300)
    assert all(r.final_context_len <= 300 for r in small)


@pytest.mark.parametrize(
    ("text", "match"),
    [('{"k1": [{"prompt": "hi", "completion_tokens": 3}]}', r"'k1'.*prompt_tokens.*raw text"),
     ('{"k2": [{"prompt_tokens": 3, "completion_tokens": -1}]}', r"'k2': segment 0: completion"),
     ('{"k3": [{"prompt_tokens": 3, "completion_tokens": 1, "api_time": -2}]}', r"'k3'.*api_time"),
     ('{"k4": []}', r"'k4': must be a non-empty list"),
     ('[1, 2]', r"bad\.json:1: expected a JSON object")],
)
def test_reader_errors_name_file_and_key(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(TraceFormatError, match=match) as err:
        read_infercept(path)
    assert str(path) in str(err.value)
    if "k" in match[:4]:
        assert isinstance(err.value, InferceptTraceError)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    augs=st.lists(st.sampled_from(AUGMENTATION_NAMES), min_size=1, max_size=3, unique=True),
    max_context_len=st.integers(2, 4096),
    length_scale=st.floats(0.05, 2.0),
    output_cap=st.one_of(st.none(), st.integers(1, 4096)),
)
def test_generated_requests_are_valid_and_fit_the_context_cap(
    seed: int, augs: list[str], max_context_len: int, length_scale: float, output_cap: int | None
) -> None:
    trace = infercept_mixed_trace(num_requests=12, augmentations=augs, seed=seed,
                                  max_context_len=max_context_len, length_scale=length_scale,
                                  output_cap=output_cap)
    for r in trace:
        assert r.prompt_len >= 1 and r.output_len >= 0
        for s in r.segments or ():
            assert s.output_len >= 0 and s.return_len >= 0
            assert math.isfinite(s.pause_s) and s.pause_s >= 0
        assert r.final_context_len <= max_context_len
        if output_cap is not None and length_scale <= 1.0:  # the cap is on unscaled lengths
            assert r.total_output_len + r.total_return_len <= output_cap


def test_factory_and_configs_build_traces() -> None:
    assert len(make_workload("infercept", num_requests=20, augmentations=["qa"])) == 20
    assert len(make_workload("infercept_file", path=DATA)) == 4
    with pytest.raises(ConfigError, match="augmentations"):
        infercept_mixed_trace(num_requests=5, augmentations=["maths"])
    names = sorted(p.stem for p in CONF.glob("*.yaml"))
    assert names == sorted([*AUGMENTATION_NAMES, "mixed", "trace_file"])
    for name in names:
        cfg = OmegaConf.create({"seed": 5, "workload": OmegaConf.load(CONF / f"{name}.yaml")})
        spec = OmegaConf.to_container(cfg.workload, resolve=True)
        spec.pop("name")
        spec["num_requests"] = 30
        if name == "trace_file":
            spec["path"] = str(DATA)
        trace = instantiate(spec)
        assert isinstance(trace, Trace) and len(trace) == 30
