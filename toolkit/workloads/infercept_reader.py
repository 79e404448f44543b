"""Reader for InferCept's released trace layout (e.g. `merged_exp_uniform.json`).

The file is one JSON object mapping a key to a request; a request is a list of segments,
each an object with `completion_tokens` (tokens generated before the segment's tool call),
`api_time` (the call's duration, s) and `api_token_length` (tokens the tool returns); the
first segment also has `prompt_tokens`. Raw text fields (`prompt`, `completion`,
`api_token`, ...) are ignored: the token counts must be present (the benchmark tokenised
text with the model's tokenizer; do that first). As in the benchmark, a segment without
`api_time`/`api_token_length`, or with both 0, makes no call: its tokens join the next
call's output, or the final answer when no call follows (a request ending in a call
has a final answer of 0 tokens). Later segments' `prompt_tokens` are ignored.

Errors name the file and the key (`InferceptTraceError`, a `TraceFormatError`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from toolkit.core.errors import ConfigError, TraceFormatError
from toolkit.core.request import Segment
from toolkit.core.trace import Trace
from toolkit.workloads.common import VOCAB_SIZE, request_id, rng_streams
from toolkit.workloads.infercept import (
    BENCH_OUTPUT_CAP,
    ToolShape,
    arrivals,
    make_request,
    shape_request,
)

SAMPLING = ("in_order", "with_replacement")


class InferceptTraceError(TraceFormatError):
    """A malformed request in an InferCept trace file; the message names file and key."""

    def __init__(self, path: str, key: str, reason: str) -> None:
        ValueError.__init__(self, f"{path}: request {key!r}: {reason}")
        self.path, self.line_no, self.key, self.reason = path, 0, key, reason


def read_infercept(
    path: str | Path,
    num_requests: int | None = None,
    rps: float = 1.0,
    duration_s: float | None = None,
    seed: int = 0,
    sampling: str = "in_order",
    burst_start: bool = False,
    output_cap: int | None = BENCH_OUTPUT_CAP,
    token_ids: bool = False,
    vocab_size: int = VOCAB_SIZE,
    block_size: int = 16,
    max_context_len: int | None = None,
    length_scale: float = 1.0,
) -> Trace:
    """An InferCept trace file as a Trace with Poisson arrivals at `rps` (seeded).

    `sampling='in_order'` takes the first `num_requests` keys (default all);
    'with_replacement' draws `num_requests` keys uniformly with replacement (default: as
    many as the file has), as the released benchmark does. Without `num_requests`, a
    `duration_s` asks for round(rps x duration_s) requests. `Request.meta` keeps the
    `key`. The other options are those of `infercept_mixed_trace` (output cap 2048 as in
    the benchmark; unique block hashes unless `token_ids`).
    """
    path = Path(path)
    shapes = read_infercept_shapes(path)
    if num_requests is None and duration_s is not None:
        num_requests = int(round(rps * duration_s))
    pick_rng, arr_rng, content_rng = rng_streams(seed, 3)
    keys = _pick_keys(list(shapes), num_requests, sampling, pick_rng)
    times = arrivals(len(keys), rps, arr_rng, burst_start)
    reqs = []
    for i, key in enumerate(keys):
        shape = shape_request(shapes[key], output_cap, length_scale, max_context_len)
        reqs.append(make_request(request_id(path.stem, i), float(times[i]), shape,
                                 {"key": key}, seed, i, content_rng if token_ids else None,
                                 vocab_size, block_size))
    meta = {"workload": "infercept_file", "source": str(path), "seed": seed, "rps": rps,
            "sampling": sampling, "output_cap": output_cap}
    return Trace(reqs, name=path.stem, meta=meta)


def read_infercept_shapes(path: str | Path) -> dict[str, ToolShape]:
    """key -> the request's lengths (prompt, calls, final answer), in file order."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"trace file not found: {path}")
    try:
        with open(path) as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise TraceFormatError(str(path), e.lineno, f"invalid JSON ({e.msg})") from None
    if not isinstance(data, dict):
        raise TraceFormatError(str(path), 1, "expected a JSON object mapping keys to requests")
    return {str(k): _parse_request(v, str(path), str(k)) for k, v in data.items()}


def _parse_request(obj: object, path: str, key: str) -> ToolShape:
    if not isinstance(obj, list) or not obj:
        raise InferceptTraceError(path, key, "must be a non-empty list of segments")
    if not all(isinstance(s, dict) for s in obj):
        raise InferceptTraceError(path, key, "every segment must be a JSON object")
    prompt_len = _count(obj[0], "prompt_tokens", path, key, 0)
    segments, pending = [], 0
    for i, seg in enumerate(obj):
        pending += _count(seg, "completion_tokens", path, key, i)
        pause_s = _pause(seg, path, key, i)
        ret = _count(seg, "api_token_length", path, key, i) if "api_token_length" in seg else 0
        if pause_s > 0 or ret > 0:
            segments.append(Segment(pending, pause_s, ret))
            pending = 0
    return ToolShape(prompt_len, segments, pending)


def _count(seg: dict, name: str, path: str, key: str, index: int) -> int:
    if name not in seg:
        text = {"prompt_tokens": "prompt", "completion_tokens": "completion"}.get(name)
        hint = f" (raw text {text!r} is not tokenised here)" if text in seg else ""
        raise InferceptTraceError(path, key, f"segment {index}: missing {name!r}{hint}")
    v = seg[name]
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise InferceptTraceError(path, key, f"segment {index}: {name} must be an integer "
                                  f">= 0, got {v!r}")
    return v


def _pause(seg: dict, path: str, key: str, index: int) -> float:
    v = seg.get("api_time", 0.0)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not (
        math.isfinite(v) and v >= 0
    ):
        raise InferceptTraceError(path, key, f"segment {index}: api_time must be a finite "
                                  f"number >= 0, got {v!r}")
    return float(v)


def _pick_keys(
    keys: list[str], num: int | None, sampling: str, rng: np.random.Generator
) -> list[str]:
    if sampling not in SAMPLING:
        raise ConfigError("sampling", f"unknown sampling {sampling!r}; use one of {SAMPLING}")
    if num is not None and num < 0:
        raise ConfigError("num_requests", f"must be non-negative, got {num}")
    if sampling == "in_order":
        return keys[:num]
    if not keys:
        return []
    picks = rng.integers(0, len(keys), size=len(keys) if num is None else num)
    return [keys[i] for i in picks.tolist()]
