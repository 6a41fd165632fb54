"""Archives of closed segments: zstd-compressed, optionally AES-256-GCM encrypted in chunks.

An archive is one zstd frame holding the segment's bytes. An encrypted archive
is a JSON header line followed by chunks, each
``len(4, big-endian) ‖ nonce(12) ‖ ciphertext``, the ciphertexts of the
consecutive 1 MiB pieces of that frame. Every chunk's AAD binds the header
bytes, the chunk index and whether it is the last chunk, so chunks cannot be
reordered, dropped, truncated or moved between archives undetected.

A segment of up to :data:`_WHOLE` bytes is read and compressed in one call each,
so the archiver (which runs beside the logging thread) takes the GIL back only a
handful of times per segment; its frame header then also states the content
size. Larger files are compressed streaming, in :data:`_CHUNK` pieces. Readers
read both alike.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import orjson
import zstandard

from logging_audit.crypto.aead import decrypt, encrypt
from logging_audit.errors import CryptoError, StorageError

__all__ = ["iter_archive_lines", "write_archive"]

_FORMAT = "logaudit-archive-v1"
_CHUNK = 1 << 20
_WHOLE = 64 << 20  # segments up to this size are read and compressed whole


def _aad(header: bytes, index: int, last: bool) -> bytes:
    return header + index.to_bytes(8, "big") + (b"\x01" if last else b"\x00")


def write_archive(
    source: Path,
    target: Path,
    *,
    level: int = 10,
    key: tuple[str, bytes] | None = None,
    origin: str = "",
) -> str:
    """Compress ``source`` into ``target`` (and encrypt with ``key=(kid, key)``).

    Writes to a temporary file, fsyncs and renames, so a crash never leaves a
    half archive under the final name. Returns the SHA-256 hex of the archive file.
    """
    tmp = target.with_name(target.name + ".tmp")
    try:
        with source.open("rb", buffering=0) as src:
            blob = _compress(src, zstandard.ZstdCompressor(level=level))
        if key is not None:
            kid, dk = key
            header = orjson.dumps(
                {"format": _FORMAT, "kid": kid, "origin": origin, "name": target.name}
            )
            out = bytearray(header + b"\n")
            chunks = [blob[i : i + _CHUNK] for i in range(0, len(blob), _CHUNK)] or [b""]
            for i, part in enumerate(chunks):
                nonce, ct = encrypt(dk, part, _aad(header, i, i == len(chunks) - 1))
                out += len(ct).to_bytes(4, "big") + nonce + ct
            blob = bytes(out)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        raise StorageError(f"cannot write archive {target}: {exc}") from exc
    return hashlib.sha256(blob).hexdigest()


def _compress(src: IO[bytes], cctx: zstandard.ZstdCompressor) -> bytes:
    """One zstd frame of everything in ``src``.

    Whole in one call when the file is at most :data:`_WHOLE` bytes: the read,
    the compression and the hashing each release the GIL once, so the archiver
    is not held up by a busy logging thread for every chunk; streaming beyond.
    """
    if os.fstat(src.fileno()).st_size <= _WHOLE:
        return cctx.compress(src.read())
    compressed = io.BytesIO()
    with cctx.stream_writer(compressed, closefd=False) as zw:
        while chunk := src.read(_CHUNK):
            zw.write(chunk)
    return compressed.getvalue()


def _decrypt_stream(raw: IO[bytes], path: Path, key_for: Callable[[str], bytes] | None) -> bytes:
    header = raw.readline().rstrip(b"\n")
    try:
        meta = orjson.loads(header)
    except orjson.JSONDecodeError as exc:
        raise StorageError(f"archive {path} has a malformed header") from exc
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise StorageError(f"archive {path} is not a {_FORMAT} archive")
    kid = meta.get("kid")
    if not isinstance(kid, str):
        raise StorageError(f"archive {path} names no data key")
    if key_for is None:
        raise CryptoError(f"archive {path} is encrypted (key {kid}) and no key store was given")
    dk = key_for(kid)
    out = bytearray()
    index = 0
    while True:
        head = raw.read(4)
        if not head:
            raise StorageError(f"archive {path} is truncated: no final chunk")
        size = int.from_bytes(head, "big")
        nonce = raw.read(12)
        ct = raw.read(size)
        if len(nonce) != 12 or len(ct) != size:
            raise StorageError(f"archive {path} is truncated in chunk {index}")
        last = raw.peek(1)[:1] == b"" if isinstance(raw, io.BufferedReader) else False
        try:
            out += decrypt(dk, nonce, ct, _aad(header, index, last))
        except CryptoError as exc:
            raise CryptoError(f"archive {path} chunk {index}: {exc}") from exc
        index += 1
        if last:
            return bytes(out)


def iter_archive_lines(
    path: Path, *, key_for: Callable[[str], bytes] | None = None
) -> Iterator[bytes]:
    """Yield the lines (with their newline) of an archived segment, streaming."""
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise StorageError(f"cannot open archive {path}: {exc}") from exc
    with raw:
        first = raw.peek(1)[:1]
        if first == b"{":
            source: IO[bytes] = io.BytesIO(_decrypt_stream(raw, path, key_for))
        else:
            source = raw
        dctx = zstandard.ZstdDecompressor()
        try:
            with dctx.stream_reader(source) as reader:
                text = io.BufferedReader(reader, buffer_size=_CHUNK)
                yield from text
        except zstandard.ZstdError as exc:
            raise StorageError(f"archive {path} is corrupt: {exc}") from exc
