"""Every notebook: committed without outputs, parameters cell first and identical to its model."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from scenecolor.workbook.pipeline import STEPS
from scenecolor.workbook.runner import load_profile, validate_profile

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def _parameters(nb: nbformat.NotebookNode) -> dict[str, object]:
    code = [c for c in nb.cells if c.cell_type == "code"]
    first = code[0]
    assert "parameters" in first.metadata.get("tags", []), "the first code cell must be tagged 'parameters'"
    values: dict[str, object] = {}
    for node in ast.parse(first.source).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, (
            f"only plain assignments belong in the parameters cell: {ast.unparse(node)}"
        )
        values[node.targets[0].id] = ast.literal_eval(node.value)  # type: ignore[attr-defined]
    return values


@pytest.mark.parametrize("step", STEPS, ids=[s.id for s in STEPS])
def test_notebook_is_clean_and_parameters_match_model(step) -> None:
    path = NOTEBOOKS / step.notebook
    assert path.is_file(), f"{step.notebook} is missing"
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, (
                f"{step.notebook}: commit notebooks without outputs"
            )
    assert nb.metadata.get("kernelspec", {}).get("name") == "scenecolor"
    declared = _parameters(nb)
    model_defaults = {name: field.default for name, field in step.params_model.model_fields.items()}
    assert declared == model_defaults, (
        f"{step.notebook}: parameters cell differs from scenecolor.workbook.params.{step.params_model.__name__}"
    )
    sources = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert re.search(rf'open_step\(\s*"{step.id}"', sources) and "ctx.finish()" in sources
    assert any(c.cell_type == "markdown" for c in nb.cells), "students need the narrative"


@pytest.mark.parametrize("name", ["smoke", "sample", "full"])
def test_profiles_validate(name: str) -> None:
    profile = load_profile(name)
    validated = validate_profile(profile)
    assert set(validated) == {s.id for s in STEPS}


def _parameter_lines(nb: nbformat.NotebookNode) -> list[str]:
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    return cell.source.splitlines()


@pytest.mark.parametrize("step", STEPS, ids=[s.id for s in STEPS])
def test_every_parameter_is_explained_by_its_description_in_params_py(step) -> None:
    """`name = value  # description`, the description word for word from scenecolor.workbook.params."""
    nb = nbformat.read(str(NOTEBOOKS / step.notebook), as_version=4)
    fields = step.params_model.model_fields
    for line in _parameter_lines(nb):
        name, _, rest = line.partition("=")
        value, sep, comment = rest.partition("  # ")
        name = name.strip()
        assert sep, f"{step.notebook}: parameter line without an inline comment: {line!r}"
        assert line.count("=") == 1, f"{step.notebook}: papermill skips a parameter line holding a second '=': {line!r}"
        assert comment == fields[name].description, (
            f"{step.notebook}: the comment of '{name}' differs from its description in "
            f"scenecolor.workbook.params.{step.params_model.__name__}; copy it over"
        )
        assert len(line) <= 120, f"{step.notebook}: {name}'s line is over 120 characters; shorten its description"


def test_papermill_help_notebook_shows_the_descriptions() -> None:
    import papermill

    for step in STEPS:
        inspected = papermill.inspect_notebook(str(NOTEBOOKS / step.notebook))
        for name, field in step.params_model.model_fields.items():
            assert inspected[name]["help"] == field.description, (step.notebook, name)
    cli = subprocess.run(
        [sys.executable, "-m", "papermill", "--help-notebook", str(NOTEBOOKS / "04_colorizer_training.ipynb")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr
    assert "temporal_weight" in cli.stdout and "weight of the temporal term" in cli.stdout
    assert "resume" in cli.stdout


@pytest.mark.parametrize("step", STEPS, ids=[s.id for s in STEPS])
def test_each_notebook_ends_with_two_or_three_exercises(step) -> None:
    nb = nbformat.read(str(NOTEBOOKS / step.notebook), as_version=4)
    last = nb.cells[-1]
    assert last.cell_type == "markdown" and last.source.startswith("## Try this"), (
        f"{step.notebook} must end with a '## Try this' markdown cell"
    )
    items = re.findall(r"^\d\. \*\*(.+?)\*\*(.*?)(?=^\d\. |\Z)", last.source, flags=re.M | re.S)
    assert 2 <= len(items) <= 3, f"{step.notebook}: two or three exercises, found {len(items)}"
    fields = step.params_model.model_fields
    for title, body in items:
        # what to change (a real parameter of this notebook), what to expect, how to see it
        changed = re.findall(r"`(\w+) = ", body)
        assert changed and all(name in fields for name in changed), (step.notebook, title, changed)
        assert "*Expect*" in body and "*See it*" in body, (step.notebook, title)
