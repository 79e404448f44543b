"""What `generate` and `LLMEngine.step` return (shaped like vLLM's outputs)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class CompletionOutput:
    """One completion of a request. `text` is filled when the request finishes or pauses.

    `finish_reason` is "stop", "length", "abort", "pause" (the request paused for a tool:
    resume it with `LLMEngine.resume`), or None while it runs. With pauses, `token_ids` are
    the current segment's tokens (those since the last resume). With speculative decoding,
    `num_draft_tokens`, `num_accepted_tokens` and `num_verify_steps` count this completion's
    verify steps (per sample, also when a prompt has `n > 1`).
    """

    index: int
    text: str
    token_ids: list[int]
    finish_reason: str | None = None
    num_draft_tokens: int = 0
    num_accepted_tokens: int = 0
    num_verify_steps: int = 0


@dataclass(slots=True)
class RequestOutput:
    """A request's state after a step (or at the end of `generate`).

    `paused`: the request waits for a tool (not finished). After a resume
    `prompt_token_ids` is the whole context the current segment continues (the prompt,
    generated and tool tokens so far) and `num_cached_tokens` the part of it that was not
    recomputed; `num_pauses` counts the pauses so far.
    """

    request_id: str
    prompt: str | None
    prompt_token_ids: list[int]
    outputs: list[CompletionOutput] = field(default_factory=list)
    finished: bool = False
    num_cached_tokens: int = 0
    num_preemptions: int = 0
    paused: bool = False
    num_pauses: int = 0
