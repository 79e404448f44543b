"""Tool use (ToolBench G1), synthetic: Preble's Table 1 row, matched in distribution.

Each prompt is a system prompt shared by all requests, then the description of one tool
(the shared prefix of its group; one of `num_prefixes`), then a unique user query.
Which tool a request uses follows `popularity`: 'even' (num_requests/num_prefixes each,
Preble's EVEN) or 'zipf' (rank k with probability ~ k^-zipf_a over the tools; Preble's
ablation uses a = 1.1). Outputs are Gamma-distributed.

Table 1 targets (mean, std): prompt (1835, 742) tokens; output (43, 16); shared prefix
(85%, 13%); key portion (76%, 16%); requests sharing the key portion (39, 64).
Measured (seed 0, `toolkit.workloads.stats`) with `popularity='zipf', zipf_a=0.7`, 510
tools, 20,000 requests: prompt (1879, 756); output (43, 16); shared prefix with earlier
requests (85.6%, 14.4%); key portion (77%, 10%); requests sharing it (38, 70). The key
portion's spread is below the Table's. Zipf(1.1) over 510 tools gives a sharing std of
~200. Preble's per-2-GPU configs are e.g. (300 prefixes, 3600 requests, 12 rps), EVEN.
"""

from __future__ import annotations

from toolkit.core.trace import Trace
from toolkit.workloads.common import (
    arrivals_for,
    build_trace,
    gamma_lengths,
    group_labels,
    random_tokens,
    rng_streams,
    scale_to_gpus,
    token_chunks,
)


def toolbench_trace(
    num_prefixes: int = 300,
    num_requests: int = 3600,
    rps: float = 12.0,
    seed: int = 0,
    num_gpus: int = 2,
    popularity: str = "even",
    zipf_a: float = 1.1,
    arrival: str = "poisson",
    cv: float = 1.0,
    system_len: int = 170,
    tool_len: tuple[float, float] = (1460.0, 700.0),
    query_len: tuple[float, float] = (210.0, 120.0),
    output_len: tuple[float, float] = (43.0, 16.0),
) -> Trace:
    """Tool-use trace: system prompt + tool description (shared per tool) + unique query.

    `num_prefixes`, `num_requests`, `rps` are per 2 GPUs and scaled by `num_gpus / 2`.
    Length knobs are (mean, std) in tokens. Same seed, same trace.
    """
    num_prefixes, num_requests, rps = scale_to_gpus(num_prefixes, num_requests, rps, num_gpus)
    rng, arr_rng = rng_streams(seed)
    tools = group_labels(rng, num_requests, num_prefixes, popularity, zipf_a)
    system = random_tokens(rng, system_len)
    tool_lens = gamma_lengths(rng, *tool_len, size=num_prefixes, lo=system_len + 1, hi=3800)
    prefixes = [system + random_tokens(rng, n) for n in tool_lens.tolist()]
    queries = token_chunks(rng, gamma_lengths(rng, *query_len, size=num_requests, lo=8))
    prompts = [prefixes[t] + q for t, q in zip(tools.tolist(), queries)]
    outs = gamma_lengths(rng, *output_len, size=num_requests)
    times = arrivals_for(arr_rng, num_requests, rps, arrival, cv)
    meta = {"workload": "toolbench", "seed": seed, "popularity": popularity, "zipf_a": zipf_a}
    return build_trace("toolbench", prompts, outs, times, meta=meta)

