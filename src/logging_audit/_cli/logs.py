"""``logaudit verify|cat|tail|checkpoint|archive|prune|shred`` for SecureLogger logs."""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
import orjson

from logging_audit.crypto.signing_keys import SigningKeyStore
from logging_audit.crypto.verifier_file import VerifierFile
from logging_audit.errors import ConfigError, StorageError
from logging_audit.ledger.notes import NoteVerifier
from logging_audit.ledger.report import VerificationReport
from logging_audit.ledger.verifier import VerifierMaterial
from logging_audit.reader import Record, RecordFilter, follow_records, read_records
from logging_audit.storage.files.layout import StreamLayout
from logging_audit.storage.files.manifest import Manifest
from logging_audit.storage.files.options import StreamOptions
from logging_audit.storage.files.reading import read_checkpoints
from logging_audit.storage.files.stream import FileStream
from logging_audit.storage.files.verify import find_streams, verify_stream_dir

__all__ = ["archive", "cat", "checkpoint", "prune", "shred", "tail", "verify"]

_PATH = click.Path(path_type=Path)
_EXISTING = click.Path(exists=True, path_type=Path)


def _stream_dir(path: Path) -> Path:
    streams = find_streams(path)
    if len(streams) != 1:
        what = "no stream" if not streams else f"{len(streams)} streams"
        raise ConfigError(f"{path} holds {what}; name one stream directory (log_dir/<name>)")
    return streams[0]


def _material(
    stream: Path,
    origin: str,
    verifiers: tuple[Path, ...],
    key_file: Path | None,
    public_keys: tuple[str, ...],
) -> tuple[VerifierMaterial, str]:
    """Pick the best verifier material at hand and say what it is."""
    for path in verifiers:
        vf = VerifierFile.load(path)
        if vf.origin == origin:
            return vf.material(), f"verifier file {path} (every epoch's MACs)"
    if verifiers and not public_keys and key_file is None:
        raise ConfigError(f"none of the verifier files is for stream {origin!r}")
    keys_path = key_file or StreamLayout(stream).keys / "signing.json"
    if key_file is not None or (keys_path.exists() and not public_keys):
        store = SigningKeyStore.load(keys_path)
        if store.origin != origin:
            raise ConfigError(f"key file {keys_path} belongs to stream {store.origin!r}")
        return store.verifier_material(), f"host key file {keys_path} (current epoch's MACs)"
    if public_keys:
        parsed = tuple(NoteVerifier.from_string(k) for k in public_keys)
        return VerifierMaterial(origin, parsed), "public key only (no MACs)"
    raise ConfigError(
        f"no verifier material for {origin!r}: give --verifier FILE (best), "
        "--key-file FILE or --public-key VKEY"
    )


def _summary(stream: Path, report: VerificationReport, source: str) -> str:
    d = report.to_dict()
    mark = "OK  " if report.verified else "FAIL"
    lines = [f"{mark} {report.origin}  ({stream})"]
    span = f"seq {report.first_seq}–{report.last_seq}" if report.first_seq is not None else "empty"
    lines.append(
        f"     {report.entries:,} entries ({span}), {report.seals_verified} seals, "
        f"{report.checkpoints_verified} checkpoints verified"
    )
    lines.append(f"     key material: {source}")
    checked = ", ".join(f"{a}–{b}" if a != b else str(a) for a, b in d["mac_epochs_checked"])
    unchecked = ", ".join(f"{a}–{b}" if a != b else str(a) for a, b in d["mac_epochs_unchecked"])
    lines.append(f"     MACs checked for epochs: {checked or 'none'}")
    if unchecked:
        lines.append(
            f"     MACs NOT checked for epochs: {unchecked} (covered by chain, tree, checkpoints)"
        )
    if report.tree_size > report.covered_size:
        lines.append(
            f"     signed checkpoints vouch for the first {report.covered_size:,} entries; "
            f"the last {report.tree_size - report.covered_size:,} are verified only by chain "
            "and MACs (verified only up to the latest checkpoint)"
        )
    if report.trusted_size is not None:
        lines.append(f"     trusted checkpoint at size {report.trusted_size:,} checked")
    for p in report.pruned:
        state = "confirmed by a prune entry" if p.confirmed else "NOT confirmed"
        lines.append(f"     pruned by policy: seq {p.first}–{p.last} ({p.reason}; {state})")
    if report.unsealed_tail:
        a, b = report.unsealed_tail
        lines.append(f"     unsealed tail: seq {a}–{b} (epoch still open)")
    for f in report.failures:
        lines.append(f"     ✗ {f}")
    return "\n".join(lines)


@click.command()
@click.argument("log_dir", type=_EXISTING)
@click.option(
    "--verifier",
    "verifiers",
    multiple=True,
    type=_EXISTING,
    help="Verifier file with K(0) (from 'keys export-verifier'); repeat for several streams.",
)
@click.option("--key-file", type=_EXISTING, help="The stream's signing key file (host side).")
@click.option("--public-key", "public_keys", multiple=True, help="Checkpoint verifier key string.")
@click.option(
    "--checkpoint",
    "trusted",
    type=_EXISTING,
    help="A trusted signed checkpoint (from a witness); catches tail truncation.",
)
@click.option("--encryption-key-file", type=_EXISTING, help="Needed only for encrypted archives.")
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes walking segments in parallel (default: the number of CPUs, "
    "when the log is large enough to gain). The report is the same for any value.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
def verify(
    log_dir: Path,
    verifiers: tuple[Path, ...],
    key_file: Path | None,
    public_keys: tuple[str, ...],
    trusted: Path | None,
    encryption_key_file: Path | None,
    jobs: int | None,
    as_json: bool,
) -> None:
    """Verify every stream under LOG_DIR (or the one stream it is). Exit 1 on any failure."""
    streams = find_streams(log_dir)
    if not streams:
        raise ConfigError(f"{log_dir} holds no logaudit stream (no manifest.json)")
    trusted_note = trusted.read_text(encoding="utf-8") if trusted else None
    key_for = None
    if encryption_key_file is not None:
        from logging_audit.crypto.data_keys import EncryptionKeyStore

        key_for = EncryptionKeyStore.load(encryption_key_file).data_key
    results: list[dict[str, Any]] = []
    ok = True
    for stream in streams:
        origin = Manifest.load(StreamLayout(stream).manifest).origin
        material, source = _material(stream, origin, verifiers, key_file, public_keys)
        report = _verify_with_progress(
            stream, material, trusted_note, key_for, quiet=as_json, jobs=jobs
        )
        ok = ok and report.verified
        if as_json:
            results.append({"stream": str(stream), "key_material": source, **report.to_dict()})
        else:
            click.echo(_summary(stream, report, source))
    if as_json:
        click.echo(
            orjson.dumps(results if len(results) > 1 else results[0], option=orjson.OPT_INDENT_2)
        )
    if not ok:
        sys.exit(1)


def _verify_with_progress(
    stream: Path,
    material: VerifierMaterial,
    trusted: str | None,
    key_for: Any,
    *,
    quiet: bool,
    jobs: int | None,
) -> VerificationReport:
    if quiet or not sys.stderr.isatty():
        return verify_stream_dir(
            stream, material, trusted_checkpoint=trusted, key_for=key_for, jobs=jobs
        )
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    manifest = Manifest.load(StreamLayout(stream).manifest)
    closed = [s.end_seq for s in manifest.segments if s.end_seq is not None]
    estimate = max(closed, default=0) or None
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
        auto_refresh=False,  # no refresh thread: worker processes can then be forked
    ) as bar:
        task = bar.add_task(f"verifying {stream.name}", total=estimate)

        shown = [0.0]

        def advance(n: int) -> None:
            bar.advance(task, n)
            now = time.monotonic()
            if now - shown[0] >= 0.1:
                shown[0] = now
                bar.refresh()

        return verify_stream_dir(
            stream,
            material,
            trusted_checkpoint=trusted,
            key_for=key_for,
            progress=advance,
            jobs=jobs,
        )


def _show(rec: Record, as_json: bool) -> str:
    if as_json:
        return orjson.dumps(rec.to_dict(), default=str).decode()
    f = rec.fields
    if rec.kind != "record":
        return f"{rec.ts} #{rec.seq} [{rec.kind}] " + orjson.dumps(f, default=str).decode()
    extra = f.get("extra")
    tail = " " + orjson.dumps(extra, default=str).decode() if extra else ""
    note = "" if rec.status == "ok" else f" <{rec.status}>"
    exc = "\n" + str(f["exc_info"]) if f.get("exc_info") else ""
    return (
        f"{rec.ts} #{rec.seq} {f.get('level', '-'):8} {f.get('logger', '-')}: "
        f"{f.get('msg', '')}{tail}{note}{exc}"
    )


def _filters(fn: Any) -> Any:
    for opt in reversed(
        [
            click.option("--level", help="Minimum level (DEBUG, INFO, WARNING, ERROR, CRITICAL)."),
            click.option("--since", help="Only records at or after this ISO time."),
            click.option("--until", help="Only records at or before this ISO time."),
            click.option("--grep", "text", help="Only records containing this text."),
            click.option("--regex", help="Only records matching this regular expression."),
            click.option("--ledger", is_flag=True, help="Also show seals and prune entries."),
            click.option("--encryption-key-file", type=_EXISTING, help="Decrypt with this file."),
            click.option("--json", "as_json", is_flag=True, help="One JSON object per line."),
        ]
    ):
        fn = opt(fn)
    return fn


@click.command()
@click.argument("stream", type=_EXISTING)
@_filters
def cat(stream: Path, as_json: bool, encryption_key_file: Path | None, **flt: Any) -> None:
    """Print the records of a log (decrypting where the key is at hand)."""
    where = RecordFilter.build(
        level=flt["level"],
        since=flt["since"],
        until=flt["until"],
        text=flt["text"],
        regex=flt["regex"],
        include_ledger=flt["ledger"],
    )
    for rec in read_records(
        _stream_dir(stream), encryption_key_file=encryption_key_file, where=where
    ):
        click.echo(_show(rec, as_json))


@click.command()
@click.argument("stream", type=_EXISTING)
@click.option("-n", "--lines", "count", default=10, show_default=True, help="Records to show.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new records.")
@_filters
def tail(
    stream: Path,
    count: int,
    follow: bool,
    as_json: bool,
    encryption_key_file: Path | None,
    **flt: Any,
) -> None:
    """Print the last records of a log; with -f, keep following it."""
    where = RecordFilter.build(
        level=flt["level"],
        since=flt["since"],
        until=flt["until"],
        text=flt["text"],
        regex=flt["regex"],
        include_ledger=flt["ledger"],
    )
    root = _stream_dir(stream)
    if follow:
        try:
            for rec in follow_records(
                root, encryption_key_file=encryption_key_file, where=where, last=count
            ):
                click.echo(_show(rec, as_json))
        except KeyboardInterrupt:
            return
        return
    recent: list[Record] = []
    for rec in read_records(root, encryption_key_file=encryption_key_file, where=where):
        recent.append(rec)
        if len(recent) > count:
            recent.pop(0)
    for rec in recent:
        click.echo(_show(rec, as_json))


def _open_writer(stream: Path, key_file: Path | None, **kw: Any) -> FileStream:
    manifest = Manifest.load(StreamLayout(stream).manifest)
    parts = manifest.origin.split("/")
    if len(parts) != 3 or parts[0] != "logaudit":
        raise ConfigError(f"stream origin {manifest.origin!r} is not logaudit/<node>/<name>")
    try:
        return FileStream(
            StreamOptions(
                name=parts[2], log_dir=stream.parent, node_id=parts[1], key_file=key_file, **kw
            )
        )
    except StorageError as exc:
        raise StorageError(f"{exc} (stop the application, or use its own API)") from exc


@click.command()
@click.argument("stream", type=_EXISTING)
@click.option("--new", is_flag=True, help="Write a new checkpoint first (opens the log).")
@click.option("--key-file", type=_EXISTING, help="Signing key file, if not in the default place.")
def checkpoint(stream: Path, new: bool, key_file: Path | None) -> None:
    """Print the latest signed checkpoint (C2SP note) of a log."""
    root = _stream_dir(stream)
    if new:
        fs = _open_writer(root, key_file)
        try:
            click.echo(fs.checkpoint(), nl=False)
        finally:
            fs.close()
        return
    notes = read_checkpoints(StreamLayout(root))
    if not notes:
        raise ConfigError(f"{root} has no checkpoint yet")
    click.echo(notes[-1], nl=False)


@click.command()
@click.argument("stream", type=_EXISTING)
@click.option("--key-file", type=_EXISTING, help="Signing key file, if not in the default place.")
def archive(stream: Path, key_file: Path | None) -> None:
    """Close the open segment and archive every closed segment now."""
    fs = _open_writer(_stream_dir(stream), key_file)
    try:
        fs.rotate()
        n = fs.archive_closed()
    finally:
        fs.close()
    click.echo(f"rotated; {n} more segment(s) archived")


@click.command()
@click.argument("stream", type=_EXISTING)
@click.option("--older-than", "days", type=int, required=True, help="Prune archives older (days).")
@click.option("--key-file", type=_EXISTING, help="Signing key file, if not in the default place.")
def prune(stream: Path, days: int, key_file: Path | None) -> None:
    """Remove archived segments older than --older-than days (legal hold stops it)."""
    if days < 0:
        raise ConfigError("--older-than must be >= 0 days")
    fs = _open_writer(_stream_dir(stream), key_file)
    try:
        if fs.legal_hold:
            click.echo("legal hold is on: nothing pruned")
            return
        n = fs.prune(older_than=timedelta(days=days))
    finally:
        fs.close()
    click.echo(f"pruned {n} segment(s); a signed prune entry records the range")


@click.command()
@click.argument("stream", type=_EXISTING)
@click.option("--segment", "segment_id", type=int, required=True, help="Segment number.")
@click.option("--encryption-key-file", type=_EXISTING, help="If not in the default place.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def shred(stream: Path, segment_id: int, encryption_key_file: Path | None, yes: bool) -> None:
    """Destroy the data key of one segment: its encrypted fields become unreadable for good.

    The log still verifies: hashes, MACs and checkpoints cover the ciphertext.
    """
    from logging_audit.crypto.data_keys import EncryptionKeyStore

    root = _stream_dir(stream)
    manifest = Manifest.load(StreamLayout(root).manifest)
    seg = next((s for s in manifest.segments if s.id == segment_id), None)
    if seg is None or seg.kid is None:
        raise ConfigError(f"segment {segment_id} of {root} does not exist or is not encrypted")
    path = encryption_key_file or StreamLayout(root).keys / "encryption.json"
    if not yes:
        click.confirm(f"Destroy data key {seg.kid} of segment {segment_id} for good?", abort=True)
    EncryptionKeyStore.load(path).shred(seg.kid)
    click.echo(f"data key {seg.kid} of segment {segment_id} shredded")
