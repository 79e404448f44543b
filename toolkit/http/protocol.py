"""Pydantic models of the OpenAI `/v1/completions` API, as the toolkit's servers speak it.

A prompt is a string, a list of token ids, or a list of either (a batch). Besides OpenAI's
fields a request may set `ignore_eos` (vLLM's extension). A response's `usage` reports, like
OpenAI's, `prompt_tokens_details.cached_tokens`: the prompt tokens the prefix cache hit.
Errors have OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.

Pauses (the toolkit's extension, InferCept): a completion request with `pause_after` (a
list of segment output lengths) ends each segment with `finish_reason: "pause"`; its
response `id` is the request id that `POST /v1/resume` (`ResumeRequest`) continues.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError


class CompletionRequest(BaseModel):
    """The body of `POST /v1/completions` (unknown fields are kept and passed on)."""

    model_config = ConfigDict(extra="allow")

    model: str | None = None
    prompt: StrictStr | list[StrictInt] | list[StrictStr] | list[list[StrictInt]]
    max_tokens: StrictInt = Field(16, ge=0)
    temperature: float = Field(1.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: StrictInt | None = None
    ignore_eos: bool = False
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    n: StrictInt = Field(1, ge=1)

    def prompts(self) -> list[str | list[int]]:
        """The prompts of the request as a batch (one element for a single prompt)."""
        p = self.prompt
        if isinstance(p, str):
            return [p]
        if not p:
            return [[]]
        if isinstance(p[0], int):
            return [list(p)]  # type: ignore[arg-type]
        return list(p)  # type: ignore[arg-type]

    def include_usage(self) -> bool:
        """Whether a streamed response should end with a usage chunk."""
        return bool(self.stream_options and self.stream_options.get("include_usage"))


class ResumeRequest(BaseModel):
    """The body of `POST /v1/resume`: a paused request's id and its tool's output, as token
    ids (`prompt_token_ids`) or `text` (tokenized without special tokens); the continuation
    is answered like a completion (`stream`, `stream_options` as there)."""

    model_config = ConfigDict(extra="forbid")

    request_id: StrictStr
    prompt_token_ids: list[StrictInt] | None = None
    text: StrictStr | None = None
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    skip_special_tokens: bool = True

    def include_usage(self) -> bool:
        """Whether a streamed response should end with a usage chunk."""
        return bool(self.stream_options and self.stream_options.get("include_usage"))


def parse_resume_request(body: Any) -> ResumeRequest:
    """Validate a decoded `/v1/resume` body; raise ValueError with a readable reason."""
    if not isinstance(body, dict):
        raise ValueError("the request body must be a JSON object")
    try:
        req = ResumeRequest.model_validate(body)
    except ValidationError as e:
        raise ValueError(describe_validation_error(e)) from None
    if (req.prompt_token_ids is None) == (req.text is None):
        raise ValueError("give the tool's output as exactly one of prompt_token_ids or text")
    return req


class PromptTokensDetails(BaseModel):
    """Breakdown of the prompt tokens; `cached_tokens` were served by the prefix cache."""

    cached_tokens: int = 0


class CompletionUsage(BaseModel):
    """Token counts of a completion."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails | None = None

    @classmethod
    def of(cls, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0
           ) -> CompletionUsage:
        """Usage with the total and the cached-token detail filled in."""
        return cls(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                   total_tokens=prompt_tokens + completion_tokens,
                   prompt_tokens_details=PromptTokensDetails(cached_tokens=cached_tokens))


class CompletionChoice(BaseModel):
    """One generated text (a whole one, or a streamed piece of it)."""

    index: int = 0
    text: str = ""
    logprobs: Any | None = None
    finish_reason: Literal["stop", "length", "abort", "pause"] | None = None
    token_ids: list[int] | None = None  # extension: the ids behind `text`


class CompletionResponse(BaseModel):
    """A non-streamed completion, or (`object='text_completion'` too) one streamed chunk."""

    id: str = Field(default_factory=lambda: f"cmpl-{uuid.uuid4().hex}")
    object: Literal["text_completion"] = "text_completion"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str = ""
    choices: list[CompletionChoice] = Field(default_factory=list)
    usage: CompletionUsage | None = None


class ModelCard(BaseModel):
    """One entry of `GET /v1/models`."""

    id: str
    object: Literal["model"] = "model"
    created: int = Field(default_factory=lambda: int(time.time()))
    owned_by: str = "toolkit"


class ModelList(BaseModel):
    """The body of `GET /v1/models`."""

    object: Literal["list"] = "list"
    data: list[ModelCard] = Field(default_factory=list)


def error_body(message: str, err_type: str = "invalid_request_error",
               param: str | None = None, code: int | None = None) -> dict[str, Any]:
    """An OpenAI-style error object."""
    return {"error": {"message": message, "type": err_type, "param": param, "code": code}}


def describe_validation_error(exc: ValidationError) -> str:
    """A one-line reason naming each offending field, for a 400 response."""
    parts = []
    for e in exc.errors():
        loc = ".".join(str(x) for x in e.get("loc", ())) or "body"
        parts.append(f"{loc}: {e.get('msg', 'invalid')}")
    return "; ".join(parts[:8])


def parse_completion_request(body: Any) -> CompletionRequest:
    """Validate a decoded JSON body; raise ValueError with a readable reason if it is bad."""
    if not isinstance(body, dict):
        raise ValueError("the request body must be a JSON object")
    if "prompt" not in body:
        raise ValueError("prompt: field required")
    try:
        req = CompletionRequest.model_validate(body)
    except ValidationError as e:
        raise ValueError(describe_validation_error(e)) from None
    if any(len(p) == 0 for p in req.prompts()):
        raise ValueError("prompt: must not be empty")
    return req


def usage_counts(usage: Any) -> tuple[int, int]:
    """(completion_tokens, cached_tokens) of an OpenAI `usage` object (0 when absent)."""
    if not isinstance(usage, dict):
        return 0, 0
    details = usage.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens", 0) if isinstance(details, dict) else 0
    return int(usage.get("completion_tokens") or 0), int(cached or 0)


def sse_info(line: str) -> tuple[bool, Any, str | None]:
    """(carries generated text, its `usage` or None, its error message or None) of one
    server-sent-events line of a streamed completion."""
    if not line.startswith("data:"):
        return False, None, None
    payload = line[5:].strip()
    if not payload or payload == "[DONE]":
        return False, None, None
    try:
        obj = json.loads(payload)
    except ValueError:
        return False, None, None
    if not isinstance(obj, dict):
        return False, None, None
    if "error" in obj:
        err = obj["error"]
        return False, None, str(err.get("message", err) if isinstance(err, dict) else err)
    has_text = any(isinstance(c, dict) and (c.get("text") or c.get("token_ids"))
                   for c in obj.get("choices") or [])
    return has_text, obj.get("usage"), None
