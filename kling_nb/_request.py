"""`KlingO1Request`: one Kling O1 image-to-image request, checked before it costs anything."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ._errors import KlingImageError, KlingValidationError
from ._images import ImageInput, PreparedImage, prepare_image
from ._rules import Violation, check_input
from ._wire import ENDPOINT, KlingO1Input, Profile


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

    def __post_init__(self) -> None:
        if isinstance(self.images, (str, bytes)) or not isinstance(self.images, Sequence):
            object.__setattr__(self, "images", [self.images])  # one image given bare
        else:
            object.__setattr__(self, "images", list(self.images))

    def __repr__(self) -> str:
        prompt = self.prompt if len(self.prompt) <= 60 else self.prompt[:59] + "…"
        return (
            f"KlingO1Request(prompt={prompt!r}, images={len(self.images)}, "
            f"resolution={self.resolution!r}, num_images={self.num_images}, "
            f"aspect_ratio={self.aspect_ratio!r})"
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

    def prepare(self, profile: Profile = "qiniu") -> tuple[KlingO1Input, list[PreparedImage]]:
        """Check everything, convert the images, and return the body to send.

        All problems are reported together: fields and every image, in one error."""
        found = self._field_violations(profile)
        prepared: list[PreparedImage] = []
        broken: list[Violation] = []
        for index, source in enumerate(self.images):
            try:
                prepared.append(prepare_image(source, index))
            except KlingImageError as exc:
                broken += exc.violations
        if found or broken:
            raise (KlingValidationError if found else KlingImageError)(found + broken)
        body: dict[str, Any] = {**self.parameters(), "image_urls": [p.url for p in prepared]}
        return body, prepared  # type: ignore[return-value]

    def _field_violations(self, profile: Profile) -> list[Violation]:
        placeholders = ["data:" for _ in self.images]
        return check_input({**self.parameters(), "image_urls": placeholders}, profile)

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
        )
