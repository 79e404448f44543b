"""Every committed notebook has the shape a researcher can trust: one tagged parameters
cell whose every name a later cell uses, no functions or classes (logic lives in
`experiments/`), a backend checked against those it runs on, outputs stripped."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def structure_problems(book: nbformat.NotebookNode) -> list[str]:
    """What is wrong with a notebook's shape ([] when nothing is)."""
    code = [c for c in book.cells if c.cell_type == "code"]
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    if len(params) != 1:
        return [f"{len(params)} cells tagged 'parameters' (want 1)"]
    problems = []
    names = [t.id for node in ast.parse(params[0].source).body if isinstance(node, ast.Assign)
             for t in node.targets if isinstance(t, ast.Name)]
    later = code[code.index(params[0]) + 1:]
    used: set[str] = set()
    calls: list[ast.Call] = []
    for cell in later:
        tree = ast.parse(cell.source)
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                used.add(node.id)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                problems.append(f"defines {type(node).__name__} (move it into experiments/)")
            if isinstance(node, ast.Call):
                calls.append(node)
    problems += [f"parameter {n!r} is never used" for n in names if n not in used]
    if "backend" in names and not any(
            isinstance(c.func, ast.Name) and c.func.id in ("prepare", "require_backend")
            and any(isinstance(a, ast.Name) and a.id == "backend" for a in c.args)
            for c in calls):
        problems.append("parameter 'backend' is not checked (prepare/require_backend)")
    if any(c.get("outputs") or c.get("execution_count") for c in code):
        problems.append("outputs not stripped (python scripts/clean_notebooks.py)")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_structure(path: Path) -> None:
    assert structure_problems(nbformat.read(path, as_version=4)) == []


def _book(params: str, *cells: str) -> nbformat.NotebookNode:
    book = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    book.cells = [p, *(nbformat.v4.new_code_cell(c) for c in cells)]
    return book


GOOD = ('backend = "sim"\nquick = False',
        'out = prepare("r", backend, ["sim"])\nprint(quick)')


def test_a_good_notebook_passes() -> None:
    assert structure_problems(_book(*GOOD)) == []


@pytest.mark.parametrize("book, problem", [
    (_book('backend = "sim"\nquick = False\nn_jobs = 2', *GOOD[1:]), "'n_jobs' is never used"),
    (_book('backend = "sim"\nquick = False', "print(backend, quick)"), "'backend' is not checked"),
    (_book(*GOOD, "def f():\n    return 1"), "defines FunctionDef"),
    (_book(*GOOD, "class A:\n    pass"), "defines ClassDef"),
])
def test_each_rule_fails_a_notebook_that_breaks_it(book, problem: str) -> None:
    assert any(problem in p for p in structure_problems(book))


def test_two_parameter_cells_and_unstripped_outputs_fail() -> None:
    book = _book(*GOOD)
    book.cells[1].metadata["tags"] = ["parameters"]
    assert "2 cells tagged" in structure_problems(book)[0]
    book = _book(*GOOD)
    book.cells[1].execution_count = 3
    assert any("outputs not stripped" in p for p in structure_problems(book))


def test_a_sim_notebook_rejects_the_engine_backend() -> None:
    from experiments.common.notebook import prepare
    from toolkit.core.errors import ConfigError

    with pytest.raises(ConfigError, match="'engine': this notebook runs on sim"):
        prepare("unused", "engine", ["sim"])
