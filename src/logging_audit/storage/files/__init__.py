"""File storage of a stream: numbered segments, compressed archives, manifest, checkpoints."""

from logging_audit.storage.files.options import StreamOptions
from logging_audit.storage.files.stream import FileStream
from logging_audit.storage.files.verify import verify_stream_dir

__all__ = ["FileStream", "StreamOptions", "verify_stream_dir"]
