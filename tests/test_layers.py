"""The package layout stays true: imports flow one way, no cycles, leaves stay leaves.

Read with ``ast`` only (nothing is imported), so a violation is reported with the file and line.
The order (docs/ARCHITECTURE.md): ``paper, core < data < scenes | embed < retrieval < colorize
< evaluate < export < workbook < cli``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "lib" / "scenecolor"
RANK = {
    "paper": 0, "core": 0, "data": 1, "scenes": 2, "embed": 2, "retrieval": 3, "colorize": 4,
    "evaluate": 5, "export": 6, "workbook": 7, "cli": 8,
}  # fmt: skip
SIBLINGS_APART = {("scenes", "embed"), ("embed", "scenes")}
LEAVES = ("bench", "figures", "compare")  # modules only notebooks, the CLI and other leaves import
STAGES = ("data", "scenes", "embed", "retrieval", "colorize", "evaluate", "export")
#: a step's drivers (speed benches, figures, experiments, runtime comparisons, report tables): workbook/<stage>/
DRIVERS = (*LEAVES, "experiments", "tables")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def scenecolor_imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported module, line, at module top) for every import of a scenecolor module in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                raise AssertionError(f"{path}:{node.lineno}: relative import; write `from scenecolor.... import`")
            if node.module and node.module.split(".")[0] == "scenecolor":
                base = node.module
                names = [f"{base}.{a.name}" if _is_module(f"{base}.{a.name}") else base for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.split(".")[0] == "scenecolor"]
        for name in dict.fromkeys(names):
            guarded = _under_type_checking(tree, node)
            if not guarded:
                found.append((name, node.lineno, id(node) in top))
    return found


def _is_module(dotted: str) -> bool:
    rel = Path(*dotted.split(".")[1:])
    return (PKG / rel).with_suffix(".py").is_file() or (PKG / rel / "__init__.py").is_file()


def _under_type_checking(tree: ast.Module, target: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            if any(child is target for child in ast.walk(node)):
                return True
    return False


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


MODULES = {module_name(p): p for p in sorted(PKG.rglob("*.py"))}
EDGES = {m: scenecolor_imports(p) for m, p in MODULES.items()}


def test_every_package_has_a_rank():
    packages = {package_of(m) for m in MODULES} - {""}
    assert packages <= set(RANK), f"packages without a place in the order: {packages - set(RANK)}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_flow_one_way(module):
    src_pkg = package_of(module)
    if not src_pkg:
        return
    bad = []
    for target, line, _ in EDGES[module]:
        dst_pkg = package_of(target)
        if not dst_pkg or dst_pkg == src_pkg:
            continue
        if RANK[dst_pkg] >= RANK[src_pkg] or (src_pkg, dst_pkg) in SIBLINGS_APART:
            bad.append(f"line {line}: {module} ({src_pkg}) imports {target} ({dst_pkg})")
    assert not bad, (
        "imports against the order paper, core < data < scenes|embed < retrieval < colorize < evaluate < export < "
        "workbook < cli:\n" + "\n".join(bad)
    )


@pytest.mark.parametrize("module", sorted(m for m in MODULES if package_of(m) != "cli"))
def test_imports_at_module_top(module):
    late = [f"line {line}: {target}" for target, line, top in EDGES[module] if not top]
    assert not late, (
        f"{module} imports scenecolor modules inside functions (hidden cycles); move them to the top:\n"
        + "\n".join(late)
    )


@pytest.mark.parametrize("module", sorted(m for m in MODULES if package_of(m) not in ("cli", "")))
def test_leaves_and_trainers(module):
    leaf = module.rsplit(".", 1)[-1]
    bad = []
    for target, line, _ in EDGES[module]:
        t_leaf = target.rsplit(".", 1)[-1]
        if t_leaf in LEAVES and leaf not in LEAVES:
            bad.append(
                f"line {line}: {module} imports the leaf {target} (only notebooks, the CLI and other leaves may)"
            )
        if leaf == "model" and t_leaf == "train":
            bad.append(f"line {line}: a model module imports its trainer {target}")
    assert not bad, "\n".join(bad)


def test_stages_hold_the_method_and_the_workbook_the_drivers():
    bad = [m for m in MODULES if package_of(m) in STAGES and m.rsplit(".", 1)[-1].split("_")[-1] in DRIVERS]
    assert not bad, (
        "a stage package holds a step's driver (bench, figures, experiments, comparison or report tables); "
        f"move it whole to scenecolor.workbook.<stage>: {bad}"
    )


def test_no_cycles():
    graph = {m: {t for t, _, _ in EDGES[m] if t in MODULES and t != m} for m in MODULES}
    # a package's __init__ is imported implicitly with its modules; cycles through it are not ours
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for m in sorted(graph):
        if m not in state and (cycle := visit(m)):
            pytest.fail("import cycle: " + " -> ".join(cycle))


def test_only_workbook_knows_run_folders_and_papermill():
    bad = []
    for module, path in MODULES.items():
        if package_of(module) in ("workbook", "cli"):
            continue
        text = path.read_text()
        for needle in ("papermill", '"artifacts"', "'artifacts'", "reports/latest"):
            if needle in text:
                bad.append(f"{module} mentions {needle}")
    assert not bad, "\n".join(bad)


def private_imports(path: Path) -> list[tuple[str, int]]:
    """(module.name, line) for every ``from scenecolor.X import _name`` in ``path`` (dunders aside)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        (f"{node.module}.{a.name}", node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "scenecolor"
        for a in node.names
        if a.name.startswith("_") and not a.name.endswith("__")
    ]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_private_names_cross_modules(module):
    bad = [f"line {line}: {name}" for name, line in private_imports(MODULES[module])]
    assert not bad, (
        f"{module} imports another module's private names; make them public in their owner or move them:\n"
        + "\n".join(bad)
    )


def test_the_checker_sees_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from scenecolor.workbook import pipeline\n\ndef f():\n    from scenecolor.core import video\n")
    found = scenecolor_imports(bad)
    assert ("scenecolor.workbook.pipeline", 1, True) in found
    assert ("scenecolor.core.video", 4, False) in found
    bad.write_text("from scenecolor.core.color import _EPS, L_MAX, __all__\nfrom os import _exit\n")
    assert private_imports(bad) == [("scenecolor.core.color._EPS", 1)]
