"""A trace: requests ordered by arrival, and its one-request-per-line JSONL format.

Each line is a JSON object with `id`, `arrival_s`, `output_len` and either
`prompt_token_ids` or (`prompt_len`, `block_hashes`, `block_size`); optional `session`,
`tier` and `segments` (a list of `{"output_len", "pause_s", "return_len"}`; tool calls,
in order, before the final `output_len` tokens: see `Request`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

from toolkit.core.errors import TraceFormatError
from toolkit.core.request import Request, Segment

_REQUIRED = ("id", "arrival_s", "output_len")
_KNOWN = {
    "id", "arrival_s", "output_len", "prompt_token_ids", "prompt_len", "block_hashes",
    "block_size", "session", "tier", "segments", "meta",
}


@dataclass
class Trace:
    """Requests sorted by arrival time, with a name for tables and plots."""

    requests: list[Request]
    name: str = "trace"
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.requests = sorted(self.requests, key=lambda r: (r.arrival_s, r.id))

    def __len__(self) -> int:
        return len(self.requests)

    def __iter__(self) -> Iterator[Request]:
        return iter(self.requests)

    @property
    def duration_s(self) -> float:
        """Time from the first to the last arrival."""
        if not self.requests:
            return 0.0
        return self.requests[-1].arrival_s - self.requests[0].arrival_s

    def head(self, num_requests: int | None) -> Trace:
        """The first `num_requests` requests by arrival (all of them when None)."""
        if num_requests is None:
            return self
        return Trace(self.requests[:num_requests], self.name, dict(self.meta))

    def scale_time(self, factor: float) -> Trace:
        """Multiply every arrival time (relative to the first) by `factor`."""
        if factor <= 0:
            raise ValueError(f"time scale factor must be positive, got {factor}")
        t0 = self.requests[0].arrival_s if self.requests else 0.0
        reqs = [replace(r, arrival_s=(r.arrival_s - t0) * factor) for r in self.requests]
        return Trace(reqs, self.name, dict(self.meta))

    def scale_rate(self, rps: float) -> Trace:
        """Rescale arrival times so the mean rate is `rps` requests per second."""
        if rps <= 0:
            raise ValueError(f"target rate must be positive, got {rps}")
        if len(self) < 2 or self.duration_s == 0:
            return self
        current = (len(self) - 1) / self.duration_s
        return self.scale_time(current / rps)

    def to_frame(self) -> pd.DataFrame:
        """One row per request: id, arrival_s, prompt_len, output_len, session, tier."""
        import pandas as pd

        return pd.DataFrame(
            {
                "id": [r.id for r in self.requests],
                "arrival_s": [r.arrival_s for r in self.requests],
                "prompt_len": [r.prompt_len for r in self.requests],
                "output_len": [r.output_len for r in self.requests],
                "session": [r.session for r in self.requests],
                "tier": [r.tier for r in self.requests],
            }
        )

    def to_jsonl(self, path: str | Path) -> None:
        """Write the trace, one JSON request per line."""
        with open(path, "w") as f:
            for r in self.requests:
                f.write(json.dumps(request_to_dict(r)) + "\n")

    @classmethod
    def from_jsonl(cls, path: str | Path, num_requests: int | None = None) -> Trace:
        """Read a trace; a malformed line raises `TraceFormatError` naming file and line."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"trace file not found: {path}")
        reqs: list[Request] = []
        with open(path) as f:
            for line_no, line in enumerate(f, start=1):
                if num_requests is not None and len(reqs) >= num_requests:
                    break
                if not line.strip():
                    continue
                reqs.append(parse_request_line(line, str(path), line_no))
        return cls(reqs, name=path.stem)


def request_to_dict(r: Request) -> dict:
    """The JSONL object of one request (optional fields only when set)."""
    d: dict = {"id": r.id, "arrival_s": r.arrival_s, "output_len": r.output_len}
    if r.prompt_token_ids is not None:
        d["prompt_token_ids"] = list(r.prompt_token_ids)
    else:
        d["prompt_len"] = r.prompt_len
        d["block_hashes"] = list(r.block_hashes or [])
        d["block_size"] = r.block_size
    for name in ("session", "tier"):
        if getattr(r, name) is not None:
            d[name] = getattr(r, name)
    if r.segments:
        d["segments"] = [
            {"output_len": s.output_len, "pause_s": s.pause_s, "return_len": s.return_len}
            for s in r.segments
        ]
    if r.meta:
        d["meta"] = r.meta
    return d


def parse_request_line(line: str, path: str, line_no: int) -> Request:
    """Parse and validate one JSONL line of a trace."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise TraceFormatError(path, line_no, f"invalid JSON ({e.msg})") from None
    if not isinstance(obj, dict):
        raise TraceFormatError(path, line_no, "a line must be a JSON object")
    _check_fields(obj, path, line_no)
    try:
        return Request(
            id=str(obj["id"]),
            arrival_s=float(obj["arrival_s"]),
            output_len=_int(obj["output_len"], "output_len"),
            prompt_token_ids=_ints(obj.get("prompt_token_ids"), "prompt_token_ids"),
            prompt_len=_int(obj.get("prompt_len", 0), "prompt_len"),
            block_hashes=_ints(obj.get("block_hashes"), "block_hashes"),
            block_size=_int(obj.get("block_size", 0), "block_size"),
            session=None if obj.get("session") is None else str(obj["session"]),
            tier=None if obj.get("tier") is None else str(obj["tier"]),
            segments=_segments(obj.get("segments"), str(obj["id"])),
            meta=_meta(obj.get("meta")),
        )
    except (TypeError, ValueError) as e:
        raise TraceFormatError(path, line_no, str(e)) from None


def _meta(v: object) -> dict:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise ValueError("meta must be an object")
    return dict(v)


def _check_fields(obj: dict, path: str, line_no: int) -> None:
    missing = [k for k in _REQUIRED if k not in obj]
    if missing:
        raise TraceFormatError(path, line_no, f"missing field(s) {missing}")
    unknown = sorted(set(obj) - _KNOWN)
    if unknown:
        raise TraceFormatError(path, line_no, f"unknown field(s) {unknown}")
    has_tokens = obj.get("prompt_token_ids") is not None
    has_blocks = obj.get("block_hashes") is not None
    if has_tokens == has_blocks:
        raise TraceFormatError(
            path, line_no, "exactly one of prompt_token_ids or block_hashes is required"
        )
    if has_blocks and ("prompt_len" not in obj or "block_size" not in obj):
        raise TraceFormatError(path, line_no, "block_hashes need prompt_len and block_size")
    if has_blocks and obj["block_size"] > 0 and obj["prompt_len"] > len(obj["block_hashes"]) * obj["block_size"]:
        raise TraceFormatError(path, line_no, "prompt_len exceeds block_hashes x block_size")


def _int(v: object, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"{name} must be an integer, got {v!r}")
    if v < 0:
        raise ValueError(f"{name} must be non-negative, got {v}")
    return v


def _ints(v: object, name: str) -> list[int] | None:
    if v is None:
        return None
    if not isinstance(v, list):
        raise ValueError(f"{name} must be a list of integers")
    for x in v:
        if isinstance(x, bool) or not isinstance(x, int):
            raise ValueError(f"{name} must hold integers, found {x!r}")
    return v


def _segments(v: object, request_id: str) -> list[Segment] | None:
    """Segments of one line; an error names the request and the segment index (the values
    themselves are checked by `Request`, whose errors name both too)."""
    if v is None:
        return None
    where = f"request {request_id}: segments"
    if not isinstance(v, list):
        raise ValueError(f"{where} must be a list")
    segs = []
    for i, s in enumerate(v):
        if not isinstance(s, dict) or any(k not in s for k in ("output_len", "pause_s")):
            raise ValueError(f"{where}[{i}] must be an object with output_len and pause_s")
        pause_s = s["pause_s"]
        if isinstance(pause_s, bool) or not isinstance(pause_s, (int, float)):
            raise ValueError(f"{where}[{i}].pause_s must be a number, got {pause_s!r}")
        segs.append(
            Segment(
                _int(s["output_len"], f"{where}[{i}].output_len"),
                float(pause_s),
                _int(s.get("return_len", 0), f"{where}[{i}].return_len"),
            )
        )
    return segs


def requests_sorted(reqs: Sequence[Request]) -> list[Request]:
    """Requests sorted by (arrival_s, id): the order every backend replays them in."""
    return sorted(reqs, key=lambda r: (r.arrival_s, r.id))
