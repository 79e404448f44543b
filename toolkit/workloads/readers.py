"""Readers for public traces: Mooncake JSONL, Azure LLM inference CSV, and `load_trace`.

- Mooncake (FAST'25): one JSON object a line, `timestamp` (ms), `input_length`,
  `output_length`, `hash_ids` (one id per 512-token prefix block; equal id = equal prefix).
  Requests get `block_hashes`, `block_size=512`, `prompt_len=input_length`.
- Azure LLM Inference 2023: CSV `TIMESTAMP, ContextTokens, GeneratedTokens` and no content.
  `content='blocks'` gives every request unique block hashes (no sharing, cheap);
  `content='tokens'` gives it unique random token ids; `azure_arrivals` gives only times.

Every reader takes a user-given path, `num_requests` (the first N rows), `time_scale`
(multiplies arrival times) and `rps` (rescales to that mean rate). A malformed row raises
`TraceFormatError` naming the file and the line.
"""

from __future__ import annotations

import calendar
import csv
import json
import os
from datetime import datetime
from pathlib import Path

import numpy as np

from toolkit.core.errors import ConfigError, TraceFormatError
from toolkit.core.request import Request
from toolkit.core.trace import Trace
from toolkit.workloads.common import random_tokens, request_id

MOONCAKE_BLOCK_SIZE = 512
_MOONCAKE_FIELDS = ("timestamp", "input_length", "output_length", "hash_ids")
_AZURE_FIELDS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")
AZURE_CONTENT = ("blocks", "tokens")


def read_mooncake(
    path: str | Path,
    num_requests: int | None = None,
    time_scale: float = 1.0,
    rps: float | None = None,
) -> Trace:
    """A Mooncake JSONL trace as block-hash requests (arrival_s = timestamp / 1000)."""
    path = _existing(path)
    reqs: list[Request] = []
    with open(path) as f:
        for line_no, line in enumerate(f, start=1):
            if num_requests is not None and len(reqs) >= num_requests:
                break
            if line.strip():
                reqs.append(_mooncake_request(line, str(path), line_no, path.stem))
    return _rescale(Trace(reqs, name=path.stem, meta={"source": str(path)}), time_scale, rps)


def _mooncake_request(line: str, path: str, line_no: int, stem: str) -> Request:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise TraceFormatError(path, line_no, f"invalid JSON ({e.msg})") from None
    if not isinstance(obj, dict) or any(k not in obj for k in _MOONCAKE_FIELDS):
        raise TraceFormatError(path, line_no, f"a Mooncake row needs fields {_MOONCAKE_FIELDS}")
    ts, hashes = obj["timestamp"], obj["hash_ids"]
    prompt_len, output_len = obj["input_length"], obj["output_length"]
    if not _is_number(ts) or ts < 0:
        raise TraceFormatError(path, line_no, f"timestamp must be a non-negative number, got {ts!r}")
    for name, v in (("input_length", prompt_len), ("output_length", output_len)):
        if not _is_int(v) or v < 0:
            raise TraceFormatError(path, line_no, f"{name} must be a non-negative integer, got {v!r}")
    if not isinstance(hashes, list) or not all(_is_int(h) for h in hashes):
        raise TraceFormatError(path, line_no, "hash_ids must be a list of integers")
    if prompt_len > len(hashes) * MOONCAKE_BLOCK_SIZE:
        raise TraceFormatError(path, line_no, "input_length exceeds hash_ids x 512 tokens")
    return Request(
        id=request_id(stem, line_no),
        arrival_s=ts / 1000.0,
        output_len=output_len,
        prompt_len=prompt_len,
        block_hashes=hashes,
        block_size=MOONCAKE_BLOCK_SIZE,
    )


def read_azure_rows(
    path: str | Path, num_requests: int | None = None, start_row: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(arrival_s relative to the first row read, context tokens, generated tokens) of the
    Azure CSV data rows [start_row : start_row + num_requests]."""
    path = _existing(path)
    times: list[tuple[int, float]] = []
    ctx: list[int] = []
    gen: list[int] = []
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:3]] != list(_AZURE_FIELDS):
            raise TraceFormatError(str(path), 1, f"expected the header {','.join(_AZURE_FIELDS)}")
        for i, row in enumerate(reader):
            if num_requests is not None and len(times) >= num_requests:
                break
            if i < start_row or not row:
                continue
            t, c, g = _azure_row(row, str(path), reader.line_num)
            times.append(t)
            ctx.append(c)
            gen.append(g)
    if not times:
        return np.zeros(0), np.zeros(0, int), np.zeros(0, int)
    sec = np.asarray([t[0] for t in times], dtype=np.int64)
    frac = np.asarray([t[1] for t in times], dtype=float)
    rel = (sec - sec[0]).astype(float) + (frac - frac[0])
    return rel, np.asarray(ctx, int), np.asarray(gen, int)


def _azure_row(row: list[str], path: str, line_no: int) -> tuple[tuple[int, float], int, int]:
    if len(row) != 3:
        raise TraceFormatError(path, line_no, f"expected 3 columns, got {len(row)}")
    try:
        t = _parse_timestamp(row[0])
        c, g = int(row[1]), int(row[2])
    except ValueError as e:
        raise TraceFormatError(path, line_no, f"bad value ({e})") from None
    if c < 0 or g < 0:
        raise TraceFormatError(path, line_no, "token counts must be non-negative")
    return t, c, g


def _parse_timestamp(text: str) -> tuple[int, float]:
    """(whole seconds since the epoch (UTC), fraction of a second) of
    'YYYY-MM-DD HH:MM:SS[.fraction]' (any number of fraction digits)."""
    main, _, frac = text.strip().partition(".")
    dt = datetime.strptime(main, "%Y-%m-%d %H:%M:%S")
    if frac and not frac.isdigit():
        raise ValueError(f"bad fractional seconds in {text!r}")
    return calendar.timegm(dt.timetuple()), (float("0." + frac) if frac else 0.0)


def azure_arrivals(
    path: str | Path, num_requests: int | None = None, start_row: int = 0, time_scale: float = 1.0
) -> np.ndarray:
    """Arrival times (s) of Azure rows [start_row : start_row + num_requests], x time_scale."""
    times, _, _ = read_azure_rows(path, num_requests, start_row)
    return times * time_scale


def read_azure(
    path: str | Path,
    num_requests: int | None = None,
    time_scale: float = 1.0,
    rps: float | None = None,
    content: str = "blocks",
    seed: int = 0,
    start_row: int = 0,
) -> Trace:
    """An Azure CSV trace; prompts have no shared content (see the module docstring)."""
    if content not in AZURE_CONTENT:
        raise ConfigError("content", f"unknown Azure content {content!r}; use one of {AZURE_CONTENT}")
    path = Path(path)
    times, ctx, gen = read_azure_rows(path, num_requests, start_row)
    rng = np.random.default_rng(seed)
    reqs, next_hash = [], 0
    for i, (t, c, g) in enumerate(zip(times.tolist(), ctx.tolist(), gen.tolist())):
        rid = request_id(path.stem, start_row + i)
        if content == "tokens":
            reqs.append(Request(rid, t, g, prompt_token_ids=random_tokens(rng, c)))
            continue
        num_blocks = -(-c // MOONCAKE_BLOCK_SIZE)
        hashes = range(next_hash, next_hash + num_blocks)
        next_hash += num_blocks
        reqs.append(Request(rid, t, g, prompt_len=c, block_hashes=tuple(hashes),
                            block_size=MOONCAKE_BLOCK_SIZE))
    return _rescale(Trace(reqs, name=path.stem, meta={"source": str(path)}), time_scale, rps)


def load_trace(
    path: str | Path,
    num_requests: int | None = None,
    time_scale: float = 1.0,
    rps: float | None = None,
) -> Trace:
    """Read a trace file, whatever its format: the toolkit's JSONL (`Trace.from_jsonl`),
    Mooncake JSONL (rows with `hash_ids` and `timestamp`) or Azure CSV (`.csv`)."""
    path = _existing(path)
    if path.suffix.lower() == ".csv":
        return read_azure(path, num_requests, time_scale, rps)
    first = _first_object(path)
    if "hash_ids" in first and "timestamp" in first:
        return read_mooncake(path, num_requests, time_scale, rps)
    return _rescale(Trace.from_jsonl(path, num_requests), time_scale, rps)


def _first_object(path: Path) -> dict:
    with open(path) as f:
        for line_no, line in enumerate(f, start=1):
            if line.strip():
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise TraceFormatError(str(path), line_no, f"invalid JSON ({e.msg})") from None
                return obj if isinstance(obj, dict) else {}
    return {}


def _rescale(trace: Trace, time_scale: float, rps: float | None) -> Trace:
    if time_scale != 1.0:
        trace = trace.scale_time(time_scale)
    if rps is not None:
        trace = trace.scale_rate(rps)
    return trace


def default_data_dir() -> Path:
    """The shared trace folder: $TOOLKIT_SHARED/data, else ../shared/data beside the repo."""
    shared = os.environ.get("TOOLKIT_SHARED")
    root = Path(shared) if shared else Path(__file__).resolve().parents[2].parent / "shared"
    return root / "data"


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"trace file not found: {path}")
    return path


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)
