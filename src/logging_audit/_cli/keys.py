"""``logaudit keys``: create key stores, export the verifier, show public key facts."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from logging_audit.crypto import DEFAULT_EPOCH_SECONDS, EncryptionKeyStore, SigningKeyStore
from logging_audit.crypto._files import format_time
from logging_audit.errors import ConfigError, KeyStoreError

__all__ = ["keys"]

_FILE = click.Path(dir_okay=False, path_type=Path)


@click.group()
def keys() -> None:
    """Create and inspect a stream's key stores."""


@keys.command("init")
@click.option("--key-file", required=True, type=_FILE, help="Signing key file to create (0600).")
@click.option("--origin", required=True, help="Stream origin, e.g. logaudit/<node>/<name>.")
@click.option("--key-name", default=None, help="Checkpoint key name (default: the origin).")
@click.option(
    "--epoch-seconds",
    type=click.IntRange(min=1),
    default=DEFAULT_EPOCH_SECONDS,
    show_default=True,
    help="Length of a MAC key epoch.",
)
@click.option(
    "--verifier-out",
    type=_FILE,
    default=None,
    help="Also write the verifier file (public key and K(0)) here; keep it off this host.",
)
@click.option(
    "--encryption-key-file",
    type=_FILE,
    default=None,
    help="Also create an encryption key store (KEK and a first data key) here.",
)
def init(
    key_file: Path,
    origin: str,
    key_name: str | None,
    epoch_seconds: int,
    verifier_out: Path | None,
    encryption_key_file: Path | None,
) -> None:
    """Create a new signing key store (and optionally the verifier and an encryption key store).

    Never overwrites an existing file.
    """
    paths = [p for p in (key_file, verifier_out, encryption_key_file) if p is not None]
    if len({os.path.abspath(p) for p in paths}) != len(paths):
        raise ConfigError("--key-file, --verifier-out and --encryption-key-file must differ")
    if encryption_key_file is not None and (
        encryption_key_file.exists() or encryption_key_file.is_symlink()
    ):
        raise KeyStoreError(
            f"key file {encryption_key_file} already exists; refusing to overwrite it"
        )
    store = SigningKeyStore.create(
        key_file,
        origin,
        key_name=key_name,
        epoch_seconds=epoch_seconds,
        verifier_path=verifier_out,
    )
    click.echo(f"created signing key file {key_file}")
    click.echo(f"  origin:        {store.origin}")
    click.echo(f"  verifier key:  {store.verifier_key}")
    click.echo(f"  epoch seconds: {store.epoch_seconds}")
    if verifier_out is not None:
        click.echo(f"wrote verifier file {verifier_out}")
        click.echo(
            "  it holds K(0): move it off this host; a copy kept here gives up forward security",
            err=True,
        )
    else:
        click.echo(
            "export the verifier now, before epoch 1 begins (K(0) is erased then):\n"
            f"  logaudit keys export-verifier --key-file {key_file} -o <file off this host>",
            err=True,
        )
    if encryption_key_file is not None:
        try:
            enc = EncryptionKeyStore.create(encryption_key_file)
        except KeyStoreError as exc:
            raise KeyStoreError(f"{exc} (signing key file {key_file} was created)") from exc
        click.echo(f"created encryption key file {encryption_key_file}")
        click.echo(f"  data key:      {enc.current_kid}")


@keys.command("export-verifier")
@click.option("--key-file", required=True, type=_FILE, help="Signing key file.")
@click.option(
    "-o",
    "--output",
    type=_FILE,
    default=None,
    help="Write the verifier file here (0600, never overwritten) instead of printing it.",
)
def export_verifier(key_file: Path, output: Path | None) -> None:
    """Export the verifier (public key and K(0)); only possible before epoch 1 begins."""
    verifier = SigningKeyStore.load(key_file).export_verifier()
    if output is None:
        click.echo(verifier.to_json().decode("ascii"), nl=False)
    else:
        verifier.save(output)
        click.echo(f"wrote verifier file {output}")
    click.echo(
        "the verifier holds K(0): keep it off this host; a copy kept here gives up "
        "forward security",
        err=True,
    )


@keys.command("show")
@click.option("--key-file", required=True, type=_FILE, help="Signing key file.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def show(key_file: Path, as_json: bool) -> None:
    """Show the public facts of a signing key store (never a secret)."""
    store = SigningKeyStore.load(key_file)
    facts: dict[str, Any] = {
        "key_file": str(store.path),
        "origin": store.origin,
        "key_name": store.key_name,
        "key_id": store.key_id,
        "verifier_key": store.verifier_key,
        "epoch": store.epoch,
        "epoch_started": format_time(store.epoch_started_at),
        "epoch_seconds": store.epoch_seconds,
        "created": format_time(store.created_at),
        "verifier_exportable": store.epoch == 0,
    }
    if as_json:
        click.echo(json.dumps(facts, indent=2))
        return
    width = max(len(name) for name in facts)
    for name, value in facts.items():
        if isinstance(value, bool):
            value = "yes" if value else "no (K(0) was erased when epoch 1 began)"
        click.echo(f"{name.replace('_', ' ') + ':':<{width + 2}}{value}")
