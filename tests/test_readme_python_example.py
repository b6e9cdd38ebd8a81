"""The README's "From Python" example runs as written (digits, a Keras CNN, ``compress``)."""

import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_the_readme_python_example_runs(tmp_path):
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### From Python"):]
    script = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    script += ("\nimport os\nassert isinstance(pruned, keras.Model) and os.path.isfile(int8_file)"
               "\nprint('accuracy', result.metrics['eval']['accuracy'],"
               " result.metrics['dense_eval']['accuracy'])\n")
    (tmp_path / "example.py").write_text(script)
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    finished = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env=environment,
                              capture_output=True, text=True, timeout=300, check=False)
    assert finished.returncode == 0, finished.stderr[-3000:]
    pruned, original = map(float, finished.stdout.rsplit("accuracy", 1)[1].split())
    assert original >= 0.9 and pruned >= original - 0.1, (pruned, original)
    assert (tmp_path / "digits_channel" / "inputs" / "model.keras").is_file()
