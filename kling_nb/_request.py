"""`KlingO1Request`: one Kling O1 image-to-image request, checked before it costs anything.

A request with a `region` edits only that part of its image 1: what is sent is the crop
around the region, at the resolution and aspect ratio its plan chose (`_composites`); the
model's pictures are pasted back into the photo when they come.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ._errors import KlingImageError, KlingValidationError
from ._images import ImageInput, PreparedImage, open_image, prepare_image
from ._rules import Violation, check_input, normal_resolution
from ._wire import (
    BODY_MAX_BYTES,
    ENDPOINT,
    IMAGE_MIN_SIDE,
    KlingO1Input,
    Profile,
    decode_data_uri,
)

if TYPE_CHECKING:
    from ._composites import RegionSend

ELEMENT_KEYS = ("frontal_image_url", "reference_image_urls")
Slot = tuple[int, str, int | None]  # where an element's image sits: element, key, list index


@dataclass(frozen=True)
class KlingO1Request:
    """Prompt, input images (URLs, paths, PIL images, bytes, arrays) and parameters.

    `region` (a box (left, top, right, bottom), a mask, or a `Region`) edits only that part
    of image 1; `resolution` None means 1K, or for a region edit the smallest that does not
    shrink the crop."""

    prompt: str
    images: Sequence[ImageInput] = field(repr=False)
    resolution: str | None = None
    num_images: int = 1
    aspect_ratio: str = "auto"
    output_format: str | None = None
    endpoint: str = ENDPOINT
    elements: Sequence[Mapping[str, Any]] | None = field(default=None, repr=False)
    region: Any = field(default=None, repr=False)
    # The region's plan and crop, made once per service profile (planning decodes the photo).
    _sends: dict[str, RegionSend] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if isinstance(self.images, (str, bytes)) or not isinstance(self.images, Sequence):
            object.__setattr__(self, "images", [self.images])  # one image given bare
        else:
            object.__setattr__(self, "images", list(self.images))
        if self.resolution is None and self.region is None:
            object.__setattr__(self, "resolution", "1K")
        object.__setattr__(self, "resolution", normal_resolution(self.resolution))
        if self.elements is not None and isinstance(self.elements, Sequence):
            object.__setattr__(self, "elements", list(self.elements))

    def __repr__(self) -> str:
        prompt: object = self.prompt
        if isinstance(prompt, str) and len(prompt) > 60:
            prompt = prompt[:59] + "…"
        elif not isinstance(prompt, str):
            prompt = f"<{type(prompt).__name__}>"  # repr of odd values may raise or flood
        extra = f", elements={len(self.elements)}" if isinstance(self.elements, list) else ""
        if self.region is not None:
            extra += f", region={_brief(getattr(self.region, 'box', self.region))}"
        return (
            f"KlingO1Request(prompt={prompt!r}, images={len(self.images)}{extra}, "
            f"resolution={_brief(self.resolution)}, num_images={_brief(self.num_images)}, "
            f"aspect_ratio={_brief(self.aspect_ratio)})"
        )

    def parameters(self) -> dict[str, Any]:
        """Every field but the images, as sent (a region edit's resolution and ratio as asked:
        `region_send(profile).request.parameters()` has what its plan chose)."""
        params: dict[str, Any] = {"prompt": self.prompt}
        if self.resolution is not None:
            params["resolution"] = self.resolution
        params.update(num_images=self.num_images, aspect_ratio=self.aspect_ratio)
        if self.output_format is not None:
            params["output_format"] = self.output_format
        if self.elements is not None:
            params["elements"] = self.elements
        return params

    def validate(self, profile: Profile = "plain") -> None:
        """Raise KlingValidationError for every broken field rule (images not opened)."""
        found = self._field_violations(profile)
        if found:
            raise KlingValidationError(found)

    def prepare(
        self, profile: Profile = "plain", body_cap: int = BODY_MAX_BYTES
    ) -> tuple[KlingO1Input, list[PreparedImage]]:
        """Check everything, convert the images, and return the body to send.

        All problems are reported together: fields and every image, in one error. Images
        are shrunk further when the whole body would exceed `body_cap` bytes. A region edit
        sends the crop of its plan as image 1 (labelled with the photo and the region)."""
        found = self._field_violations(profile)
        if self.region is not None:
            if found:
                raise KlingValidationError(found)
            send = self.region_send(profile)
            assert send is not None
            sent, inputs = send.request.prepare(profile, body_cap)
            return sent, [replace(inputs[0], source_label=send.label), *inputs[1:]]
        prepared: list[PreparedImage] = []
        broken: list[Violation] = []
        for index, source in enumerate(self.images):
            try:
                prepared.append(prepare_image(source, index))
            except KlingImageError as exc:
                broken += exc.violations
        elements, element_images, slots = self._prepared_elements(broken)
        if found or broken:
            raise (KlingValidationError if found else KlingImageError)(found + broken)
        body: dict[str, Any] = self.parameters()
        if elements is not None:
            body["elements"] = elements
        # Every picture of the body — image_urls and elements' alike — is shrunk together
        # until the whole body fits: no image escapes the cap.
        fitted = _fit_body(body, prepared + element_images, body_cap)
        prepared, element_images = fitted[: len(prepared)], fitted[len(prepared) :]
        for (i, key, j), image in zip(slots, element_images, strict=True):
            if j is None:
                body["elements"][i][key] = image.url
            else:
                body["elements"][i][key][j] = image.url
        if prepared or "elements" not in body:
            body["image_urls"] = [p.url for p in prepared]
        if not prepared and profile == "qiniu":
            body.pop("image_urls", None)  # a prompt alone: text-to-image
        return body, prepared + element_images  # type: ignore[return-value]

    def region_send(self, profile: Profile = "plain") -> RegionSend | None:
        """A region edit's plan and the request it sends (the crop as image 1), made once
        per profile; None without a region. KlingRegionError if the region can't be used."""
        if self.region is None:
            return None
        found = self._sends.get(profile)
        if found is None:
            from ._composites import prepare_region

            found = self._sends[profile] = prepare_region(self, profile)
        return found

    def region_key(self, profile: Profile = "plain") -> str | None:
        """What a region edit adds to its fingerprint: its plan's (the region and the hash of
        the whole original), so that another region or another photo is paid again."""
        send = self.region_send(profile)
        return send.plan.fingerprint() if send is not None else None

    def _prepared_elements(
        self, broken: list[Violation]
    ) -> tuple[list[dict[str, Any]] | None, list[PreparedImage], list[Slot]]:
        """`elements` with every image encoded like `image_urls` (problems go to `broken`),
        the images, and where each sits: (element, key, index in the list or None)."""
        if self.elements is None:
            return None, [], []
        out: list[dict[str, Any]] = []
        images: list[PreparedImage] = []
        slots: list[Slot] = []
        for i, element in enumerate(self.elements):
            encoded: dict[str, Any] = {}
            for key in ELEMENT_KEYS:
                if key not in element:
                    continue
                many = key == "reference_image_urls"
                sources = list(element[key]) if many else [element[key]]
                urls: list[str] = []
                for j, source in enumerate(sources):
                    try:
                        one = prepare_image(source, j)
                    except KlingImageError as exc:
                        loc = ("elements", i, key, j) if many else ("elements", i, key)
                        broken += [Violation(loc, v.code, v.facts) for v in exc.violations]
                        continue
                    images.append(one)
                    slots.append((i, key, len(urls) if many else None))
                    urls.append(one.url)
                encoded[key] = urls if many else (urls[0] if urls else "")
            out.append(encoded)
        return out, images, slots

    def _field_violations(self, profile: Profile) -> list[Violation]:
        params = self.parameters()
        if self.elements is not None:
            params["elements"] = _placeholder_elements(self.elements)
        if self.images or profile != "qiniu":
            params["image_urls"] = ["data:" for _ in self.images]
        return check_input(params, profile)

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


def _fit_body(body: dict[str, Any], prepared: list[PreparedImage], cap: int) -> list[PreparedImage]:
    """The images (of image_urls and elements), shrunk (area in proportion) until the whole
    JSON body fits `cap` bytes."""
    import json

    skeleton = {**body, "image_urls": [], "elements": _placeholder_elements(body.get("elements"))}
    rest = len(json.dumps(skeleton))
    for _ in range(4):
        total = rest + sum(len(p.url) + 4 for p in prepared)
        if total <= cap:
            return prepared
        scale = math.sqrt(0.9 * max(cap - rest, 1) / total)
        prepared = [_shrunk(p, i, scale) for i, p in enumerate(prepared)]
    total = rest + sum(len(p.url) + 4 for p in prepared)
    if total <= cap:
        return prepared
    facts: dict[str, object] = {
        "size_mb": round(total / 2**20, 2),
        "limit_mb": round(cap / 2**20, 2),
    }
    raise KlingValidationError([Violation(("image_urls",), "body_too_large", facts)])


def _shrunk(image: PreparedImage, index: int, scale: float) -> PreparedImage:
    """`image` re-encoded at `scale` of its sides, never below the 300 px rule."""
    if image.is_remote:
        return image
    pixels = open_image(decode_data_uri(image.url)[1], index)
    scale = max(scale, IMAGE_MIN_SIDE / min(pixels.size))
    if scale >= 1:
        return image
    size = (round(pixels.width * scale), round(pixels.height * scale))
    smaller = prepare_image(pixels.convert("RGB").resize(size), index)
    fixes = (*image.fixes, f"shrunk to {size[0]}×{size[1]} so the request body fits")
    return replace(smaller, fixes=fixes, source_label=image.source_label)


def _placeholder_elements(elements: object) -> object:
    """`elements` with each image input replaced by `data:` (checked later, when encoded)."""
    if not isinstance(elements, list):
        return elements
    out: list[object] = []
    for element in elements:
        if not isinstance(element, Mapping):
            out.append(element)
            continue
        copy: dict[str, object] = dict(element)
        if "frontal_image_url" in copy and copy["frontal_image_url"] is not None:
            copy["frontal_image_url"] = "data:"
        refs = copy.get("reference_image_urls")
        if isinstance(refs, (list, tuple)):
            copy["reference_image_urls"] = ["data:" for _ in refs]
        out.append(copy)
    return out


def _brief(value: object) -> str:
    """repr() that never raises nor floods (a 4,400-digit int, a huge string)."""
    if isinstance(value, int) and value.bit_length() > 200:
        return "<a very large number>"
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        return f"<{type(value).__name__}>"
    return text if len(text) <= 40 else text[:39] + "…"
