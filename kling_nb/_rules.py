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

from ._text import short
from ._wire import (
    ASPECT_RATIOS,
    BARE_IMAGE,
    ELEMENT_REFERENCE,
    ELEMENT_REFERENCES_MAX,
    ELEMENTS,
    IMAGE_FORMATS,
    IMAGE_MAX_BYTES,
    IMAGE_MAX_RATIO,
    IMAGE_MIN_SIDE,
    IMAGES_MAX,
    NUM_IMAGES_MAX,
    NUM_IMAGES_MIN,
    OUTPUT_FORMATS,
    PROMPT_MAX_CHARS,
    REFERENCE_DIGITS_MAX,
    RESOLUTIONS,
    TEXT_TO_IMAGE,
    Profile,
    ValidationDetail,
    near_misses,
    oversized_references,
    referenced_images,
)

SCHEMES = ("http://", "https://", "data:")
FIELDS = ("prompt", "image_urls", "resolution", "num_images", "aspect_ratio", "output_format")
FAL_FIELDS = ("elements", "sync_mode")
# fal's specific 422 `type` per rule (PROTOCOL.md); others are `value_error`.
ERROR_TYPES = {"image_too_small": "image_too_small", "image_bad_ratio": "image_aspect_ratio"}
ERRORS_DOC = "https://docs.fal.ai/errors"

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

        kind = ERROR_TYPES.get(self.code, "value_error")
        return {
            "loc": ["body", *self.loc],
            "msg": message(f"rule.{self.code}", "en", field=self.field, **self.facts),
            "type": kind,
            "url": f"{ERRORS_DOC}#{kind}",
            "ctx": {k: v for k, v in self.facts.items() if isinstance(v, (int, float, str))},
        }


def is_url(value: object) -> bool:
    """An http(s) URL or a data: URI, scheme in any case."""
    return isinstance(value, str) and value[:8].lower().startswith(SCHEMES)


def normal_resolution(value: object) -> object:
    """`1k` → `1K`: the services accept either case."""
    return value.upper() if isinstance(value, str) and value.lower() in ("1k", "2k") else value


def check_input(body: Mapping[str, object], profile: Profile = "plain") -> list[Violation]:
    """Every field rule of the input table; an empty list means the body is valid."""
    found = _check_prompt(body.get("prompt"))
    urls = body.get("image_urls")
    elements = body.get("elements")
    if profile in TEXT_TO_IMAGE and (urls is None or (isinstance(urls, list) and not urls)):
        urls = []  # a prompt alone: text-to-image
    elif not isinstance(urls, list) or (not urls and not elements):
        code = "images_missing_fal" if profile == "fal" else "images_missing"
        found.append(Violation(("image_urls",), code))
        urls = []
    elif len(urls) > IMAGES_MAX:
        found.append(
            Violation(
                ("image_urls",),
                "images_too_many",
                {"count": len(urls), "limit": IMAGES_MAX, "excess": len(urls) - IMAGES_MAX},
            )
        )
    for i, url in enumerate(urls if len(urls) <= IMAGES_MAX else []):  # per item: cheap only
        if not is_url(url):
            found.append(Violation(("image_urls", i), "image_url_scheme", {"value": short(url)}))
    found += _check_elements(body, len(urls), profile)
    prompt = body.get("prompt")
    if isinstance(prompt, str) and isinstance(urls, list) and (urls or elements):
        count = len(elements) if isinstance(elements, list) else 0
        found += _check_references(prompt, len(urls), count)
    found += _check_choice(body, "resolution", RESOLUTIONS[profile], profile)
    found += _check_choice(body, "aspect_ratio", ASPECT_RATIOS, profile)
    found += _check_choice(body, "output_format", OUTPUT_FORMATS, profile)
    if "num_images" in body:
        found += _check_count(body["num_images"])
    known = {*FIELDS, "elements"} | (set(FAL_FIELDS) if profile in ELEMENTS else set())
    for name in sorted(set(body) - known, key=str)[:20]:
        found.append(Violation((name,), "unknown_field", {"value": short(name)}))
    return found


def _check_prompt(prompt: object) -> list[Violation]:
    if isinstance(prompt, (bytes, bytearray)) or (
        prompt is not None and not isinstance(prompt, str)
    ):
        return [Violation(("prompt",), "prompt_not_text", {"value": short(prompt)})]
    if not isinstance(prompt, str) or not prompt.strip():
        return [Violation(("prompt",), "prompt_missing")]
    if len(prompt) > PROMPT_MAX_CHARS:
        facts = {"length": len(prompt), "limit": PROMPT_MAX_CHARS}
        return [
            Violation(
                ("prompt",), "prompt_too_long", {**facts, "excess": len(prompt) - PROMPT_MAX_CHARS}
            )
        ]
    bad = next((i for i, c in enumerate(prompt) if "\ud800" <= c <= "\udfff"), None)
    if bad is not None:
        return [Violation(("prompt",), "prompt_surrogate", {"position": bad + 1})]
    return []


def _check_count(count: object) -> list[Violation]:
    facts = {"value": short(count), "low": NUM_IMAGES_MIN, "high": NUM_IMAGES_MAX}
    if isinstance(count, bool) or not isinstance(count, int):
        return [
            Violation(
                ("num_images",),
                "num_images_type",
                {**facts, "value": short(repr(count)), "type": type(count).__name__},
            )
        ]
    if not NUM_IMAGES_MIN <= count <= NUM_IMAGES_MAX:
        return [Violation(("num_images",), "num_images_range", facts)]
    return []


def _check_elements(body: Mapping[str, object], images: int, profile: Profile) -> list[Violation]:
    """fal's `elements`: a list of `{frontal_image_url?, reference_image_urls?: ≤ 3}`."""
    if "elements" not in body:
        return []
    elements = body["elements"]
    if profile not in ELEMENTS:
        return [Violation(("elements",), "elements_unsupported", {"profile": profile})]
    if not isinstance(elements, list):
        return [Violation(("elements",), "elements_type", {"value": short(elements)})]
    if len(elements) + images > IMAGES_MAX:
        facts: dict[str, object] = {
            "elements": len(elements),
            "images": images,
            "limit": IMAGES_MAX,
        }
        return [Violation(("elements",), "elements_too_many", facts)]
    found: list[Violation] = []
    for i, element in enumerate(elements):
        refs = element.get("reference_image_urls", []) if isinstance(element, dict) else None
        front = element.get("frontal_image_url") if isinstance(element, dict) else None
        if (
            not isinstance(element, dict)
            or set(element) - {"frontal_image_url", "reference_image_urls"}
            or not isinstance(refs, list)
            or (front is None and not refs)
        ):
            found.append(Violation(("elements", i), "element_shape", {"value": short(element)}))
            continue
        if len(refs) > ELEMENT_REFERENCES_MAX:
            counts: dict[str, object] = {"count": len(refs), "limit": ELEMENT_REFERENCES_MAX}
            found.append(
                Violation(("elements", i, "reference_image_urls"), "element_references", counts)
            )
            continue
        for loc, url in [(("frontal_image_url",), front)] * (front is not None) + [
            (("reference_image_urls", j), u) for j, u in enumerate(refs)
        ]:
            if not is_url(url):
                found.append(
                    Violation(("elements", i, *loc), "image_url_scheme", {"value": short(url)})
                )
    return found


def element_urls(body: Mapping[str, object]) -> list[tuple[tuple[str | int, ...], str]]:
    """Every image URL inside `elements`, with its location (for fetching and checking)."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    elements = body.get("elements")
    for i, element in enumerate(elements if isinstance(elements, list) else []):
        if not isinstance(element, dict):
            continue
        if isinstance(element.get("frontal_image_url"), str):
            out.append((("elements", i, "frontal_image_url"), element["frontal_image_url"]))
        refs = element.get("reference_image_urls")
        for j, url in enumerate(refs if isinstance(refs, list) else []):
            if isinstance(url, str):
                out.append((("elements", i, "reference_image_urls", j), url))
    return out


def _check_references(prompt: str, count: int, elements: int = 0) -> list[Violation]:
    """`<<<image_N>>>` / `@ImageN` / `@ElementN` must name a given input, counted from 1."""
    found = []
    for n in sorted(set(referenced_images(prompt))):
        if n < 1 or n > count:
            code = "reference_zero" if n < 1 else "reference_out_of_range"
            code = "reference_one_image" if n > 1 and count == 1 else code
            found.append(Violation(("prompt",), code, {"number": n, "count": count}))
    for text in oversized_references(prompt)[:1]:
        code = "reference_one_image" if count == 1 else "reference_out_of_range"
        found.append(Violation(("prompt",), code, {"number": text, "count": count}))
    if BARE_IMAGE.search(prompt) and count != 1:
        found.append(Violation(("prompt",), "reference_bare", {"count": count}))
    numbers = [m for m in ELEMENT_REFERENCE.findall(prompt) if len(m) <= REFERENCE_DIGITS_MAX]
    for n in sorted({int(m) for m in numbers}):
        if not 1 <= n <= elements:
            found.append(
                Violation(("prompt",), "element_out_of_range", {"number": n, "count": elements})
            )
    for miss in near_misses(prompt)[:3]:
        found.append(Violation(("prompt",), "reference_near_miss", {"value": short(miss)}))
    return found


def _check_choice(
    body: Mapping[str, object], name: str, allowed: tuple[str, ...], profile: Profile
) -> list[Violation]:
    if name not in body:
        return []
    value = normal_resolution(body[name]) if name == "resolution" else body[name]
    if isinstance(value, str) and value in allowed:
        return []
    code = "resolution_4k" if name == "resolution" and str(value).upper() == "4K" else "choice"
    return [
        Violation(
            (name,),
            code,
            {"value": short(value), "allowed": ", ".join(allowed), "profile": profile},
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
