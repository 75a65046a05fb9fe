"""Paste-back: a region edit's outputs put back into the photo, every other pixel kept.

    each output ─► scaled back to the crop's size (in the photo's colour profile and mode)
                ─► its colours fitted to the original on a ring just beyond the feather
                   (a gain and an offset plane per channel: no seam where the edit ends)
                ─► blended in with weights 1 in the region easing to 0 over the feather,
                   band by band (memory stays flat whatever the photo's size)
                ─► the photo with only the region and its feather changed (`Photo`), and its file

`RegionEdit` is the seam the job pipeline calls (`_composites`): `prepare` before the inputs
are encoded, `finish` once the outputs are cached. Pure values and functions: no network,
no journal.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from ._errors import KlingError, KlingRegionError
from ._images import open_image, source_bytes
from ._photo import CONTENT_TYPES, Photo, PhotoSource, open_photo
from ._region import (
    MARGIN,
    AlphaPolicy,
    Box,
    CropRules,
    RegionInput,
    RegionPlan,
    clip_to,
    crop,
    dilate,
    grow,
    intersect,
    matching_photo,
    plan,
)
from ._rules import Violation
from ._text import clip

RING_SAMPLES = 60_000  # enough pixels for a stable fit, few enough to stay fast
GAIN_LIMITS = (0.5, 2.0)
BAND_ROWS = 256  # rows blended at a time: memory stays flat whatever the region's size
EMULATED = "EMULATED · kling_nb"  # the label the emulator puts on every picture


@dataclass(frozen=True)
class ColourFit:
    """How an output's colours were fitted to the original on the ring: per colour channel,
    a gain (ratio of standard deviations, clamped) and an offset plane a + b·x + c·y."""

    gains: tuple[float, ...]
    planes: tuple[tuple[float, float, float], ...]
    samples: int

    @classmethod
    def identity(cls, channels: int) -> ColourFit:
        return cls((1.0,) * channels, ((0.0, 0.0, 0.0),) * channels, 0)


def paste(
    photo: PhotoSource | Photo, output: Image.Image | bytes, plan: RegionPlan
) -> tuple[Photo, ColourFit]:
    """The photo with one model output pasted into the region, and the colour fit used."""
    original = matching_photo(photo, plan)
    picture = output if isinstance(output, Image.Image) else _open_output(output)
    span = intersect(clip_to(grow(plan.touched, plan.ring), original.size), plan.inside)
    footprint = _Footprint(plan, span)
    colour = original.channels - (1 if original.has_alpha else 0)
    scaled = _scaled_output(picture, plan, span, original, colour)
    factor = np.float32(original.full_scale / 255)
    fit = _fit_colours(original, scaled, factor, footprint, colour)
    touched = intersect(plan.touched, span)
    dx = touched[0] - span[0]
    width = touched[2] - touched[0]

    def bands() -> Iterator[tuple[int, np.ndarray]]:
        for top in range(touched[1], touched[3], BAND_ROWS):
            bottom = min(top + BAND_ROWS, touched[3])
            rows = slice(top - span[1], bottom - span[1])
            weight = footprint.weights(rows.start, rows.stop)[:, dx : dx + width]
            kept = original.window((touched[0], top, touched[2], bottom))
            edit = scaled[rows, dx : dx + width].astype(np.float32) * factor
            edit = _apply_fit(fit, edit, (touched[0], top, touched[2], bottom), plan)
            yield top, _blend(kept, edit, weight, colour, original, plan)

    return original.with_bands(touched[0], bands()), fit


def _blend(
    kept: np.ndarray,
    edit: np.ndarray,
    weight: np.ndarray,
    colour: int,
    photo: Photo,
    plan: RegionPlan,
) -> np.ndarray:
    """Rows of the original with the edit mixed in by `weight`; where it is 0, untouched."""
    full = photo.full_scale
    band = kept.astype(np.float32)
    mixed = band.copy()
    mixed[:, :, :colour] += weight[:, :, None] * (edit - band[:, :, :colour])
    if photo.has_alpha and plan.alpha == "edit":
        mixed[:, :, -1] += weight * (full - band[:, :, -1])
    mixed = np.clip(np.rint(mixed), 0, full).astype(kept.dtype)
    return np.where((weight > 0)[:, :, None], mixed, kept)


def composite(
    original: PhotoSource | Photo, output: Image.Image | bytes, plan: RegionPlan
) -> Image.Image:
    """The full-size composite as a PIL image: exact for every mode Pillow holds (for 16-bit
    colour, which Pillow holds as 8-bit, use `paste` or `RegionEdit.finish`)."""
    return paste(original, output, plan)[0].image()


class _Footprint:
    """The blend weights (1 in the region, easing to 0 over the feather) and the ring, over
    a span of the photo: separable for a box, from the mask's pixels for a mask."""

    def __init__(self, plan: RegionPlan, span: Box):
        self.plan, self.span = plan, span
        left, top, right, bottom = span
        box, f, ring = plan.region.box, plan.feather, plan.ring
        xs, ys = np.arange(left, right), np.arange(top, bottom)
        self.dx = np.maximum(np.maximum(box[0] - xs, xs - (box[2] - 1)), 0)
        self.dy = np.maximum(np.maximum(box[1] - ys, ys - (box[3] - 1)), 0)
        self.bx, self.by = _eased(self.dx, f), _eased(self.dy, f)
        self.mask: np.ndarray | None = None
        if plan.region.kind == "mask":
            inside = np.zeros((bottom - top, right - left), bool)
            region = intersect(box, span)
            sub = plan.region.mask()[
                region[1] - box[1] : region[3] - box[1], region[0] - box[0] : region[2] - box[0]
            ]
            inside[region[1] - top : region[3] - top, region[0] - left : region[2] - left] = sub
            self.mask = inside
            self.blur = _box_blur(_box_blur(inside.astype(np.float32), f // 2), f - f // 2)
            self.near = dilate(inside, f)
            self.far = dilate(inside, f + ring)

    def weights(self, start: int, stop: int) -> np.ndarray:
        """Rows start:stop of the span: weights in 0…1, exactly 0 beyond the feather."""
        if self.mask is None:
            inside = (self.dy[start:stop, None] == 0) & (self.dx[None, :] == 0)
            eased = np.outer(self.by[start:stop], self.bx)
            return np.where(inside, 1.0, eased).astype(np.float32)
        blurred = np.clip(2 * self.blur[start:stop], 0, 1)
        weight = np.where(self.mask[start:stop], 1.0, blurred).astype(np.float32)
        return np.where(self.near[start:stop], weight, 0).astype(np.float32)

    def ring(self, start: int, stop: int) -> np.ndarray:
        """Rows start:stop of the span: True on the ring just beyond the feather."""
        f, ring = self.plan.feather, self.plan.ring
        if self.mask is None:
            d = np.maximum(self.dy[start:stop, None], self.dx[None, :])
            return (d > f) & (d <= f + ring)
        band: np.ndarray = self.far[start:stop] & ~self.near[start:stop]
        return band


def _eased(distance: np.ndarray, feather: int) -> np.ndarray:
    """1 at the region's edge, easing smoothly to 0 at `feather` px (0 beyond)."""
    if feather <= 0:
        edge: np.ndarray = (distance == 0).astype(np.float32)
        return edge
    t = np.clip(distance / (feather + 1), 0, 1)
    return (1 - t * t * (3 - 2 * t)).astype(np.float32) * (distance <= feather)


def _box_blur(values: np.ndarray, radius: int) -> np.ndarray:
    """A (2r+1)² mean filter with zero outside, by running sums (exact support)."""
    if radius <= 0:
        return values
    out = values
    for axis in (0, 1):
        padded = np.pad(out, [(radius + 1, radius) if a == axis else (0, 0) for a in (0, 1)])
        sums = np.cumsum(padded, axis=axis, dtype=np.float64)
        n = out.shape[axis]
        upper = np.take(sums, np.arange(2 * radius + 1, 2 * radius + 1 + n), axis=axis)
        lower = np.take(sums, np.arange(0, n), axis=axis)
        out = ((upper - lower) / (2 * radius + 1)).astype(np.float32)
    return out


def _scaled_output(
    picture: Image.Image, plan: RegionPlan, span: Box, photo: Photo, colour: int
) -> np.ndarray:
    """The output over `span`, scaled to the crop's size, in the photo's colours (8-bit)."""
    picture = ImageOps.exif_transpose(picture)
    target = {1: "L", 3: "RGB", 4: "CMYK"}[colour]
    converted = _from_srgb(picture.convert("RGB"), photo.icc, target)
    crop_w, crop_h = plan.crop_size
    sx, sy = converted.width / crop_w, converted.height / crop_h
    source = (
        (span[0] - plan.crop[0]) * sx,
        (span[1] - plan.crop[1]) * sy,
        (span[2] - plan.crop[0]) * sx,
        (span[3] - plan.crop[1]) * sy,
    )
    size = (span[2] - span[0], span[3] - span[1])
    array = np.asarray(converted.resize(size, Image.Resampling.LANCZOS, box=source))
    return array[:, :, None] if array.ndim == 2 else array


def _from_srgb(picture: Image.Image, icc: bytes | None, mode: str) -> Image.Image:
    """The output (sRGB, as the crop was sent) in the photo's own colour profile and mode."""
    if icc and mode in ("RGB", "CMYK"):
        try:
            from PIL import ImageCms

            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            srgb = ImageCms.createProfile("sRGB")
            converted = ImageCms.profileToProfile(picture, srgb, profile, outputMode=mode)
            if converted is not None:
                return converted
        except (ImportError, OSError, ValueError):  # an unusable profile: a plain conversion
            pass
    return picture.convert(mode) if picture.mode != mode else picture


def _fit_colours(
    photo: Photo, scaled: np.ndarray, factor: np.float32, footprint: _Footprint, colour: int
) -> ColourFit:
    """Per colour channel, a gain and an offset plane that make the output match the
    original on the ring (where the edit should not have changed anything)."""
    span = footprint.span
    wants, haves, where = [], [], []
    for top in range(span[1], span[3], BAND_ROWS):
        bottom = min(top + BAND_ROWS, span[3])
        ys, xs = np.nonzero(footprint.ring(top - span[1], bottom - span[1]))
        if not len(ys):
            continue
        original = photo.window((span[0], top, span[2], bottom))[ys, xs]
        if photo.has_alpha:  # only where the original is mostly opaque
            opaque = original[:, -1] >= photo.full_scale / 2
            ys, xs, original = ys[opaque], xs[opaque], original[opaque]
        wants.append(original[:, :colour].astype(np.float64))
        haves.append(scaled[ys + top - span[1], xs, :colour].astype(np.float64) * factor)
        where.append(np.stack([xs + span[0], ys + top], axis=1))
    if sum(len(w) for w in wants) < 64:
        return ColourFit.identity(colour)
    want, have, points = np.concatenate(wants), np.concatenate(haves), np.concatenate(where)
    step = max(1, len(points) // RING_SAMPLES)
    want, have, points = want[::step], have[::step], points[::step]
    crop_w, crop_h = footprint.plan.crop_size
    x = (points[:, 0] - footprint.plan.crop[0]) / crop_w - 0.5
    y = (points[:, 1] - footprint.plan.crop[1]) / crop_h - 0.5
    design = np.stack([np.ones_like(x), x, y], axis=1)
    gains, planes = [], []
    for c in range(colour):
        spread = have[:, c].std()
        gain = want[:, c].std() / spread if spread > 1e-3 * photo.full_scale else 1.0
        gain = float(np.clip(gain, *GAIN_LIMITS))
        coef = np.linalg.lstsq(design, want[:, c] - gain * have[:, c], rcond=None)[0]
        gains.append(gain)
        planes.append((float(coef[0]), float(coef[1]), float(coef[2])))
    return ColourFit(tuple(gains), tuple(planes), len(points))


def _apply_fit(fit: ColourFit, edit: np.ndarray, box: Box, plan: RegionPlan) -> np.ndarray:
    """`edit` (the pixels of `box`) with the fitted gains and offset planes applied."""
    crop_w, crop_h = plan.crop_size
    xs = ((np.arange(box[0], box[2]) - plan.crop[0]) / crop_w - 0.5).astype(np.float32)
    ys = ((np.arange(box[1], box[3]) - plan.crop[1]) / crop_h - 0.5).astype(np.float32)
    out = np.empty_like(edit)
    for c, (gain, (a, bx, by)) in enumerate(zip(fit.gains, fit.planes, strict=True)):
        offset = (a + by * ys)[:, None] + (bx * xs)[None, :]
        out[:, :, c] = gain * edit[:, :, c] + offset
    return out


# --- the seam the job pipeline calls --------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Composite:
    """One finished region edit: the full-size picture, its file, and the model's raw output."""

    photo: Photo  # exact pixels, upright
    data: bytes  # the file: the original's format and metadata (PNG when lossless)
    format: str
    raw: bytes  # the model's output, as received
    fit: ColourFit
    plan: RegionPlan

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES.get(self.format, "application/octet-stream")

    def image(self) -> Image.Image:
        """The composite as a PIL image (exact, except 8-bit for 16-bit colour)."""
        return self.photo.image()


class RegionEdit:
    """The two calls the job pipeline makes for a region edit, and nothing else."""

    @staticmethod
    def prepare(
        photo: PhotoSource | Photo,
        region: RegionInput,
        *,
        rules: CropRules | None = None,
        margin: float = MARGIN,
        resolution: str | None = None,
        feather: int | None = None,
        alpha: AlphaPolicy = "edit",
    ) -> tuple[Image.Image, RegionPlan]:
        """Before the inputs are encoded: the crop to send as image 1, and the plan to record."""
        original = open_photo(photo)
        chosen = plan(
            original,
            region,
            margin=margin,
            rules=rules,
            resolution=resolution,
            feather=feather,
            alpha=alpha,
        )
        return crop(original, chosen), chosen

    @staticmethod
    def original_bytes(photo: PhotoSource | Photo) -> bytes:
        """What to keep so that `finish` can run after a restart: a file's own bytes (its
        sha256 is the plan's), or a lossless PNG of a picture given as a PIL image (written
        fast: a big photo at PNG's default level takes seconds)."""
        if isinstance(photo, (Image.Image, Photo)):
            return open_photo(photo).encode(lossless=True, fast=True)[0]
        return source_bytes(photo)

    @staticmethod
    def finish(
        plan: RegionPlan,
        original: PhotoSource | Photo,
        outputs: Sequence[bytes],
        *,
        lossless: bool = False,
        emulated: bool = False,
    ) -> list[Composite]:
        """After the outputs are cached: one composite per output, in order."""
        photo = matching_photo(original, plan)
        return [
            RegionEdit.finish_one(plan, photo, raw, lossless=lossless, emulated=emulated)
            for raw in outputs
        ]

    @staticmethod
    def finish_one(
        plan: RegionPlan,
        original: PhotoSource | Photo,
        output: bytes,
        *,
        lossless: bool = False,
        emulated: bool = False,
    ) -> Composite:
        """One output pasted back and encoded (lets a caller write each file as it comes)."""
        photo, fit = RegionEdit.composite_photo(plan, original, output, emulated=emulated)
        data, fmt = photo.encode(lossless=lossless)
        return Composite(photo, data, fmt, bytes(output), fit, plan)

    @staticmethod
    def composite_photo(
        plan: RegionPlan, original: PhotoSource | Photo, output: bytes, *, emulated: bool = False
    ) -> tuple[Photo, ColourFit]:
        """One output pasted back, not encoded (the caller chooses the file); the emulator's
        label drawn inside the region when `emulated`."""
        photo, fit = paste(original, output, plan)
        return (_labelled(photo, plan) if emulated else photo), fit


def _labelled(photo: Photo, plan: RegionPlan) -> Photo:
    """The emulator's label drawn inside the region (never outside: those pixels are kept)."""
    if not isinstance(photo.pixels, Image.Image) or photo.mode not in ("L", "LA", "RGB", "RGBA"):
        return photo
    box = plan.region.box
    base = photo.pixels.crop(box)
    size = max(8, min(base.size) // 18)
    try:
        font: ImageFont.FreeTypeFont | ImageFont.ImageFont = ImageFont.load_default(size)
    except TypeError:  # Pillow < 10.1 takes no size
        font = ImageFont.load_default()
    draw = ImageDraw.Draw(base)
    left, top, right, bottom = (round(v) for v in draw.textbbox((0, 0), EMULATED, font=font))
    pad = max(2, size // 3)
    width, height = (right - left) + 2 * pad, (bottom - top) + 2 * pad
    spot = _label_spot(plan.region.mask(), width, height)
    if spot is None:  # a region too small for the words: the result's caption says it
        return photo
    x, y = spot
    bands = len(base.getbands())
    draw.rectangle((x, y, x + width - 1, y + height - 1), fill=(18,) * bands)
    draw.text((x + pad - left, y + pad - top), EMULATED, font=font, fill=(255,) * bands)
    window = photo.window(box)
    drawn = np.asarray(base).reshape(window.shape)
    kept = np.where(plan.region.mask()[:, :, None], drawn, window)
    return photo.with_window(box, kept.astype(window.dtype))


def _label_spot(inside: np.ndarray, width: int, height: int) -> tuple[int, int] | None:
    """The lowest, rightmost place in the region (its mask over its box) where a label of
    this size lies wholly inside: the bottom-right corner for a box."""
    rows, cols = inside.shape
    if width > cols or height > rows:
        return None
    if inside.all():  # a box
        return cols - width, rows - height
    sums = np.pad(inside.astype(np.int32).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    covered = (
        sums[height:, width:]
        - sums[:-height, width:]
        - sums[height:, :-width]
        + sums[:-height, :-width]
    )
    ys, xs = np.nonzero(covered == width * height)
    if not len(ys):
        return None
    best = np.lexsort((xs, ys))[-1]  # the lowest row, then the rightmost
    return int(xs[best]), int(ys[best])


def _open_output(data: bytes) -> Image.Image:
    try:
        return open_image(bytes(data))
    except KlingError as exc:
        raise _refuse("output_unreadable", reason=clip(str(exc), 120)) from None


def _refuse(code: str, **facts: object) -> KlingRegionError:
    return KlingRegionError([Violation(("region",), code, facts)])
