"""The input rules of Kling O1 image-to-image, written once.

The client checks them before any network call (and words a `Violation` in the user's
language); the emulator checks them as the service would (and answers a FastAPI-shaped
422). Limits and sources: PROTOCOL.md, "Kling O1 image-to-image input".
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from PIL import Image

from ._wire import (
    ASPECT_RATIOS,
    BARE_IMAGE,
    ELEMENT_REFERENCES_MAX,
    ELEMENTS,
    ERRORS_DOC,
    IMAGE_FORMATS,
    IMAGE_MAX_BYTES,
    IMAGE_MAX_RATIO,
    IMAGE_MIN_SIDE,
    IMAGES_MAX,
    NUM_IMAGES_MAX,
    NUM_IMAGES_MIN,
    OUTPUT_FORMATS,
    PROMPT_MAX_CHARS,
    REFERENCE,
    RESOLUTIONS,
    SYNC_MODE,
    TEXT_TO_IMAGE,
    Profile,
    ValidationDetail,
    referenced_elements,
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

    def detail(self, specific: bool = False) -> ValidationDetail:
        """This violation as one entry of a 422 `detail` list (English, like the service).

        `specific`: as fal words them, with the rule's own `type` and a documentation `url`."""
        from ._i18n import message

        entry: ValidationDetail = {
            "loc": ["body", *self.loc],
            "msg": message(f"rule.{self.code}", "en", field=self.field, **self.facts),
            "type": self.code if specific else "value_error",
            "ctx": {k: v for k, v in self.facts.items() if isinstance(v, (int, float, str))},
        }
        if specific:
            entry["url"] = f"{ERRORS_DOC}#{self.code}"
        return entry


BASE_FIELDS = frozenset(
    {"prompt", "image_urls", "resolution", "num_images", "aspect_ratio", "output_format"}
)
URL_SCHEMES = ("http://", "https://", "data:")
# Near misses of a reference: `@image1` (lowercase), `<<<image 1>>>`, `<<image_1>>`, `@Image 1`.
NEAR_MISS = re.compile(
    r"@image\s*\d+|@Image\s+\d+|<{1,3}\s*image[\s_-]*\d+\s*>{1,3}", re.IGNORECASE
)


def is_url(value: object) -> bool:
    """http(s) URL or `data:` URI, in any letter case (as the services accept them)."""
    return isinstance(value, str) and value[:8].lower().startswith(URL_SCHEMES)


def check_input(body: Mapping[str, object], profile: Profile = "plain") -> list[Violation]:
    """Every field rule of the input table; an empty list means the body is valid."""
    found = _check_prompt(body.get("prompt"))
    urls = body.get("image_urls")
    elements = body.get("elements")
    count = len(elements) if isinstance(elements, list) else 0
    if urls is None and profile in TEXT_TO_IMAGE:
        urls = []
    if not isinstance(urls, list) or (not urls and profile not in TEXT_TO_IMAGE):
        code = "images_required" if isinstance(urls, list) or urls is None else "images_missing"
        found.append(Violation(("image_urls",), code, {"profile": profile}))
        urls = []
    elif len(urls) + count > IMAGES_MAX:
        total = len(urls) + count
        code = "images_too_many" if not count else "elements_too_many"
        facts: dict[str, object] = {
            "count": total,
            "limit": IMAGES_MAX,
            "excess": total - IMAGES_MAX,
        }
        found.append(Violation(("image_urls",), code, facts))
    for i, url in enumerate(urls if len(urls) <= IMAGES_MAX else []):  # per item: bounded
        if not is_url(url):
            found.append(Violation(("image_urls", i), "image_url_scheme", {"value": shorten(url)}))
    found += _check_elements(elements, profile) if "elements" in body else []
    prompt = body.get("prompt")
    if isinstance(prompt, str) and not any(v.loc == ("image_urls",) for v in found):
        found += _check_references(prompt, len(urls), count)
    found += _check_choice(body, "resolution", RESOLUTIONS[profile], profile)
    found += _check_choice(body, "aspect_ratio", ASPECT_RATIOS, profile)
    found += _check_choice(body, "output_format", OUTPUT_FORMATS, profile)
    found += _check_count(body)
    known = BASE_FIELDS | ({"elements"} if profile in ELEMENTS else set())
    known |= {"sync_mode"} if profile in SYNC_MODE else set()
    if "sync_mode" in known and not isinstance(body.get("sync_mode", False), bool):
        found.append(
            Violation(("sync_mode",), "sync_mode_type", {"value": shorten(body["sync_mode"])})
        )
    for name in sorted(set(body) - known - {"elements"}):
        found.append(Violation((name,), "unknown_field", {"value": name}))
    return found


def _check_prompt(prompt: object) -> list[Violation]:
    if not isinstance(prompt, str):
        if prompt is None:
            return [Violation(("prompt",), "prompt_missing")]
        kind = type(prompt).__name__
        return [Violation(("prompt",), "prompt_not_text", {"value": shorten(prompt), "kind": kind})]
    if not prompt.strip():
        return [Violation(("prompt",), "prompt_missing")]
    found = []
    bad = next((i for i, ch in enumerate(prompt) if "\ud800" <= ch <= "\udfff"), None)
    if bad is not None:
        found.append(Violation(("prompt",), "prompt_surrogate", {"position": bad}))
    if len(prompt) > PROMPT_MAX_CHARS:
        facts: dict[str, object] = {"length": len(prompt), "limit": PROMPT_MAX_CHARS}
        found.append(
            Violation(
                ("prompt",), "prompt_too_long", {**facts, "excess": len(prompt) - PROMPT_MAX_CHARS}
            )
        )
    return found


def _check_count(body: Mapping[str, object]) -> list[Violation]:
    if "num_images" not in body:
        return []
    count = body["num_images"]
    if isinstance(count, bool) or not isinstance(count, int):
        shown = shorten(repr(count) if isinstance(count, str) else count)
        facts: dict[str, object] = {"value": shown, "kind": type(count).__name__}
        return [Violation(("num_images",), "num_images_type", facts)]
    if not NUM_IMAGES_MIN <= count <= NUM_IMAGES_MAX:
        facts = {"value": shorten(count), "low": NUM_IMAGES_MIN, "high": NUM_IMAGES_MAX}
        return [Violation(("num_images",), "num_images_range", facts)]
    return []


def _check_elements(elements: object, profile: Profile) -> list[Violation]:
    """fal's `elements`: each a frontal image and/or up to 3 references, all URLs."""
    if profile not in ELEMENTS:
        return [Violation(("elements",), "elements_unsupported", {"profile": profile})]
    if not isinstance(elements, list):
        return [Violation(("elements",), "elements_type", {"value": shorten(elements)})]
    found: list[Violation] = []
    for i, element in enumerate(elements):
        loc: tuple[str | int, ...] = ("elements", i)
        if not isinstance(element, dict) or not set(element) <= ELEMENT_KEYS or not element:
            found.append(Violation(loc, "element_shape", {"value": shorten(element)}))
            continue
        refs = element.get("reference_image_urls", [])
        if not isinstance(refs, list) or len(refs) > ELEMENT_REFERENCES_MAX:
            size = len(refs) if isinstance(refs, list) else shorten(refs)
            facts: dict[str, object] = {"count": size, "limit": ELEMENT_REFERENCES_MAX}
            found.append(Violation((*loc, "reference_image_urls"), "element_references", facts))
            refs = []
        urls: list[tuple[str | int, object]] = (
            [("frontal_image_url", element["frontal_image_url"])]
            if "frontal_image_url" in element
            else []
        )
        urls += [(j, url) for j, url in enumerate(refs)]
        for key, url in urls:
            where = (*loc, key) if isinstance(key, str) else (*loc, "reference_image_urls", key)
            if not is_url(url):
                found.append(Violation(where, "image_url_scheme", {"value": shorten(url)}))
    return found


ELEMENT_KEYS = frozenset({"frontal_image_url", "reference_image_urls"})


def _check_references(prompt: str, count: int, elements: int = 0) -> list[Violation]:
    """`<<<image_N>>>` / `@ImageN` / `@ElementN` must name a given input, counted from 1."""
    found = []
    for n in sorted(set(referenced_images(prompt))):
        if n < 1 or n > count:
            code = "reference_zero" if n < 1 else "reference_out_of_range"
            code = "reference_one_image" if n > 1 and count == 1 else code
            found.append(Violation(("prompt",), code, {"number": n, "count": count}))
    for n in sorted(set(referenced_elements(prompt))):
        if not 1 <= n <= elements:
            found.append(
                Violation(("prompt",), "element_reference", {"number": n, "count": elements})
            )
    if BARE_IMAGE.search(prompt) and count != 1:
        found.append(Violation(("prompt",), "reference_bare", {"count": count}))
    for miss in NEAR_MISS.findall(prompt):
        if not REFERENCE.fullmatch(miss):
            digits = re.sub(r"\D", "", miss)
            facts: dict[str, object] = {"value": shorten(miss), "number": shorten(digits, 12)}
            found.append(Violation(("prompt",), "reference_near_miss", facts))
    return found


def _check_choice(
    body: Mapping[str, object], name: str, allowed: tuple[str, ...], profile: Profile
) -> list[Violation]:
    if name not in body:
        return []
    value = body[name]
    if value in allowed:
        return []
    text = value.upper() if isinstance(value, str) else None
    if name == "resolution" and profile == "qiniu" and text in allowed:
        return []  # Qiniu documents 1k/2k as accepted
    code = "resolution_4k" if name == "resolution" and text == "4K" else "choice"
    return [
        Violation(
            (name,),
            code,
            {"value": shorten(value), "allowed": ", ".join(allowed), "profile": profile},
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


def shorten(value: object, limit: int = 60) -> str:
    """`value` for a message, cut to `limit`; never raises (huge ints, broken reprs)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 512:
        return f"a number of about {int(value.bit_length() * 0.30103)} digits"
    try:
        text = repr(value) if not isinstance(value, str) else value
    except Exception:  # a repr that raises must not hide the rule it broke
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"
