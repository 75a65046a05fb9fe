"""Files on disk that server data names: safe names, containment, atomic writes.

A queue server chooses output `file_name`s and request ids; neither may decide where
kling_nb writes. Every such path is built here and proven to stay under its folder, and
every file is written whole (temp file + rename) or not at all.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from ._errors import KlingError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME = 120


def safe_name(text: str, fallback: str) -> str:
    """`text` reduced to one harmless path part (letters, digits, `._-`), else `fallback`."""
    name = _UNSAFE.sub("_", str(text)).strip("._")[:MAX_NAME]
    return name or fallback


def child_path(folder: Path, *parts: str) -> Path:
    """`folder/parts…`, refused with a `KlingError` unless it stays inside `folder`."""
    root = Path(folder).resolve()
    target = root.joinpath(*parts).resolve()
    if target == root or root not in target.parents:
        raise KlingError(
            f"Refused a path outside {root}: {'/'.join(parts)!r} came from the server and "
            "would escape its folder."
        )
    return target


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write `data` to `path` whole or not at all (temp file in the same folder + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path
