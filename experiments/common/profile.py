"""The engine's profile on this device, taken once per profiler version, for the simulator's
side of a fidelity comparison (Preble's and InferCept's), and the comparison's errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from toolkit.profiling.profile import PROFILE_VERSION
from toolkit.profiling.serving import SERVING_VERSION


def ensure_profile(path: Path, quick: bool, serving: bool = False) -> Path:
    """Profile the tiny model on this CPU (one thread) into `path` unless it exists; with
    `serving`, also what the HTTP serving path adds (two engine servers behind the proxy)
    unless the file has it. Name the file by the profilers' versions (see `profile_path`) so
    that a profiler measuring something new writes a new file, and the simulator points that
    read it are rerun, not read back."""
    if not path.exists():
        cmd = [sys.executable, "-m", "toolkit.profiling.profile", "--model", "tiny", "--out",
               str(path), "--threads", "1", *(["--quick"] if quick else [])]
        subprocess.run(cmd, check=True, capture_output=True, timeout=1200)
    if serving and "serving" not in json.loads(path.read_text())["models"][0]:
        cmd = [sys.executable, "-m", "toolkit.profiling.serving", "--profile", str(path),
               "--engines", "2", "--threads", "1", *(["--quick"] if quick else [])]
        subprocess.run(cmd, check=True, capture_output=True, timeout=1200)
    return path


def profile_path(out: Path) -> Path:
    """The profile file of the current profilers' versions under `out`."""
    return out / f"profile_cpu_v{PROFILE_VERSION}_s{SERVING_VERSION}.json"


def sim_errors(df: pd.DataFrame, keys: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """Per group of `keys`: each metric on the engine and on the simulator (`backend` column)
    and the simulator's relative error in percent. Where the engine ran the same point
    several times, `engine` is their mean and `engine_spread_pct` their range over that mean
    (the engine's own run-to-run spread; NaN for a single run)."""
    rows = []
    for group, part in df.groupby(list(keys)):
        group = group if isinstance(group, tuple) else (group,)
        engine, sim = part[part["backend"] == "engine"], part[part["backend"] == "sim"]
        if len(sim) != 1 or engine.empty:
            raise ValueError(f"{dict(zip(keys, group))}: need one simulator row and at least "
                             f"one engine row, got {len(sim)} and {len(engine)}")
        for m in metrics:
            runs = engine[m].astype(float)
            real, s = float(runs.mean()), float(sim[m].iloc[0])
            spread = 100.0 * float(runs.max() - runs.min()) / real if len(runs) > 1 and real \
                else float("nan")
            rows.append({**dict(zip(keys, group)), "metric": m, "engine": real, "sim": s,
                         "error_pct": 100.0 * (s - real) / real if real else float("nan"),
                         "engine_runs": len(runs), "engine_spread_pct": spread})
    return pd.DataFrame(rows)
