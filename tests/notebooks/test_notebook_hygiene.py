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


def _parameters(nb: nbformat.NotebookNode) -> list[tuple[str, object, str]]:
    """(name, value, comment) of each line of the first code cell, which must be tagged ``parameters``."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    first = code[0]
    assert "parameters" in first.metadata.get("tags", []), "the first code cell must be tagged 'parameters'"
    lines = []
    for line, node in zip(first.source.splitlines(), ast.parse(first.source).body, strict=True):
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, (
            f"only one plain assignment per line belongs in the parameters cell: {line!r}"
        )
        assert line.count("=") == 1, f"papermill skips a parameter line holding a second '=': {line!r}"
        assert len(line) <= 120, f"{line!r} is over 120 characters; shorten the field's description"
        _, sep, comment = line.partition("  # ")
        assert sep, f"parameter line without an inline comment (its description): {line!r}"
        lines.append((node.targets[0].id, ast.literal_eval(node.value), comment))  # type: ignore[attr-defined]
    return lines


@pytest.mark.parametrize("step", STEPS, ids=[s.id for s in STEPS])
def test_notebook_is_clean_and_parameters_match_model(step) -> None:
    """The parameters cell is the model written out: every field in order, `name = default  # description`."""
    path = NOTEBOOKS / step.notebook
    assert path.is_file(), f"{step.notebook} is missing"
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, (
                f"{step.notebook}: commit notebooks without outputs"
            )
    assert nb.metadata.get("kernelspec", {}).get("name") == "scenecolor"
    model = step.params_model
    declared = _parameters(nb)
    expected = [(name, f.default, f.description) for name, f in model.model_fields.items()]
    for got, want in zip(declared, expected, strict=False):
        assert got == want, (
            f"{step.notebook}: parameters cell line {got} differs from the field {want} (name, default, description) "
            f"of scenecolor.workbook.params.{model.__name__}; write `{want[0]} = {want[1]!r}  # {want[2]}`"
        )
    assert [d[0] for d in declared] == list(model.model_fields), (
        f"{step.notebook}: the parameters cell must assign exactly the fields of {model.__name__}, in order"
    )
    sources = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert f'pipeline.open_step("{step.id}", globals())' in sources and "ctx.finish()" in sources
    assert any(c.cell_type == "markdown" for c in nb.cells), "students need the narrative"


@pytest.mark.parametrize("name", ["smoke", "sample", "full"])
def test_profiles_validate(name: str) -> None:
    profile = load_profile(name)
    validated = validate_profile(profile)
    assert set(validated) == {s.id for s in STEPS}


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
