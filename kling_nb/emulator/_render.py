"""The emulator's renderer: classical filters, picked by the prompt, stand in for Kling O1.

Sizes are the emulator's choice, not Kling's (whose output sizes are not published): `1K`,
`2K` and `4K` give about 1, 4 and 16 megapixels at the requested aspect ratio (`auto`: the
first input's ratio snapped to the nearest allowed one), both sides multiples of 16.

How a request's pictures are made, and why that is fast enough to feel like a service:
1. the image the prompt names first (`<<<image_N>>>` or `@ImageN`; image 1 if it names
   none) fills a frame of the output's ratio at a small working size (`WORK_PIXELS`); the
   other images it names sit on it as framed insets, in the order the prompt names them;
2. the style chosen from the prompt's keywords (Chinese or English, see `style_of`) is
   painted on that frame once, with vectorised numpy and Pillow;
3. each of `num_images` then takes its own seeded variant of the painting (crop, palette
   turn, tint, contrast), is enlarged to the output size, gets its style's fine texture
   (paper, canvas, grain) and the "EMULATED · kling_nb" badge, and is encoded.
The same arguments always give the same bytes.
"""

from __future__ import annotations

import io
import math
import os
import re
import struct
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont, ImageOps

from .._wire import ASPECT_RATIOS, referenced_images

Array = np.ndarray
RESAMPLE = Image.Resampling

RATIOS: dict[str, tuple[int, int]] = {
    r: (int(r.split(":")[0]), int(r.split(":")[1])) for r in ASPECT_RATIOS if r != "auto"
}
PIXELS: dict[str, int] = {"1K": 1 << 20, "2K": 1 << 22, "4K": 1 << 24}
# The style work happens at about this many pixels whatever the output size: it keeps a
# 2K picture well under half a second and makes 1K, 2K and 4K look alike.
WORK_PIXELS = 360_000
CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp"}
BADGE_TEXT = "EMULATED · kling_nb"
BADGE_ACCENT = (255, 176, 0)
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


@dataclass(frozen=True)
class RenderedImage:
    """One encoded output picture."""

    data: bytes
    width: int
    height: int
    content_type: str
    file_name: str


# Keywords per style; English ones match whole words, Chinese ones anywhere. The style
# whose keyword appears first in the prompt wins.
STYLE_KEYWORDS: dict[str, tuple[str, ...]] = {
    "cyberpunk": ("cyberpunk", "cyber punk", "neon", "synthwave", "赛博朋克", "赛博", "霓虹"),
    "watercolor": ("watercolor", "watercolour", "water color", "aquarelle", "水彩"),
    "oil_painting": ("oil painting", "oil paint", "oil", "impasto", "油画"),
    "sketch": ("pencil sketch", "pencil", "sketch", "drawing", "charcoal", "素描", "铅笔", "速写"),
    "ink_wash": ("ink wash", "ink painting", "sumi-e", "sumi e", "水墨", "国画", "墨画"),
    "vintage": ("vintage", "sepia", "retro", "old photo", "antique", "复古", "怀旧", "老照片"),
    "anime": ("anime", "cartoon", "manga", "comic", "cel shaded", "动漫", "卡通", "漫画", "二次元"),
    "black_and_white": (
        "black and white",
        "black-and-white",
        "b&w",
        "monochrome",
        "grayscale",
        "greyscale",
        "noir",
        "黑白",
        "单色",
    ),
    "pixel_art": ("pixel art", "pixel-art", "pixelated", "pixel", "8-bit", "8 bit", "像素"),
}
STYLES: tuple[str, ...] = (*STYLE_KEYWORDS, "neutral")


def _keyword_pattern(word: str) -> str:
    escaped = re.escape(word)
    return escaped if not word.isascii() else rf"(?<![a-z0-9]){escaped}(?![a-z0-9])"


_STYLE_RE = [
    (style, re.compile("|".join(_keyword_pattern(w) for w in words), re.IGNORECASE))
    for style, words in STYLE_KEYWORDS.items()
]


def style_of(prompt: str) -> str:
    """The style key for a prompt: the first style it mentions, else "neutral"."""
    found = [(m.start(), style) for style, rx in _STYLE_RE if (m := rx.search(prompt))]
    return min(found)[1] if found else "neutral"


def _nearest_ratio(width: int, height: int) -> str:
    r = math.log(width / height)
    return min(RATIOS, key=lambda k: abs(math.log(RATIOS[k][0] / RATIOS[k][1]) - r))


def output_size(
    resolution: str, aspect_ratio: str, first_input: tuple[int, int]
) -> tuple[int, int]:
    """(width, height) of an output: resolution's pixel count at the ratio, sides ×16."""
    ratio = _nearest_ratio(*first_input) if aspect_ratio == "auto" else aspect_ratio
    a, b = RATIOS[ratio]
    pixels = PIXELS[resolution]
    w = math.sqrt(pixels * a / b)
    return max(16, round(w / 16) * 16), max(16, round(pixels / w / 16) * 16)


# ---------------------------------------------------------------- numpy helpers


def _f(img: Image.Image) -> Array:
    """An RGB (or L) image as float32 in 0..1; tobytes is far faster than np.asarray here."""
    shape = (img.height, img.width, 3) if img.mode == "RGB" else (img.height, img.width)
    return np.frombuffer(img.tobytes(), np.uint8).reshape(shape).astype(np.float32) / 255


def _u(a: Array) -> Image.Image:
    """A float 0..1 array back to an 8-bit image."""
    return Image.fromarray((np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8))


def _lum(a: Array) -> Array:
    return a @ LUMA


def _saturate(a: Array, amount: float) -> Array:
    lum = _lum(a)[..., None]
    return np.asarray(lum + (a - lum) * amount)


def _hue(a: Array, degrees: float) -> Array:
    """Rotate hues about the grey axis (a cheap, luminance-keeping hue shift)."""
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    k = 1 / 3
    q = math.sqrt(k)
    m = np.array(
        [
            [c + (1 - c) * k, k * (1 - c) - q * s, k * (1 - c) + q * s],
            [k * (1 - c) + q * s, c + k * (1 - c), k * (1 - c) - q * s],
            [k * (1 - c) - q * s, k * (1 - c) + q * s, c + k * (1 - c)],
        ],
        np.float32,
    )
    return np.asarray(a @ m.T)


def _curve(x: Array, amount: float) -> Array:
    """An S-curve: `amount` 0 is identity, 1 is smoothstep's contrast."""
    c = np.clip(x, 0, 1)
    return np.asarray(c + amount * (c * c * (3 - 2 * c) - c))


def _smoothstep(lo: float, hi: float, x: Array) -> Array:
    t = np.clip((x - lo) / (hi - lo), 0, 1)
    return t * t * (3 - 2 * t)


def _win_mean(a: Array, k: int) -> Array:
    """Means over k×k windows anchored at their top-left corner (output shrinks by k-1)."""
    h, w = a.shape[:2]
    # Separable running sums keep float32 exact enough: no sum spans more than k rows.
    s = np.zeros((h + 1, *a.shape[1:]), np.float32)
    np.cumsum(a, axis=0, dtype=np.float32, out=s[1:])
    rows = s[k:] - s[:-k]
    t = np.zeros((h - k + 1, w + 1, *a.shape[2:]), np.float32)
    np.cumsum(rows, axis=1, dtype=np.float32, out=t[:, 1:])
    out = t[:, k:] - t[:, :-k]
    out *= 1 / (k * k)
    return out


def _box(a: Array, r: int) -> Array:
    """Mean over a (2r+1)² window centred on each pixel, edges clamped."""
    if r < 1:
        return a
    pad = [(r, r), (r, r)] + [(0, 0)] * (a.ndim - 2)
    return _win_mean(np.pad(a, pad, mode="edge"), 2 * r + 1)


def _blur(a: Array, r: int) -> Array:
    """A Gaussian-like blur: Pillow's for colour (fast), three box passes for one channel."""
    if a.ndim == 3:
        return _f(_u(a).filter(ImageFilter.GaussianBlur(r)))
    return _box(_box(_box(a, r), r), r)


def _kuwahara(a: Array, r: int) -> Array:
    """Painterly, edge-keeping smoothing: each pixel takes its calmest quadrant's mean."""
    h, w = a.shape[:2]
    lum = _lum(a)
    p = np.pad(a, ((r, r), (r, r), (0, 0)), mode="edge")
    pl = np.pad(lum, r, mode="edge")
    mean, lmean, lsq = _win_mean(p, r + 1), _win_mean(pl, r + 1), _win_mean(pl * pl, r + 1)
    var = lsq - lmean * lmean
    out, best = mean[:h, :w], var[:h, :w]
    for dy, dx in ((0, r), (r, 0), (r, r)):
        v = var[dy : dy + h, dx : dx + w]
        better = v < best
        out = np.where(better[..., None], mean[dy : dy + h, dx : dx + w], out)
        best = np.minimum(v, best)
    return out


def _edges(lum: Array) -> Array:
    """Gradient magnitude by central differences."""
    p = np.pad(lum, 1, mode="edge")
    gx = p[1:-1, 2:] - p[1:-1, :-2]
    gy = p[2:, 1:-1] - p[:-2, 1:-1]
    return np.asarray(np.sqrt(gx * gx + gy * gy))


def _noise(rng: np.random.Generator, h: int, w: int, cell: float) -> Array:
    """Smooth value noise in about -1..1 with features about `cell` pixels wide."""
    small = rng.standard_normal((max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)))
    img = Image.fromarray(small.astype(np.float32)).resize((w, h), RESAMPLE.BICUBIC)
    return np.frombuffer(img.tobytes(), np.float32).reshape(h, w) * 0.8


def _vignette(h: int, w: int, strength: float) -> Array:
    y = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
    x = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
    return 1 - strength * np.clip((x * x + y * y) / 2, 0, 1) ** 1.5 * 1.6


def _glow(a: Array, radius: float) -> Array:
    """A wide Gaussian glow, computed on a quarter-size copy to stay cheap."""
    h, w = a.shape[:2]
    small = _u(a).resize((max(1, w // 4), max(1, h // 4)), RESAMPLE.BOX)
    small = small.filter(ImageFilter.GaussianBlur(radius / 4))
    return _f(small.resize((w, h), RESAMPLE.BILINEAR))


def _screen(a: Array, b: Array) -> Array:
    return np.asarray(1 - (1 - a) * (1 - b))


def _warp(a: Array, rng: np.random.Generator, amount: float, cell: float) -> Array:
    """Displace pixels along smooth noise: wobbly, bled edges."""
    h, w = a.shape[:2]
    dy = _noise(rng, h, w, cell) * amount
    dx = _noise(rng, h, w, cell) * amount
    yy = np.clip((np.arange(h)[:, None] + dy).astype(np.int32), 0, h - 1)
    xx = np.clip((np.arange(w)[None, :] + dx).astype(np.int32), 0, w - 1)
    return a[yy, xx]


def _smear(a: Array, length: int, axis: int) -> Array:
    """Average along one axis only: a motion blur, for brush and pencil strokes."""
    r = max(1, length // 2)
    pad = [(0, 0)] * a.ndim
    pad[axis] = (r, r)
    s = np.cumsum(np.pad(a, pad, mode="edge"), axis=axis, dtype=np.float32)
    s = np.concatenate([np.zeros_like(s.take([0], axis=axis)), s], axis=axis)
    n = s.shape[axis]
    k = 2 * r + 1
    return (s.take(range(k, n), axis=axis) - s.take(range(0, n - k), axis=axis)) / k


def _strokes(rng: np.random.Generator, h: int, w: int, length: float, down: bool) -> Array:
    """Parallel 45° strokes, 0..1: lines smooth along their length, random across."""
    rows = max(2, int(h / length) + 2)
    small = rng.random((rows, w + h)).astype(np.float32)
    cols = Image.fromarray(small).resize((w + h, h), RESAMPLE.BILINEAR)
    sheet = np.frombuffer(cols.tobytes(), np.float32).reshape(h, w + h)
    # Shearing makes the vertical lines diagonal.
    shift = np.arange(h)[:, None] if down else (h - 1 - np.arange(h))[:, None]
    return np.asarray(sheet[np.arange(h)[:, None], np.arange(w)[None, :] + shift])


# ---------------------------------------------------------------- variants and styles


@dataclass(frozen=True)
class _Variant:
    """What makes one of `num_images` differ from its siblings."""

    index: int
    rng: np.random.Generator
    zoom: float  # crop zoom, 1 = the whole frame
    cx: float  # crop centre, 0..1
    cy: float
    hue: float  # palette rotation, degrees
    strength: float  # 0..1, how far the style goes
    out_size: tuple[int, int]

    @property
    def scale(self) -> float:
        """Full-size texture scale: textures keep their look at 1K, 2K and 4K."""
        return max(1.0, min(self.out_size) / 1024)


def _variant(
    seed: int, prompt: str, index: int, out_size: tuple[int, int], framed: bool
) -> _Variant:
    """Seeded variation; the first image keeps the composition, insets are never cropped."""
    rng = np.random.default_rng([seed & 0xFFFFFFFF, index, zlib.crc32(prompt.encode())])
    first = index == 0
    zoom = 1 + rng.uniform(0, 0.04 if first or framed else 0.22)
    return _Variant(
        index=index,
        rng=rng,
        zoom=zoom,
        cx=0.5 + rng.uniform(-0.5, 0.5) * (1 - 1 / zoom),
        cy=0.5 + rng.uniform(-0.5, 0.5) * (1 - 1 / zoom),
        hue=rng.uniform(-5, 5) if first else rng.uniform(-30, 30),
        strength=1.0 if first else rng.uniform(0.7, 1.0),
        out_size=out_size,
    )


def _painter(seed: int, prompt: str, out_size: tuple[int, int]) -> _Variant:
    """The unvaried context a style is painted in once, for all of a request's images."""
    rng = np.random.default_rng([seed & 0xFFFFFFFF, 1 << 16, zlib.crc32(prompt.encode())])
    return _Variant(-1, rng, 1.0, 0.5, 0.5, 0.0, 1.0, out_size)


def _vary(
    painted: Image.Image, v: _Variant, frame: Callable[[Array, _Variant], Array] | None
) -> Image.Image:
    """One image's own look, at working size: its crop, palette turn, tint and contrast."""
    crop = painted.resize(painted.size, RESAMPLE.BICUBIC, box=_crop_box(painted.size, v))
    a = _hue(_f(crop), v.hue)
    a = a * (1 + np.array([1, 0, -1], np.float32) * (v.hue / 400))  # greys get a tint too
    a = _curve(a, (v.strength - 0.85) * 1.5)
    return _u(a if frame is None else frame(a, v))


def _neutral(a: Array, v: _Variant) -> Array:
    """A gentle grade: contrast, warm highlights, cool shadows, vignette."""
    h, w = a.shape[:2]
    lum = _lum(a)[..., None]
    out = _curve(a, 0.35)
    out = _saturate(out, 1.18)
    split = np.array([0.04, 0.01, -0.04], np.float32) * (lum - 0.45) * 2
    out = out + split
    return np.asarray(out * _vignette(h, w, 0.28)[..., None])


def _cyberpunk(a: Array, v: _Variant) -> Array:
    """Magenta/cyan neon grade, glowing edges and highlights, a touch of lens fringing."""
    h, w = a.shape[:2]
    lum = _curve(_lum(a), 0.55)
    stops = [0.0, 0.22, 0.5, 0.78, 1.0]
    cols = np.array(
        [[0.02, 0.01, 0.07], [0.22, 0.04, 0.42], [0.9, 0.12, 0.6], [0.12, 0.82, 1.0], [0.9, 1, 1]],
        np.float32,
    )
    graded = np.stack([np.interp(lum, stops, cols[:, c]) for c in range(3)], axis=-1)
    out = graded * 0.78 + _saturate(a, 1.5) * 0.22 * lum[..., None]
    # Neon tubes: edges tinted magenta → cyan across the frame.
    edge = _smoothstep(0.07, 0.22, _edges(_blur(lum, 1)))
    t = (
        np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
        + _noise(v.rng, h, w, w / 6)[..., None] * 0.3
    )
    tint = np.clip(cols[2] * (1 - t) + cols[3] * t, 0, 1)
    neon = edge[..., None] * tint
    bright = (_smoothstep(0.72, 1.0, lum)[..., None] * graded).astype(np.float32)
    halo = _glow(np.clip(neon * 1.2 + bright, 0, 1), w / 45)
    out = out * _vignette(h, w, 0.45)[..., None]
    out = _screen(out, np.clip(neon * 0.55 + halo * 1.3, 0, 1))
    # Chromatic fringing: red and blue drift apart by a pixel or two.
    d = max(1, w // 450)
    out[..., 0] = np.roll(out[..., 0], d, axis=1)
    out[..., 2] = np.roll(out[..., 2], -d, axis=1)
    return out


def _margin(v: _Variant, h: int, w: int, width: float, ragged: float) -> Array:
    """1 inside, 0 at the frame: an unpainted paper margin with a ragged brush edge."""
    y = np.arange(h, dtype=np.float32)[:, None]
    x = np.arange(w, dtype=np.float32)[None, :]
    dist = np.minimum(np.minimum(x, w - 1 - x), np.minimum(y, h - 1 - y)) / (width * min(h, w))
    return _smoothstep(0.55, 1.0, dist + _noise(v.rng, h, w, min(h, w) / 14) * ragged)


WATERCOLOR_PAPER = np.array([0.985, 0.975, 0.95], np.float32)


def _watercolor(a: Array, v: _Variant) -> Array:
    """Soft washes that bleed into each other, darker wet edges, paper showing through."""
    h, w = a.shape[:2]
    under = _smoothstep(0.05, 0.2, _edges(_blur(_lum(a), 1)))
    s = _kuwahara(a, max(2, w // 220))
    # Wet-in-wet bleeding: each wash spreads a little into its neighbours, unevenly.
    s = s * 0.65 + _blur(s, max(2, w // 120)) * 0.35
    s = _warp(s, v.rng, w / 450, w / 60)
    s = _saturate(s, 1.35)
    wet = _smoothstep(0.01, 0.06, _edges(_blur(_lum(s), 1)))
    s = s * (1 - 0.18 * wet[..., None])
    # Pigment pools unevenly: slow blotches of denser and thinner colour.
    s = 1 - (1 - s) * (1 + 0.25 * _noise(v.rng, h, w, w / 12)[..., None])
    # Thin washes for light colours, dense pigment for darks, paper showing through.
    ink = 1 - np.clip(s, 0, 1)
    s = 1 - ink * (0.68 + 0.27 * ink)
    s = s * (1 - 0.16 * under[..., None])
    return WATERCOLOR_PAPER * s


def _watercolor_frame(a: Array, v: _Variant) -> Array:
    """The unpainted paper margin, ragged where the wash stopped."""
    h, w = a.shape[:2]
    inside = _margin(v, h, w, 0.06, 0.3)[..., None]
    return np.asarray(WATERCOLOR_PAPER - (WATERCOLOR_PAPER - a) * inside)


def _oil(a: Array, v: _Variant) -> Array:
    """Kuwahara paint dragged along the contours in lit, raised brush strokes."""
    h, w = a.shape[:2]
    r = max(3, round(w / 200))
    p = _kuwahara(_kuwahara(a, r), max(2, r // 2))
    p = _curve(_saturate(p, 1.35), 0.3)
    b = _blur(_lum(p), 2)
    gx, gy = np.gradient(b, axis=1), np.gradient(b, axis=0)
    # 1 where strokes should run vertically (along a vertical contour), 0 for horizontal.
    along_y = _blur(gx * gx / (gx * gx + gy * gy + 1e-5), 4)[..., None]
    length = max(7, w // 50)
    dragged = _smear(p, length, 0) * along_y + _smear(p, length, 1) * (1 - along_y)
    p = p * 0.45 + dragged * 0.55
    n = v.rng.random((h, w, 1)).astype(np.float32)
    strokes = _smear(n, length, 0) * along_y + _smear(n, length, 1) * (1 - along_y)
    strokes = (strokes[..., 0] - 0.5) * math.sqrt(length) * 0.3  # about unit variance
    height = b * 0.25 + strokes * 0.2
    # Light from the top left: the slope towards it brightens, away from it darkens.
    shade = (height - np.roll(np.roll(height, 1, 0), 1, 1)) * 2.0
    out = p * (1 + shade[..., None]) + np.clip(shade, 0, None)[..., None] * 0.3
    return np.asarray(out * _vignette(h, w, 0.22)[..., None])


def _sketch(a: Array, v: _Variant) -> Array:
    """Graphite on paper: dodge-blend contour lines plus hatching in the shadows."""
    h, w = a.shape[:2]
    g = _curve(_lum(a), 0.3)
    lines = np.clip(g / np.maximum(_blur(g, max(2, w // 160)), 1e-3), 0, 1) ** 6
    tone = 1 - _blur(g, max(2, w // 120))
    length = w / 30
    hatch = _smoothstep(0.72, 0.88, _strokes(v.rng, h, w, length, True))
    cross = _smoothstep(0.74, 0.9, _strokes(v.rng, h, w, length, False))
    shade = 1 - 0.55 * hatch * _smoothstep(0.3, 0.7, tone)
    shade = shade - 0.5 * cross * _smoothstep(0.55, 0.9, tone)
    ink = np.clip(lines * shade * (0.9 + 0.1 * g), 0, 1)
    paper = np.array([0.96, 0.95, 0.92], np.float32)
    graphite = np.array([0.16, 0.16, 0.19], np.float32)
    return np.asarray(graphite + (paper - graphite) * ink[..., None])


def _sketch_frame(a: Array, v: _Variant) -> Array:
    """Smudged graphite towards the edges of the sheet."""
    h, w = a.shape[:2]
    return a * (0.94 + 0.06 * _margin(v, h, w, 0.05, 0.2))[..., None]


def _ink_wash(a: Array, v: _Variant) -> Array:
    """Chinese ink: soft graded washes on rice paper, dry-brush contours, a hint of colour."""
    h, w = a.shape[:2]
    s = _kuwahara(a, max(3, w // 150))
    g = _lum(_warp(s, v.rng, w / 300, w / 40))
    d = _smoothstep(0.3, 1.0, 1 - g) ** 1.3
    # Three soft-edged washes: the ink spreads in the wet paper, so no hard bands.
    q = (np.floor(d * 3) + _smoothstep(0.3, 0.7, d * 3 % 1)) / 3
    q = _blur(q, max(1, w // 400))
    q = q * (0.45 + 0.5 * q)  # pale washes, and dense black ink for the darkest
    q = q * (1 + 0.25 * _noise(v.rng, h, w, w / 16))
    e = _smoothstep(0.07, 0.2, _edges(_blur(g, 1))) * (0.35 + 0.65 * _smoothstep(0.1, 0.5, d))
    dry = _smoothstep(-0.5, 0.1, _noise(v.rng, h, w, w / 120))
    e = np.maximum(e * dry, _blur(e, 1) * 0.4)
    ink = np.clip(q + e * 0.85, 0, 1)[..., None]
    paper = np.array([0.965, 0.945, 0.89], np.float32)
    black = np.array([0.08, 0.075, 0.08], np.float32)
    wash = _saturate(s, 0.5) * paper  # a whisper of the source colours in the light areas
    light = paper * 0.8 + wash * 0.2
    return np.asarray(light * (1 - ink) + black * ink)


def _vintage(a: Array, v: _Variant) -> Array:
    """An old print: sepia, faded blacks, soft focus, heavy vignette, a cream border."""
    h, w = a.shape[:2]
    s = _blur(a, 1)
    m = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]], np.float32)
    sep = s @ m.T
    sep = sep * 0.85 + s * 0.15
    sep = _curve(sep, -0.25)
    sep = 0.09 + sep * 0.8
    return sep * np.array([1.03, 0.98, 0.86], np.float32)


def _vintage_frame(a: Array, v: _Variant) -> Array:
    """A dark vignette and the cream border of an old print."""
    h, w = a.shape[:2]
    out = a * _vignette(h, w, 0.55)[..., None]
    border = int(min(h, w) * 0.035)
    frame = np.zeros((h, w), bool)
    frame[:border], frame[-border:], frame[:, :border], frame[:, -border:] = True, True, True, True
    out[frame] = np.array([0.93, 0.9, 0.8], np.float32)
    return np.asarray(out)


def _anime(a: Array, v: _Variant) -> Array:
    """Cel shading: flat colour regions in a few bright light bands, bold ink outlines."""
    flat = _kuwahara(a, 2)
    lines = _smoothstep(0.1, 0.22, _edges(_blur(_lum(flat), 1)))
    s = _kuwahara(flat, 3)
    lum = _lum(s)
    bands = (np.floor(lum * 4) + _smoothstep(0.42, 0.58, lum * 4 % 1)) / 4
    cel = s * ((0.1 + bands * 0.9) / np.maximum(lum, 0.1))[..., None]
    cel = _saturate(np.clip(cel, 0, 1), 1.55)
    cel = 1 - (1 - cel) * 0.92  # brighter, poster-like
    return cel * (1 - 0.92 * lines)[..., None]


def _black_and_white(a: Array, v: _Variant) -> Array:
    """A punchy monochrome print: red-filter mix, local contrast, vignette, slight tone."""
    h, w = a.shape[:2]
    g = a @ np.array([0.5, 0.4, 0.1], np.float32)
    g = g + 0.6 * (g - _blur(g, max(4, w // 40)))
    g = _curve(np.clip(g, 0, 1), 0.7) * _vignette(h, w, 0.3)
    return np.repeat(g[..., None], 3, axis=2)


def _pixel_art(a: Array, v: _Variant) -> Array:
    """A blocky low-resolution picture in a small, punchy palette (upscaled without smoothing)."""
    cells = int(v.rng.choice([80, 96, 112, 128]))
    cell = max(2, max(v.out_size) // cells)
    gw, gh = -(-v.out_size[0] // cell), -(-v.out_size[1] // cell)
    boosted = _u(_hue(_curve(_saturate(a, 1.4), 0.3), v.hue))
    small = boosted.resize((gw, gh), RESAMPLE.BOX)
    colors = int(v.rng.choice([12, 16, 20]))
    small = small.quantize(colors, Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    return _f(small.convert("RGB"))


# ---------------------------------------------------------------- full-size finishing


def _tiled(tile: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A texture tile repeated over `size`: far cheaper than full-size noise."""
    out = Image.new(tile.mode, size)
    for y in range(0, size[1], tile.height):
        for x in range(0, size[0], tile.width):
            out.paste(tile, (x, y))
    return out


def _texture(v: _Variant, a: Array, img: Image.Image) -> Image.Image:
    """A 256² texture scaled to the output's detail size, tiled over the whole image."""
    tile = _u(a).convert("RGB")
    side = round(tile.width * v.scale)
    return _tiled(tile.resize((side, side), RESAMPLE.BICUBIC), img.size)


def _grain(amount: float) -> Callable[[Image.Image, _Variant], Image.Image]:
    """Film grain of the given standard deviation (0..1 units), added."""

    def finish(img: Image.Image, v: _Variant) -> Image.Image:
        noise = 0.5 + v.rng.standard_normal((256, 256)).astype(np.float32) * amount
        return ImageChops.add(img, _texture(v, noise, img), 1.0, -128)

    return finish


def _paper(depth: float) -> Callable[[Image.Image, _Variant], Image.Image]:
    """Paper tooth and fibres, multiplied in."""

    def finish(img: Image.Image, v: _Variant) -> Image.Image:
        fine = v.rng.standard_normal((256, 256)).astype(np.float32)
        fibre = _smear(v.rng.standard_normal((256, 256)).astype(np.float32), 9, 1) * 2.5
        bump = np.abs(fine * 0.5 + _blur(fine, 1) * 1.2 + fibre * 0.6)
        return ImageChops.multiply(img, _texture(v, 1 - depth * np.clip(bump, 0, 2) / 2, img))

    return finish


def _canvas(img: Image.Image, v: _Variant) -> Image.Image:
    """The weave of a primed canvas under the paint."""
    i = np.arange(256, dtype=np.float32)
    weave = 0.5 + 0.25 * (np.cos(i * math.pi / 2)[None, :] + np.cos(i * math.pi / 2)[:, None])
    weave = weave + v.rng.standard_normal((256, 256)).astype(np.float32) * 0.15
    return ImageChops.multiply(img, _texture(v, 1 - 0.05 * np.clip(weave, 0, 1.3), img))


def _scanlines(img: Image.Image, v: _Variant) -> Image.Image:
    """Faint horizontal display lines."""
    period = max(3, round(3 * v.scale))
    rows = [210 if y % period == 0 else 255 for y in range(img.height)]
    column = Image.frombytes("L", (1, img.height), bytes(rows))
    return ImageChops.multiply(img, column.resize(img.size, RESAMPLE.NEAREST).convert("RGB"))


def _dust(img: Image.Image, v: _Variant) -> Image.Image:
    """Specks and hairline scratches of an old print."""
    draw = ImageDraw.Draw(img)
    w, h = img.size
    s = v.scale
    for _ in range(int(v.rng.integers(40, 90))):
        x, y = float(v.rng.uniform(0, w)), float(v.rng.uniform(0, h))
        r = float(v.rng.uniform(0.6, 2.2)) * s
        shade = int(v.rng.choice([35, 60, 235]))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(shade, shade - 8, shade - 20))
    for _ in range(int(v.rng.integers(2, 6))):
        x = float(v.rng.uniform(0, w))
        y0, y1 = sorted(float(t) for t in v.rng.uniform(0, h, 2))
        draw.line((x, y0, x + float(v.rng.uniform(-8, 8)) * s, y1), fill=(226, 214, 190), width=1)
    return img


def _seal(img: Image.Image, v: _Variant) -> Image.Image:
    """The red artist's seal of an ink painting, bottom left (the badge is bottom right)."""
    side = round(min(img.size) * 0.075)
    seal = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(seal)
    draw.rounded_rectangle((0, 0, side - 1, side - 1), radius=side // 8, fill=220)
    m, stroke = side // 6, max(2, side // 14)
    # Abstract carved strokes: seal script is unreadable to most viewers anyway.
    for k in range(2):
        x0 = m + k * (side - 2 * m) // 2 + stroke
        x1 = x0 + (side - 2 * m) // 2 - 2 * stroke
        for y in (m, side // 2, side - m - stroke):
            draw.rectangle((x0, y, x1, y + stroke), fill=0)
        draw.rectangle((x0 + (x1 - x0) // 2, m, x0 + (x1 - x0) // 2 + stroke, side - m), fill=0)
    rough = _u(0.75 + 0.25 * _smoothstep(-0.6, 0.2, _noise(v.rng, side, side, side / 10)))
    mask = ImageChops.multiply(seal, rough)
    pos = (round(min(img.size) * 0.05), img.height - side - round(min(img.size) * 0.05))
    img.paste((178, 34, 30), (*pos, pos[0] + side, pos[1] + side), mask)
    return img


@dataclass(frozen=True)
class _Style:
    paint: Callable[[Array, _Variant], Array]
    finish: tuple[Callable[[Image.Image, _Variant], Image.Image], ...] = ()
    # Applied per image after its crop, so that margins and borders stay whole.
    frame: Callable[[Array, _Variant], Array] | None = None
    nearest: bool = False  # pixel art: painted per image, enlarged without smoothing


_STYLES: dict[str, _Style] = {
    "neutral": _Style(_neutral, (_grain(0.025),)),
    "cyberpunk": _Style(_cyberpunk, (_scanlines, _grain(0.03))),
    "watercolor": _Style(_watercolor, (_paper(0.16),), _watercolor_frame),
    "oil_painting": _Style(_oil, (_canvas,)),
    "sketch": _Style(_sketch, (_paper(0.12), _grain(0.025)), _sketch_frame),
    "ink_wash": _Style(_ink_wash, (_paper(0.1), _seal)),
    "vintage": _Style(_vintage, (_grain(0.06), _dust), _vintage_frame),
    "anime": _Style(_anime),
    "black_and_white": _Style(_black_and_white, (_grain(0.05),)),
    "pixel_art": _Style(_pixel_art, nearest=True),
}


# ---------------------------------------------------------------- badge and encoding


@lru_cache(maxsize=16)
def _badge_image(height: int) -> Image.Image:
    """The "EMULATED · kling_nb" label: white on dark, an amber dot, rounded corners."""
    size = max(10, round(height * 0.02))
    try:  # Pillow's bundled scalable font; without FreeType, its small bitmap font
        font: ImageFont.FreeTypeFont | ImageFont.ImageFont = ImageFont.load_default(size)
    except TypeError:  # Pillow < 10.1 takes no size
        font = ImageFont.load_default()
    left, top, right, bottom = (round(t) for t in font.getbbox(BADGE_TEXT))
    pad = max(3, size // 2)
    dot = max(4, size * 6 // 10)
    w = right - left + 3 * pad + dot
    h = bottom - top + 2 * pad
    badge = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(badge)
    draw.rounded_rectangle((0, 0, w - 1, h - 1), radius=h // 3, fill=(18, 18, 22, 232))
    cy = h // 2
    draw.ellipse((pad, cy - dot // 2, pad + dot, cy - dot // 2 + dot), fill=(*BADGE_ACCENT, 255))
    draw.text((2 * pad + dot - left, pad - top), BADGE_TEXT, font=font, fill=(255, 255, 255, 255))
    return badge


def _stamp_badge(img: Image.Image) -> None:
    """Put the badge in the bottom-right corner, in place."""
    badge = _badge_image(min(img.size))
    margin = max(4, min(img.size) // 64)
    pos = (img.width - badge.width - margin, img.height - badge.height - margin)
    img.paste(badge.convert("RGB"), pos, badge.getchannel("A"))


def _png(img: Image.Image) -> bytes:
    """An RGB PNG written directly: the "Up" filter on every row, Huffman-only deflate.

    Pillow's adaptive filters at compress level 1 take about three times as long for files
    about a fifth smaller; on a 2K image that is most of the time budget. zlib also releases
    the GIL, so the images of one request encode in parallel.
    """
    w, h = img.size
    rows = np.frombuffer(img.tobytes(), np.uint8).reshape(h, w * 3)
    filtered = np.empty((h, w * 3 + 1), np.uint8)
    filtered[:, 0] = 2
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])
    deflate = zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_HUFFMAN_ONLY)
    idat = deflate.compress(filtered.data) + deflate.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _encode(img: Image.Image, output_format: str) -> bytes:
    if output_format == "png":
        return _png(img)
    buf = io.BytesIO()
    if output_format == "jpeg":
        img.save(buf, "JPEG", quality=92)
    else:
        img.save(buf, "WEBP", quality=88, method=2)
    return buf.getvalue()


# ---------------------------------------------------------------- composition


def _rgb(img: Image.Image) -> Image.Image:
    """Any decoded input as RGB: transparency over white, deep greys scaled, EXIF upright."""
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        a = np.asarray(img, np.float32)
        img = Image.fromarray((a * (255 / max(1.0, float(a.max())))).astype(np.uint8))
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def _cover(
    img: Image.Image, size: tuple[int, int], zoom: float, cx: float, cy: float
) -> Image.Image:
    """Crop `img` to the ratio of `size` (zoomed in around cx, cy) and resize to it."""
    w, h = img.size
    target = size[0] / size[1]
    cw, ch = (w, w / target) if w / h < target else (h * target, h)
    cw, ch = cw / zoom, ch / zoom
    if zoom == 1.0:  # cutting height: the more is cut, the more of the top (faces) stays
        cy = 0.5 - 0.35 * (1 - ch / h)
    left = min(max(0.0, cx * w - cw / 2), w - cw)
    top = min(max(0.0, cy * h - ch / 2), h - ch)
    box = (left, top, left + cw, top + ch)
    return img.resize(size, RESAMPLE.BICUBIC, box=box, reducing_gap=2.0)


def _order(prompt: str, count: int) -> list[int]:
    """0-based indices of the images to use, the base first, then insets as the prompt names them.

    Image 1 is the base whenever the prompt names it (or names none): prompts such as
    "put <<<image_2>>> into <<<image_1>>>" edit image 1. Otherwise the first image named is.
    """
    seen: list[int] = []
    for n in referenced_images(prompt):
        if 1 <= n <= count and n - 1 not in seen:
            seen.append(n - 1)
    if 0 in seen:
        seen.remove(0)
        seen.insert(0, 0)
    return seen or [0]


def _compose(layers: list[Image.Image], size: tuple[int, int]) -> Image.Image:
    """The first layer fills the frame; the others sit on it as framed, shadowed insets."""
    base = _cover(layers[0], size, 1.0, 0.5, 0.5)
    insets = layers[1:]
    if not insets:
        return base
    w, h = size
    margin = round(min(w, h) * 0.04)
    ih = round(h * (0.42 if len(insets) == 1 else 0.3))
    widths = [round(ih * min(2.0, max(0.5, im.width / im.height))) for im in insets]
    fit = (w - margin * (len(insets) + 1)) / sum(widths)
    if fit < 1:  # many insets: shrink the row so it fits across the frame
        ih, widths = round(ih * fit), [round(x * fit) for x in widths]
    top = h - ih - margin
    border = max(2, ih // 40)
    shadow = Image.new("L", size, 0)
    x = margin
    placed = []
    for im, iw in zip(insets, widths, strict=True):
        placed.append((x, _cover(im, (iw, ih), 1.0, 0.5, 0.5)))
        ImageDraw.Draw(shadow).rectangle(
            (x + border * 2, top + border * 2, x + iw + border * 3, top + ih + border * 3), fill=150
        )
        x += iw + margin
    shadow = shadow.filter(ImageFilter.GaussianBlur(border * 2))
    base.paste((0, 0, 0), (0, 0, w, h), shadow)
    for x, im in placed:
        frame = (x - border, top - border, x + im.width + border, top + ih + border)
        base.paste((250, 250, 248), frame)
        base.paste(im, (x, top))
    return base


# ---------------------------------------------------------------- rendering


def _work_size(size: tuple[int, int]) -> tuple[int, int]:
    w, h = size
    k = min(1.0, math.sqrt(WORK_PIXELS / (w * h)))
    return max(16, round(w * k)), max(16, round(h * k))


def _crop_box(size: tuple[int, int], v: _Variant) -> tuple[float, float, float, float]:
    """The part of a frame of `size` that variant `v` shows (zoomed in around its centre)."""
    cw, ch = size[0] / v.zoom, size[1] / v.zoom
    left = min(max(0.0, v.cx * size[0] - cw / 2), size[0] - cw)
    top = min(max(0.0, v.cy * size[1] - ch / 2), size[1] - ch)
    return left, top, left + cw, top + ch


def _pixelated(canvas: Image.Image, spec: _Style, v: _Variant) -> Image.Image:
    """Pixel art, painted per image (it is cheap) so that its blocks stay whole."""
    zoomed = canvas.resize(canvas.size, RESAMPLE.BICUBIC, box=_crop_box(canvas.size, v))
    grid = _u(spec.paint(_f(zoomed), v))
    size = v.out_size
    cell = max(-(-size[0] // grid.width), -(-size[1] // grid.height))
    big = grid.resize((grid.width * cell, grid.height * cell), RESAMPLE.NEAREST)
    left, top = (big.width - size[0]) // 2, (big.height - size[1]) // 2
    return big.crop((left, top, left + size[0], top + size[1]))


def _finish(
    img: Image.Image, spec: _Style, v: _Variant, output_format: str, badge: bool
) -> RenderedImage:
    """Full-size texture, badge and encoding of one image."""
    for finish in spec.finish:
        img = finish(img, v)
    if badge:
        _stamp_badge(img)
    return RenderedImage(
        data=_encode(img, output_format),
        width=img.width,
        height=img.height,
        content_type=CONTENT_TYPES[output_format],
        file_name=f"image_{v.index + 1}.{EXTENSIONS[output_format]}",
    )


def render(
    inputs: list[Image.Image],
    prompt: str,
    *,
    resolution: str = "1K",
    aspect_ratio: str = "auto",
    num_images: int = 1,
    output_format: str = "png",
    seed: int = 0,
    _badge: bool = True,
) -> list[RenderedImage]:
    """`num_images` pictures of the inputs in the prompt's style; same arguments, same bytes."""
    if not inputs:
        raise ValueError("render needs at least one input image")
    if resolution not in PIXELS or (aspect_ratio != "auto" and aspect_ratio not in RATIOS):
        raise ValueError(f"unknown resolution or aspect ratio: {resolution!r}, {aspect_ratio!r}")
    if output_format not in CONTENT_TYPES or not 1 <= num_images <= 9:
        raise ValueError(f"bad output_format or num_images: {output_format!r}, {num_images!r}")
    size = output_size(resolution, aspect_ratio, inputs[0].size)
    layers = [_rgb(inputs[i]) for i in _order(prompt, len(inputs))]
    spec = _STYLES[style_of(prompt)]
    canvas = _compose(layers, _work_size(size))
    variants = [_variant(seed, prompt, i, size, len(layers) > 1) for i in range(num_images)]
    # The style is painted once; each image then crops, tints and textures it on its own.
    painted = None if spec.nearest else _u(spec.paint(_f(canvas), _painter(seed, prompt, size)))

    def one(v: _Variant) -> RenderedImage:
        if painted is None:
            return _finish(_pixelated(canvas, spec, v), spec, v, output_format, _badge)
        img = _vary(painted, v, spec.frame).resize(size, RESAMPLE.BICUBIC)
        return _finish(img, spec, v, output_format, _badge)

    if num_images == 1:
        return [one(variants[0])]
    # numpy, Pillow's resampling and zlib release the GIL, so threads use every core.
    with ThreadPoolExecutor(max_workers=min(num_images, os.cpu_count() or 1)) as pool:
        return list(pool.map(one, variants))
