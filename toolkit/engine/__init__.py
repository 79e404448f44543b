"""The toolkit's real inference engine (nano-vllm's four roles: engine loop, scheduler, block
manager, model runner), running the same schedulers and prefix cache as the simulator.

`LLM`, `SamplingParams` and `LLMEngine` are imported lazily, so `import toolkit.engine` does
not import torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LLM", "LLMEngine", "EngineConfig", "SamplingParams", "RequestOutput",
           "CompletionOutput", "build_tiny_model"]

_WHERE = {
    "LLM": "toolkit.engine.llm", "LLMEngine": "toolkit.engine.engine",
    "EngineConfig": "toolkit.engine.config", "SamplingParams": "toolkit.engine.sampling",
    "RequestOutput": "toolkit.engine.outputs", "CompletionOutput": "toolkit.engine.outputs",
    "build_tiny_model": "toolkit.engine.tiny",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_WHERE[name]), name)
