"""The tiny test model: a random Llama plus a small byte-level BPE tokenizer, built offline.

Tests, examples and the vLLM comparison share it. Everything is deterministic in `seed`:
the training corpus is generated in code, the tokenizer is trained by `tokenizers`, and the
model is a seeded random `transformers.LlamaForCausalLM` saved as float32 safetensors.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

DEFAULT_DIR = Path(__file__).resolve().parents[2] / ".cache" / "tiny-llama"
"""Where `build_tiny_model` puts the model by default (`.cache/tiny-llama` in the repo)."""

VOCAB_SIZE = 768
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>"]
MODEL_CONFIG = dict(  # head_dim 32: the smallest vLLM's CPU attention backend accepts
    hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=2, max_position_embeddings=2048, rms_norm_eps=1e-5,
    rope_theta=10000.0, tie_word_embeddings=False, hidden_act="silu",
)
_DONE = "tiny_model.json"  # written last: its presence means the folder is complete

_VOCABULARY = (
    "the a an of to in on for with by from model token cache prefix request batch engine "
    "schedule decode prefill block page memory tensor kernel attention layer query key value "
    "router server client latency throughput queue time second fast slow small large tiny "
    "prompt answer question tool call pause resume swap draft verify accept reject tree "
    "radix hash chunk step loop graph device host copy gather scatter store load read write "
    "red green blue cat dog bird fish tree river mountain city road house light dark day "
    "night one two three four five six seven eight nine ten hello world python code test"
)
_WORDS = _VOCABULARY.split()


def corpus(num_lines: int = 2000, seed: int = 0) -> list[str]:
    """Deterministic pseudo-English lines (words, numbers, punctuation) to train on."""
    rng = random.Random(seed)
    lines = []
    for _ in range(num_lines):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(4, 16))]
        if rng.random() < 0.3:
            words.insert(rng.randrange(len(words)), str(rng.randint(0, 9999)))
        punct = rng.choice([".", "!", "?", ",", ":", ";"])
        line = " ".join(words) + punct
        lines.append(line.capitalize() if rng.random() < 0.5 else line)
    return lines


def build_tokenizer(out_dir: Path, seed: int = 0):
    """Train a byte-level BPE tokenizer and save it as a `PreTrainedTokenizerFast`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE, special_tokens=SPECIAL_TOKENS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus(seed=seed), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        model_max_length=MODEL_CONFIG["max_position_embeddings"],
    )
    fast.save_pretrained(str(out_dir))
    return fast


def build_model(out_dir: Path, vocab_size: int, bos_id: int, eos_id: int, seed: int = 0) -> None:
    """Save a seeded random float32 `LlamaForCausalLM` with its generation config."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=vocab_size, bos_token_id=bos_id, eos_token_id=eos_id,
                         torch_dtype="float32", **MODEL_CONFIG)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(torch.float32).eval()
    with torch.no_grad():  # a wider init than HF's 0.02 so logits are not all near-equal
        for name, param in model.named_parameters():
            if "norm" not in name:
                param.normal_(0.0, 0.1)
    model.generation_config = GenerationConfig(bos_token_id=bos_id, eos_token_id=eos_id,
                                               do_sample=False)
    model.save_pretrained(str(out_dir), safe_serialization=True)
    _add_legacy_keys(out_dir / "config.json")


def _add_legacy_keys(path: Path) -> None:
    """Also write the pre-5.0 spellings (`torch_dtype`, `rope_theta`) for older readers
    such as vLLM pinned to transformers 4.x."""
    config = json.loads(path.read_text())
    config.setdefault("torch_dtype", "float32")
    config.setdefault("rope_theta", MODEL_CONFIG["rope_theta"])
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def build_tiny_model(out_dir: str | Path | None = None, seed: int = 0) -> Path:
    """Build the tiny model folder and return it. Idempotent: a complete folder built from
    the same seed and recipe is kept; an incomplete or stale one is rebuilt."""
    out = Path(out_dir) if out_dir is not None else DEFAULT_DIR
    stamp = {"seed": seed, "vocab_size": VOCAB_SIZE, "model_config": MODEL_CONFIG}
    done = out / _DONE
    if done.exists() and json.loads(done.read_text()) == stamp:
        return out
    out.mkdir(parents=True, exist_ok=True)
    done.unlink(missing_ok=True)
    fast = build_tokenizer(out, seed=seed)
    build_model(out, len(fast), fast.bos_token_id, fast.eos_token_id, seed=seed)
    done.write_text(json.dumps(stamp) + "\n")
    return out
