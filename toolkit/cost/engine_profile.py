"""Cost models from a profile that `python -m toolkit.profiling.profile` wrote.

The file has the layout of `../shared/calibration/h200_llama_profile.json` plus, per model
entry, its `spec` (a `ModelSpec` as a dict), the `mixed` check rows and the `wake` rows. No
torch is needed to read it: a simulator loads the profile of an engine it never imports.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any


def device_spec(profile: dict[str, Any]) -> Any:
    """The `GpuSpec` whose name `ProfiledCostModel` matches against `info.device`: a known
    GPU when the device names one, else a spec named 'cpu' (or the device's first word)
    with the measured copy bandwidth and matmul rate."""
    from toolkit.cost.specs import GPUS, GpuSpec

    device = str(profile.get("info", {}).get("device", "")).lower()
    for key in sorted(GPUS, key=len, reverse=True):  # whole words, longest first:
        if re.search(rf"\b{re.escape(key)}\b", device):  # "gh200" is no "h200", "l40s" no "l4"
            return GPUS[key]
    ceil = profile.get("ceilings", {})
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(
        os, "sysconf") else 0
    return GpuSpec((device.split() or ["cpu"])[0], int(memory),
                   ceil.get("d2d_copy_GBps", 0.0) * 1e9 / 2,
                   ceil.get("matmul_TFLOPs", 0.0) * 1e12, 0.0, 0.0)


def _model_entry(path: str | Path, model: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the profile, its entry for `model`: the first one when None)."""
    profile = json.loads(Path(path).read_text())
    entries = [e for e in profile["models"] if model is None or e["model"] == model]
    if not entries:
        raise ValueError(f"{path}: no model {model!r}")
    return profile, entries[0]


SERVING_PATHS = ("none", "http")


def load_profiled_cost_model(path: str | Path, tp: int = 1, model: str | None = None,
                             mixed_correction: bool = True, use_mean: bool = True,
                             serving: str = "none") -> Any:
    """`ProfiledCostModel` of a profile written here (its first model unless `model`); with
    `mixed_correction`, its measured mixed iterations correct prefill+decode batches and the
    first iteration after idleness pays the measured arrival path (`wake[]`). `use_mean`
    prices steps by each point's mean (`mean_s`, where the file has it) instead of its
    median: what a run's latencies add up. `serving='http'` adds what the HTTP serving path
    costs (`serving.http`, measured by `python -m toolkit.profiling.serving`; see
    `toolkit.cost.serving.ServedCostModel`); 'none' prices the engine alone."""
    if serving not in SERVING_PATHS:
        raise ValueError(f"serving={serving!r}: expected one of {', '.join(SERVING_PATHS)}")
    profile, entry = _model_entry(path, model)
    cost = _engine_cost_model(path, profile, entry, tp, mixed_correction, use_mean)
    if serving == "none":
        return cost
    from toolkit.cost.serving import ServedCostModel

    measured = entry.get("serving", {}).get(serving)
    if measured is None:
        raise ValueError(f"{path}: no serving.{serving} entry (run python -m "
                         f"toolkit.profiling.serving --profile {path})")
    return ServedCostModel.from_entry(cost, measured)


def _engine_cost_model(path: str | Path, profile: dict[str, Any], entry: dict[str, Any],
                       tp: int, mixed_correction: bool, use_mean: bool) -> Any:
    from toolkit.cost.mixed_fit import MixedCorrectedCostModel, fit_mixed_residual
    from toolkit.cost.profiled import ProfiledCostModel
    from toolkit.cost.specs import ModelSpec

    spec = ModelSpec(**entry["spec"])
    base = ProfiledCostModel(spec, tp, device_spec(profile), calibration_path=str(path),
                             use_graph_prefill=False, use_mean=use_mean)
    rows, wake = entry.get("mixed", []), entry.get("wake", [])
    if not mixed_correction or not (rows or wake):
        return base
    if use_mean:
        rows = [dict(r, s=r.get("mean_s", r["s"])) for r in rows]
    return MixedCorrectedCostModel(base, *fit_mixed_residual(base, rows), wake=wake)


def register_profile(path: str | Path) -> tuple[str, str]:
    """Add the file's model specs and device to `toolkit.cost.specs` (names already known
    are kept), so `make_cost_model('profiled', model, gpu, calibration_path=path)` finds
    them; returns (model name, gpu name)."""
    from toolkit.cost.specs import GPUS, MODELS, ModelSpec

    profile = json.loads(Path(path).read_text())
    for entry in profile["models"]:
        MODELS.setdefault(entry["model"], ModelSpec(**entry["spec"]))
    gpu = device_spec(profile)
    GPUS.setdefault(gpu.name, gpu)
    return profile["models"][0]["model"], gpu.name


COPY_LATENCY_CPU_S = 5e-6
"""ASSUMPTION: fixed cost of one host-memory copy on a CPU engine (a memcpy call); not
measured by the profiler."""


def load_profiled_swap_model(path: str | Path, model: str | None = None,
                             block_size: int = 16) -> Any:
    """The `HostSwapModel` of a CPU engine's swaps, from a profile written here: the engine
    gathers a context's blocks and copies them (`toolkit.engine.host_kv`), both at the
    profile's measured copy rate (`ceilings.d2d_copy_GBps`), one copy per swap."""
    from toolkit.cost.specs import ModelSpec
    from toolkit.cost.swap import HostSwapModel

    profile, entry = _model_entry(path, model)
    rate = float(profile.get("ceilings", {}).get("d2d_copy_GBps", 0.0)) * 1e9
    if rate <= 0:
        raise ValueError(f"{path}: no measured copy rate (ceilings.d2d_copy_GBps)")
    return HostSwapModel.from_bandwidth(ModelSpec(**entry["spec"]), 1, rate,
                                        COPY_LATENCY_CPU_S, "swap", block_size,
                                        gather_bytes_per_s=rate)
