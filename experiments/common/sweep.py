"""Run a list of configured points in parallel (joblib) and gather their summaries.

Notebooks and figure code call this instead of shelling out: each point is a list of Hydra
overrides, composed with the paper's config module, run with `run_config`, and written to
its own folder under `results_dir`. A point whose folder already holds a summary for the
same resolved config is read back instead of rerun (`rerun=True` forces it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
from hydra import compose, initialize_config_module
from joblib import Parallel, delayed
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from experiments.common.runner import run_config

RunFn = Callable[[DictConfig, str | Path], tuple[pd.DataFrame, dict]]


def compose_config(config_module: str, overrides: Sequence[str]) -> DictConfig:
    """Compose `config` of `config_module` with `overrides` (unknown options raise)."""
    with initialize_config_module(config_module=config_module, version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def _run_point(cfg: DictConfig, out_dir: str, rerun: bool, run_fn: RunFn = run_config) -> dict:
    out = Path(out_dir)
    resolved = OmegaConf.to_yaml(cfg, resolve=True)
    summary_path = out / "summary.json"
    config_path = out / "config.yaml"
    fresh = summary_path.exists() and config_path.exists()
    if not rerun and fresh and config_path.read_text() == resolved:
        return json.loads(summary_path.read_text())
    _, summary = run_fn(cfg, out)
    return summary


def run_points(
    config_module: str,
    points: Sequence[tuple[dict, Sequence[str]]],
    results_dir: str | Path,
    n_jobs: int = 2,
    rerun: bool = False,
    progress: bool = True,
    run_fn: RunFn = run_config,
) -> pd.DataFrame:
    """Run every `(labels, overrides)` point; one row per point (labels + summary).

    `labels` must include a `run` key naming the point's folder under `results_dir`;
    `run_fn(cfg, out_dir) -> (records, summary)` runs one point (a paper's own runner).
    """
    cfgs = [compose_config(config_module, ov) for _, ov in points]
    dirs = [str(Path(results_dir) / labels["run"]) for labels, _ in points]
    jobs = (delayed(_run_point)(cfg, d, rerun, run_fn) for cfg, d in zip(cfgs, dirs))
    bar = tqdm(total=len(cfgs), desc="runs", disable=not progress)
    summaries = []
    for s in Parallel(n_jobs=n_jobs, return_as="generator")(jobs):
        summaries.append(s)
        bar.update(1)
    bar.close()
    rows = [{**summary, **labels} for (labels, _), summary in zip(points, summaries)]
    return pd.DataFrame(rows)
