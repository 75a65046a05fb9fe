"""The input rules of Kling O1 image-to-image, written once.

The client checks them before any network call (and words a `Violation` in the user's
language); the emulator checks them as the service would (and answers a FastAPI-shaped
422). Limits and sources: PROTOCOL.md, "Kling O1 image-to-image input".
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field

from PIL import Image

from ._wire import (
    ASPECT_RATIOS,
    IMAGE_FORMATS,
    IMAGE_MAX_BYTES,
    IMAGE_MAX_RATIO,
    IMAGE_MIN_SIDE,
    IMAGES_MAX,
    NUM_IMAGES_MAX,
    NUM_IMAGES_MIN,
    OUTPUT_FORMATS,
    PROMPT_MAX_CHARS,
    RESOLUTIONS,
    Profile,
    ValidationDetail,
    referenced_images,
)

# Pillow's own bomb guard is a warning up to 2x its limit; a service input never needs more.
MAX_DECODED_PIXELS = 100_000_000


@dataclass(frozen=True)
class Violation:
    """One broken rule: where (`loc`), which rule (`code`), and the facts to word it."""

    loc: tuple[str | int, ...]
    code: str
    facts: dict[str, object] = field(default_factory=dict)

    @property
    def field(self) -> str:
        """The field path as a user writes it: `image_urls[2]`, `prompt`."""
        out = ""
        for part in self.loc:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
        return out

    def detail(self) -> ValidationDetail:
        """This violation as one entry of a 422 `detail` list (English, like the service)."""
        from ._i18n import message

        return {
            "loc": ["body", *self.loc],
            "msg": message(f"rule.{self.code}", "en", field=self.field, **self.facts),
            "type": "value_error",
            "ctx": {k: v for k, v in self.facts.items() if isinstance(v, (int, float, str))},
        }


def check_input(body: Mapping[str, object], profile: Profile = "qiniu") -> list[Violation]:
    """Every field rule of the input table; an empty list means the body is valid."""
    found: list[Violation] = []
    prompt = body.get("prompt")
    urls = body.get("image_urls")
    if not isinstance(prompt, str) or not prompt.strip():
        found.append(Violation(("prompt",), "prompt_missing"))
    elif len(prompt) > PROMPT_MAX_CHARS:
        found.append(
            Violation(
                ("prompt",),
                "prompt_too_long",
                {
                    "length": len(prompt),
                    "limit": PROMPT_MAX_CHARS,
                    "excess": len(prompt) - PROMPT_MAX_CHARS,
                },
            )
        )
    if not isinstance(urls, list) or not urls:
        found.append(Violation(("image_urls",), "images_missing"))
        urls = []
    elif len(urls) > IMAGES_MAX:
        found.append(
            Violation(
                ("image_urls",),
                "images_too_many",
                {"count": len(urls), "limit": IMAGES_MAX, "excess": len(urls) - IMAGES_MAX},
            )
        )
    for i, url in enumerate(urls):
        if not isinstance(url, str) or not url.startswith(("http://", "https://", "data:")):
            found.append(Violation(("image_urls", i), "image_url_scheme", {"value": _short(url)}))
    if isinstance(prompt, str) and urls:
        found += _check_references(prompt, len(urls))
    found += _check_choice(body, "resolution", RESOLUTIONS[profile], profile)
    found += _check_choice(body, "aspect_ratio", ASPECT_RATIOS, profile)
    found += _check_choice(body, "output_format", OUTPUT_FORMATS, profile)
    if "num_images" in body:
        count = body["num_images"]
        if (
            isinstance(count, bool)
            or not isinstance(count, int)
            or not NUM_IMAGES_MIN <= count <= NUM_IMAGES_MAX
        ):
            found.append(
                Violation(
                    ("num_images",),
                    "num_images_range",
                    {"value": _short(count), "low": NUM_IMAGES_MIN, "high": NUM_IMAGES_MAX},
                )
            )
    unknown = sorted(
        set(body)
        - {"prompt", "image_urls", "resolution", "num_images", "aspect_ratio", "output_format"}
    )
    for name in unknown:
        found.append(Violation((name,), "unknown_field", {"value": name}))
    return found


def _check_references(prompt: str, count: int) -> list[Violation]:
    """`<<<image_N>>>` / `@ImageN` must name one of the `count` images, counted from 1."""
    found = []
    for n in sorted(set(referenced_images(prompt))):
        if n < 1 or n > count:
            code = "reference_zero" if n < 1 else "reference_out_of_range"
            code = "reference_one_image" if n > 1 and count == 1 else code
            found.append(Violation(("prompt",), code, {"number": n, "count": count}))
    return found


def _check_choice(
    body: Mapping[str, object], name: str, allowed: tuple[str, ...], profile: Profile
) -> list[Violation]:
    if name not in body:
        return []
    value = body[name]
    if value in allowed:
        return []
    code = "resolution_4k_fal" if name == "resolution" and value == "4K" else "choice"
    return [
        Violation(
            (name,),
            code,
            {"value": _short(value), "allowed": ", ".join(allowed), "profile": profile},
        )
    ]


def check_image_bytes(data: bytes, index: int = 0) -> list[Violation]:
    """The per-image rules: a decodable JPEG or PNG, ≤ 10 MB, ≥ 300 px a side, ratio ≤ 2.5."""
    loc: tuple[str | int, ...] = ("image_urls", index)
    if len(data) > IMAGE_MAX_BYTES:
        return [
            Violation(
                loc,
                "image_too_many_bytes",
                {"size_mb": round(len(data) / 2**20, 1), "limit_mb": 10},
            )
        ]
    # No warnings.catch_warnings() here: it is not thread-safe before Python 3.14, and this
    # runs in worker threads. Pillow may warn between 89 and 100 MP; it errs past 179 MP.
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt, (w, h) = img.format, img.size
            if w * h > MAX_DECODED_PIXELS:
                return [Violation(loc, "image_bomb", {"width": w, "height": h})]
            img.load()
    except Image.DecompressionBombError:
        return [Violation(loc, "image_bomb", {"width": 0, "height": 0})]
    except (OSError, SyntaxError, ValueError) as exc:
        code = "image_truncated" if "truncated" in str(exc) else "image_undecodable"
        return [Violation(loc, code)]
    found = []
    if fmt not in IMAGE_FORMATS:
        found.append(Violation(loc, "image_format", {"format": fmt or "?"}))
    found += check_image_size(w, h, index)
    return found


def check_image_size(width: int, height: int, index: int = 0) -> list[Violation]:
    """The geometric rules alone, for an image already decoded."""
    loc: tuple[str | int, ...] = ("image_urls", index)
    found = []
    if min(width, height) < IMAGE_MIN_SIDE:
        found.append(
            Violation(
                loc, "image_too_small", {"width": width, "height": height, "limit": IMAGE_MIN_SIDE}
            )
        )
    ratio = max(width, height) / max(1, min(width, height))
    if ratio > IMAGE_MAX_RATIO:
        found.append(
            Violation(
                loc, "image_bad_ratio", {"width": width, "height": height, "ratio": round(ratio, 2)}
            )
        )
    return found


def _short(value: object, limit: int = 60) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"
