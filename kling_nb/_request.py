"""`KlingO1Request`: one Kling O1 image-to-image request, checked before it costs anything."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ._errors import KlingImageError, KlingValidationError
from ._images import ImageInput, PreparedImage, open_image, prepare_image
from ._rules import ELEMENT_KEYS, Violation, check_input, shorten
from ._wire import (
    BODY_LIMITS,
    ENDPOINT,
    IMAGE_MIN_SIDE,
    TEXT_TO_IMAGE,
    KlingO1Input,
    Profile,
    decode_data_uri,
)


@dataclass(frozen=True)
class KlingO1Request:
    """Prompt, input images (URLs, paths, PIL images, bytes, arrays) and parameters."""

    prompt: str
    images: Sequence[ImageInput] = field(repr=False)
    resolution: str = "1K"
    num_images: int = 1
    aspect_ratio: str = "auto"
    output_format: str | None = None
    endpoint: str = ENDPOINT
    # fal's elements: dicts with `frontal_image_url` and/or `reference_image_urls` (≤ 3),
    # whose values are any image input, encoded like `images`.
    elements: Sequence[Mapping[str, Any]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.images, (str, bytes)) or not isinstance(self.images, Sequence):
            object.__setattr__(self, "images", [self.images])  # one image given bare
        else:
            object.__setattr__(self, "images", list(self.images))
        if isinstance(self.resolution, str) and self.resolution.upper() in ("1K", "2K", "4K"):
            object.__setattr__(self, "resolution", self.resolution.upper())  # "2k" is "2K"
        if self.elements is not None and isinstance(self.elements, Sequence):
            object.__setattr__(self, "elements", list(self.elements))

    def __repr__(self) -> str:
        extra = f", elements={len(self.elements)}" if isinstance(self.elements, list) else ""
        return (
            f"KlingO1Request(prompt={shorten(self.prompt)!r}, images={len(self.images)}, "
            f"resolution={shorten(self.resolution)!r}, num_images={shorten(self.num_images)}, "
            f"aspect_ratio={shorten(self.aspect_ratio)!r}{extra})"
        )

    def parameters(self) -> dict[str, Any]:
        """Every field but the images, as sent."""
        params: dict[str, Any] = {
            "prompt": self.prompt,
            "resolution": self.resolution,
            "num_images": self.num_images,
            "aspect_ratio": self.aspect_ratio,
        }
        if self.output_format is not None:
            params["output_format"] = self.output_format
        return params

    def validate(self, profile: Profile = "qiniu") -> None:
        """Raise KlingValidationError for every broken field rule (images not opened)."""
        found = self._field_violations(profile)
        if found:
            raise KlingValidationError(found)

    def prepare(
        self, profile: Profile = "qiniu", max_body_bytes: int | None = None
    ) -> tuple[KlingO1Input, list[PreparedImage]]:
        """Check everything, convert the images, and return the body to send.

        All problems are reported together: fields and every image, in one error. A body
        over `max_body_bytes` (default: the profile's) has its local images shrunk to fit."""
        found = self._field_violations(profile)
        broken: list[Violation] = []
        prepared = [_prepare(src, ("image_urls", i), broken) for i, src in enumerate(self.images)]
        elements = [
            _prepare_element(element, i, broken) for i, element in enumerate(self.elements or [])
        ]
        if found or broken:
            raise (KlingValidationError if found else KlingImageError)(found + broken)
        images = [p for p in prepared if p is not None]
        body: dict[str, Any] = {**self.parameters()}
        if images or profile not in TEXT_TO_IMAGE:
            body["image_urls"] = [p.url for p in images]
        if self.elements is not None:
            body["elements"] = elements
        limit = BODY_LIMITS[profile] if max_body_bytes is None else max_body_bytes
        return _fit_body(body, images, limit), images  # type: ignore[return-value]

    def _field_violations(self, profile: Profile) -> list[Violation]:
        body: dict[str, Any] = {**self.parameters(), "image_urls": ["data:" for _ in self.images]}
        if self.elements is not None:
            body["elements"] = _placeholders(self.elements)
        return check_input(body, profile)

    def with_(self, **changes: Any) -> KlingO1Request:
        """A copy with some fields changed."""
        return replace(self, **changes)

    @classmethod
    def from_arguments(
        cls, arguments: Mapping[str, Any], endpoint: str = ENDPOINT
    ) -> KlingO1Request:
        """From a guide-style `arguments` dict (unknown keys are reported by validate)."""
        known = {
            "prompt",
            "image_urls",
            "resolution",
            "num_images",
            "aspect_ratio",
            "output_format",
            "elements",
        }
        unknown = sorted(set(arguments) - known)
        if unknown:
            raise KlingValidationError(
                [Violation((name,), "unknown_field", {"value": name}) for name in unknown]
            )
        return cls(
            prompt=arguments.get("prompt", ""),
            images=arguments.get("image_urls") or [],
            resolution=arguments.get("resolution", "1K"),
            num_images=arguments.get("num_images", 1),
            aspect_ratio=arguments.get("aspect_ratio", "auto"),
            output_format=arguments.get("output_format"),
            endpoint=endpoint,
            elements=arguments.get("elements"),
        )


def _prepare(
    source: ImageInput, loc: tuple[str | int, ...], broken: list[Violation]
) -> PreparedImage | None:
    """One input encoded, or None with its problems added to `broken` at `loc`."""
    try:
        return prepare_image(source, loc[-1] if isinstance(loc[-1], int) else 0)
    except KlingImageError as exc:
        broken += [replace(v, loc=loc) if loc[0] != "image_urls" else v for v in exc.violations]
        return None


def _prepare_element(element: Any, index: int, broken: list[Violation]) -> dict[str, Any]:
    """An element with its images encoded like `image_urls` (already checked for shape)."""
    out: dict[str, Any] = {}
    if "frontal_image_url" in element:
        p = _prepare(element["frontal_image_url"], ("elements", index, "frontal_image_url"), broken)
        out["frontal_image_url"] = p.url if p else ""
    refs = element.get("reference_image_urls")
    if refs is not None:
        where = ("elements", index, "reference_image_urls")
        prepared = [_prepare(src, (*where, j), broken) for j, src in enumerate(refs)]
        out["reference_image_urls"] = [p.url for p in prepared if p]
    return out


def _placeholders(elements: Any) -> Any:
    """Elements as the rules see them before encoding: every image a `data:` placeholder."""
    if not isinstance(elements, list):
        return elements
    out: list[Any] = []
    for element in elements:
        if not isinstance(element, Mapping) or not set(element) <= ELEMENT_KEYS:
            out.append(element if not isinstance(element, Mapping) else dict(element))
            continue
        shaped: dict[str, Any] = dict(element)
        if "frontal_image_url" in shaped:
            shaped["frontal_image_url"] = "data:"
        refs = shaped.get("reference_image_urls")
        if isinstance(refs, (list, tuple)):
            shaped["reference_image_urls"] = ["data:" for _ in refs]
        out.append(shaped)
    return out


def _fit_body(body: dict[str, Any], images: list[PreparedImage], limit: int) -> dict[str, Any]:
    """`body` with its data: images shrunk until it fits `limit` bytes, or a refusal in words."""
    for _ in range(4):  # each round aims below the limit; JPEG sizes are not exact
        total = len(json.dumps(body))
        local = [i for i, p in enumerate(images) if not p.is_remote]
        if total <= limit or not local:
            break
        scale = math.sqrt(0.9 * limit / total)
        for i in local:
            images[i] = _shrunk(images[i], scale, i)
        body["image_urls"] = [p.url for p in images]
    total = len(json.dumps(body))
    if total > limit:
        facts: dict[str, object] = {
            "total_mb": round(total / 2**20, 1),
            "limit_mb": round(limit / 2**20, 1),
        }
        raise KlingImageError([Violation(("image_urls",), "body_too_large", facts)])
    return body


def _shrunk(image: PreparedImage, scale: float, index: int) -> PreparedImage:
    """The same picture `scale` times the size (never under the service's 300 px a side)."""
    picture = open_image(decode_data_uri(image.url)[1], index)
    side = min(picture.size)
    scale = max(scale, IMAGE_MIN_SIDE / side) if side > IMAGE_MIN_SIDE else 1.0
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    if size == picture.size:
        return image
    shrunk = prepare_image(picture.convert("RGB").resize(size), index)
    fixes = (*image.fixes, "shrunk {}x{}→{}x{} to fit the body".format(*picture.size, *size))
    return replace(shrunk, fixes=fixes, source_label=image.source_label)
