"""Files on disk that server data names: safe names, containment, atomic writes.

A queue server chooses output `file_name`s and request ids; neither may decide where
kling_nb writes. Every such path is built here and proven to stay under its folder, and
every file is written whole (temp file + rename) or not at all.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from pathlib import Path

from ._errors import KlingError
from ._i18n import message

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
        raise KlingError(message("files.escape", root=root, name="/".join(parts)[:200]))
    return target


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write `data` to `path` whole or not at all (temp file in the same folder + rename).

    The file gets the mode a plain `open()` would give it (0644 under umask 022), not the
    temp file's private 0600: pictures, tutorials and sidecars are the user's to share."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):  # POSIX; Windows has no such modes
            os.fchmod(fd, 0o666 & ~current_umask())
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


_umask_lock = threading.Lock()


def current_umask() -> int:
    """This process's umask, read without changing it where Linux says it (else set and
    restored at once, under a lock: os.umask is the only portable way to read it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}
_SIGNATURES = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/webp": (b"RIFF",),
}


def cache_folder(home: Path, request_id: str) -> Path:
    """`home/cache/<request id>`, refused if the id cannot name a folder safely."""
    rid = str(request_id)
    if not rid or safe_name(rid, "") != rid:
        raise KlingError(message("files.bad_request_id", value=rid[:80], limit=MAX_NAME))
    return child_path(Path(home) / "cache", rid)


def image_file_name(file_name: object, index: int, content_type: str) -> str:
    """A safe file name for output image `index`, keeping a server's name when harmless."""
    ext = EXTENSIONS.get(content_type, ".png")
    fallback = f"image_{index + 1}{ext}"
    if not isinstance(file_name, str) or not file_name:
        return fallback
    name = safe_name(file_name, "")
    if not name or name != file_name.strip():
        return fallback
    return name if Path(name).suffix.lower() in {".png", ".jpg", ".jpeg", ".webp"} else name + ext


def looks_like_image(data: bytes, content_type: str) -> bool:
    """True when `data` decodes as an image (of `content_type` where it is known)."""
    if not data:
        return False
    signatures = _SIGNATURES.get(content_type)
    if signatures and not data.startswith(signatures):
        return False
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
    except Exception:  # noqa: BLE001 - any decoder failure means "not an image"
        return False
    return True


def cached_image_ok(path: Path, content_type: str) -> bool:
    """True when a cached file exists and still decodes (a partial or HTML file does not)."""
    try:
        return path.is_file() and looks_like_image(path.read_bytes(), content_type)
    except OSError:
        return False


def write_image(
    folder: Path, file_name: object, index: int, data: bytes, content_type: str
) -> Path:
    """Write output image `index` under `folder` atomically, only if `data` decodes as an image."""
    if not looks_like_image(data, content_type):
        head = data[:40].decode("utf-8", "replace")
        raise KlingError(
            message(
                "files.not_image",
                index=index + 1,
                content_type=content_type,
                size=len(data),
                head=head,
            )
        )
    path = child_path(folder, image_file_name(file_name, index, content_type))
    return atomic_write_bytes(path, data)
