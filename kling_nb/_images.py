"""Input images: whatever the user has, turned into something the service accepts.

Safe fixes are made; everything else is refused with a `KlingImageError` that names
`image_urls[N]`, before anything is sent or billed:

    source ─► decode: bomb guard from the header, then a full, untruncated decode
           ─► upright, sRGB, 8-bit, RGB or grey: EXIF rotation, CMYK, ICC, 16-bit, alpha on white
           ─► size rules: ≥ 300 px a side, ratio within 2.5:1 (refused, never cropped)
           ─► budget: ≤ 2048 px a side, ≤ 3 MB as JPEG (or PNG for lossless sources)
           ─► data: URI

Grey images stay grey (a grey JPEG or PNG is valid input); 1-bit ones are re-encoded as
8-bit grey, unless already a valid PNG.
An original JPEG or PNG that already meets every rule and budget is sent byte for byte.
"""

from __future__ import annotations

import io
import math
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import urlparse
from urllib.request import url2pathname

import numpy as np
from numpy.typing import NDArray
from PIL import ExifTags, Image, ImageOps, JpegImagePlugin, UnidentifiedImageError

from ._errors import KlingImageError
from ._rules import MAX_DECODED_PIXELS, Violation, check_image_size
from ._text import clip, clip_middle
from ._wire import IMAGE_FORMATS, IMAGE_MIN_SIDE, data_uri, decode_data_uri

ImageInput: TypeAlias = (
    str | os.PathLike[str] | bytes | bytearray | memoryview | Image.Image | np.ndarray
)

# The longest side sent. The service's output is 1K/2K, so more input pixels only add bytes.
MAX_SIDE = 2048
# Encoded image bytes per input (its data: URI is 4/3 of that). The service allows 10 MB, but
# "large data: URIs are known to fail well below 10 MB on some gateways" (PROTOCOL.md).
MAX_PAYLOAD_BYTES = 3 * 1024 * 1024
# An input file larger than this is not a photo (a video or an archive chosen by mistake):
# refused from its size, before a byte is read.
MAX_FILE_BYTES = 50 * 1024 * 1024
JPEG_QUALITY = 90
JPEG_MIN_QUALITY = 70
LABEL_MAX_CHARS = 80

_CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png"}
# Sources whose pixels are exact: re-encoded as PNG when that fits the budget, else JPEG.
_LOSSLESS_FORMATS = frozenset({"PNG", "GIF", "BMP", "TIFF", "PPM", "TGA", "ICO", "QOI"})
_ALPHA_MODES = frozenset({"LA", "La", "PA", "RGBA", "RGBa"})
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]+)://")
_FLOAT_SLACK = 1e-3


@dataclass(frozen=True, repr=False)
class PreparedImage:
    """An input image ready to send, and what was done to make it so."""

    url: str
    width: int | None
    height: int | None
    content_type: str | None
    fixes: tuple[str, ...] = ()
    source_label: str = ""

    @property
    def is_remote(self) -> bool:
        """True for an http(s) URL passed through unfetched."""
        return not _is_data_uri(self.url)

    @property
    def byte_size(self) -> int | None:
        """Size of the encoded image inside the data: URI; None for remote URLs."""
        if self.is_remote:
            return None
        payload = len(self.url) - self.url.index(",") - 1
        return payload * 3 // 4 - self.url.count("=", len(self.url) - 2)

    @property
    def notes(self) -> tuple[str, ...]:
        """Each fix made to this image, in words of the interface language."""
        return tuple(fix_words(fix) for fix in self.fixes)

    def __repr__(self) -> str:
        size = f"{self.width}x{self.height}" if self.width else "not fetched"
        return (
            f"PreparedImage({describe_source(self.url)!r}, {size}, "
            f"fixes={self.fixes!r}, source={self.source_label!r})"
        )


@dataclass
class _Decoded:
    image: Image.Image  # loaded, upright, "L" or "RGB"
    size: tuple[int, int]  # upright size at full resolution (before any JPEG draft reduction)
    fixes: list[str] = field(default_factory=list)
    format: str | None = None  # the source's format; None for arrays and new PIL images
    source_bytes: int | None = None
    original: bytes | None = None  # a JPEG or PNG source's bytes, sendable as they are


def to_image_url(source: ImageInput, index: int = 0) -> str:
    """The http(s) URL or data: URI to send for `source` as `image_urls[index]`."""
    return prepare_image(source, index).url


def prepare_image(source: ImageInput, index: int = 0) -> PreparedImage:
    """Check, fix and encode one input image; KlingImageError if it cannot be used."""
    label = describe_source(source)
    if isinstance(source, str) and _is_remote(source):
        return PreparedImage(source, None, None, None, (), label)
    decoded = _decode(source, index, MAX_SIDE)
    width, height = decoded.size
    violations = check_image_size(width, height, index)
    if violations:
        raise KlingImageError(violations)
    if (
        decoded.original is not None
        and not decoded.fixes
        and len(decoded.original) <= MAX_PAYLOAD_BYTES
        and max(decoded.size) <= MAX_SIDE
    ):
        content_type = _CONTENT_TYPES[decoded.format or ""]
        return PreparedImage(
            data_uri(decoded.original, content_type), width, height, content_type, (), label
        )
    data, out_format, image, fixes = _encode(decoded, index)
    content_type = _CONTENT_TYPES[out_format]
    return PreparedImage(
        data_uri(data, content_type), *image.size, content_type, tuple(fixes), label
    )


_FIX_SIZES = re.compile(r"shrunk (\d+)x(\d+)→(\d+)x(\d+)")
_FIX_BODY = re.compile(r"shrunk to (\d+)×(\d+) so the request body fits")
_FIX_FORMAT = re.compile(r"([a-z0-9]+)_to_(png|jpeg)")


def fix_words(fix: str) -> str:
    """One recorded fix ("exif_rotated", "shrunk 4000x3000→2048x1536", …) in words."""
    from ._i18n import MESSAGES, message

    key = f"images.fix.{fix}"
    if key in MESSAGES:
        return message(key)
    for pattern, name in ((_FIX_SIZES, "shrunk"), (_FIX_BODY, "shrunk_body")):
        found = pattern.fullmatch(fix)
        if found:
            return message(f"images.fix.{name}", size=" → ".join(_pairs(found.groups())))
    found = _FIX_FORMAT.fullmatch(fix)
    if found:
        return message("images.fix.format", old=found[1].upper(), new=found[2].upper())
    if fix.startswith("quality "):
        return message("images.fix.quality", quality=fix.split()[1])
    if fix.startswith("compressed "):
        return message("images.fix.compressed", sizes=fix.split(" ", 1)[1].replace("→", " → "))
    return fix


def _pairs(numbers: Sequence[str]) -> list[str]:
    return [f"{a}×{b}" for a, b in zip(numbers[::2], numbers[1::2], strict=True)]


def fixes_line(prepared: Sequence[PreparedImage]) -> str | None:
    """One line saying what was changed in the inputs to make them acceptable (None when
    nothing was): shown before a job is sent, so that no fix is silent."""
    from ._i18n import message

    parts = [
        message("images.fixed_one", label=image.source_label, fixes=", ".join(image.notes))
        for image in prepared
        if image.fixes
    ]
    return message("images.fixed", items="; ".join(parts)) if parts else None


def open_image(data: bytes, index: int = 0) -> Image.Image:
    """Decode image bytes safely: bomb guard from the header, then a full, untruncated decode."""
    image = _open_header(data, index)
    _load(image, index)
    return image


def load_image(source: ImageInput, index: int = 0) -> Image.Image:
    """Any local source as the pixels prepare_image would send before shrinking.

    Decoded, upright, 8-bit "RGB" or "L", alpha flattened on white; the size rules are
    not applied. An http(s) URL raises KlingImageError: inputs are never downloaded.
    """
    if isinstance(source, str) and _is_remote(source):
        raise _refuse(index, "image_remote", value=describe_source(source))
    return _decode(source, index, None).image


def source_bytes(source: ImageInput, index: int = 0) -> bytes:
    """The encoded bytes of a local source (path, file: URL, data: URI, bytes), checked as
    prepare_image checks them (a regular file of at most 50 MB); KlingImageError if not."""
    if isinstance(source, str) and _is_remote(source):
        raise _refuse(index, "image_remote", value=describe_source(source))
    if isinstance(source, str) and _is_data_uri(source):
        head, sep, payload = source.partition(",")
        try:
            return decode_data_uri(head.lower() + sep + payload)[1]
        except ValueError:
            raise _refuse(index, "image_undecodable") from None
    if isinstance(source, (str, os.PathLike)):
        return _read_file(source, index)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    raise _refuse(index, "image_unsupported_type", value=type(source).__name__)


def thumbnail_bytes(image: Image.Image, max_side: int = 256, max_bytes: int = 80_000) -> bytes:
    """A JPEG thumbnail no larger than `max_side` px and `max_bytes` bytes."""
    base = _normalize(image, [])
    base = _resized(base, _fit(base.size, max_side))
    thumb, quality = base, 85
    while True:
        data = _save(thumb, "JPEG", quality)
        if len(data) <= max_bytes:
            return data
        if quality > 40:
            quality -= 15
        elif max(thumb.size) > 16:
            thumb = _resized(base, _fit(thumb.size, max(16, max(thumb.size) * 3 // 4)))
        else:
            raise ValueError(f"max_bytes={max_bytes} is too small for a JPEG thumbnail")


def thumbnail_data_uri(image: Image.Image, max_side: int = 256, max_bytes: int = 80_000) -> str:
    """`thumbnail_bytes` as a data: URI, for inline HTML."""
    return data_uri(thumbnail_bytes(image, max_side, max_bytes), "image/jpeg")


def describe_source(source: object) -> str:
    """A short label for an image source: never a whole data: URI, at most 80 characters."""
    if isinstance(source, str):
        if _is_data_uri(source):
            comma = source.find(",", 0, 256)
            content_type = source[5:comma].split(";")[0] if comma > 0 else ""
            payload = len(source) - comma - 1 if comma > 0 else len(source)
            return clip(f"data: URI, {content_type or '?'}, {_size(payload * 3 // 4)}")
        if _is_remote(source) or _SCHEME.match(source):
            return clip_middle(source, LABEL_MAX_CHARS)
        return clip(Path(source).name or source)
    if isinstance(source, os.PathLike):
        path = os.fsdecode(os.fspath(source))
        return clip(Path(path).name or path)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"bytes, {_size(memoryview(source).nbytes)}"
    if isinstance(source, Image.Image):
        return f"PIL image {source.width}×{source.height} {source.mode}"
    if isinstance(source, np.ndarray):
        return clip(f"numpy array {_shape(source)} {source.dtype}")
    return clip(type(source).__name__)


# --- decoding -------------------------------------------------------------------------------


def _decode(source: object, index: int, max_side: int | None) -> _Decoded:
    if isinstance(source, str) and _is_data_uri(source):
        head, sep, payload = source.partition(",")
        try:
            _, data = decode_data_uri(head.lower() + sep + payload)
        except ValueError:
            raise _refuse(index, "image_undecodable") from None
        return _decode_bytes(data, index, max_side)
    if isinstance(source, (str, os.PathLike)):
        return _decode_bytes(_read_file(source, index), index, max_side)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _decode_bytes(bytes(source), index, max_side)
    if isinstance(source, Image.Image):
        return _decode_pil(source, index)
    if isinstance(source, np.ndarray):
        return _decode_array(source, index)
    raise _refuse(index, "image_unsupported_type", value=type(source).__name__)


def _read_file(source: str | os.PathLike[Any], index: int) -> bytes:
    text = os.fsdecode(os.fspath(source))
    if not text.strip():  # Path("") is the current folder: say what was really given
        raise _refuse(index, "image_empty_name")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Latin-1 bytes from os.fsdecode, or a lone surrogate: no text can carry it safely.
        raise _refuse(index, "image_name_not_utf8", value=clip(text)) from None
    match = _SCHEME.match(text)
    if match and match.group(1).lower() != "file":
        raise _refuse(index, "image_url_scheme", value=clip_middle(text, LABEL_MAX_CHARS))
    path = Path(url2pathname(urlparse(text).path)) if match else Path(text).expanduser()
    try:
        return _read_regular_file(path, index)
    except FileNotFoundError:
        where = clip_middle(str(path))
        raise _refuse(index, "image_missing_file", value=where, cwd=os.getcwd()) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise _refuse(
            index, "image_unreadable_file", value=clip_middle(str(path)), reason=reason
        ) from None


def _read_regular_file(path: Path, index: int) -> bytes:
    """The bytes of a regular file of at most MAX_FILE_BYTES; checked before reading."""
    # O_NONBLOCK: opening a named pipe must not wait for a writer that never comes.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = _file_kind(info.st_mode)
            raise _refuse(index, "image_not_regular_file", value=clip_middle(str(path)), kind=kind)
        if info.st_size > MAX_FILE_BYTES:
            raise _file_too_large(index, path, info.st_size)
        with os.fdopen(os.dup(fd), "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)  # the file may grow after fstat
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise _file_too_large(index, path, len(data))
    return data


def _file_too_large(index: int, path: Path, size: int) -> KlingImageError:
    return _refuse(
        index,
        "image_file_too_large",
        value=clip_middle(str(path)),
        size=_size(size),
        limit=_size(MAX_FILE_BYTES),
    )


def _file_kind(mode: int) -> str:
    from ._i18n import language

    kinds = [
        (stat.S_ISDIR, "a folder", "文件夹"),
        (stat.S_ISFIFO, "a named pipe (FIFO)", "命名管道（FIFO）"),
        (stat.S_ISCHR, "a character device", "字符设备"),
        (stat.S_ISBLK, "a block device", "块设备"),
        (stat.S_ISSOCK, "a socket", "套接字"),
    ]
    for test, en, zh in kinds:
        if test(mode):
            return zh if language() == "zh" else en
    return "特殊文件" if language() == "zh" else "a special file"


def _decode_bytes(data: bytes, index: int, max_side: int | None) -> _Decoded:
    image = _open_header(data, index)
    stored = image.size
    if max_side and isinstance(image, JpegImagePlugin.JpegImageFile) and max(stored) > 2 * max_side:
        # Decode at 1/2, 1/4 or 1/8 scale straight from the DCT: less memory, same result.
        scale = max_side / max(stored)
        image.draft(None, (math.ceil(stored[0] * scale), math.ceil(stored[1] * scale)))
    _load(image, index)
    fixes = ["first_frame"] if image.format != "MPO" and getattr(image, "n_frames", 1) > 1 else []
    upright = stored[::-1] if _orientation(image) in (5, 6, 7, 8) else stored
    fmt = image.format
    return _Decoded(
        _normalize(image, fixes),
        (upright[0], upright[1]),
        fixes,
        fmt,
        len(data),
        data if fmt in IMAGE_FORMATS else None,
    )


def _decode_pil(image: Image.Image, index: int) -> _Decoded:
    if getattr(image, "tile", None):  # opened but not decoded yet: guard it like bytes
        if image.width * image.height > MAX_DECODED_PIXELS:
            raise _too_many_pixels(index, image.size)
        _load(image, index)
    upright = image.size[::-1] if _orientation(image) in (5, 6, 7, 8) else image.size
    fixes: list[str] = []
    return _Decoded(_normalize(image, fixes), (upright[0], upright[1]), fixes, image.format)


def _decode_array(array: np.ndarray, index: int) -> _Decoded:
    pixels = array[:, :, 0] if array.ndim == 3 and array.shape[2] == 1 else array
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] not in (3, 4)):
        raise _refuse(index, "image_array_shape", shape=_shape(array), dtype=str(array.dtype))
    height, width = pixels.shape[:2]
    if pixels.size == 0:
        raise KlingImageError(check_image_size(width, height, index))
    fixes: list[str] = []
    image = Image.fromarray(np.ascontiguousarray(_array_to_uint8(pixels, index, fixes)))
    return _Decoded(_flatten(image, fixes), (width, height), fixes)


def _array_to_uint8(array: np.ndarray, index: int, fixes: list[str]) -> NDArray[np.uint8]:
    kind = array.dtype.kind
    if array.dtype == np.uint8:
        return array
    if kind == "b":
        flags: NDArray[np.uint8] = array.astype(np.uint8) * np.uint8(255)
        return flags
    if array.dtype == np.uint16:
        fixes.append("16bit_to_8bit")
        return _rescale(array, 65535)
    if kind not in "fiu":
        raise _refuse(index, "image_array_shape", shape=_shape(array), dtype=str(array.dtype))
    low, high = np.nanmin(array), np.nanmax(array)
    if (
        kind == "f"
        and np.isfinite(array).all()
        and -_FLOAT_SLACK <= low
        and high <= 1 + _FLOAT_SLACK
    ):
        return _rescale(array, 1.0)
    if kind in "iu" and 0 <= low and high <= 255:
        return array.astype(np.uint8)
    high_text = "NaN" if kind == "f" and np.isnan(array).any() else f"{high:g}"
    raise _refuse(
        index, "image_array_range", dtype=str(array.dtype), low=f"{low:g}", high=high_text
    )


def _rescale(array: np.ndarray, full: float) -> NDArray[np.uint8]:
    scaled = np.clip(array, 0, full).astype(np.float32) * np.float32(255 / full) + np.float32(0.5)
    out: NDArray[np.uint8] = scaled.astype(np.uint8)
    return out


def _open_header(data: bytes, index: int) -> Image.Image:
    """Identify the image and check its declared size; no pixel is decoded yet."""
    try:
        # No warnings.catch_warnings(): not thread-safe before Python 3.14, and images are
        # prepared on worker threads (batches). Pillow may warn between 89 and 100 MP.
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise _too_many_pixels(index, _declared_size(data)) from None
    except UnidentifiedImageError:
        code = "image_heif" if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS else None
        raise _refuse(index, code or "image_undecodable") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise _refuse(index, _decode_failure(exc)) from exc
    if image.width * image.height > MAX_DECODED_PIXELS:
        raise _too_many_pixels(index, image.size)
    return image


def _load(image: Image.Image, index: int) -> None:
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise _refuse(index, _decode_failure(exc)) from exc


def _decode_failure(exc: BaseException) -> str:
    return "image_truncated" if "truncated" in str(exc).lower() else "image_undecodable"


def _declared_size(data: bytes) -> tuple[int, int]:
    """The size a header declares, read without Pillow's bomb check (which hides it)."""
    Image.init()
    for fmt in Image.ID:
        factory, accept = Image.OPEN[fmt]
        verdict = accept(data[:16]) if accept else True
        if not verdict or isinstance(verdict, str):
            continue
        try:
            with factory(io.BytesIO(data), "") as image:
                width, height = image.size
                return int(width), int(height)
        except (OSError, SyntaxError, ValueError, IndexError, TypeError):
            continue
    return (0, 0)


# --- pixel fixes ----------------------------------------------------------------------------


def _normalize(image: Image.Image, fixes: list[str]) -> Image.Image:
    """Upright, sRGB, 8-bit, "L" or "RGB" with alpha flattened; never mutates `image`."""
    out = image
    if _orientation(image) in range(2, 9):
        out = ImageOps.exif_transpose(image)
        fixes.append("exif_rotated")
    out = _to_srgb(out, fixes)
    out = _to_8bit(out, fixes)
    return _flatten(out, fixes)


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(ExifTags.Base.Orientation, 1))
    except (OSError, SyntaxError, ValueError, TypeError):  # malformed EXIF: show it as stored
        return 1


def _to_srgb(image: Image.Image, fixes: list[str]) -> Image.Image:
    icc = image.info.get("icc_profile")
    if image.mode == "CMYK":
        fixes.append("cmyk_to_rgb")
        return (_icc_to_srgb(image, icc, force=True) if icc else None) or image.convert("RGB")
    if icc and image.mode in ("RGB", "RGBA"):
        converted = _icc_to_srgb(image, icc, force=False)
        if converted is not None:
            fixes.append("icc_to_srgb")
            return converted
    return image


def _icc_to_srgb(image: Image.Image, icc: bytes, *, force: bool) -> Image.Image | None:
    """`image` converted from its embedded profile to sRGB; None if it is sRGB or unusable."""
    try:
        from PIL import ImageCms
    except ImportError:  # Pillow built without LittleCMS: colours are sent as they are
        return None
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        name = ImageCms.getProfileDescription(profile).lower()
        if not force and ("srgb" in name or "61966" in name):
            return None
        mode = "RGBA" if image.mode == "RGBA" else "RGB"
        return ImageCms.profileToProfile(
            image, profile, ImageCms.createProfile("sRGB"), outputMode=mode
        )
    except (ImageCms.PyCMSError, OSError, ValueError):  # a broken profile: ignore it
        return None


def _to_8bit(image: Image.Image, fixes: list[str]) -> Image.Image:
    mode = image.mode
    if mode == "1":
        return image.convert("L")
    if mode != "F" and not mode.startswith("I"):
        return image
    values = np.asarray(image)
    if mode == "F":
        fixes.append("float_to_8bit")
        peak = float(np.nanmax(values)) if values.size else 0.0
        full = 1.0 if peak <= 1.0 else 255.0 if peak <= 255 else 65535.0
    else:
        fixes.append("16bit_to_8bit")
        # Mode "I" holds 8- or 16-bit data widened to 32 bits; I;16* is always 16-bit.
        full = 255.0 if mode == "I" and values.size and values.max() <= 255 else 65535.0
    return Image.fromarray(_rescale(np.nan_to_num(values), full))


def _flatten(image: Image.Image, fixes: list[str]) -> Image.Image:
    """Alpha composited onto white; any other mode made "RGB" ("L" stays grey)."""
    out = image
    if "transparency" in out.info and out.mode in ("P", "L", "RGB"):
        out = out.convert("LA" if out.mode == "L" else "RGBA")
    if out.mode in _ALPHA_MODES:
        fixes.append("alpha_flattened")
        grey = out.mode in ("LA", "La")
        straight = out.convert("LA" if grey else "RGBA")
        background = Image.new("L" if grey else "RGB", out.size, "white")
        background.paste(straight.convert(background.mode), mask=straight.getchannel("A"))
        return background
    return out if out.mode in ("L", "RGB") else out.convert("RGB")


# --- encoding -------------------------------------------------------------------------------


def _encode(decoded: _Decoded, index: int) -> tuple[bytes, str, Image.Image, list[str]]:
    """Encoded bytes within MAX_SIDE and MAX_PAYLOAD_BYTES: PNG for lossless sources if it fits."""
    fixes = list(decoded.fixes)
    size = _fit(decoded.size, MAX_SIDE)
    image = _resized(decoded.image, size)
    data = _save(image, "PNG") if decoded.format in _LOSSLESS_FORMATS else b""
    out_format, quality = "PNG", JPEG_QUALITY
    if not data or len(data) > MAX_PAYLOAD_BYTES:
        out_format = "JPEG"
        data, image, quality = _jpeg_within_budget(decoded.image, size, index)
    if image.size != decoded.size:
        fixes.append("shrunk {}x{}→{}x{}".format(*decoded.size, *image.size))
    if decoded.format and decoded.format != out_format:
        fixes.append(f"{decoded.format.lower()}_to_{out_format.lower()}")
    if quality < JPEG_QUALITY:
        fixes.append(f"quality {quality}")
    if decoded.source_bytes and decoded.source_bytes > MAX_PAYLOAD_BYTES:
        fixes.append(f"compressed {_size(decoded.source_bytes)}→{_size(len(data))}")
    return data, out_format, image, fixes


def _jpeg_within_budget(
    base: Image.Image, size: tuple[int, int], index: int
) -> tuple[bytes, Image.Image, int]:
    """Lower the quality to JPEG_MIN_QUALITY, then the size (never under 300 px), until it fits."""
    quality, image = JPEG_QUALITY, _resized(base, size)
    while True:
        data = _save(image, "JPEG", quality)
        if len(data) <= MAX_PAYLOAD_BYTES:
            return data, image, quality
        if quality > JPEG_MIN_QUALITY:
            quality = max(JPEG_MIN_QUALITY, quality - 10)
            continue
        area = 0.9 * MAX_PAYLOAD_BYTES / len(data)
        scale = max(math.sqrt(area), IMAGE_MIN_SIDE / min(image.size))
        smaller = (round(image.width * scale), round(image.height * scale))
        if scale >= 1 or smaller == image.size:  # unreachable: 300×750 px never needs 3 MB
            mb = round(len(data) / 2**20, 1), round(MAX_PAYLOAD_BYTES / 2**20, 1)
            raise _refuse(index, "image_too_many_bytes", size_mb=mb[0], limit_mb=mb[1])
        image = _resized(base, smaller)


def _save(image: Image.Image, fmt: str, quality: int = JPEG_QUALITY) -> bytes:
    buffer = io.BytesIO()
    if fmt == "PNG":
        image.save(buffer, "PNG", compress_level=6, icc_profile=None)
    else:
        image.save(buffer, "JPEG", quality=quality, optimize=True, icc_profile=None, comment=None)
    return buffer.getvalue()


def _fit(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """`size` scaled down, ratio kept, so that its longest side is at most `max_side`."""
    width, height = size
    if max(width, height) <= max_side:
        return size
    scale = max_side / max(width, height)
    return (max(1, round(width * scale)), max(1, round(height * scale)))


def _resized(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    if image.size == size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


# --- small helpers --------------------------------------------------------------------------


def _is_data_uri(text: str) -> bool:
    return text[:5].lower() == "data:"


def _is_remote(text: str) -> bool:
    return text[:8].lower().startswith(("http://", "https://"))


def _refuse(index: int, code: str, **facts: object) -> KlingImageError:
    return KlingImageError([Violation(("image_urls", index), code, facts)])


def _too_many_pixels(index: int, size: tuple[int, int]) -> KlingImageError:
    megapixels = size[0] * size[1] / 1e6
    return _refuse(
        index,
        "image_too_many_pixels",
        width=size[0],
        height=size[1],
        megapixels=f"{megapixels:.0f}" if megapixels >= 10 else f"{megapixels:.1f}",
        limit_mp=f"{MAX_DECODED_PIXELS / 1e6:g}",
    )


def _shape(array: np.ndarray) -> str:
    return "×".join(str(n) for n in array.shape) or "()"


def _size(n: int) -> str:
    if n >= 2**20:
        return f"{n / 2**20:.1f} MB"
    return f"{n / 1024:.0f} KB" if n >= 10_000 else f"{n} B"
