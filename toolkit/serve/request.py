"""Request-side helpers of the engine's server: validating a completion request into engine
jobs, and the per-request `Stream` that gathers the engine thread's events into choices,
streamed text pieces and usage."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any, NamedTuple

from toolkit.engine.sampling import SamplingParams
from toolkit.http.protocol import (
    CompletionChoice,
    CompletionRequest,
    CompletionUsage,
    parse_completion_request,
)
from toolkit.serve.async_engine import EngineEvent

MAX_CHOICES = 1024
"""Most choices (prompts times `n`) one request may ask for."""

_UNSUPPORTED = {  # field: (values that mean "off", reason)
    "logprobs": ((None, 0, False), "logprobs are not supported"),
    "echo": ((None, False), "echo is not supported"),
    "suffix": ((None, ""), "suffix is not supported"),
    "best_of": ((None, 1), "best_of > 1 is not supported"),
    "stop": ((None, "", []), "stop strings are not supported; use stop_token_ids"),
}


class Job(NamedTuple):
    """One engine request: a choice of the HTTP request (`pause_after`: its segments;
    `problem`: its key for speculation, shared by the choices of one prompt)."""

    prompt_ids: list[int]
    params: SamplingParams
    pause_after: tuple[int, ...] = ()
    problem: Any = None


def prepare_jobs(body: Any, tokenizer: Any, max_model_len: int, vocab_size: int
                 ) -> tuple[CompletionRequest, list[Job]]:
    """Validate `body` and turn it into one job per prompt and `n` (choice `i * n + j`);
    raise ValueError with a reason a client can act on."""
    req = parse_completion_request(body)
    extra = req.model_extra or {}
    for name, (off, reason) in _UNSUPPORTED.items():
        if extra.get(name) not in off:
            raise ValueError(f"{name}: {reason}")
    prompts = req.prompts()
    if len(prompts) * req.n > MAX_CHOICES:
        raise ValueError(f"n: {len(prompts)} prompts times n={req.n} exceeds {MAX_CHOICES} choices")
    params = _sampling_params(req, extra)
    pause_after = _pause_after(extra.get("pause_after"), len(prompts) * req.n)
    problem = _problem(extra.get("problem"))
    jobs = []
    for i, prompt in enumerate(prompts):
        where = f"prompt[{i}]" if len(prompts) > 1 else "prompt"
        ids = _prompt_ids(prompt, tokenizer, vocab_size, max_model_len, where)
        key = (problem, i) if problem is not None and len(prompts) > 1 else problem
        jobs.extend(Job(ids, p, pause_after, key if key is not None else tuple(ids))
                    for p in params)
    return req, jobs


def _problem(value: Any) -> Any:
    """The `problem` extension: the key (a string or an integer) a drafter groups this
    request's samples under across requests (default: the prompt's tokens)."""
    if value is None or (isinstance(value, (str, int)) and not isinstance(value, bool)):
        return value
    raise ValueError("problem: must be a string or an integer")


def _pause_after(value: Any, num_choices: int) -> tuple[int, ...]:
    """The `pause_after` extension: positive segment lengths, for a single choice only."""
    if value is None or value == []:
        return ()
    if not isinstance(value, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in value):
        raise ValueError("pause_after: must be a list of positive integers")
    if num_choices != 1:
        raise ValueError("pause_after: needs a single prompt and n=1")
    return tuple(value)


def tool_token_ids(ids: list[int] | None, text: str | None, tokenizer: Any,
                   vocab_size: int) -> list[int]:
    """A `/v1/resume` body's tool output as token ids (text without special tokens)."""
    if ids is None:
        if tokenizer is None:
            raise ValueError("text: the model folder has no tokenizer; send prompt_token_ids")
        return [int(t) for t in tokenizer.encode(text, add_special_tokens=False)]
    bad = next((t for t in ids if not 0 <= t < vocab_size), None)
    if bad is not None:
        raise ValueError(f"prompt_token_ids: token id {bad} is outside the vocabulary "
                         f"[0, {vocab_size})")
    return list(ids)


def _sampling_params(req: CompletionRequest, extra: dict[str, Any]) -> list[SamplingParams]:
    """`n` sampling parameters (with an explicit seed, choice j samples with seed + j)."""
    if req.max_tokens < 1:
        raise ValueError("max_tokens: must be at least 1")
    top_k = extra.get("top_k", -1)
    if top_k is None:
        top_k = -1
    stop_ids = extra.get("stop_token_ids") or []
    skip = extra.get("skip_special_tokens", True)
    if not isinstance(top_k, int) or isinstance(top_k, bool):
        raise ValueError("top_k: must be an integer (-1: off)")
    if not isinstance(stop_ids, list) or not all(isinstance(t, int) for t in stop_ids):
        raise ValueError("stop_token_ids: must be a list of integers")
    if not isinstance(skip, bool):
        raise ValueError("skip_special_tokens: must be a boolean")
    out = []
    for j in range(req.n):
        seed = None if req.seed is None else req.seed + j
        try:
            out.append(SamplingParams(temperature=req.temperature, top_p=req.top_p, top_k=top_k,
                                      max_tokens=req.max_tokens, seed=seed,
                                      stop_token_ids=list(stop_ids), ignore_eos=req.ignore_eos,
                                      skip_special_tokens=skip))
        except ValueError as exc:
            raise ValueError(f"sampling parameters: {exc}") from None
    return out


def _prompt_ids(prompt: str | list[int], tokenizer: Any, vocab_size: int, max_model_len: int,
                where: str) -> list[int]:
    if isinstance(prompt, str):
        if tokenizer is None:
            raise ValueError(f"{where}: text prompts need a tokenizer and the model folder has "
                             "none; send token ids")
        ids = [int(t) for t in tokenizer.encode(prompt)]
    else:
        ids = list(prompt)
        bad = next((t for t in ids if not 0 <= t < vocab_size), None)
        if bad is not None:
            raise ValueError(f"{where}: token id {bad} is outside the vocabulary [0, {vocab_size})")
    if not ids:
        raise ValueError(f"{where}: must not be empty")
    if len(ids) >= max_model_len:
        raise ValueError(f"{where}: {len(ids)} tokens, but the model's max length is "
                         f"{max_model_len} (the prompt and one output token must fit)")
    return ids


class IncrementalDetokenizer:
    """Text pieces of a growing token list: a piece is released once it decodes to complete
    characters (decoding from an earlier offset keeps word-boundary spaces right)."""

    def __init__(self, tokenizer: Any, skip_special_tokens: bool = True) -> None:
        self.tokenizer = tokenizer
        self.skip = skip_special_tokens
        self.ids: list[int] = []
        self.prefix_offset = 0
        self.read_offset = 0
        self.emitted = ""

    def push(self, token_ids: list[int]) -> str:
        """Add tokens; return the text they complete (may be empty)."""
        self.ids.extend(token_ids)
        if self.tokenizer is None:
            return ""
        decode = self.tokenizer.decode
        prefix = decode(self.ids[self.prefix_offset:self.read_offset],
                        skip_special_tokens=self.skip)
        full = decode(self.ids[self.prefix_offset:], skip_special_tokens=self.skip)
        if len(full) <= len(prefix) or full.endswith("\ufffd"):
            return ""
        piece = full[len(prefix):]
        self.prefix_offset, self.read_offset = self.read_offset, len(self.ids)
        self.emitted += piece
        return piece

    def finish(self, text: str) -> str:
        """The rest of the final `text` not released yet."""
        rest = text[len(self.emitted):] if text.startswith(self.emitted) else ""
        self.emitted += rest
        return rest


class Stream:
    """One HTTP request's sub-requests: their queue of `EngineEvent`s and what they made."""

    def __init__(self, stream_id: str, model: str, jobs: list[Job], tokenizer: Any,
                 incremental: bool = True, pausable: bool = False) -> None:
        self.id = stream_id
        self.pausable = pausable
        self.model = model
        self.jobs = jobs
        self.created = int(time.time())
        self.queue: asyncio.Queue = asyncio.Queue()
        self.incremental = incremental
        n = len(jobs)
        self._early: deque[EngineEvent] = deque()
        self._finished: set[int] = set()
        self.token_ids: list[list[int]] = [[] for _ in range(n)]
        self.texts = [""] * n
        self.finish_reasons: list[str | None] = [None] * n
        self.cached_tokens = [0] * n
        self.prompt_tokens = [len(j.prompt_ids) for j in jobs]
        self._detok = [IncrementalDetokenizer(tokenizer, j.params.skip_special_tokens)
                       for j in jobs]

    def request_id(self, index: int) -> str:
        """The engine request id of choice `index` (unique: the stream id is a UUID); a
        pausable stream has one choice whose request id is the stream id."""
        return self.id if self.pausable else f"{self.id}-{index}"

    @property
    def done(self) -> bool:
        return len(self._finished) == len(self.jobs)

    def unfinished(self) -> list[int]:
        return [i for i in range(len(self.jobs)) if i not in self._finished]

    def mark_all_done(self) -> None:
        self._finished.update(range(len(self.jobs)))

    async def wait_accepted(self) -> EngineEvent | None:
        """Wait until every sub-request is accepted (None) or one is refused (its event);
        token events that arrive meanwhile are kept for `next_event`."""
        accepted: set[int] = set()
        while len(accepted) < len(self.jobs):
            event = await self.queue.get()
            if event is None:
                continue
            if event.kind == "accepted":
                accepted.add(event.index)
            elif event.kind in ("rejected", "failed"):
                self._finished.add(event.index)
                return event
            else:
                self._early.append(event)
        return None

    async def next_event(self) -> EngineEvent | None:
        """The next event (None: the client disconnected)."""
        if self._early:
            return self._early.popleft()
        return await self.queue.get()

    def apply(self, event: EngineEvent) -> str:
        """Record a 'tokens' event; return its new text (streaming) or ''."""
        i = event.index
        self.token_ids[i].extend(event.token_ids)
        piece = self._detok[i].push(event.token_ids) if self.incremental else ""
        if event.finished:
            self._finished.add(i)
            self.finish_reasons[i] = event.finish_reason
            self.texts[i] = event.text
            self.cached_tokens[i] = event.num_cached_tokens
            self.prompt_tokens[i] = event.num_prompt_tokens or self.prompt_tokens[i]
            if self.incremental:
                piece += self._detok[i].finish(event.text)
        return piece

    def choices(self) -> list[CompletionChoice]:
        """The whole choices, in index order."""
        return [CompletionChoice(index=i, text=self.texts[i], token_ids=self.token_ids[i],
                                 finish_reason=self.finish_reasons[i])  # type: ignore[arg-type]
                for i in range(len(self.jobs))]

    def usage(self) -> CompletionUsage:
        """Token counts over all choices (each choice counts its prompt, as OpenAI does;
        after a resume the prompt is the whole context)."""
        prompt = sum(self.prompt_tokens)
        completion = sum(len(t) for t in self.token_ids)
        return CompletionUsage.of(prompt, completion, sum(self.cached_tokens))
