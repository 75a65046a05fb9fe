"""A region edit: change one part of a photo and keep every other pixel (issue 19).

    Region (a box or a mask, in the photo as shown: after its EXIF rotation)
      ─► plan(): the crop to send = the region plus context (about a quarter of the box a
         side, clamped to the photo), grown to the service's input rules and to one of its
         output ratios; the resolution that does not shrink the crop; the feather width
      ─► crop(): the picture sent as <<<image_1>>> (the prompt is unchanged)
      ─► the model edits it
      ─► `_paste`: each output scaled back to the crop, its colours fitted to the original on
         a ring just outside the feather, pasted with a feathered edge

Every pixel farther than `plan.feather` px (Chebyshev distance) from the region keeps the
original's decoded value exactly, in every mode the photo can have (`_photo`). The service's
output sizes per resolution are not published: `OUTPUT_LONG_SIDE` is the assumption made.

Pure values and functions (Pillow + numpy): no network, no journal. `RegionPlan.to_json()`
is what the journal keeps so that a resume or a replay gives the same composites.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import numbers
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import numpy as np
from PIL import Image, ImageOps

from ._errors import KlingError, KlingRegionError
from ._i18n import message
from ._images import describe_source, open_image, source_bytes
from ._photo import Photo, PhotoSource, open_photo
from ._rules import Violation
from ._text import short
from ._wire import ASPECT_RATIOS, IMAGE_MAX_RATIO, IMAGE_MIN_SIDE, RESOLUTIONS, Profile

Box: TypeAlias = tuple[int, int, int, int]
RegionInput: TypeAlias = "Region | Sequence[float] | Image.Image | str | os.PathLike[str]"
AlphaPolicy = Literal["edit", "keep"]

# ASSUMPTION (not published by Kling, fal or Qiniu): the longest side of an output at each
# resolution. A crop is sent at the smallest resolution whose output is at least as large,
# so it is never shrunk when it need not be; if the real outputs are larger, crops are sent
# at 1K a little more often than needed, never less. docs/services.md says the same.
OUTPUT_LONG_SIDE: dict[str, int] = {"1K": 1024, "2K": 2048}
MARGIN = 0.25  # context around the box, as a fraction of its width/height, each side
MARGIN_MAX = 4.0
FEATHER_FRACTION = 0.06  # of the box's shorter side
FEATHER_MIN, FEATHER_MAX = 2, 64
RING_MIN = 4  # px of original measured around the feather to fit the output's colours
PAD_MAX = 0.25  # the most of a crop's width or height that may be mirrored padding
MASK_THRESHOLD = 128  # mask pixels at least this bright are edited
PLAN_VERSION = 1


@dataclass(frozen=True)
class CropRules:
    """What the service takes and gives, as the crop planner needs it (from `_wire`)."""

    min_side: int = IMAGE_MIN_SIDE
    max_ratio: float = IMAGE_MAX_RATIO
    aspect_ratios: tuple[str, ...] = tuple(r for r in ASPECT_RATIOS if r != "auto")
    resolutions: tuple[str, ...] = RESOLUTIONS["plain"]

    @classmethod
    def for_profile(cls, profile: Profile) -> CropRules:
        """The rules of one service profile."""
        return cls(resolutions=RESOLUTIONS[profile])


@dataclass(frozen=True)
class Region:
    """The part of a photo to edit: a box, or a mask (its white pixels) with their box.

    Pixels of the photo as the user sees it (after EXIF rotation); `box` is
    (left, top, right, bottom) with right and bottom exclusive, as in PIL's `crop`.
    """

    box: Box
    mask_size: tuple[int, int] | None = None  # the whole mask's size, for a mask
    bits: bytes = field(default=b"", repr=False)  # np.packbits of the mask inside `box`

    @property
    def kind(self) -> Literal["box", "mask"]:
        return "mask" if self.mask_size is not None else "box"

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]

    @classmethod
    def of(cls, value: object) -> Region:
        """A region from a box (four numbers), a mask (PIL image or path), or a Region."""
        if isinstance(value, Region):
            return value
        if isinstance(value, Image.Image):
            return cls.from_mask(value)
        if isinstance(value, (str, os.PathLike)):
            return cls.from_mask(value)
        if isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim == 1):
            return cls.from_box(value)
        raise _refuse("type", value=short(value))

    @classmethod
    def from_box(cls, box: Sequence[object] | np.ndarray) -> Region:
        """(left, top, right, bottom) in pixels; fractions are rounded outwards."""
        if len(box) != 4:
            raise _refuse("box_length", count=len(box))
        names = ("left", "top", "right", "bottom")
        found, values = [], []
        for name, value in zip(names, box, strict=True):
            if (
                isinstance(value, bool)
                or not isinstance(value, numbers.Real)
                or not math.isfinite(float(value))
            ):
                found.append(Violation(("region", name), "box_number", {"value": short(value)}))
            elif value < 0:
                found.append(Violation(("region", name), "box_negative", {"value": value}))
            values.append(value)
        if found:
            raise KlingRegionError(found)
        left, top = (math.floor(float(v)) for v in values[:2])
        right, bottom = (math.ceil(float(v)) for v in values[2:])
        for low, high, a, b in ((left, right, "left", "right"), (top, bottom, "top", "bottom")):
            if low >= high:
                facts = {"low_name": a, "low": low, "high_name": b, "high": high}
                raise _refuse("box_inverted", **facts)
        return cls((left, top, right, bottom))

    @classmethod
    def from_mask(cls, mask: Image.Image | str | os.PathLike[str]) -> Region:
        """The white pixels (≥ 128) of a mask the size of the photo as shown."""
        image = _load_mask(mask)
        grey = np.asarray(image)
        on = grey >= MASK_THRESHOLD
        rows, cols = np.flatnonzero(on.any(axis=1)), np.flatnonzero(on.any(axis=0))
        if not len(rows):
            raise _refuse("mask_empty", width=image.width, height=image.height)
        box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
        inside = on[box[1] : box[3], box[0] : box[2]]
        return cls(box, image.size, np.packbits(inside, axis=None).tobytes())

    def mask(self) -> np.ndarray:
        """The edited pixels inside `box` (True = edit), height × width."""
        if self.mask_size is None:
            return np.ones((self.height, self.width), bool)
        count = self.width * self.height
        bits = np.unpackbits(np.frombuffer(self.bits, np.uint8), count=count)
        return bits.reshape(self.height, self.width).astype(bool)

    def check(self, size: tuple[int, int], stored_size: tuple[int, int] | None = None) -> None:
        """KlingRegionError unless the region lies within a photo of this (upright) size."""
        width, height = size
        turned = stored_size is not None and tuple(stored_size) != tuple(size)
        if self.mask_size is not None:
            if self.mask_size != (width, height):
                key = (
                    "mask_size_turned" if turned and self.mask_size == stored_size else "mask_size"
                )
                mask_w, mask_h = self.mask_size
                raise _refuse(key, mask_w=mask_w, mask_h=mask_h, width=width, height=height)
            return
        left, top, right, bottom = self.box
        for side, value, limit in (("right", right, width), ("bottom", bottom, height)):
            if value > limit:
                fits_stored = (
                    stored_size is not None
                    and turned
                    and right <= stored_size[0]
                    and bottom <= stored_size[1]
                )
                facts = {"box": self.box, "side": side, "value": value, "limit": limit}
                key = "box_outside_turned" if fits_stored else "box_outside"
                raise KlingRegionError(
                    [Violation(("region", side), key, {**facts, "width": width, "height": height})]
                )

    def to_json(self) -> dict[str, Any]:
        """A JSON-able record (the mask as a 1-bit PNG of its box, base64)."""
        if self.mask_size is None:
            return {"kind": "box", "box": list(self.box)}
        buffer = io.BytesIO()
        Image.fromarray(self.mask()).convert("1").save(buffer, "PNG", optimize=True)
        return {
            "kind": "mask",
            "box": list(self.box),
            "size": list(self.mask_size),
            "png": base64.b64encode(buffer.getvalue()).decode("ascii"),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Region:
        """The region `to_json` recorded."""
        try:
            box = tuple(int(v) for v in data["box"])
            if data["kind"] == "box":
                return cls.from_box(box)
            png = base64.b64decode(data["png"], validate=True)
            with Image.open(io.BytesIO(png)) as image:
                inside = np.asarray(image.convert("L")) >= MASK_THRESHOLD
            size = (int(data["size"][0]), int(data["size"][1]))
            packed = np.packbits(inside, axis=None).tobytes()
            return cls((box[0], box[1], box[2], box[3]), size, packed)
        except (KeyError, TypeError, ValueError, OSError) as exc:
            raise _refuse("plan_json", reason=short(exc)) from None

    def fingerprint(self) -> str:
        """A stable hash of the region (box, and the mask's pixels), for replay."""
        digest = hashlib.sha256(f"{self.kind}:{self.box}:{self.mask_size}:".encode())
        digest.update(self.bits)
        return digest.hexdigest()


@dataclass(frozen=True)
class PhotoFacts:
    """The original photo a plan was made for (None where only a size was given)."""

    width: int
    height: int
    mode: str | None = None
    format: str | None = None
    sha256: str | None = None
    orientation: int = 1

    @classmethod
    def of(cls, photo: Photo) -> PhotoFacts:
        return cls(*photo.size, photo.mode, photo.format, photo.sha256, photo.orientation)


@dataclass(frozen=True)
class RegionPlan:
    """Everything a region edit decides before it is sent; JSON-able, for the journal."""

    region: Region
    crop: Box  # photo pixels; may reach past the photo (then mirrored padding is sent)
    resolution: str
    aspect_ratio: str
    feather: int
    ring: int
    original: PhotoFacts
    margin: float = MARGIN
    alpha: AlphaPolicy = "edit"
    version: int = PLAN_VERSION

    @property
    def crop_size(self) -> tuple[int, int]:
        return (self.crop[2] - self.crop[0], self.crop[3] - self.crop[1])

    @property
    def inside(self) -> Box:
        """The part of the crop that lies in the photo."""
        return clip_to(self.crop, (self.original.width, self.original.height))

    @property
    def padding(self) -> Box:
        """Mirrored padding added on each side (left, top, right, bottom), in px."""
        inside = self.inside
        return tuple(abs(a - b) for a, b in zip(self.crop, inside, strict=True))  # type: ignore[return-value]

    @property
    def touched(self) -> Box:
        """The box of every pixel the paste may change: the region grown by the feather."""
        return clip_to(
            grow(self.region.box, self.feather), (self.original.width, self.original.height)
        )

    @property
    def output_size(self) -> tuple[int, int]:
        """The output size assumed for this resolution and ratio (`OUTPUT_LONG_SIDE`)."""
        return _output_size(self.resolution, self.aspect_ratio)

    @property
    def scale(self) -> float:
        """Output pixels per crop pixel (assumed): below 1, the model sees the crop shrunk."""
        out_w, out_h = self.output_size
        return min(out_w / self.crop_size[0], out_h / self.crop_size[1])

    def region_mask(self, box: Box) -> np.ndarray:
        """Over `box` of the photo: True on the region's pixels."""
        out = np.zeros((box[3] - box[1], box[2] - box[0]), bool)
        region = self.region.box
        both = intersect(region, box)
        if both[0] < both[2] and both[1] < both[3]:
            sub = self.region.mask()[
                both[1] - region[1] : both[3] - region[1], both[0] - region[0] : both[2] - region[0]
            ]
            out[both[1] - box[1] : both[3] - box[1], both[0] - box[0] : both[2] - box[0]] = sub
        return out

    def reach(self, box: Box) -> np.ndarray:
        """Over `box` of the photo: True where a paste may change pixels (the region and the
        feather: Chebyshev distance ≤ `feather`); every other pixel stays the original's."""
        grown = grow(box, self.feather)
        return dilate(self.region_mask(grown), self.feather)[
            self.feather : self.feather + box[3] - box[1],
            self.feather : self.feather + box[2] - box[0],
        ]

    def to_json(self) -> dict[str, Any]:
        """A JSON-able record of the plan (region included)."""
        original = self.original
        return {
            "version": self.version,
            "region": self.region.to_json(),
            "crop": list(self.crop),
            "resolution": self.resolution,
            "aspect_ratio": self.aspect_ratio,
            "feather": self.feather,
            "ring": self.ring,
            "margin": self.margin,
            "alpha": self.alpha,
            "original": {
                "width": original.width,
                "height": original.height,
                "mode": original.mode,
                "format": original.format,
                "sha256": original.sha256,
                "orientation": original.orientation,
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RegionPlan:
        """The plan `to_json` recorded; KlingRegionError if it is not one."""
        try:
            if data.get("version") != PLAN_VERSION:
                raise ValueError(f"version {data.get('version')!r}")
            crop = tuple(int(v) for v in data["crop"])
            alpha: AlphaPolicy = "keep" if data["alpha"] == "keep" else "edit"
            return cls(
                region=Region.from_json(data["region"]),
                crop=(crop[0], crop[1], crop[2], crop[3]),
                resolution=str(data["resolution"]),
                aspect_ratio=str(data["aspect_ratio"]),
                feather=int(data["feather"]),
                ring=int(data["ring"]),
                original=PhotoFacts(**data["original"]),
                margin=float(data["margin"]),
                alpha=alpha,
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise _refuse("plan_json", reason=short(exc)) from None

    def fingerprint(self) -> str:
        """A stable hash of what decides the composites (for replay)."""
        data = self.to_json()
        data["region"] = self.region.fingerprint()
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()

    def describe(self) -> str:
        """One line: what is sent and how."""
        w, h = self.crop_size
        return message(
            "region.plan_line",
            crop=f"{w}×{h}",
            at=f"({self.crop[0]}, {self.crop[1]})",
            resolution=self.resolution,
            ratio=self.aspect_ratio,
            feather=self.feather,
        )


# --- planning -------------------------------------------------------------------------------


def plan(
    photo: Photo | tuple[int, int],
    region: RegionInput,
    *,
    margin: float = MARGIN,
    rules: CropRules | None = None,
    resolution: str | None = None,
    feather: int | None = None,
    alpha: AlphaPolicy = "edit",
) -> RegionPlan:
    """The crop, resolution, ratio and feather for editing `region` of `photo` (or a size)."""
    rules = rules or CropRules()
    facts = PhotoFacts.of(photo) if isinstance(photo, Photo) else PhotoFacts(*photo)
    stored = photo.stored_size if isinstance(photo, Photo) else None
    chosen = Region.of(region)
    chosen.check((facts.width, facts.height), stored)
    _check_options(margin, resolution, feather, alpha, rules)
    if min(facts.width, facts.height) < rules.min_side:
        raise _refuse("photo_small", width=facts.width, height=facts.height, limit=rules.min_side)
    size = (facts.width, facts.height)
    box = chosen.box
    wanted = feather if feather is not None else _default_feather(chosen)
    ring = max(RING_MIN, wanted)
    context = clip_to(_grow_by(box, margin), size)
    least = clip_to(grow(box, wanted + ring), size)
    crop, ratio = _fit_crop(box, (context, least, box), size, rules)
    room = _room(box, crop, size)
    feather_px = max(0, min(wanted, room - RING_MIN)) if room < wanted + ring else wanted
    ring_px = max(0, min(ring, room - feather_px))
    chosen_resolution = resolution or _pick_resolution(crop, ratio, rules)
    return RegionPlan(
        chosen,
        crop,
        chosen_resolution,
        ratio,
        feather_px,
        ring_px,
        facts,
        float(margin),
        alpha,
    )


def _default_feather(region: Region) -> int:
    wanted = round(FEATHER_FRACTION * min(region.width, region.height))
    return max(FEATHER_MIN, min(FEATHER_MAX, wanted))


def _fit_crop(
    box: Box, needs: tuple[Box, ...], size: tuple[int, int], rules: CropRules
) -> tuple[Box, str]:
    """The smallest crop of an output ratio that holds the first need it can (all inside the
    photo); else the one with the least mirrored padding; else a refusal in words."""
    for need in needs:
        fits = [c for c in (_crop_for(need, r, size, rules) for r in rules.aspect_ratios) if c]
        inside = [c for c in fits if clip_to(c[0], size) == c[0]]
        if inside:
            return min(inside, key=lambda c: (_area(c[0]), c[1]))
    padded = [c for c in (_crop_for(needs[0], r, size, rules) for r in rules.aspect_ratios) if c]
    best = min(padded, key=lambda c: (_area(c[0]) - _area(clip_to(c[0], size)), _area(c[0])))
    crop = best[0]
    w, h = crop[2] - crop[0], crop[3] - crop[1]
    shown = clip_to(crop, size)
    if (w - (shown[2] - shown[0])) > PAD_MAX * w or (h - (shown[3] - shown[1])) > PAD_MAX * h:
        bw, bh = box[2] - box[0], box[3] - box[1]
        raise _refuse(
            "no_crop",
            box=box,
            width=size[0],
            height=size[1],
            ratio=f"{max(bw, bh) / min(bw, bh):.1f}",
            limit=rules.max_ratio,
        )
    return best


def _crop_for(
    need: Box, ratio: str, size: tuple[int, int], rules: CropRules
) -> tuple[Box, str] | None:
    """The smallest crop of `ratio` holding `need` and the minimum side, placed in the photo
    where it fits (else centred, reaching past it)."""
    a, b = (int(x) for x in ratio.split(":"))
    r = a / b
    if max(r, 1 / r) > rules.max_ratio:
        return None
    need_w, need_h = need[2] - need[0], need[3] - need[1]
    w = max(need_w, need_h * r, rules.min_side, rules.min_side * r)
    w_px = math.ceil(w - 1e-9)
    h_px = max(math.ceil(w / r - 1e-9), need_h)
    cx, cy = (need[0] + need[2]) / 2, (need[1] + need[3]) / 2
    left = _place(cx - w_px / 2, w_px, size[0])
    top = _place(cy - h_px / 2, h_px, size[1])
    return (left, top, left + w_px, top + h_px), ratio


def _place(start: float, length: int, limit: int) -> int:
    if length >= limit:  # centred on the photo: padding on both sides
        return -((length - limit) // 2)
    return int(min(max(0, round(start)), limit - length))


def _room(box: Box, crop: Box, size: tuple[int, int]) -> int:
    """The least distance from the region to an edge of the crop that lies inside the photo."""
    gaps = []
    if crop[0] > 0:
        gaps.append(box[0] - crop[0])
    if crop[1] > 0:
        gaps.append(box[1] - crop[1])
    if crop[2] < size[0]:
        gaps.append(crop[2] - box[2])
    if crop[3] < size[1]:
        gaps.append(crop[3] - box[3])
    return min(gaps) if gaps else 1 << 30


def _pick_resolution(crop: Box, ratio: str, rules: CropRules) -> str:
    """The smallest resolution whose (assumed) output holds the crop unshrunk, else the largest."""
    known = [r for r in rules.resolutions if r in OUTPUT_LONG_SIDE]
    ordered = sorted(known, key=lambda r: OUTPUT_LONG_SIDE[r])
    w, h = crop[2] - crop[0], crop[3] - crop[1]
    for res in ordered:
        out_w, out_h = _output_size(res, ratio)
        if out_w >= w and out_h >= h:
            return res
    return ordered[-1]


def _output_size(resolution: str, ratio: str) -> tuple[int, int]:
    a, b = (int(x) for x in ratio.split(":"))
    long = OUTPUT_LONG_SIDE.get(resolution, OUTPUT_LONG_SIDE["1K"])
    return (long, round(long * b / a)) if a >= b else (round(long * a / b), long)


def _check_options(
    margin: float, resolution: str | None, feather: int | None, alpha: str, rules: CropRules
) -> None:
    if (
        isinstance(margin, bool)
        or not isinstance(margin, numbers.Real)
        or not (0 <= margin <= MARGIN_MAX)
    ):
        raise _refuse("margin", value=short(margin), limit=MARGIN_MAX)
    if resolution is not None and resolution not in rules.resolutions:
        raise _refuse("resolution", value=short(resolution), allowed=", ".join(rules.resolutions))
    if feather is not None and (
        isinstance(feather, bool) or not isinstance(feather, int) or not 0 <= feather <= 1024
    ):
        raise _refuse("feather", value=short(feather))
    if alpha not in ("edit", "keep"):
        raise _refuse("alpha", value=short(alpha))


# --- the crop sent --------------------------------------------------------------------------


def crop(photo: PhotoSource | Photo, plan: RegionPlan) -> Image.Image:
    """The picture to send as <<<image_1>>>: the plan's crop of the photo, padding mirrored.

    In the photo's own mode (8-bit for 16-bit colour); its ICC profile rides in `info`, so
    `prepare_image` converts it to sRGB as it does any input.
    """
    original = matching_photo(photo, plan)
    inside = plan.inside
    pad = plan.padding
    if isinstance(original.pixels, Image.Image) and not any(pad):
        image = original.pixels.crop(inside)
    else:
        window = original.window(inside)
        if any(pad):
            widths = ((pad[1], pad[3]), (pad[0], pad[2]), (0, 0))
            window = np.pad(window, widths, mode="symmetric")
        base = original.image() if isinstance(original.pixels, np.ndarray) else original.pixels
        if window.dtype == np.uint16 and base.mode not in ("I;16",):
            window = (window >> 8).astype(np.uint8)
        image = _array_image(window, base.mode)
    if original.icc:
        image.info["icc_profile"] = original.icc
    return image


# --- small pieces ---------------------------------------------------------------------------


def matching_photo(source: PhotoSource | Photo, plan: RegionPlan) -> Photo:
    photo = open_photo(source)
    facts = plan.original
    # The pixels' hash (a tenth of a second on 24 MP) only when the file's does not match.
    if facts.sha256 and photo.sha256 != facts.sha256 and photo.pixels_sha256 != facts.sha256:
        raise _refuse("photo_changed", now=photo.sha256[:12], then=facts.sha256[:12])
    if photo.size != (facts.width, facts.height):
        raise _refuse(
            "photo_changed_size",
            width=photo.size[0],
            height=photo.size[1],
            planned=f"{facts.width}×{facts.height}",
        )
    return photo


def _load_mask(mask: Image.Image | str | os.PathLike[str]) -> Image.Image:
    if isinstance(mask, Image.Image):
        image = mask
    else:
        try:
            image = open_image(source_bytes(mask))
        except KlingError as exc:
            raise _refuse(
                "mask_unreadable", value=describe_source(mask), reason=short(str(exc), 160)
            ) from None
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        return Image.fromarray((np.asarray(image).astype(np.uint32) >> 8).astype(np.uint8))
    if image.mode in ("LA", "RGBA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        grey = np.asarray(rgba.convert("L")).astype(np.uint16)
        alpha = np.asarray(rgba.getchannel("A")).astype(np.uint16)
        return Image.fromarray((grey * alpha // 255).astype(np.uint8))
    return image if image.mode == "L" else image.convert("L")


def _array_image(array: np.ndarray, mode: str) -> Image.Image:
    plane = array[:, :, 0] if array.ndim == 3 and array.shape[2] == 1 else array
    plane = np.ascontiguousarray(plane)
    if mode == "CMYK":
        return Image.frombytes("CMYK", (plane.shape[1], plane.shape[0]), plane.tobytes())
    if mode == "I;16":
        return Image.fromarray(plane.astype(np.uint16))
    if mode == "I":
        return Image.fromarray(plane.astype(np.int32), "I")
    return Image.fromarray(plane.astype(np.uint8), mode)


def grow(box: Box, by: int) -> Box:
    return (box[0] - by, box[1] - by, box[2] + by, box[3] + by)


def _grow_by(box: Box, fraction: float) -> Box:
    dx = math.ceil(fraction * (box[2] - box[0]))
    dy = math.ceil(fraction * (box[3] - box[1]))
    return (box[0] - dx, box[1] - dy, box[2] + dx, box[3] + dy)


def clip_to(box: Box, size: tuple[int, int]) -> Box:
    return (max(0, box[0]), max(0, box[1]), min(size[0], box[2]), min(size[1], box[3]))


def intersect(box: Box, limit: Box) -> Box:
    return (
        max(limit[0], box[0]),
        max(limit[1], box[1]),
        min(limit[2], box[2]),
        min(limit[3], box[3]),
    )


def _area(box: Box) -> int:
    return max(0, box[2] - box[0]) * max(0, box[3] - box[1])


def _refuse(code: str, **facts: object) -> KlingRegionError:
    return KlingRegionError([Violation(("region",), code, facts)])


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Every pixel within Chebyshev distance `radius` of a True pixel."""
    if radius <= 0:
        same: np.ndarray = mask.copy()
        return same
    counts = mask.astype(np.int32)
    for axis in (0, 1):
        padded = np.pad(counts, [(radius + 1, radius) if a == axis else (0, 0) for a in (0, 1)])
        sums = np.cumsum(padded, axis=axis)
        n = counts.shape[axis]
        upper = np.take(sums, np.arange(2 * radius + 1, 2 * radius + 1 + n), axis=axis)
        counts = upper - np.take(sums, np.arange(0, n), axis=axis)
    return counts > 0
