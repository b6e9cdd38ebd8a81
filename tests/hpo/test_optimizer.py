"""The backend registry and the names the learners' flags accept."""

import ast
import os

import pytest

from hpo.optimizer import BACKEND_NAMES, BACKENDS, Optimizer

HPO = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                   "hpo")


def test_the_flag_choices_are_exactly_the_registered_backends():
    assert sorted(BACKEND_NAMES) == sorted(BACKENDS.names())


@pytest.mark.parametrize("name", BACKEND_NAMES)
def test_each_backend_is_imported_and_registered_when_first_asked_for(name):
    backend = BACKENDS.get(name)
    assert issubclass(backend, Optimizer) and BACKENDS.get(name) is backend


def test_an_unknown_backend_lists_the_valid_ones():
    with pytest.raises(ValueError, match="Expected one of: ddpg, gp, random, tpe"):
        BACKENDS.get("bayes")


def _imports(path: str) -> set[str]:
    """Every module ``path`` imports, function-local imports included."""
    with open(path) as handle:
        tree = ast.parse(handle.read(), path)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_hpo_imports_only_downward_and_has_no_import_cycle():
    # hpo/automl.py is the AutoML edge, on its way out of hpo/.
    modules = {name[:-3]: _imports(os.path.join(HPO, name)) for name in sorted(os.listdir(HPO))
               if name.endswith(".py") and name != "automl.py"}
    for module, imported in modules.items():
        upward = sorted(n for n in imported
                        if n.split(".")[0] in ("learners", "tools", "main", "automl")
                        or n.startswith("hpo.automl"))
        assert not upward, f"hpo/{module}.py imports {upward}"
    edges = {module: {n.split(".")[1] for n in imported
                      if n.startswith("hpo.") and n.split(".")[1] in modules}
             for module, imported in modules.items()}
    edges["__init__"] |= {n for n in modules if f"hpo.{n}" in modules["__init__"]}

    def reaches(start: str, goal: str, seen: set) -> bool:
        return any(n == goal or (n not in seen and not seen.add(n) and reaches(n, goal, seen))
                   for n in edges[start] - {"__init__"})

    cycles = sorted(m for m in edges if m != "__init__" and reaches(m, m, set()))
    assert not cycles, f"import cycles through hpo/{cycles}"
