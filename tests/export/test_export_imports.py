"""The export package sits below the learners: it imports only utils, datasets and third party."""

import ast
import os
import subprocess
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXPORT_DIR = os.path.join(REPO_ROOT, "export")
FORBIDDEN = ("learners", "hpo", "nets", "tools", "rl_agents", "main")


def imported_modules(path):
    tree = ast.parse(open(path).read(), filename=path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module


def test_export_imports_nothing_above_it():
    offending = [f"{name}: {module}" for name in sorted(os.listdir(EXPORT_DIR))
                 if name.endswith(".py")
                 for module in imported_modules(os.path.join(EXPORT_DIR, name))
                 if module.split(".")[0] in FORBIDDEN]
    assert not offending, offending


def test_importing_export_does_not_load_tensorflow():
    code = ("import sys, export; "
            "loaded = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')]; "
            "assert not loaded, sorted(loaded)")
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                               text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
