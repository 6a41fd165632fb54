"""Every ``logaudit`` command documents itself, and the console entry points run."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from logging_audit._cli import cli


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for name, cmd in group.commands.items():
        path = (*prefix, name)
        found.append(path)
        if isinstance(cmd, click.Group):
            found.extend(_commands(cmd, path))
    return found


COMMANDS = _commands(cli)


def test_core_commands_exist() -> None:
    names = {c[0] for c in COMMANDS}
    assert {"verify", "cat", "tail", "checkpoint", "archive", "prune", "shred", "keys"} <= names


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    cmd: click.Command = cli
    for part in path:
        assert isinstance(cmd, click.Group)
        cmd = cmd.commands[part]
    assert cmd.help, f"logaudit {' '.join(path)} has no help text"
    assert "Usage:" in result.output


def test_python_dash_m_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "logging_audit", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.startswith("logaudit, version")


def test_library_error_exits_2_with_message(tmp_path: object) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "logging_audit", "keys", "show", "--key-file", "/nonexistent/k"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 2
    assert "/nonexistent/k" in out.stderr
