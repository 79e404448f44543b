"""Read calibration tables (package data by default; any file of the same layout)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from toolkit.core import ConfigError

DATA_DIR = Path(__file__).resolve().parent / "data"
PROFILE_FILE = DATA_DIR / "h200_llama_profile.json"
"""Eager prefill and CUDA-graph decode tables per (model, tp), H200 (see data/README)."""
GRAPH_FILE = DATA_DIR / "h200_llama8b_graph_verify.json"
"""CUDA-graph prefill and speculative-verify tables, llama3-8b tp 1, H200."""


@lru_cache(maxsize=16)
def load_json(path: str | Path) -> dict[str, Any]:
    """Parse a calibration JSON file (cached); ConfigError naming `calibration_path` if absent."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError("calibration_path", f"no such file: {p}")
    with p.open() as f:
        return json.load(f)


@lru_cache(maxsize=16)
def jsonl_rows(path: str | Path, part: str) -> tuple[dict[str, Any], ...]:
    """The rows of one `part` of a JSON-lines calibration file (cached)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError("calibration_path", f"no such file: {p}")
    rows = (json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line)
    return tuple(r for r in rows if r.get("part") == part)


def find_entry(profile: dict[str, Any], model: str, tp: int) -> dict[str, Any]:
    """The `models[]` entry for (model, tp); ConfigError listing the pairs the file holds."""
    for entry in profile.get("models", []):
        if entry["model"] == model and int(entry["tp"]) == tp:
            return entry
    have = sorted((e["model"], int(e["tp"])) for e in profile.get("models", []))
    raise ConfigError("tp", f"no profiled table for model={model!r} tp={tp}; have {have}")


def device_name(profile: dict[str, Any]) -> str:
    """The measuring device as the file names it, e.g. 'NVIDIA H200' ('' if absent)."""
    return str(profile.get("info", {}).get("device", ""))
