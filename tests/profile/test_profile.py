"""The engine profiler: a quick profile of the tiny model is a file the profiled cost model reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from toolkit.cost import specs  # noqa: E402
from toolkit.cost.base import BatchShape  # noqa: E402
from toolkit.profiling import profile  # noqa: E402


@pytest.fixture(scope="module")
def quick_profile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A `--quick` profile of the tiny model (one torch thread, restored afterwards)."""
    out = tmp_path_factory.mktemp("profile") / "tiny_cpu.json"
    threads = torch.get_num_threads()
    try:
        result = profile.run_profile("tiny", out, "cpu", profile.ProfileSettings.quick(),
                                     threads=1, log=lambda _: None)
    finally:
        torch.set_num_threads(threads)
    return out, result


def test_file_has_the_calibration_layout(quick_profile: tuple[Path, dict[str, Any]]) -> None:
    path, result = quick_profile
    data = json.loads(path.read_text())
    assert data == json.loads(json.dumps(result))
    assert data["info"]["device"].startswith("cpu")
    assert {"torch", "dtype", "model"} <= set(data["info"])
    assert data["info"]["profile_version"] == profile.PROFILE_VERSION
    (entry,) = data["models"]
    assert (entry["model"], entry["tp"], entry["layers"]) == ("tiny-llama", 1, 2)
    grid = profile.QUICK_GRID
    assert len(entry["prefill"]) == len(grid["n_new"]) * len(grid["n_cached"])
    assert len(entry["decode"]) == len(grid["batch"]) * len(grid["ctx"])
    for row in entry["prefill"]:
        assert set(row) == {"n_new", "n_cached", "s", "mean_s"} and 0 < row["s"] < 1
        assert 0 < row["mean_s"] < 1
    for row in entry["decode"]:
        assert set(row) == {"batch", "ctx", "graph_s", "eager_s", "mean_s"}
        assert row["graph_s"] == row["eager_s"] and 0 < row["graph_s"] < 1
        assert 0 < row["mean_s"] < 1
    for row in entry["mixed"]:
        assert {"s", "mean_s"} <= set(row)
    assert [r["idle_s"] for r in entry["wake"]] == list(profile.WAKE_IDLE_S)
    assert entry["wake"][0]["idle_s"] == 0 and all(r["extra_s"] >= 0 for r in entry["wake"])


def test_times_grow_with_work(quick_profile: tuple[Path, dict[str, Any]]) -> None:
    """The most work in each table takes clearly longer than the least.

    Only the widest comparisons: the tests run two to a machine, where one point's median
    of a few steps can nearly double, and for the tiny model a step is mostly fixed
    overhead (the batched decode path prices batch 16 at ctx 16 only ~1.4x batch 1; CI
    once timed ctx 256 below ctx 16 at batch 16). Measured here: 128 new tokens over 256
    cached ~2-3x one token; batch 16 at ctx 256 ~3x batch 1 at ctx 16.
    """
    entry = quick_profile[1]["models"][0]
    pre = {(r["n_new"], r["n_cached"]): r["s"] for r in entry["prefill"]}
    dec = {(r["batch"], r["ctx"]): r["graph_s"] for r in entry["decode"]}
    assert pre[(128, 256)] > 1.4 * pre[(1, 0)]
    assert dec[(16, 256)] > 1.4 * dec[(1, 16)]  # 1.78x seen beside a papermill run


def test_profiled_cost_model_reads_the_file(quick_profile: tuple[Path, dict[str, Any]]) -> None:
    path, result = quick_profile
    cost = profile.load_profiled_cost_model(path, mixed_correction=False, use_mean=False)
    assert cost.model.name == "tiny-llama" and cost.gpu.name == "cpu"
    entry = result["models"][0]
    for row in entry["decode"]:  # the envelope keeps every point or lowers it
        assert cost.decode_s(row["batch"], row["ctx"]) <= row["graph_s"] * (1 + 1e-9)
    assert cost.floor_s == pytest.approx(min(r["graph_s"] for r in entry["decode"]
                                             + [{"graph_s": p["s"]} for p in entry["prefill"]]))
    mixed = cost.iteration_s(BatchShape((64,), (0,), 4, 4 * 128))
    assert mixed >= cost.decode_s(4, 128) and mixed >= cost.prefill_s(64, 0)


def test_mixed_rows_correct_mixed_iterations(quick_profile: tuple[Path, dict[str, Any]]) -> None:
    path, result = quick_profile
    base = profile.load_profiled_cost_model(path, mixed_correction=False)
    fixed = profile.load_profiled_cost_model(path)
    rows = result["models"][0]["mixed"]
    assert rows and fixed.base.model.name == base.model.name
    for shape in (BatchShape((64,), (0,), 0, 0), BatchShape(num_decode=4, decode_ctx_sum=512)):
        assert fixed.iteration_s(shape) == base.iteration_s(shape)  # one part: unchanged
    def err(c):
        return sum((c.iteration_s(BatchShape((r["n_new"],), (r["n_cached"],), r["batch"],
                                             r["batch"] * r["ctx"])) - r["mean_s"]) ** 2
                   for r in rows)
    assert err(fixed) <= err(base)  # least squares cannot do worse than no correction


def test_mean_tables_price_the_mean_step(quick_profile: tuple[Path, dict[str, Any]]) -> None:
    """`use_mean` reads each row's mean: points on the monotone envelope are reproduced."""
    path, result = quick_profile
    cost = profile.load_profiled_cost_model(path, mixed_correction=False)
    entry = result["models"][0]
    for row in entry["decode"]:
        assert cost.decode_s(row["batch"], row["ctx"]) <= row["mean_s"] * (1 + 1e-9)
    smallest = min(r["mean_s"] for r in entry["decode"] + entry["prefill"])
    assert cost.floor_s == pytest.approx(smallest)


def test_wake_rows_price_the_arrival_path(quick_profile: tuple[Path, dict[str, Any]]) -> None:
    """The first iteration after idleness pays the measured arrival path, admission included
    (the `idle_s = 0` row) instead of nothing at no idleness."""
    path, result = quick_profile
    cost = profile.load_profiled_cost_model(path)
    wake = result["models"][0]["wake"]
    for row in wake:
        assert cost.wake_s(row["idle_s"]) == pytest.approx(row["extra_s"])
    assert cost.wake_s(10.0) == pytest.approx(wake[-1]["extra_s"])


def test_register_profile_reaches_the_factory(
    quick_profile: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from toolkit.cost.factory import make_cost_model

    monkeypatch.setattr(specs, "MODELS", dict(specs.MODELS))
    monkeypatch.setattr(specs, "GPUS", dict(specs.GPUS))
    path = quick_profile[0]
    model, gpu = profile.register_profile(path)
    assert (model, gpu) == ("tiny-llama", "cpu")
    cost = make_cost_model("profiled", model, gpu, calibration_path=str(path),
                           use_graph_prefill=False)
    loaded = profile.load_profiled_cost_model(path, mixed_correction=False, use_mean=False)
    assert cost.decode_s(4, 16) == loaded.decode_s(4, 16)


def test_cli_grid_flags(tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    threads = torch.get_num_threads()
    try:
        profile.main(["--model", "tiny", "--out", str(out), "--quick", "--threads", "1",
                      "--grid-n-new", "1,32", "--grid-n-cached", "0,16", "--grid-batch", "1,2",
                      "--grid-ctx", "16,32", "--repeats", "2", "--decode-repeats", "3"])
    finally:
        torch.set_num_threads(threads)
    entry = json.loads(out.read_text())["models"][0]
    assert sorted((r["n_new"], r["n_cached"]) for r in entry["prefill"]) == [
        (1, 0), (1, 16), (32, 0), (32, 16)]
    assert sorted((r["batch"], r["ctx"]) for r in entry["decode"]) == [
        (1, 16), (1, 32), (2, 16), (2, 32)]


def test_serving_probe_adds_what_http_costs(quick_profile: tuple[Path, dict[str, Any]],
                                            tmp_path: Path) -> None:
    """Two engine servers behind the proxy: the probe writes `serving.http`, each row's
    extra is its HTTP time per token less the profile's step, the fit is the rows' line, and
    the cost model charges it only when asked."""
    import shutil

    from toolkit.cost.serving import ServedCostModel
    from toolkit.engine.tiny import build_tiny_model
    from toolkit.profiling.serving import add_serving, fit_step_token

    path = tmp_path / "profile.json"
    shutil.copy(quick_profile[0], path)
    with pytest.raises(ValueError, match="toolkit.profiling.serving"):
        profile.load_profiled_cost_model(path, serving="http")
    with pytest.raises(ValueError, match="serving='tcp'"):
        profile.load_profiled_cost_model(path, serving="tcp")
    add_serving(path, str(build_tiny_model()), quick=True, engines=2, log=lambda _: None)
    http = json.loads(path.read_text())["models"][0]["serving"]["http"]
    rows = http["decode"]
    assert [r["batch"] for r in rows] == [1, 4]
    for r in rows:
        assert r["extra_s"] == pytest.approx(r["tpot_s"] - r["model_s"])
    assert (http["step_s"], http["token_s"]) == pytest.approx(
        fit_step_token([1, 4], [r["extra_s"] for r in rows]))
    assert http["request_s"] >= 0.0 and http["ttft_s"] > 0.0
    served = profile.load_profiled_cost_model(path, serving="http")
    plain = profile.load_profiled_cost_model(path)
    assert isinstance(served, ServedCostModel) and plain.request_path_s == 0.0
    assert served.request_path_s == http["request_s"]
    shape = BatchShape(num_decode=4, decode_ctx_sum=4 * 88)
    assert served.iteration_s(shape) == pytest.approx(
        plain.iteration_s(shape) + http["step_s"] + 4 * http["token_s"])
