"""In a venv with no torch: a real vLLM server behind the toolkit's router proxy, driven by
the toolkit's load client. Run by scripts/check_http_extra.sh.

Usage: python scripts/http_extra_e2e.py MODEL_DIR VLLM_PYTHON ROUTER_CONFIG
"""

from __future__ import annotations

import importlib.util
import sys

from toolkit.core.request import Request
from toolkit.core.trace import Trace
from toolkit.http.client import replay
from toolkit.http.launch import free_port, launch
from toolkit.http.vllm_server import start_vllm_server


def main(model: str, vllm_python: str, router_config: str) -> None:
    if importlib.util.find_spec("torch") is not None:
        raise SystemExit("torch is installed in this venv")
    with start_vllm_server(model, python=vllm_python) as vllm:
        port = free_port()
        command = [sys.executable, "-m", "toolkit.http.proxy", "--backend", vllm.url,
                   "--router-config", router_config, "--port", str(port)]
        with launch("proxy", command, port, startup_timeout_s=60) as proxy:
            trace = Trace([Request(f"r{i}", 0.2 * i, 8,
                                   prompt_token_ids=[5 + i % 3] * 40 + list(range(10, 30)))
                           for i in range(10)])
            records = replay(trace, proxy.url, progress=False)
    failed = [r for r in records if r.failed]
    print(f"{len(records)} requests through the proxy to vLLM, {len(failed)} failed, "
          f"{sum(r.num_output_tokens for r in records)} tokens")
    if failed or len(records) != 10:
        raise SystemExit(1)


if __name__ == "__main__":
    main(*sys.argv[1:4])
