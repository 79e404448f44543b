"""Cost models: the only thing a simulated engine asks about time."""

from toolkit.cost.base import BatchShape, CostModel
from toolkit.cost.capacity import kv_capacity_tokens
from toolkit.cost.factory import make_cost_model
from toolkit.cost.preble_fit import PrebleLlama70BCostModel, PrebleMistralA6000CostModel
from toolkit.cost.profiled import ProfiledCostModel
from toolkit.cost.roofline import RooflineCostModel
from toolkit.cost.specs import GPUS, MODELS, GpuSpec, ModelSpec, get_gpu_spec, get_model_spec

__all__ = [
    "GPUS",
    "MODELS",
    "BatchShape",
    "CostModel",
    "GpuSpec",
    "ModelSpec",
    "PrebleLlama70BCostModel",
    "PrebleMistralA6000CostModel",
    "ProfiledCostModel",
    "RooflineCostModel",
    "get_gpu_spec",
    "get_model_spec",
    "kv_capacity_tokens",
    "make_cost_model",
]
