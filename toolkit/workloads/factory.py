"""One builder for Hydra configs: `make_workload(name, **options) -> Trace`.

A config can name the builder (`_target_: toolkit.workloads.make_workload`, `name: toolbench`,
then the options) or target a generator directly (`_target_:
toolkit.workloads.toolbench_trace`). Synthetic generators take (num_prefixes, num_requests,
rps, seed, num_gpus, arrival='poisson'|'gamma', cv, ...workload knobs); trace-file
workloads take (path, num_requests, time_scale, rps). An unknown name or option raises
`ConfigError` naming it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from toolkit.core.errors import ConfigError
from toolkit.core.trace import Trace
from toolkit.workloads.azure_mix import azure_mix_trace
from toolkit.workloads.embodied import embodied_trace
from toolkit.workloads.infercept import infercept_mixed_trace
from toolkit.workloads.infercept_reader import read_infercept
from toolkit.workloads.loogle import loogle_trace
from toolkit.workloads.programming import programming_trace
from toolkit.workloads.readers import load_trace, read_azure, read_mooncake
from toolkit.workloads.toolbench import toolbench_trace
from toolkit.workloads.videoqa import videoqa_trace

WORKLOADS: dict[str, Callable[..., Trace]] = {
    "toolbench": toolbench_trace,
    "embodied": embodied_trace,
    "programming": programming_trace,
    "videoqa": videoqa_trace,
    "loogle": loogle_trace,
    "azure_mix": azure_mix_trace,
    "infercept": infercept_mixed_trace,
    "infercept_file": read_infercept,
    "trace": load_trace,
    "mooncake": read_mooncake,
    "azure": read_azure,
}


def make_workload(name: str, **options: object) -> Trace:
    """Build the workload `name` (a key of `WORKLOADS`) with keyword `options`."""
    if name not in WORKLOADS:
        raise ConfigError("workload.name", f"unknown workload {name!r}; known: {sorted(WORKLOADS)}")
    builder = WORKLOADS[name]
    params = inspect.signature(builder).parameters
    for key in options:
        if key not in params:
            raise ConfigError(
                f"workload.{key}", f"not an option of workload {name!r}; options: {list(params)}"
            )
    return builder(**options)
