"""Model shapes and GPU data-sheet numbers that the cost models and capacity rules read.

Every number cites its source. GPU memory is the data sheet's "GB" read as GiB, which matches
what the driver reports to within about 1% (an H100 80GB reports 81,559 MiB); the
`mem_fraction` of `capacity.kv_capacity_tokens` absorbs the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from toolkit.core import ConfigError

GiB = 1 << 30


@dataclass(frozen=True)
class ModelSpec:
    """A decoder-only transformer's shape.

    `gated_mlp` is True for SwiGLU MLPs (three FFN matrices, Llama/Mistral) and False for
    two-matrix GELU MLPs (GPT-J). `tied_embeddings` shares the input embedding and LM head.
    """

    name: str
    num_layers: int
    hidden_size: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    ffn_size: int
    vocab_size: int
    dtype_bytes: int = 2
    gated_mlp: bool = True
    tied_embeddings: bool = False

    @property
    def layer_params(self) -> int:
        """Weights of one decoder layer (attention, MLP, two norms)."""
        q_o = 2 * self.hidden_size * self.num_heads * self.head_dim
        k_v = 2 * self.hidden_size * self.num_kv_heads * self.head_dim
        mlp = (3 if self.gated_mlp else 2) * self.hidden_size * self.ffn_size
        return q_o + k_v + mlp + 2 * self.hidden_size

    @property
    def embedding_params(self) -> int:
        """Input embedding plus LM head (counted once when tied)."""
        return self.vocab_size * self.hidden_size * (1 if self.tied_embeddings else 2)

    @property
    def num_params(self) -> int:
        """All weights: layers, embeddings, LM head, final norm."""
        return self.num_layers * self.layer_params + self.embedding_params + self.hidden_size

    @property
    def weight_bytes(self) -> int:
        """Bytes of all weights at `dtype_bytes` per parameter."""
        return self.num_params * self.dtype_bytes

    @property
    def kv_bytes_per_token(self) -> int:
        """KV-cache bytes of one token over all layers: 2 (K and V) * layers * kv heads * head."""
        return 2 * self.num_layers * self.num_kv_heads * self.head_dim * self.dtype_bytes


@dataclass(frozen=True)
class GpuSpec:
    """One GPU's data-sheet peaks (dense, no sparsity). Bandwidths are per direction."""

    name: str
    memory_bytes: int
    hbm_bytes_per_s: float
    bf16_flops: float
    pcie_bytes_per_s: float
    nvlink_bytes_per_s: float

    @property
    def interconnect_bytes_per_s(self) -> float:
        """GPU-to-GPU bandwidth per direction: NVLink if the GPU has it, else PCIe."""
        return self.nvlink_bytes_per_s if self.nvlink_bytes_per_s > 0 else self.pcie_bytes_per_s


# Shapes: ../shared/calibration/README.md for llama3-*; Hugging Face config.json of each
# checkpoint for the rest (mistralai/Mistral-7B-v0.1, EleutherAI/gpt-j-6b,
# lmsys/vicuna-13b-v1.3 = LLaMA-13B, meta-llama/Llama-2-70b-hf).
MODELS: dict[str, ModelSpec] = {
    m.name: m
    for m in (
        ModelSpec("llama3-8b", 32, 4096, 32, 8, 128, 14336, 128256),
        ModelSpec("llama3-70b", 80, 8192, 64, 8, 128, 28672, 128256),
        ModelSpec("mistral-7b", 32, 4096, 32, 8, 128, 14336, 32000),
        ModelSpec("gpt-j-6b", 28, 4096, 16, 16, 256, 16384, 50400, gated_mlp=False),
        ModelSpec("vicuna-13b", 40, 5120, 40, 40, 128, 13824, 32000),
        ModelSpec("llama2-70b", 80, 8192, 64, 8, 128, 28672, 32000),
    )
}

# Data sheets (dense bf16 tensor peak; bandwidth per direction):
# - H200 SXM: NVIDIA H200 Tensor Core GPU datasheet (141 GB HBM3e, 4.8 TB/s, BF16 1,979
#   TFLOPS with sparsity -> 989 dense, NVLink 900 GB/s total, PCIe Gen5 128 GB/s total).
# - H100 SXM: NVIDIA H100 datasheet (80 GB HBM3, 3.35 TB/s, BF16 1,979 sparse -> 989 dense,
#   NVLink 900 GB/s, PCIe Gen5 128 GB/s).
# - A100 80GB SXM: NVIDIA A100 datasheet (2,039 GB/s, BF16 312 TFLOPS dense, NVLink 600 GB/s,
#   PCIe Gen4 64 GB/s).
# - A100 40GB SXM: the same datasheet's 40GB column (HBM2 1,555 GB/s; compute and links as
#   the 80GB). InferCept's A100s (AWS) may be either size; the paper does not say.
# - RTX A6000: NVIDIA RTX A6000 datasheet (48 GB GDDR6, 768 GB/s, tensor 309.7 TFLOPS with
#   sparsity -> 154.8 dense, NVLink bridge 112.5 GB/s total, PCIe Gen4 x16).
# - L4: NVIDIA L4 datasheet (24 GB GDDR6, 300 GB/s, BF16 242 TFLOPS sparse -> 121 dense,
#   PCIe Gen4 x16 64 GB/s total, no NVLink).
GPUS: dict[str, GpuSpec] = {
    g.name: g
    for g in (
        GpuSpec("h200", 141 * GiB, 4.8e12, 989e12, 64e9, 450e9),
        GpuSpec("h100", 80 * GiB, 3.35e12, 989e12, 64e9, 450e9),
        GpuSpec("a100", 80 * GiB, 2.039e12, 312e12, 32e9, 300e9),
        GpuSpec("a100-40gb", 40 * GiB, 1.555e12, 312e12, 32e9, 300e9),
        GpuSpec("a6000", 48 * GiB, 768e9, 154.8e12, 32e9, 56.25e9),
        GpuSpec("l4", 24 * GiB, 300e9, 121e12, 32e9, 0.0),
    )
}


def get_model_spec(name: str | ModelSpec) -> ModelSpec:
    """The preset named `name` (case-insensitive); a ModelSpec passes through.

    Raises ConfigError naming option `model` and the known names.
    """
    if isinstance(name, ModelSpec):
        return name
    spec = MODELS.get(str(name).lower())
    if spec is None:
        raise ConfigError("model", f"unknown model {name!r}; known: {sorted(MODELS)}")
    return spec


def get_gpu_spec(name: str | GpuSpec) -> GpuSpec:
    """The preset named `name` (case-insensitive; 'a100-80gb' and 'h100-sxm' accepted).

    Raises ConfigError naming option `gpu` and the known names.
    """
    if isinstance(name, GpuSpec):
        return name
    key = str(name).lower().removesuffix("-80gb").removesuffix("-sxm")
    spec = GPUS.get(key)
    if spec is None:
        raise ConfigError("gpu", f"unknown gpu {name!r}; known: {sorted(GPUS)}")
    return spec
