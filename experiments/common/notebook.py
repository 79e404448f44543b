"""What every figure notebook calls first: its backend checked against those it can run, its
output folder made."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from toolkit.core.errors import ConfigError


def require_backend(backend: str, supported: Sequence[str]) -> str:
    """`backend` if this notebook runs on it; else a ConfigError naming the parameter, the
    backends it supports and where the others run (the README's notebook table)."""
    if backend not in supported:
        raise ConfigError("backend", f"{backend!r}: this notebook runs on "
                                     f"{', '.join(supported)} (the README's notebook table "
                                     "lists which notebook runs on which backend)")
    return backend


def prepare(results_dir: str, backend: str | None = None,
          runs_on: Sequence[str] = ()) -> Path:
    """The first cell's work: check `backend` against `runs_on` (when the notebook has the
    parameter), make `<results_dir>/figures`, widen pandas' printout; return that folder."""
    import pandas as pd

    if backend is not None:
        require_backend(backend, runs_on)
    out = Path(results_dir) / "figures"
    out.mkdir(parents=True, exist_ok=True)
    pd.set_option("display.width", 160)
    return out
