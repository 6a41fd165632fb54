"""A reader that loaded the manifest before the writer archived a segment still reads it all."""

from __future__ import annotations

from pathlib import Path

from logging_audit.crypto.verifier_file import VerifierFile
from logging_audit.secure_logger import SecureLogger
from logging_audit.storage.files.layout import StreamLayout
from logging_audit.storage.files.manifest import Manifest
from logging_audit.storage.files.reading import iter_stream_lines


def test_segments_archived_after_the_manifest_was_read_are_read_from_the_archive(
    tmp_path: Path,
) -> None:
    verifier = tmp_path / "verifier.json"
    logger = SecureLogger(
        name="app",
        log_dir=tmp_path / "logs",
        node_id="node-a",
        max_log_size_mb=0.01,
        verifier_file=verifier,
        archive=True,
    )
    for i in range(120):
        logger.info("record", extra={"i": i, "pad": "p" * 80})
    logger.stream.flush(sync=True)  # written; archiving of closed segments may be pending
    layout = StreamLayout(tmp_path / "logs" / "app")
    stale = Manifest.load(layout.manifest)  # what a reader saw before archiving finished
    logger.flush()  # finishes archiving: segment files are removed
    assert all(s.archive is not None for s in Manifest.load(layout.manifest).segments[:-1])
    lines = [line for _, _, line in iter_stream_lines(layout, stale)]
    assert len(lines) == logger.stream.writer.size
    report = logger.verify_log_integrity(verifier_file=verifier)
    assert report["verified"] is True, report["errors"]
    assert VerifierFile.load(verifier).origin == "logaudit/node-a/app"
    logger.close()
