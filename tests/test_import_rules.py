"""DESIGN.md's import rules: `toolkit.http` runs without torch, the simulator never imports
the real engine, nothing in `toolkit/` imports `experiments/`."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTTP_MODULES = sorted(f"toolkit.http.{p.stem}" for p in (ROOT / "toolkit" / "http").glob("*.py")
                      if p.stem != "__init__")


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth of its code."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def offenders(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    """Files under `folder` importing a module under any of `forbidden`."""
    return [f"{p.relative_to(ROOT)}: {m}" for p in sorted((ROOT / folder).rglob("*.py"))
            for m in sorted(imported_modules(p))
            if any(m == f or m.startswith(f + ".") for f in forbidden)]


def test_http_imports_without_torch() -> None:
    code = ("import sys; sys.modules['torch'] = None; sys.modules['transformers'] = None\n"
            + "".join(f"import {m}\n" for m in HTTP_MODULES))
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "toolkit.http.proxy" in HTTP_MODULES and "toolkit.http.client" in HTTP_MODULES


@pytest.mark.parametrize("folder, forbidden", [
    ("toolkit", ("experiments",)),
    ("toolkit/sim", ("toolkit.engine", "toolkit.serve", "toolkit.http", "torch")),
    ("toolkit/http", ("toolkit.engine", "toolkit.serve", "toolkit.profiling", "torch")),
    ("toolkit/route", ("toolkit.sim", "toolkit.engine", "toolkit.serve", "toolkit.http")),
    ("toolkit/sched", ("toolkit.sim", "toolkit.engine", "toolkit.serve", "toolkit.http")),
])
def test_imports_point_one_way(folder: str, forbidden: tuple[str, ...]) -> None:
    found = offenders(folder, forbidden)
    if folder == "toolkit/http":  # builds the tiny model for a vLLM server, when asked
        found = [f for f in found if f != "toolkit/http/vllm_server.py: toolkit.engine"]
    assert found == []


def test_the_rule_check_finds_a_forbidden_import(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "toolkit" / "sim").mkdir(parents=True)
    (tmp_path / "toolkit" / "sim" / "x.py").write_text("def f():\n    import torch.nn\n")
    assert offenders("toolkit/sim", ("torch",)) == ["toolkit/sim/x.py: torch.nn"]
