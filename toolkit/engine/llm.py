"""The offline API, shaped like vLLM's: `LLM(model=...).generate(prompts, SamplingParams())`."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import replace
from typing import Any

from toolkit.engine.config import EngineConfig
from toolkit.engine.engine import LLMEngine
from toolkit.engine.outputs import RequestOutput
from toolkit.engine.sampling import SamplingParams

Prompt = str | Sequence[int] | dict


class LLM:
    """An in-process engine for batch generation.

    `model` is a folder holding a Hugging Face Llama checkpoint (`config.json`,
    `*.safetensors`, tokenizer files); other keyword arguments are `EngineConfig` fields
    (`block_size`, `num_kv_blocks`, `chunk_size`, `scheduler`, `device`, `dtype`, `seed`...).
    """

    def __init__(self, model: str | None = None, **kwargs: Any) -> None:
        self.llm_engine = LLMEngine(EngineConfig.from_kwargs(model=model, **kwargs))

    def get_tokenizer(self) -> Any:
        return self.llm_engine.tokenizer

    def generate(
        self, prompts: Prompt | Sequence[Prompt] | None = None,
        sampling_params: SamplingParams | Sequence[SamplingParams] | None = None,
        prompt_token_ids: Sequence[Sequence[int]] | None = None, use_tqdm: bool = False,
        problems: Sequence[Hashable] | None = None,
    ) -> list[RequestOutput]:
        """Generate for each prompt (text, token ids, or `{"prompt": ...}` /
        `{"prompt_token_ids": [...]}`); outputs come back in prompt order, a prompt's
        `SamplingParams.n` samples as its `outputs`.

        `problems`: each prompt's key for speculation (a drafter's per-problem history and a
        budget's length history); default: the prompt itself, so a prompt that comes back in
        a later call shares its history."""
        items = _normalize(prompts, prompt_token_ids)
        if isinstance(sampling_params, Sequence):
            if len(sampling_params) != len(items):
                raise ValueError("one SamplingParams per prompt, or a single one")
            params = list(sampling_params)
        else:
            params = [sampling_params or SamplingParams()] * len(items)
        engine = self.llm_engine
        if problems is not None and len(problems) != len(items):
            raise ValueError(f"problems: {len(problems)} keys for {len(items)} prompts")
        keys = problems or [p if isinstance(p, str) else tuple(p) for p in items]
        groups = [self._add(engine, p, sp, key) for p, sp, key in zip(items, params, keys)]
        ids = [rid for group in groups for rid in group]
        engine.start_speculation_step(ids)
        bar = _progress(len(ids), use_tqdm)
        while engine.has_unfinished():
            for out in engine.step():
                if out.finished and bar is not None:
                    bar.update(1)
        if bar is not None:
            bar.close()
        outputs = [self._merge([engine.output(rid) for rid in group]) for group in groups]
        engine.take_records()  # offline use keeps no history
        return outputs

    @staticmethod
    def _add(engine: LLMEngine, prompt: Any, params: SamplingParams,
             problem: Hashable) -> list[str]:
        """One engine request per sample; the samples of a prompt share its problem key."""
        if params.n == 1:
            return [engine.add_request(prompt, params, problem=problem)]
        seeds = [None if params.seed is None else params.seed + j for j in range(params.n)]
        return [engine.add_request(prompt, replace(params, seed=seed), problem=problem)
                for seed in seeds]

    @staticmethod
    def _merge(outs: list[RequestOutput]) -> RequestOutput:
        """A prompt's samples as one output with `outputs[j]` the j-th completion."""
        first = outs[0]
        if len(outs) > 1:
            first.outputs = [replace(o.outputs[0], index=j) for j, o in enumerate(outs)]
            first.finished = all(o.finished for o in outs)
        return first


def _normalize(prompts: Any, prompt_token_ids: Any) -> list[str | list[int]]:
    if prompt_token_ids is not None:
        return [list(p) for p in prompt_token_ids]
    if prompts is None:
        raise ValueError("generate needs prompts or prompt_token_ids")
    if isinstance(prompts, (str, dict)) or (
            isinstance(prompts, Sequence) and prompts and isinstance(prompts[0], int)):
        prompts = [prompts]
    out: list[str | list[int]] = []
    for p in prompts:
        if isinstance(p, dict):
            p = p["prompt_token_ids"] if "prompt_token_ids" in p else p["prompt"]
        out.append(p if isinstance(p, str) else [int(t) for t in p])
    return out


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="generate", unit="req")
