"""Every `console` example in the README runs as shown: same exit code, and every
output line it shows appears in what the command prints."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def examples() -> list[tuple[str, int, list[str]]]:
    """(command, exit code, expected lines) in README order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = []
    for block in re.findall(r"```console\n(.*?)```", text, re.S):
        for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, *output = chunk.rstrip("\n").split("\n")
            code = 0
            if m := re.search(r"\s+# exit (\d+)$", command):
                code, command = int(m.group(1)), command[: m.start()]
            found.append((command, code, [line.strip() for line in output if line.strip()]))
    return found


def test_the_readme_has_examples_for_every_command():
    commands = {shlex.split(c)[1] for c, _, _ in examples()}
    assert {"validate", "sample", "score", "explain"} <= commands


def commands() -> dict:
    from typer.main import get_command

    from mqlsync.jobs.cli import app
    return get_command(app).commands


@pytest.mark.parametrize("name", sorted(commands()))
def test_every_command_has_help_and_a_readme_section(name):
    # sqlite-utils' discipline (tests/test_docs.py): a command nobody can read about
    # does not exist for an admin.
    command = commands()[name]
    assert (command.help or "").strip(), f"`mqlsync {name}` has no help text"
    for param in command.params:
        if not param.hidden and param.name != "help":
            assert getattr(param, "help", None) or param.param_type_name == "argument", \
                f"`mqlsync {name}` {param.opts[0]} has no help"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.search(rf"^### `mqlsync {name}\b", readme, re.M), f"README has no section for `mqlsync {name}`"


def test_one_meaning_per_short_flag():
    meanings: dict[str, set[str]] = {}
    for command in commands().values():
        for param in command.params:
            for short in (o for o in param.opts if re.fullmatch(r"-\w", o)):
                meanings.setdefault(short, set()).add(param.opts[0])
    assert {flag: names for flag, names in meanings.items() if len(names) > 1} == {}


def test_readme_examples_run_as_shown(tmp_path):
    # A scratch folder that sees the repository's mappings and test data, so the
    # examples' relative paths work and their output files land outside the repo.
    for name in ("mappings", "tests"):
        (tmp_path / name).symlink_to(ROOT / name)
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", TERM="dumb", PYTHONIOENCODING="utf-8")
    cli = f"{shlex.quote(sys.executable)} -m mqlsync.jobs.cli"
    for command, code, expected in examples():
        assert command.startswith("mqlsync "), command
        result = subprocess.run(cli + command[len("mqlsync"):], shell=True, cwd=tmp_path, env=env,
                                capture_output=True, text=True, encoding="utf-8", timeout=120)
        printed = [" ".join(line.split()) for line in (result.stdout + result.stderr).splitlines()]
        assert result.returncode == code, (command, result.stderr)
        for line in expected:
            if line != "...":
                assert " ".join(line.split()) in printed, f"{command!r} did not print {line!r}"


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__])
