"""The ``logaudit`` command line (click). Each command group lives in its own module."""

from __future__ import annotations

import sys

import click

from logging_audit import __version__
from logging_audit._cli.audit import audit
from logging_audit._cli.detect import detect, import_
from logging_audit._cli.forensics import forensics
from logging_audit._cli.keys import keys
from logging_audit._cli.logs import archive, cat, checkpoint, prune, shred, tail, verify

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="logaudit")
def cli() -> None:
    """Tamper-evident, verifiable logs and audit trails."""


for _command in (
    keys,
    verify,
    cat,
    tail,
    checkpoint,
    archive,
    prune,
    shred,
    audit,
    forensics,
    detect,
    import_,
):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: runs the CLI and turns library errors into exit codes."""
    from logging_audit.errors import Error

    try:
        cli.main(args=argv, prog_name="logaudit", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except Error as exc:
        click.echo(f"logaudit: error: {exc}", err=True)
        sys.exit(2)
