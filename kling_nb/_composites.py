"""A region edit in the job pipeline: the crop sent, the original kept, the composites cached.

    KlingO1Request(region=…).prepare ─► `RegionSend`: the plan, and the request as sent (the
                                        crop as image 1, the plan's resolution and ratio)
    admission, before the submit      ─► the original kept by its hash, written whole:
                                        KLING_NB_HOME/originals/<sha256>.<ext>; the journal row's
                                        `region` is the plan and that file's name
    finish_edit, resume(), replay     ─► each cached output pasted back into the kept original:
                                        cache/<request id>/composite_<n>.png, lossless (TIFF for
                                        CMYK); the row's `cached` lists them
    EditResult.save                   ─► the original's format and metadata; a JPEG is re-encoded
                                        (with its own tables) and says so; lossless=True: PNG

Where "bit-identical outside the region and its feather" holds: in the cached composites and
in everything shown or measured from them, for every kind of photo; in a saved file of a
lossless format. A JPEG saved as JPEG is re-encoded as a whole (JPEG has no other way), which
changes pixels everywhere by a few levels; its metadata says so.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from ._errors import KlingError, KlingJobError, KlingRegionError
from ._files import atomic_write_bytes, cache_folder, cached_image_ok, child_path
from ._i18n import message
from ._images import describe_source
from ._paste import RegionEdit
from ._photo import CONTENT_TYPES, JpegFacts, Photo, jpeg_facts, open_photo
from ._region import CropRules, Region, RegionPlan
from ._rules import Violation
from ._wire import ASPECT_RATIOS, ENDPOINT, Profile

if TYPE_CHECKING:
    from ._drift import Drift
    from ._request import KlingO1Request

ORIGINALS = "originals"
COVER_SIDE = 640  # the in-memory copy a result's contact sheet is drawn from
SUFFIXES = {"JPEG": ".jpg", "PNG": ".png", "TIFF": ".tif", "WEBP": ".webp", "BMP": ".bmp"}
FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF"}
FORMATS |= {".webp": "WEBP", ".bmp": "BMP"}


@dataclass(frozen=True, eq=False)
class RegionSend:
    """A region request made ready to send: its plan, and the request as it is sent."""

    plan: RegionPlan
    request: KlingO1Request  # the crop as image 1, the plan's resolution and aspect ratio
    source: Any  # the photo as the user gave it: kept (by hash) when the edit is paid for
    label: str  # image 1's label in the journal and the result: the photo and the region


def prepare_region(request: KlingO1Request, profile: Profile) -> RegionSend:
    """Plan `request`'s region on its image 1 by `profile`'s rules, and crop it."""
    if not request.images:
        raise _refuse("no_photo")
    source = _photo_source(request.images[0])
    every = tuple(r for r in ASPECT_RATIOS if r != "auto")
    ratios = every if request.aspect_ratio == "auto" else (str(request.aspect_ratio),)
    rules = replace(CropRules.for_profile(profile), aspect_ratios=ratios)
    crop, plan = RegionEdit.prepare(
        source, request.region, rules=rules, resolution=request.resolution
    )
    sent = replace(
        request,
        images=[crop, *request.images[1:]],
        resolution=plan.resolution,
        aspect_ratio=plan.aspect_ratio,
        region=None,
    )
    label = message("region.input_label", source=describe_source(source), region=label_of(plan))
    return RegionSend(plan, sent, source, label)


def label_of(plan: RegionPlan | Region) -> str:
    """A region in a few words: "region (120, 80, 900, 640)", or the box of a mask region."""
    region = plan.region if isinstance(plan, RegionPlan) else plan
    return message(f"region.label_{region.kind}", box=tuple(region.box))


def _photo_source(source: Any) -> Any:
    """Image 1 as `open_photo` takes it: a numpy array becomes a PIL image."""
    if type(source).__module__ == "numpy":
        try:
            return Image.fromarray(source)
        except (TypeError, ValueError):
            raise _refuse("photo_array", shape=getattr(source, "shape", "?")) from None
    return source


# --- the original, kept by its hash ----------------------------------------------------------


def region_record(home: Path, send: RegionSend) -> dict[str, Any]:
    """What the journal row of a region edit keeps: the plan and the kept original's name.

    Keeps the original first (a file's own bytes; a PIL image as a lossless PNG), so that
    `resume()` after a crash and a replay can always paste the outputs back."""
    return {**send.plan.to_json(), "kept": keep_original(home, send)}


def keep_original(home: Path, send: RegionSend) -> str:
    """The photo under `home/originals/<sha256>.<ext>` (written once, whole): its name."""
    digest = send.plan.original.sha256 or ""
    folder = Path(home) / ORIGINALS
    for found in sorted(folder.glob(f"{digest}.*")) if digest else []:
        if cached_image_ok(found, ""):
            return f"{ORIGINALS}/{found.name}"
    data = RegionEdit.original_bytes(send.source)
    is_file = not isinstance(send.source, (Image.Image, Photo))
    if is_file and hashlib.sha256(data).hexdigest() != digest:  # changed since it was planned
        raise _refuse("photo_changed", now=hashlib.sha256(data).hexdigest()[:12], then=digest[:12])
    with Image.open(io.BytesIO(data)) as image:
        suffix = SUFFIXES.get("JPEG" if image.format == "MPO" else image.format or "", ".img")
    atomic_write_bytes(child_path(folder, f"{digest}{suffix}"), data)
    return f"{ORIGINALS}/{digest}{suffix}"


def original_path(home: Path, record: Mapping[str, Any]) -> Path:
    """Where a journal row's original is kept (inside `home/originals`, whatever it says)."""
    name = str(record.get("kept") or "")
    return child_path(Path(home) / ORIGINALS, Path(name).name or "missing")


def _original(home: Path, record: Mapping[str, Any], request_id: str) -> Photo:
    path = original_path(home, record)
    try:
        return open_photo(path)
    except (KlingError, OSError) as exc:
        text = message(
            "region.original_gone",
            path=path,
            request_id=request_id,
            folder=cache_folder(home, request_id),
            detail=exc,
        )
        raise KlingJobError(
            text, request_id=request_id, endpoint=ENDPOINT, detail=str(exc)
        ) from None


# --- the composites, cached ------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CompositeFile:
    """One cached composite: its file, its size, a small copy and its drift."""

    index: int  # of the output it was made from
    path: Path
    content_type: str
    size: tuple[int, int]
    cover: Image.Image  # at most COVER_SIDE px: what a contact sheet is drawn from
    drift: Drift


def finish_composites(
    home: Path,
    request_id: str,
    record: Mapping[str, Any],
    outputs: Sequence[tuple[int, Path]],
    *,
    emulated: bool,
) -> list[CompositeFile]:
    """Each cached output (index, path) pasted back into the kept original and cached
    losslessly; a sound composite already cached is used as it is (resume and replay give
    the same pictures). Two at a time: the paste and the encoder release the GIL."""
    from ._drift import measure

    plan = plan_of(record)
    original = _original(home, record, request_id)
    folder = cache_folder(home, request_id)

    def one(output: tuple[int, Path]) -> CompositeFile:
        index, raw = output
        found = _cached_composite(folder, index)
        if found is None:
            made, _ = RegionEdit.composite_photo(
                plan, original, raw.read_bytes(), emulated=emulated
            )
            found = _write_composite(folder, index, made)
        path, photo = found
        drift = measure(original, photo, plan=plan)
        return CompositeFile(index, path, _content_type(path), photo.size, _cover(photo), drift)

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="kling_nb-paste") as pool:
        return list(pool.map(one, outputs))


def plan_of(record: Mapping[str, Any]) -> RegionPlan:
    """The plan a journal row's `region` holds (its own keys beside the plan's are ignored)."""
    return RegionPlan.from_json(dict(record))


def _cached_composite(folder: Path, index: int) -> tuple[Path, Photo] | None:
    for path in sorted(folder.glob(f"composite_{index + 1}.*")):
        if path.suffix.lower() in FORMATS:
            try:
                return path, open_photo(path)
            except (KlingError, OSError):
                return None  # damaged: made again
    return None


def cache_bytes(photo: Photo) -> tuple[bytes, str]:
    """A composite as the cache keeps it: PNG for every photo (TIFF for CMYK), lossless, fast."""
    return replace(photo, format="PNG").encode(lossless=True, fast=True)


def _write_composite(folder: Path, index: int, photo: Photo) -> tuple[Path, Photo]:
    data, fmt = cache_bytes(photo)
    path = child_path(folder, f"composite_{index + 1}{SUFFIXES[fmt]}")
    atomic_write_bytes(path, data)
    return path, photo


def _content_type(path: Path) -> str:
    return CONTENT_TYPES.get(FORMATS.get(path.suffix.lower(), ""), "image/png")


def _cover(photo: Photo) -> Image.Image:
    picture = photo.rgb()
    scale = max(1, max(picture.size) // COVER_SIDE)
    small = picture.reduce(scale) if scale > 1 else picture.copy()
    small.thumbnail((COVER_SIDE, COVER_SIDE), Image.Resampling.LANCZOS)
    return small


def region_drifts(
    home: Path, record: Mapping[str, Any], paths: Sequence[Path], request_id: str
) -> list[Drift]:
    """The drift of each cached composite outside the region, against the kept original."""
    from ._drift import measure

    plan = plan_of(record)
    original = _original(home, record, request_id)
    return [measure(original, open_photo(path), plan=plan) for path in paths]


# --- saving in the original's format ---------------------------------------------------------


def save_format(record: Mapping[str, Any], photo: Photo, *, lossless: bool, wanted: str) -> str:
    """The format a composite is saved in: `wanted` (a file name's suffix), else the
    original's (PNG for a JPEG when `lossless`), as far as the photo's mode allows."""
    original = str((record.get("original") or {}).get("format") or "PNG")
    fmt = wanted or ("JPEG" if original == "MPO" else original)
    if lossless and fmt == "JPEG" and not wanted:
        fmt = "PNG"
    if fmt == "JPEG":
        return fmt  # what a JPEG cannot hold (alpha, 16 bits) is flattened when written
    return replace(photo, format=fmt if fmt in SUFFIXES else "PNG").out_format()


def composite_file(
    cached: Path, original: Path | None, fmt: str, metadata: str
) -> tuple[bytes, str]:
    """A cached composite as a file in `fmt` with the original's metadata (EXIF, ICC, dpi,
    and for a JPEG its quantization tables) and kling_nb's (`metadata`, JSON)."""
    photo = open_photo(cached)
    if fmt == "JPEG" and photo.mode not in ("L", "RGB", "CMYK"):
        flat = open_photo(photo.rgb())  # alpha on white, 8 bits: what a JPEG can hold
        photo = replace(flat, exif=photo.exif, icc=photo.icc, dpi=photo.dpi)
    exif = Image.Exif()
    if photo.exif:
        exif.load(photo.exif)
    exif[0x010E] = metadata  # ImageDescription, as every saved result has it
    text = (*[(k, v) for k, v in photo.text if k != "kling_nb"], ("kling_nb", metadata))
    jpeg = _jpeg_tables(original) if fmt == "JPEG" else None
    written = replace(photo, format=fmt, exif=exif.tobytes(), text=text, jpeg=jpeg)
    return written.encode()


def _jpeg_tables(original: Path | None) -> JpegFacts | None:
    """The original JPEG's own tables, read from its header (nothing is decoded)."""
    if original is None:
        return None
    try:
        with Image.open(original) as image:
            return jpeg_facts(image) if image.format in ("JPEG", "MPO") else None
    except OSError:
        return None


def save_notes(fmt: str, original_format: str | None) -> dict[str, Any]:
    """What a saved composite's metadata says about its pixels outside the region."""
    exact = fmt != "JPEG"
    notes: dict[str, Any] = {"exact_outside_region": exact}
    if not exact:
        key = "region.saved_jpeg" if original_format in ("JPEG", "MPO") else "region.saved_lossy"
        notes["note"] = message(key)
    return notes


def _refuse(code: str, **facts: object) -> KlingRegionError:
    return KlingRegionError([Violation(("region",), code, facts)])


def region_summary(record: Mapping[str, Any]) -> dict[str, Any]:
    """What a saved file's metadata says about its region edit (never the mask's pixels)."""
    region = record.get("region") or {}
    return {
        "kind": region.get("kind"),
        "box": region.get("box"),
        "crop": record.get("crop"),
        "feather": record.get("feather"),
        "original_sha256": (record.get("original") or {}).get("sha256"),
    }
