"""Synthesise running-man.jpg: a runner backlit by a low sun on a lakeside path.

No photograph of a runner with a public-domain or CC0 licence could be found in a package
the project can install, so this sample is drawn by code (see PROVENANCE.md). Run it from
the repository root to regenerate the file:

    python kling_nb/samples/make_running_man.py
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

W, H = 1024, 683
S = 2  # drawn at twice the size, then reduced: free antialiasing
SEED = 20240607

# A runner striding out, in figure heights: x forward, y up from the ground.
JOINTS = {
    "head": (0.125, 0.925),
    "neck": (0.1, 0.845),
    "shoulder": (0.08, 0.79),
    "hip": (0.0, 0.52),
    "knee_f": (0.145, 0.3),
    "ankle_f": (0.2, 0.05),
    "toe_f": (0.285, 0.012),
    "knee_b": (-0.05, 0.3),
    "ankle_b": (-0.255, 0.345),
    "toe_b": (-0.305, 0.28),
    "elbow_f": (0.175, 0.655),
    "hand_f": (0.265, 0.745),
    "elbow_b": (-0.065, 0.665),
    "hand_b": (-0.005, 0.565),
}
LIMBS = [  # (from, to, width at start, width at end), back limbs first
    ("shoulder", "elbow_b", 0.06, 0.048),
    ("elbow_b", "hand_b", 0.046, 0.036),
    ("hip", "knee_b", 0.11, 0.07),
    ("knee_b", "ankle_b", 0.075, 0.04),
    ("ankle_b", "toe_b", 0.045, 0.03),
    ("hip", "knee_f", 0.115, 0.072),
    ("knee_f", "ankle_f", 0.078, 0.042),
    ("ankle_f", "toe_f", 0.048, 0.032),
    ("shoulder", "hip", 0.165, 0.13),
    ("neck", "shoulder", 0.06, 0.09),
    ("shoulder", "elbow_f", 0.06, 0.048),
    ("elbow_f", "hand_f", 0.046, 0.036),
]


def smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Value noise in about -1..1 with features `cell` pixels wide."""
    small = rng.standard_normal((int(h / cell) + 2, int(w / cell) + 2)).astype(np.float32)
    img = Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)
    return np.asarray(img, np.float32) * 0.8


def sky(rng: np.random.Generator, h: int, w: int, sun: tuple[float, float]) -> np.ndarray:
    """Dusk gradient, lit cloud streaks and the sun's glow."""
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    stops = np.array([0.0, 0.35, 0.6, 0.75, 1.0], np.float32)
    cols = np.array(
        [
            [0.16, 0.2, 0.42],
            [0.5, 0.38, 0.55],
            [0.95, 0.55, 0.35],
            [1.0, 0.78, 0.45],
            [1.0, 0.86, 0.6],
        ],
        np.float32,
    )
    t = np.clip(y / 0.62, 0, 1)[..., 0]
    img = np.stack([np.interp(t, stops, cols[:, c]) for c in range(3)], -1)
    img = np.broadcast_to(img, (h, w, 3)).copy()
    # Wide, thin cloud bands: noise stretched sideways.
    bands = rng.standard_normal((40, 7)).astype(np.float32) * 0.8
    streak = np.asarray(Image.fromarray(bands).resize((w, h), Image.Resampling.BICUBIC))
    cloud = np.clip(streak * 1.4 - 0.35, 0, 1) * (np.clip(0.62 - y[..., 0], 0, 1) / 0.62) ** 0.5
    lit = np.array([1.0, 0.62, 0.42], np.float32) * (0.75 + 0.25 * y)
    img = img * (1 - 0.55 * cloud[..., None]) + lit * 0.55 * cloud[..., None]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d = np.hypot(xx - sun[0], (yy - sun[1]) * 1.15) / h
    glow = np.exp(-d / 0.05) * 0.9 + np.exp(-d / 0.22) * 0.35
    img = img + np.array([1.0, 0.8, 0.5], np.float32) * glow[..., None]
    disc = np.clip((0.032 - d) / 0.004, 0, 1)
    sun_colour = np.array([1, 0.97, 0.86], np.float32)
    return np.asarray(np.clip(img * (1 - disc[..., None]) + sun_colour * disc[..., None], 0, 1.2))


def ridge(rng: np.random.Generator, w: int, base: float, amp: float, cell: float) -> np.ndarray:
    """A 1-D skyline (row index per column) for a range of hills."""
    n = smooth_noise(rng, 4, w, cell)[1]
    fine = smooth_noise(rng, 4, w, cell / 6)[1]
    return np.asarray(base - amp * (0.6 + 0.4 * n + 0.12 * fine))


def landscape(rng: np.random.Generator, img: np.ndarray, horizon: int, sun_x: float) -> None:
    """Hazy hills, a lake with the sun's glitter, and a dark path bank, in place."""
    h, w = img.shape[:2]
    rows = np.arange(h)[:, None]
    for base, amp, cell, col in (
        (horizon, h * 0.09, w / 3, (0.62, 0.42, 0.5)),
        (horizon, h * 0.05, w / 5, (0.42, 0.28, 0.38)),
    ):
        top = ridge(rng, w, base, amp, cell)[None, :]
        mask = (rows >= top) & (rows < horizon)
        img[mask] = img[mask] * 0.35 + np.array(col, np.float32) * 0.65
    water = slice(horizon, h)
    mirror = img[horizon - 1 :: -1][: h - horizon] * np.array([0.8, 0.72, 0.75], np.float32)
    img[water] = mirror
    depth = np.linspace(0, 1, h - horizon, dtype=np.float32)[:, None]
    ripples = smooth_noise(rng, h - horizon, w // 4, 3)
    ripples = np.asarray(Image.fromarray(ripples).resize((w, h - horizon)))
    xx = np.arange(w, dtype=np.float32)[None, :]
    column = np.exp(-(((xx - sun_x) / (w * (0.02 + 0.09 * depth))) ** 2))
    glitter = np.clip(ripples * 1.6 - 0.2, 0, 1) * column
    img[water] = img[water] * (0.85 - 0.25 * depth[..., None]) + glitter[..., None] * np.array(
        [1.0, 0.85, 0.6], np.float32
    )


def ground(rng: np.random.Generator, img: np.ndarray, top: int) -> None:
    """The dark lakeside path with grass tufts along its edge, in place."""
    h, w = img.shape[:2]
    edge = ridge(rng, w, top, h * 0.012, w / 12)
    rows = np.arange(h)[:, None]
    t = np.clip((rows - edge[None, :]) / (h - top), 0, 1)
    path = np.array([0.2, 0.13, 0.11], np.float32) * (1 - 0.6 * t[..., None])
    grit = smooth_noise(rng, h, w, 3)[..., None] * 0.025
    sheen = np.exp(-(((np.arange(w)[None, :] - w * 0.66) / (w * 0.3)) ** 2)) * (1 - t) * 0.18
    path = path + grit + sheen[..., None] * np.array([1.0, 0.6, 0.35], np.float32)
    mask = rows >= edge[None, :]
    img[mask] = np.broadcast_to(path, img.shape)[mask]
    grass = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(grass)
    for _ in range(int(w * 0.9)):
        x = float(rng.uniform(0, w))
        y = float(edge[min(w - 1, int(x))]) + float(rng.uniform(-2, 6)) * S
        length = float(rng.uniform(6, 28)) * S
        lean = float(rng.normal(0, 0.35))
        draw.line((x, y, x + lean * length, y - length), fill=255, width=max(1, S))
    g = np.asarray(grass, np.float32)[..., None] / 255
    img[:] = img * (1 - g) + np.array([0.1, 0.07, 0.07], np.float32) * g


def runner(h: int, w: int, feet: tuple[float, float], height: float) -> Image.Image:
    """The runner's silhouette as a mask."""
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(mask)

    def at(name: str) -> tuple[float, float]:
        x, y = JOINTS[name]
        return feet[0] + x * height, feet[1] - y * height

    for a, b, wa, wb in LIMBS:
        (x0, y0), (x1, y1) = at(a), at(b)
        ra, rb = wa * height / 2, wb * height / 2
        n = math.hypot(x1 - x0, y1 - y0) or 1.0
        nx, ny = -(y1 - y0) / n, (x1 - x0) / n  # unit normal of the bone
        draw.polygon(
            [
                (x0 + nx * ra, y0 + ny * ra),
                (x1 + nx * rb, y1 + ny * rb),
                (x1 - nx * rb, y1 - ny * rb),
                (x0 - nx * ra, y0 - ny * ra),
            ],
            fill=255,
        )
        draw.ellipse((x0 - ra, y0 - ra, x0 + ra, y0 + ra), fill=255)
        draw.ellipse((x1 - rb, y1 - rb, x1 + rb, y1 + rb), fill=255)
    hx, hy = at("head")
    r = 0.062 * height
    draw.ellipse((hx - r, hy - r * 1.1, hx + r, hy + r * 1.1), fill=255)
    tail = [
        (hx - r * a, hy + r * b)
        for a, b in ((0.6, -0.7), (1.9, -0.2), (2.3, 0.5), (1.6, 0.1), (0.7, 0.2))
    ]
    draw.polygon(tail, fill=255)  # a ponytail flying behind
    return mask.filter(ImageFilter.GaussianBlur(S * 0.6))


def compose() -> Image.Image:
    """The whole scene, finished like a photograph (bloom, vignette, grain)."""
    rng = np.random.default_rng(SEED)
    h, w = H * S, W * S
    horizon = int(h * 0.6)
    sun = (w * 0.7, horizon - h * 0.13)
    img = sky(rng, h, w, sun)
    landscape(rng, img, horizon, sun[0])
    ground(rng, img, int(h * 0.8))
    # Depth of field: everything but the runner a touch soft.
    soft = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))
    img = np.asarray(soft.filter(ImageFilter.GaussianBlur(S * 1.2)), np.float32) / 255
    feet = (w * 0.4, h * 0.85)  # high enough to survive a crop to 16:9
    m = np.asarray(runner(h, w, feet, h * 0.52), np.float32) / 255
    shadow = Image.new("L", (w, h), 0)
    fx = feet[0] + h * 0.52 * 0.2  # the planted front foot
    ImageDraw.Draw(shadow).polygon(
        [(fx - w * 0.01, feet[1]), (fx + w * 0.05, feet[1]), (fx - w * 0.06, h), (fx - w * 0.2, h)],
        fill=170,
    )
    sh = np.asarray(shadow.filter(ImageFilter.GaussianBlur(S * 10)), np.float32)[..., None] / 255
    img = img * (1 - 0.55 * sh)
    body = np.array([0.075, 0.055, 0.06], np.float32)
    # Rim light: the sun catches the edge of the figure that faces it.
    shifted = np.roll(np.roll(m, -2 * S, axis=1), S, axis=0)
    rim = np.clip(m - shifted, 0, 1)[..., None] * np.array([1.0, 0.66, 0.36], np.float32) * 0.55
    # Some warm light bounces up from the path onto the legs.
    bounce = np.linspace(0, 1, h, dtype=np.float32)[:, None, None] ** 3 * 0.05
    img = img * (1 - m[..., None]) + (body + rim + bounce) * m[..., None]
    return finish(img, rng, sun)


def finish(img: np.ndarray, rng: np.random.Generator, sun: tuple[float, float]) -> Image.Image:
    """Bloom, vignette, grain, reduction to the final size."""
    h, w = img.shape[:2]
    bright = Image.fromarray((np.clip(img - 0.75, 0, 1) * 4 * 255).clip(0, 255).astype(np.uint8))
    bloom = np.asarray(bright.filter(ImageFilter.GaussianBlur(h * 0.03)), np.float32) / 255
    img = img + bloom * np.array([0.35, 0.25, 0.15], np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.hypot((xx - w / 2) / w, (yy - h / 2) / h)
    img = img * (1 - 0.45 * np.clip(r - 0.25, 0, 1) ** 1.4)[..., None]
    img = img + rng.standard_normal((h, w, 1)).astype(np.float32) * 0.018
    out = Image.fromarray((np.clip(img, 0, 1) ** (1 / 1.05) * 255 + 0.5).astype(np.uint8))
    return out.resize((W, H), Image.Resampling.LANCZOS)


if __name__ == "__main__":
    target = Path(__file__).with_name("running-man.jpg")
    compose().save(target, "JPEG", quality=88, optimize=True, progressive=True)
    print(f"wrote {target} ({target.stat().st_size // 1024} KB)")
