"""Every figure notebook runs end to end through papermill in quick mode."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="session", autouse=True)
def kernel_of_this_python(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The notebooks' `python3` kernel is this interpreter, whatever kernel specs the user's
    Jupyter folders hold (a user-wide one may point at another checkout's venv)."""
    jupyter = tmp_path_factory.mktemp("jupyter")
    spec = jupyter / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps(
        {"argv": argv, "display_name": "Python 3", "language": "python"}))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(jupyter))
        yield


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_quick_mode(path, tmp_path, request):
    if path.stem in ("fig4_azure_mix", "mooncake_replay"):
        request.getfixturevalue("data_dir")  # real traces from ../shared/data (skips if absent)
    results = tmp_path / "results"
    pm.execute_notebook(str(path), str(tmp_path / path.name), cwd=str(ROOT),
                        parameters={"quick": True, "results_dir": str(results)},
                        kernel_name="python3", progress_bar=False)
    assert list((results / "figures").glob("*.png")) or list((results / "figures").glob("*.csv"))
