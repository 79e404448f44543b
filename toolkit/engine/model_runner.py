"""The model runner: KV-cache tensors, step inputs, the forward pass and sampling.

It owns every tensor of the engine. A decode-only step on a CUDA device replays a captured
CUDA graph when one fits the batch (see `cuda_graph`); everything else runs eagerly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from toolkit.engine.attention import AttentionMetadata
from toolkit.engine.model import LlamaForCausalLM
from toolkit.engine.sampling import sample
from toolkit.engine.scheduler import StepPlan
from toolkit.engine.verify import verify_greedy, verify_sampled


@dataclass(slots=True)
class StepInputs:
    """Flattened inputs of one step and the rows whose logits are sampled."""

    input_ids: torch.Tensor
    positions: torch.Tensor
    meta: AttentionMetadata
    logits_indices: torch.Tensor


class ModelRunner:
    """Runs steps of one model over a paged KV cache of `num_blocks` blocks."""

    def __init__(self, model: LlamaForCausalLM, num_blocks: int, block_size: int,
                 max_model_len: int, use_cuda_graphs: bool = False,
                 graph_batch_sizes: tuple[int, ...] = ()) -> None:
        self.model = model
        self.block_size = block_size
        self.num_blocks = num_blocks
        self.max_blocks_per_seq = -(-max_model_len // block_size)
        param = next(model.parameters())
        self.device, self.dtype = param.device, param.dtype
        self.kv_cache = self._allocate_kv_cache(num_blocks)
        self.graphs = None
        if use_cuda_graphs and self.device.type == "cuda":
            from toolkit.engine.cuda_graph import DecodeGraphs

            self.graphs = DecodeGraphs.try_capture(self, graph_batch_sizes)

    @staticmethod
    def kv_bytes_per_block(model: LlamaForCausalLM, block_size: int, dtype: torch.dtype) -> int:
        """Bytes one KV block takes across all layers (K and V)."""
        cfg = model.config
        per_token = 2 * cfg.num_hidden_layers * cfg.num_key_value_heads * cfg.head_dim
        return per_token * block_size * torch.tensor([], dtype=dtype).element_size()

    def _allocate_kv_cache(self, num_blocks: int) -> torch.Tensor:
        """[layers, 2, num_blocks, block_size, Hkv, D], bound to each attention layer."""
        cfg = self.model.config
        cache = torch.zeros(cfg.num_hidden_layers, 2, num_blocks, self.block_size,
                            cfg.num_key_value_heads, cfg.head_dim, dtype=self.dtype,
                            device=self.device)
        for i, attn in enumerate(self.model.attention_layers()):
            attn.k_cache, attn.v_cache = cache[i, 0], cache[i, 1]
        return cache

    @torch.inference_mode()
    def run(self, plan: StepPlan) -> list[list[int]]:
        """Run one step; return the new tokens of each `plan.sampled()` sequence (one, or
        after a verify step the accepted drafts and the target's next token)."""
        sampled = plan.sampled()
        inputs = self.prepare(plan)
        plain_decode = not plan.prefill and not plan.drafts
        logits = self.forward_logits(inputs, decode_batch=len(plan.decode) if plain_decode
                                     else 0)
        if not sampled:
            return []
        if not plan.drafts:
            tokens = sample(logits, [s.params for s in sampled], [s.generator for s in sampled])
            return [[t] for t in tokens]
        return self._verify(logits, plan, sampled)

    def _verify(self, logits: torch.Tensor, plan: StepPlan, sampled: list) -> list[list[int]]:
        n_prefill = len(sampled) - len(plan.decode)
        drafts = [None] * n_prefill + list(plan.drafts)
        out, row = [], 0
        for seq, draft in zip(sampled, drafts):
            n = 1 + (len(draft) if draft is not None else 0)
            rows = logits[row:row + n]
            row += n
            if draft is None:
                out.append(sample(rows, [seq.params], [seq.generator]))
            elif seq.params.greedy:
                out.append(verify_greedy(rows, draft.tokens))
            else:
                out.append(verify_sampled(rows, draft.tokens, draft.laws, seq.params,
                                          seq.generator))
        return out

    def forward_logits(self, inputs: StepInputs, decode_batch: int = 0) -> torch.Tensor:
        """Logits of the sampled rows, through a CUDA graph when one fits a decode batch."""
        if decode_batch and self.graphs is not None and self.graphs.fits(decode_batch):
            hidden = self.graphs.replay(inputs)
        else:
            hidden = self.model(inputs.input_ids, inputs.positions, inputs.meta)
        return self.model.compute_logits(hidden[inputs.logits_indices])

    def prepare(self, plan: StepPlan) -> StepInputs:
        """Flatten the plan: prefill chunks first, then per decode its last token and any
        draft tokens (every row of a verified sequence is sampled)."""
        items = [(s, s.num_prefilled, s.token_ids[s.num_prefilled:s.num_prefilled + n],
                  s.num_prefilled + n == s.prefill_len, False) for s, n in plan.prefill]
        drafts = plan.drafts or [None] * len(plan.decode)
        items += [(s, s.num_tokens - 1, s.token_ids[-1:] + list(d.tokens if d else ()), True,
                   d is not None) for s, d in zip(plan.decode, drafts)]
        ids: list[int] = []
        positions: list[int] = []
        slots: list[int] = []
        cu, seq_lens, tables, logits_rows = [0], [], [], []
        bs = self.block_size
        for seq, start, new_ids, is_sampled, all_rows in items:
            n = len(new_ids)
            ids += new_ids
            table = seq.block_table
            for pos in range(start, start + n):
                positions.append(pos)
                slots.append(table[pos // bs] * bs + pos % bs)
            cu.append(cu[-1] + n)
            seq_lens.append(start + n)
            tables.append(table)
            if all_rows:
                logits_rows += range(cu[-2], cu[-1])
            elif is_sampled:
                logits_rows.append(cu[-1] - 1)
        return self._to_inputs(ids, positions, slots, cu, seq_lens, tables, logits_rows,
                               is_decode=not plan.prefill and not plan.drafts)

    def _to_inputs(self, ids: list[int], positions: list[int], slots: list[int], cu: list[int],
                   seq_lens: list[int], tables: list[list[int]], logits_rows: list[int],
                   is_decode: bool) -> StepInputs:
        width = max(len(t) for t in tables)
        padded = [t + [0] * (width - len(t)) for t in tables]

        def tensor(data: list, dtype: torch.dtype) -> torch.Tensor:
            return torch.tensor(data, dtype=dtype, device=self.device)

        meta = AttentionMetadata(
            slot_mapping=tensor(slots, torch.int64), block_tables=tensor(padded, torch.int32),
            seq_lens=tensor(seq_lens, torch.int32),
            cu_q_lens=None if is_decode else tensor(cu, torch.int32), is_decode=is_decode,
            max_q_len=max(b - a for a, b in zip(cu, cu[1:])))
        return StepInputs(tensor(ids, torch.int64), tensor(positions, torch.int64), meta,
                          tensor(logits_rows, torch.int64))
