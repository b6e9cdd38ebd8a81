"""Imports only go down the layers, and no module imports itself back through others.

Layers, lowest first: ``utils``; ``datasets``, ``nets``, ``rl_agents``; ``export``, ``hpo``;
``learners``; the edge (``main.py``, ``automl.py``, ``options.py``, ``pocketflow.py``,
``tools/``, ``benchmarks/``, the ``nets/*_run.py`` launchers). A module may import its own
package and packages of lower layers, never a sibling of its own layer or anything above.
Function-level imports count too.
"""

import ast
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
RANKS = {"utils": 0, "datasets": 1, "nets": 1, "rl_agents": 1, "export": 2, "hpo": 2,
         "learners": 3, "main": 4, "automl": 4, "options": 4, "flag_config": 4, "pocketflow": 4, "tools": 4, "benchmarks": 4}
EDGE = 4


def _modules():
    """``{module name: path}`` of every project module outside tests/ and the venvs (any hidden
    directory: ``.venv``, ``benchmarks/tfmot/.venv``)."""
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[0] not in RANKS or any(part.startswith(".") for part in parts):
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _rank(module: str, path: pathlib.Path | None = None) -> int:
    if path is not None and path.name.endswith("_run.py"):
        return EDGE  # a launcher
    return RANKS[module.split(".")[0]]


def _imports(path: pathlib.Path) -> set[str]:
    """Project modules ``path`` imports, function-level imports included (``from a import b``
    counts ``a.b`` when it is one)."""
    tree = ast.parse(path.read_text(), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name in MODULES}


def test_imports_only_go_down_the_layers():
    violations = []
    for module, path in MODULES.items():
        rank, package = _rank(module, path), module.split(".")[0]
        for imported in _imports(path):
            other = imported.split(".")[0]
            if other == package or rank == EDGE and _rank(imported, MODULES[imported]) <= EDGE:
                continue
            if _rank(imported) >= rank:
                violations.append(f"{os.path.relpath(path, ROOT)} imports {imported}")
    assert not violations, "\n".join(sorted(violations))


def test_learners_import_nothing_from_tools():
    offenders = [f"{module} imports {imported}" for module, path in MODULES.items()
                 if module.startswith("learners") for imported in _imports(path)
                 if imported.startswith(("tools", "benchmarks"))]
    assert not offenders


def test_no_import_cycles():
    graph = {module: _imports(path) for module, path in MODULES.items()}
    state: dict[str, str] = {}

    def visit(module, trail):
        state[module] = "open"
        for imported in graph[module]:
            if imported == module or imported.startswith(module + "."):
                continue  # a package importing its own submodules
            if state.get(imported) == "open":
                pytest.fail("import cycle: " + " -> ".join([*trail, module, imported]))
            if imported not in state:
                visit(imported, [*trail, module])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])


def test_a_violation_is_detected(tmp_path, monkeypatch):
    """The check itself: a utils module importing learners is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from learners.registry import LEARNERS\n")
    assert _imports(bad) == {"learners.registry"}
    assert _rank("learners.registry") > _rank("utils.bad")


def test_keras_internals_are_read_in_two_modules_only():
    internals = ("._inbound_nodes", "._keras_history", "._nodes_by_depth", "._flatten_layers",
                 "keras.src")
    allowed = {"utils.keras_graph", "learners.pruning.graph"}
    offenders = [module for module, path in MODULES.items() if module not in allowed
                 and any(name in path.read_text() for name in internals)]
    assert not offenders
