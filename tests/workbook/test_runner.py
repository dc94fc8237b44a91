"""The papermill runner: profile validation, step cache, failures, and the index page."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from scenecolor.core.errors import MissingUpstreamError, ParameterError, StepFailedError
from scenecolor.workbook import pipeline, runner
from scenecolor.workbook.pipeline import STEPS

REPO = Path(__file__).resolve().parents[2]


def _toy_notebook(step_id: str, extra: str = "") -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('run_dir = ""\nseed = 0')
    params.metadata["tags"] = ["parameters"]
    body = (
        "from scenecolor.workbook import pipeline\n"
        f"defaults = pipeline.get_step({step_id!r}).params_model().model_dump()\n"
        f"ctx = pipeline.open_step({step_id!r}, {{**defaults, 'run_dir': run_dir, 'seed': seed}})\n"
        "(ctx.out / 'value.txt').write_text(str(seed * 2))\n"
        "ctx.record_metric('twice seed', seed * 2)\n"
        "ctx.record_table('rows', [{'a': 1, 'b': 0.5}], caption='toy')"
    )
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {step_id}"), params, nbformat.v4.new_code_cell(body)]
    if extra:
        nb.cells.append(nbformat.v4.new_code_cell(extra))
    nb.cells.append(nbformat.v4.new_code_cell("ctx.finish()"))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


@pytest.fixture
def toy_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout whose notebooks are tiny stand-ins for the seven steps.

    The library digest is pinned so that edits to the library while the test runs do not
    invalidate the cache under test (a library change re-running steps is tested separately).
    """
    monkeypatch.setattr(runner, "library_digest", lambda: "pinned-library")
    root = tmp_path / "repo"
    (root / "notebooks" / "profiles").mkdir(parents=True)
    (root / "data_manifests").mkdir()
    (root / "data_manifests" / "x.yaml").write_text("name: x\nentries: []\n")
    (root / "pyproject.toml").write_text('[project]\nname = "scenecolor"\n')
    for step in STEPS:
        nbformat.write(_toy_notebook(step.id), str(root / "notebooks" / step.notebook))
    (root / "notebooks" / "profiles" / "smoke.yaml").write_text("description: toy\ndefaults:\n  seed: 3\n")
    return root


def _run(root: Path, **kw):
    return runner.run_workbook(
        "smoke", root=root, reports=root / "reports", progress=False, kernel="python3", log=lambda *_: None, **kw
    )


def test_profile_rejects_unknown_key_and_names_notebook(toy_repo: Path) -> None:
    bad = toy_repo / "bad.yaml"
    bad.write_text("02_scene_analysis:\n  not_a_param: 1\n")
    with pytest.raises(ParameterError, match=r"02_scene_analysis.ipynb: unknown parameter 'not_a_param'"):
        runner.validate_profile(runner.load_profile(str(bad), toy_repo))


def test_profile_rejects_bad_value_before_anything_runs(toy_repo: Path) -> None:
    bad = toy_repo / "bad.yaml"
    bad.write_text("00_data_prep:\n  seed: -4\n")
    with pytest.raises(ParameterError, match=r"00_data_prep.ipynb: parameter 'seed' = -4"):
        runner.run_workbook(str(bad), root=toy_repo, reports=toy_repo / "reports", progress=False, kernel="python3")
    assert not (toy_repo / "reports").exists() or not any((toy_repo / "reports").iterdir())


def test_profile_rejects_unknown_step_and_wrong_type(toy_repo: Path) -> None:
    bad = toy_repo / "bad.yaml"
    bad.write_text("99_nothing:\n  seed: 1\n")
    with pytest.raises(ParameterError, match="unknown step '99_nothing'"):
        runner.load_profile(str(bad), toy_repo)
    bad.write_text("defaults:\n  seed: 'many'\n")
    with pytest.raises(ParameterError, match="parameter 'seed' = 'many'"):
        runner.validate_profile(runner.load_profile(str(bad), toy_repo))
    with pytest.raises(ParameterError, match="not found"):
        runner.load_profile("no-such-profile.yaml", toy_repo)


def test_select_steps() -> None:
    assert [s.number for s in runner.select_steps("02", "04")] == ["02", "03", "04"]
    assert [s.number for s in runner.select_steps(only=["05"])] == ["05"]
    with pytest.raises(ParameterError):
        runner.select_steps("04", "02")


@pytest.mark.slow
def test_run_then_rerun_reuses_every_step(toy_repo: Path) -> None:
    first = _run(toy_repo, until="02")
    assert [r.status for r in first.records] == ["executed"] * 3
    run_dir = first.run_dir
    assert (toy_repo / "reports" / "latest").resolve() == run_dir
    assert (run_dir / "artifacts" / "02_scene_analysis" / "value.txt").read_text() == "6"
    meta = json.loads((run_dir / "artifacts" / "02_scene_analysis" / "meta.json").read_text())
    assert meta["params"]["seed"] == 3 and "00_data_prep" in meta["inputs"] and "torch" in meta["versions"]
    index = (run_dir / "index.html").read_text()
    assert "twice seed" in index and "02_scene_analysis.reviewer.html" in index
    assert (run_dir / "html" / "01_embedder_training.reviewer.html").is_file()
    reviewer = (run_dir / "html" / "01_embedder_training.reviewer.html").read_text()
    assert "open_step" not in reviewer  # code hidden in the reviewer version

    second = _run(toy_repo, until="02")
    assert [r.status for r in second.records] == ["reused"] * 3
    assert (second.run_dir / "artifacts" / "02_scene_analysis" / "value.txt").read_text() == "6"

    # a changed notebook re-runs that step and its dependants only
    nb_path = toy_repo / "notebooks" / "02_scene_analysis.ipynb"
    nbformat.write(_toy_notebook("02_scene_analysis", extra="x = 1"), str(nb_path))
    third = _run(toy_repo, until="02")
    assert [r.status for r in third.records] == ["reused", "reused", "executed"]
    forced = _run(toy_repo, only=["01"], force=True)
    assert [r.status for r in forced.records] == ["reused", "executed"]


@pytest.mark.slow
def test_failing_cell_stops_run_keeps_partial_notebook_and_earlier_artifacts(toy_repo: Path) -> None:
    first = _run(toy_repo, until="00")
    nbformat.write(
        _toy_notebook("01_embedder_training", extra="raise ValueError('boom in cell')"),
        str(toy_repo / "notebooks" / "01_embedder_training.ipynb"),
    )
    with pytest.raises(
        StepFailedError, match=r"01_embedder_training.ipynb failed in cell \[\d+\]: ValueError: boom in cell"
    ):
        _run(toy_repo, until="01")
    runs = sorted(
        p for p in (toy_repo / "reports").iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
    )
    failed = runs[-1]
    assert (failed / "notebooks" / "01_embedder_training.ipynb").is_file()
    assert (failed / "html" / "01_embedder_training.html").is_file()
    status = {s["step"]: s["status"] for s in json.loads((failed / "run.json").read_text())["steps"]}
    assert status == {"00_data_prep": "reused", "01_embedder_training": "failed"}
    assert (first.run_dir / "artifacts" / "00_data_prep" / "meta.json").is_file()
    assert (failed / "artifacts" / "00_data_prep" / "value.txt").read_text() == "6"


def test_from_without_cache_is_refused(toy_repo: Path) -> None:
    with pytest.raises(StepFailedError, match="no cached result"):
        _run(toy_repo, start="01", until="01")


def test_library_change_changes_step_key(toy_repo: Path) -> None:
    step = STEPS[2]
    params = step.params_model()
    nb = toy_repo / "notebooks" / step.notebook
    a = runner.step_key(step, params, nb, "lib-a", "data", {"00_data_prep": "x"})
    b = runner.step_key(step, params, nb, "lib-b", "data", {"00_data_prep": "x"})
    c = runner.step_key(step, params, nb, "lib-a", "data", {"00_data_prep": "y"})
    d = runner.step_key(step, params.model_copy(update={"seed": 5}), nb, "lib-a", "data", {"00_data_prep": "x"})
    assert len({a, b, c, d}) == 4
    # run_dir is not part of the key: the same step in another run folder is the same work
    assert (
        runner.step_key(
            step, params.model_copy(update={"run_dir": "/elsewhere"}), nb, "lib-a", "data", {"00_data_prep": "x"}
        )
        == a
    )


@pytest.mark.slow
def test_cache_reuses_a_step_only_while_its_files_match_meta_json(toy_repo: Path, monkeypatch, notebook_values) -> None:
    logs: list[str] = []
    first = _run(toy_repo, until="01")
    # an edited output file (hard-linked into every run that reused it): its checksum no longer matches
    (first.run_dir / "artifacts" / "00_data_prep" / "value.txt").write_text("edited by hand")
    second = runner.run_workbook(
        "smoke",
        root=toy_repo,
        reports=toy_repo / "reports",
        progress=False,
        kernel="python3",
        until="01",
        log=logs.append,
    )
    assert [r.status for r in second.records] == ["executed", "reused"]
    assert any("differ from the checksums in its meta.json (value.txt)" in line for line in logs)
    assert (second.run_dir / "artifacts" / "00_data_prep" / "value.txt").read_text() == "6"

    # a notebook re-run by hand into the run folder rewrites meta.json consistently: the cache's digest catches it
    monkeypatch.setenv(pipeline.RUNNER_ENV, str(second.run_dir.resolve()))  # as if the guard were bypassed
    ctx = pipeline.open_step("00_data_prep", notebook_values("00_data_prep", run_dir=str(second.run_dir), seed=3))
    (ctx.out / "value.txt").write_text("a student's experiment")
    ctx.finish()
    monkeypatch.delenv(pipeline.RUNNER_ENV)
    assert runner.verify_step(ctx.out) == ""  # consistent in itself ...
    third = _run(toy_repo, until="00")
    assert [r.status for r in third.records] == ["executed"]  # ... but not what the runner made
    assert (third.run_dir / "artifacts" / "00_data_prep" / "value.txt").read_text() == "6"


@pytest.mark.slow
def test_a_hand_run_cannot_write_into_a_runner_folder(toy_repo: Path, notebook_values) -> None:
    first = _run(toy_repo, until="00")
    with pytest.raises(ParameterError, match=r"run folder made by `scenecolor run`.*cp -r"):
        pipeline.open_step("00_data_prep", notebook_values("00_data_prep", run_dir=str(first.run_dir)))
    assert (first.run_dir / "artifacts" / "00_data_prep" / "meta.json").is_file()  # untouched


def test_missing_upstream_names_the_commands_that_fill_the_same_folder(tmp_path: Path, notebook_values) -> None:
    hand = tmp_path / "hand"
    ctx = pipeline.open_step("03_reference_selection", notebook_values("03", run_dir=str(hand)))
    with pytest.raises(MissingUpstreamError) as info:
        ctx.upstream("01_embedder_training")
    message = str(info.value)
    order = [message.index(f"notebooks/{s}.ipynb '") for s in ("00_data_prep", "01_embedder_training")]
    assert order == sorted(order) and "02_scene_analysis.ipynb" in message
    assert f"-p run_dir '{hand.resolve()}'" in message and "papermill --cwd notebooks" in message
    assert "scenecolor run --until" not in message
    # once 00 has finished there, only the steps still missing are named
    pipeline.open_step("00_data_prep", notebook_values("00", run_dir=str(hand))).finish()
    with pytest.raises(MissingUpstreamError) as info:
        ctx.upstream("01_embedder_training")
    assert "notebooks/00_data_prep.ipynb" not in str(info.value)
