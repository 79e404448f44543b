"""Tensor parallelism as a run-time knob (Nitsum), on the engine's own model.

Every rank keeps one full copy of the weights and runs any TP level through views of it
(`shard`); its paged KV cache holds only its KV heads, re-split between steps when the level
changes, through a block gather into one contiguous buffer and point-to-point sends (`kv`).
Rank processes, a leader per instance and a thin client make `TPEngine` (`engine`):

    with TPEngine(model_dir, world_size=2, tp=1, num_kv_blocks=64) as eng:
        out = eng.generate(prompts, max_tokens=32, switch_at={8: 2})

This is a focused engine, not `LLMEngine` with a TP switch: its leader reuses the engine's
scheduler (continuous batching, chunked prefill, preemption), paged KV manager and
sampler, and leaves out pauses, swapping, speculation and the HTTP server.
`TPEngine` is imported lazily, so `import toolkit.engine.tp` does not import torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TPEngine", "GenerateResult", "MigrationStats", "StepOutput", "SwitchStats"]

_WHERE = {"TPEngine": "toolkit.engine.tp.engine", "GenerateResult": "toolkit.engine.tp.results",
          "MigrationStats": "toolkit.engine.tp.results", "StepOutput": "toolkit.engine.tp.results",
          "SwitchStats": "toolkit.engine.tp.results"}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_WHERE[name]), name)
