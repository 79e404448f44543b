"""What `generate` and `LLMEngine.step` return (shaped like vLLM's outputs)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class CompletionOutput:
    """One completion of a request. `text` is filled when the request finishes."""

    index: int
    text: str
    token_ids: list[int]
    finish_reason: str | None = None  # "stop", "length", "abort", or None while running


@dataclass(slots=True)
class RequestOutput:
    """A request's state after a step (or at the end of `generate`)."""

    request_id: str
    prompt: str | None
    prompt_token_ids: list[int]
    outputs: list[CompletionOutput] = field(default_factory=list)
    finished: bool = False
    num_cached_tokens: int = 0
    num_preemptions: int = 0
