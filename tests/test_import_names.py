"""Each import name resolves to its own distribution when Python starts in the repository root.

The root is on `sys.path` there (`python -c`, `python -m`, pytest's rootdir conftest), so a
top-level folder with an `__init__.py` shadows any PyPI package of the same name. transformers
>= 5 imports Hugging Face's `kernels` eagerly; the project's kernels therefore import as
`llmserve_kernels`, and the folder `kernels/` is not a package.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = r"""
import importlib, importlib.metadata as md, importlib.util, json, sys
from pathlib import Path

from transformers import LlamaForCausalLM  # pulls transformers' hub-kernels integration
import transformers
import llmserve_kernels
from llmserve_kernels import paged_decode_attention  # noqa: F401

out = {"sys_path0": sys.path[0],
       "transformers": transformers.__file__,
       "transformers_dist_init": str(Path(md.distribution("transformers").locate_file(
           "transformers/__init__.py")).resolve()),
       "llmserve_kernels_dists": md.packages_distributions().get("llmserve_kernels"),
       "llama": sys.modules[LlamaForCausalLM.__module__].__file__,
       "llmserve_kernels": llmserve_kernels.__file__}
try:
    dist = md.distribution("kernels")
except md.PackageNotFoundError:
    dist = None
if dist is not None:
    import kernels
    out["kernels"] = kernels.__file__
    out["kernels_dist_init"] = str(Path(dist.locate_file("kernels/__init__.py")).resolve())
else:
    spec = importlib.util.find_spec("kernels")
    out["kernels"] = None if spec is None else spec.origin
out["old_ops"] = importlib.util.find_spec("llmserve_kernels.paged_decode") is not None
try:
    importlib.import_module("kernels.paged_decode")
    out["old_import"] = "reachable"
except ImportError:
    out["old_import"] = "unreachable"
print(json.dumps(out))
"""


def _probe() -> dict:
    pytest.importorskip("transformers")
    pytest.importorskip("torch")
    run = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def _inside(path: str | None, folder: Path) -> bool:
    return path is not None and Path(path).resolve().is_relative_to(folder.resolve())


def test_names_resolve_to_their_distributions_from_the_repository_root() -> None:
    out = _probe()
    assert out["sys_path0"] in ("", str(ROOT)), "the probe must run with the root on sys.path"
    transformers_dir = Path(out["transformers"]).parent
    assert Path(out["transformers"]).resolve() == Path(out["transformers_dist_init"])
    assert _inside(out["llama"], transformers_dir), out["llama"]
    assert _inside(out["llmserve_kernels"], ROOT / "kernels" / "llmserve_kernels")
    assert set(out["llmserve_kernels_dists"] or ()) == {"llmserve-toolkit"}
    if "kernels_dist_init" in out:  # Hugging Face's kernels is installed: it wins the name
        assert Path(out["kernels"]).resolve() == Path(out["kernels_dist_init"])
    else:  # not installed: the name is free, our folder is not a package under it
        assert out["kernels"] is None or not out["kernels"].endswith("__init__.py")
    assert out["old_import"] == "unreachable"
    assert out["old_ops"]


def test_kernels_folder_is_not_a_package() -> None:
    assert (ROOT / "kernels").is_dir()
    assert not (ROOT / "kernels" / "__init__.py").exists(), (
        "kernels/__init__.py would shadow Hugging Face's `kernels` from the repository root")
