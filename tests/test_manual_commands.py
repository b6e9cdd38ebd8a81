"""Every ``run_local.sh`` command line of the README and docs/ parses into a valid config.

The commands are read from the files, so a renamed or removed flag, a bad value or an unknown
learner in the manual fails here. (The channel-pruning commands also run end to end in
``tests/learners/channel_pruned/test_documented_commands.py``.)
"""

import pathlib
import re
import shlex

import pytest
from absl import flags

import main

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def documented_commands() -> list[tuple[str, str, list[str]]]:
    """``(page, launcher, arguments)`` of every ``./scripts/run_local.sh`` command line (a
    trailing backslash continues it); placeholders such as ``<model>`` are skipped."""
    found = []
    for page in PAGES:
        text = page.read_text().replace("\\\n", " ")
        for line in text.splitlines():
            match = re.search(r"\./scripts/run_local\.sh( .*)?$", line)
            if not match or "<" in line or "[" in line:
                continue
            words = shlex.split(match.group(1) or "", comments=True)
            launcher = words[0] if words and words[0].endswith("_run.py") else None
            arguments = words[1:] if launcher else words
            found.append((page.name, launcher or "nets/lenet_at_digits_run.py", arguments))
    return found


COMMANDS = documented_commands()


def test_the_manual_has_commands_to_check():
    assert len(COMMANDS) >= 15


@pytest.mark.parametrize("page, launcher, arguments", COMMANDS,
                         ids=[f"{page}:{' '.join(args)[:60]}" for page, _, args in COMMANDS])
def test_a_documented_command_builds_its_config(page, launcher, arguments):
    default_net = pathlib.Path(launcher).name.removesuffix("_run.py")
    flags.FLAGS.unparse_flags()
    try:
        flags.FLAGS(["run_local.sh", *arguments])
        config = main.config_from_flags(default_net)
    finally:
        flags.FLAGS.unparse_flags()
    assert config.net == default_net or any(a.startswith(("--net", "--model_file"))
                                            for a in arguments)
