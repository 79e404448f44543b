"""Tool use + Video QA under real Azure arrivals (Preble Fig. 4, `e2e_mix_config`).

Per 2 GPUs: tool use with 200 tool prefixes and 3,600 requests plus video QA with 150
videos and 900 requests (both scaled by `num_gpus / 2`, as Preble's `scale_to_gpu`). The
two sets of requests are shuffled together and given, in order, the arrival times of the
Azure LLM inference trace's data rows [200 : 200 + N] (code or conversation service),
relative to row 200 and multiplied by `time_scale` (0.7 in Preble). The default is the
conversation trace: the code trace's 8,818 rows cannot give 4 GPUs' 9,000 requests after
row 200 (a ConfigError says so).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toolkit.core.errors import ConfigError
from toolkit.core.trace import Trace
from toolkit.workloads.common import scale_to_gpus
from toolkit.workloads.readers import azure_arrivals, default_data_dir
from toolkit.workloads.toolbench import toolbench_trace
from toolkit.workloads.videoqa import videoqa_trace

AZURE_TRACES = ("code", "conv")


def azure_mix_trace(
    num_gpus: int = 2,
    seed: int = 0,
    azure_trace: str = "conv",
    azure_path: str | Path | None = None,
    time_scale: float = 0.7,
    start_row: int = 200,
    tool_prefixes: int = 200,
    tool_requests: int = 3600,
    video_prefixes: int = 150,
    video_requests: int = 900,
    max_video_len: int | None = 8192,
    popularity: str = "even",
    zipf_a: float = 1.1,
) -> Trace:
    """The Azure-arrival mix; `azure_path` overrides the shared Azure CSV of `azure_trace`."""
    if azure_path is None:
        if azure_trace not in AZURE_TRACES:
            raise ConfigError("azure_trace", f"unknown {azure_trace!r}; use one of {AZURE_TRACES}")
        azure_path = default_data_dir() / f"AzureLLMInferenceTrace_{azure_trace}.csv"
    tools = toolbench_trace(
        tool_prefixes, tool_requests, 1.0, seed=seed, num_gpus=num_gpus,
        popularity=popularity, zipf_a=zipf_a,
    )
    videos = videoqa_trace(video_prefixes, video_requests, 1.0, seed=seed + 1, num_gpus=num_gpus,
                           max_video_len=max_video_len)
    reqs = tools.requests + videos.requests
    times = azure_arrivals(azure_path, len(reqs), start_row, time_scale)
    if len(times) < len(reqs):
        raise ConfigError(
            "azure_path", f"{azure_path} has {len(times)} rows after row {start_row}, need {len(reqs)}"
        )
    order = np.random.default_rng(seed).permutation(len(reqs))
    for t, i in zip(times.tolist(), order.tolist()):
        reqs[i].arrival_s = t
        reqs[i].meta["workload"] = "toolbench" if i < len(tools) else "videoqa"
    _, num_tool, _ = scale_to_gpus(tool_prefixes, tool_requests, 1.0, num_gpus)
    meta = {"workload": "azure_mix", "seed": seed, "azure_path": str(azure_path),
            "num_tool_requests": num_tool, "time_scale": time_scale}
    return Trace(reqs, name="azure_mix", meta=meta)
