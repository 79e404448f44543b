"""Workloads: Preble's five synthetic generators, the Azure-arrival mix, trace readers
(Mooncake, Azure, the toolkit's JSONL), arrival processes and Table-1 statistics."""

from toolkit.workloads.arrivals import gamma_arrivals, make_arrivals, poisson_arrivals
from toolkit.workloads.azure_mix import azure_mix_trace
from toolkit.workloads.common import VOCAB_SIZE, scale_to_gpus
from toolkit.workloads.embodied import embodied_trace
from toolkit.workloads.factory import WORKLOADS, make_workload
from toolkit.workloads.loogle import loogle_trace
from toolkit.workloads.programming import programming_trace
from toolkit.workloads.readers import (
    azure_arrivals,
    default_data_dir,
    load_trace,
    read_azure,
    read_mooncake,
)
from toolkit.workloads.stats import request_prefix_stats, stats_table, workload_stats
from toolkit.workloads.toolbench import toolbench_trace
from toolkit.workloads.videoqa import videoqa_trace

__all__ = [
    "VOCAB_SIZE",
    "WORKLOADS",
    "azure_arrivals",
    "azure_mix_trace",
    "default_data_dir",
    "embodied_trace",
    "gamma_arrivals",
    "load_trace",
    "loogle_trace",
    "make_arrivals",
    "make_workload",
    "poisson_arrivals",
    "programming_trace",
    "read_azure",
    "read_mooncake",
    "request_prefix_stats",
    "scale_to_gpus",
    "stats_table",
    "toolbench_trace",
    "videoqa_trace",
    "workload_stats",
]
