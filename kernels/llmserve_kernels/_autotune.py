"""Autotune configs that also work under Triton's CPU interpreter.

`@triton.autotune` with several configs benchmarks each one, which needs a GPU driver; under
`TRITON_INTERPRET=1` that fails. `autotune_configs` therefore returns the single interpreter
config there, and the full list on a GPU. Triton reads `TRITON_INTERPRET` when it is imported,
so this module reads it once at import too.
"""

from __future__ import annotations

import os

import triton

INTERPRETING: bool = os.environ.get("TRITON_INTERPRET", "0") == "1"


def autotune_configs(
    gpu_configs: list[triton.Config], interpreter_config: triton.Config
) -> list[triton.Config]:
    """The configs to hand `triton.autotune`: `gpu_configs`, or `[interpreter_config]` when
    running under `TRITON_INTERPRET=1` (where benchmarking several configs fails)."""
    return [interpreter_config] if INTERPRETING else list(gpu_configs)


def config(num_warps: int = 4, num_stages: int = 2, **meta: int) -> triton.Config:
    """`triton.Config(meta, num_warps=..., num_stages=...)`, spelled shorter."""
    return triton.Config(dict(meta), num_warps=num_warps, num_stages=num_stages)
