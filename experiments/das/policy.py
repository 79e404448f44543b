"""The tiny policy: a Llama-shaped model built and warmed up here on the task (supervised,
teacher-forced on correct solutions), saved as a Hugging Face folder the engine loads.

The warm-up stops early on purpose (`sft_steps`): the policy solves short problems and
errs on long ones, so the RL steps that follow have something to learn. Training runs on
the CPU with one thread, so the same config gives the same weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from experiments.das.task import BOS, EOS, PAD, TaskConfig, random_problem

DONE = "policy.done.json"


@dataclass(frozen=True)
class PolicyConfig:
    """Model shape and warm-up recipe."""

    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    intermediate_size: int = 192
    sft_steps: int = 400
    sft_batch: int = 32
    lr: float = 3e-3
    seed: int = 0

    def hf_config(self, task: TaskConfig):
        from transformers import LlamaConfig

        return LlamaConfig(
            vocab_size=task.vocab_size, hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size, num_hidden_layers=self.num_layers,
            num_attention_heads=self.num_heads, num_key_value_heads=self.num_heads,
            head_dim=self.hidden_size // self.num_heads,
            max_position_embeddings=-(-(2 * task.max_n + 3 + task.max_solution_len) // 64) * 64,
            bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD, tie_word_embeddings=False,
            rope_theta=10000.0, torch_dtype="float32")


def sft_batch(rng: random.Random, task: TaskConfig, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input ids, labels) of `size` random problems, half with uniform sizes so long ones
    are seen too; labels are -100 on the prompt and padding."""
    rows, labels = [], []
    for i in range(size):
        n = rng.randint(task.min_n, task.max_n) if i % 2 else None
        p = random_problem(rng, task, n)
        prompt, sol = p.prompt(), p.solution()
        rows.append(prompt + sol)
        labels.append([-100] * len(prompt) + sol)
    width = max(map(len, rows))
    ids = torch.tensor([r + [PAD] * (width - len(r)) for r in rows])
    lab = torch.tensor([r + [-100] * (width - len(r)) for r in labels])
    return ids, lab


def train_sft(task: TaskConfig, cfg: PolicyConfig, progress: bool = True):
    """A warmed-up `transformers.LlamaForCausalLM` (float32, CPU)."""
    from transformers import LlamaForCausalLM

    torch.manual_seed(cfg.seed)
    model = LlamaForCausalLM(cfg.hf_config(task)).float()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    rng = random.Random(cfg.seed)
    model.train()
    for _ in tqdm(range(cfg.sft_steps), desc="policy warm-up", disable=not progress):
        ids, lab = sft_batch(rng, task, cfg.sft_batch)
        loss = model(input_ids=ids, labels=lab).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def policy_dir(root: str | Path, task: TaskConfig, cfg: PolicyConfig) -> Path:
    """Where the warmed-up policy of this (task, policy) config is cached (the problem set
    itself, `num_problems` and the task's seed, does not change the warm-up)."""
    stamp = json.dumps({"task": sft_task(task), "policy": asdict(cfg)}, sort_keys=True)
    return Path(root) / hashlib.sha256(stamp.encode()).hexdigest()[:16]


def sft_task(task: TaskConfig) -> dict:
    """The task settings the warm-up depends on."""
    return {k: v for k, v in asdict(task).items() if k not in ("num_problems", "seed")}


def ensure_policy(root: str | Path, task: TaskConfig, cfg: PolicyConfig,
                  progress: bool = True) -> Path:
    """Build (once) and return the policy folder: config.json and model.safetensors."""
    out = policy_dir(root, task, cfg)
    done = out / DONE
    if done.exists():
        return out
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = train_sft(task, cfg, progress)
    finally:
        torch.set_num_threads(threads)
    publish(out, lambda tmp: (
        model.save_pretrained(str(tmp), safe_serialization=True),
        (tmp / DONE).write_text(json.dumps({"task": sft_task(task), "policy": asdict(cfg)},
                                           indent=1) + "\n")))
    return out


def publish(out: Path, write) -> None:
    """`write(tmp)` into a fresh folder beside `out`, then rename it to `out` (a process
    that builds the same thing at the same time loses the race harmlessly)."""
    tmp = out.with_name(f"{out.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    write(tmp)
    try:
        tmp.rename(out)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not out.exists():
            raise
