"""Every notebook: committed without outputs, parameters cell first and identical to its model."""

from __future__ import annotations

import ast
import re
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
