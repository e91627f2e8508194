"""Files that survive a kill at any instant and are checked when read back: training
checkpoints, cached partitions, histories.

A record file is three parts:

    b"sparsegnn-record/1\\n"                                   the format line
    {"kind": ..., "meta": {...}, "bytes": n, "sha256": ...}\\n  one line of JSON: what it holds
    n bytes                                                    ``torch.save`` of the payload dict

It is written to a temporary file in the same folder, fsynced, renamed over the target and the
folder fsynced (:func:`write_atomic`), so a reader sees the old file or the new one, never a part.
:func:`read_record` checks the format line, the kind, the length (a truncated file) and the
sha256 (a damaged one) before unpickling the payload with ``weights_only=True`` (tensors,
numbers, strings and containers only: a record never runs code when loaded). Every failure is a
:class:`DamagedFileError` (a ValueError) whose message starts with the file's path.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

FORMAT_LINE = b"sparsegnn-record/1\n"


class DamagedFileError(ValueError):
    """A record file that is truncated, damaged, or not a record of the expected kind."""


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a fsynced temporary file in the same folder, a rename
    and a fsync of the folder (a kill at any instant leaves the old file or the new one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp's 0600 would outlive the rename
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def write_record(path: str | os.PathLike, kind: str, meta: dict[str, Any], payload: dict[str, Any]) -> None:
    """Write ``payload`` (tensors, numbers, strings, containers) with its JSON-able ``meta`` as a
    record of ``kind`` to ``path``, atomically."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    body = buffer.getvalue()
    header = {"kind": kind, "meta": meta, "bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    write_atomic(path, FORMAT_LINE + json.dumps(header, sort_keys=True).encode() + b"\n" + body)


def read_header(path: str | os.PathLike, kind: str) -> tuple[dict[str, Any], bytes]:
    """``(meta, body)`` of the record at ``path``, checked to be a whole, undamaged ``kind``."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DamagedFileError(f"{path}: cannot be read ({error.strerror or error})") from None
    if not data.startswith(FORMAT_LINE):
        raise DamagedFileError(f"{path}: not a sparsegnn record (no {FORMAT_LINE.strip().decode()!r} line): "
                               "damaged, or another program's file")
    end = data.find(b"\n", len(FORMAT_LINE))
    try:
        header = json.loads(data[len(FORMAT_LINE):end]) if end >= 0 else None
    except ValueError:
        header = None
    if not isinstance(header, dict) or not {"kind", "meta", "bytes", "sha256"} <= header.keys():
        raise DamagedFileError(f"{path}: truncated or damaged record header")
    if header["kind"] != kind:
        raise DamagedFileError(f"{path}: a {header['kind']!r} record, expected a {kind!r} one")
    body = data[end + 1:]
    if len(body) != header["bytes"]:
        raise DamagedFileError(f"{path}: truncated or damaged ({len(body)} of {header['bytes']} payload bytes)")
    if hashlib.sha256(body).hexdigest() != header["sha256"]:
        raise DamagedFileError(f"{path}: damaged (the payload fails its sha256 checksum)")
    return header["meta"], body


def read_record(path: str | os.PathLike, kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(meta, payload)`` of the record of ``kind`` at ``path`` (see the module docstring)."""
    meta, body = read_header(path, kind)
    try:
        payload = torch.load(io.BytesIO(body), map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - a checksummed body that does not unpickle
        raise DamagedFileError(f"{Path(path)}: payload cannot be loaded ({type(error).__name__}: {error})") from None
    if not isinstance(payload, dict):
        raise DamagedFileError(f"{Path(path)}: payload is a {type(payload).__name__}, expected a dict")
    return meta, payload


def mismatches(found: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """``"key: file has A, this run has B"`` for every key of ``expected`` whose value in
    ``found`` differs (JSON-normalised, so tuples equal lists)."""
    norm = lambda value: json.loads(json.dumps(value, sort_keys=True, default=str))  # noqa: E731
    lines = []
    for key, want in expected.items():
        have = found.get(key)
        if norm(have) != norm(want):
            lines.append(f"{key}: the file has {_short(have)}, this run has {_short(want)}")
    return lines


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."
