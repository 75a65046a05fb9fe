"""The drift meter: how much an edit changed where the user did not ask for a change.

- A whole-picture edit: the output against its input, over the whole picture: structural
  similarity (SSIM, Wang et al. 2004, on luma, 7×7 uniform window, K1 = 0.01, K2 = 0.03, as
  scikit-image's `structural_similarity` computes it) and the colour difference CIEDE2000
  (ΔE00, Sharma et al. 2005) in CIELAB (sRGB, D65). If the sizes differ (the service changed
  the size or the ratio), the input is stretched to the output's frame first, and the
  result says so: the figures then include the reframing. The input is image 1 as it was
  sent (`input_drifts`); one given as a web address is fetched only when asked, and said.
- A region edit: the composite against the original. Beyond the feather the count of changed
  pixels is exact, at full resolution, and must be 0; SSIM and ΔE00 are taken over every
  pixel outside the region (the feather ring is where they can be above 0).

The colour measures are taken on copies reduced (box filter) to at most `MEASURE_SIDE`
pixels on the long side, which keeps a 2K pair well under 0.3 s on two cores; the exact
count of changed pixels is not reduced. The formulas are numpy code of a few lines each, and
the tests check them against scikit-image's (a test-only dependency: a runtime one would bring
scipy and more for two formulas) and against Sharma's published CIEDE2000 pairs.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from PIL import Image, ImageChops, ImageDraw

from ._errors import KlingError
from ._i18n import message
from ._images import thumbnail_data_uri
from ._paste import Composite
from ._photo import Photo, PhotoSource, open_photo
from ._region import Box, RegionPlan
from ._text import clip
from ._wire import decode_data_uri

MEASURE_SIDE = 640
# A colour difference anyone sees at a glance (ΔE00 ≈ 1 is a just-noticeable difference).
CHANGED_DELTA_E = 3.0
HEATMAP_MAX_DELTA_E = 20.0  # the heat map's full scale
BAND_ROWS = 512
SSIM_WINDOW = 7
SSIM_K1, SSIM_K2 = 0.01, 0.03
# sRGB (D65) to XYZ, and the D65 white (2° observer), as scikit-image's rgb2lab uses them.
RGB_TO_XYZ = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ],
    np.float32,
)
WHITE_D65 = np.array([0.95047, 1.0, 1.08883], np.float32)
LUMA = np.array([0.2125, 0.7154, 0.0721], np.float32)  # Rec. 709, as skimage's rgb2gray
# Heat map colours from no change (dark) to HEATMAP_MAX_DELTA_E and beyond (light).
RAMP = np.array(
    [[12, 7, 40], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], np.float32
)

Source = PhotoSource | Photo | Composite


@dataclass(frozen=True, eq=False)
class Drift:
    """How much one output changed where the user did not ask; displayable."""

    kind: Literal["whole", "region"]
    ssim: float  # 1 = structurally identical
    delta_e: float  # mean ΔE00 over the measured area
    changed_fraction: float  # share of the measured area with ΔE00 > CHANGED_DELTA_E
    frame: tuple[int, int]  # the size the colour measures were taken at
    compared: tuple[tuple[int, int], tuple[int, int]]  # (input size, output size)
    stretched: bool = False  # the input was stretched to the output's frame
    outside_changed: int | None = None  # region: pixels changed beyond the feather (exact)
    outside_total: int | None = None  # region: pixels beyond the feather
    delta_map: np.ndarray = field(default_factory=lambda: np.zeros((1, 1), np.float32), repr=False)
    outline: Box | None = field(default=None, repr=False)  # the region, in frame pixels
    note: str = ""  # how the input was had, when that matters (fetched from its address)

    def summary(self) -> str:
        """One short line: "drift 2.3 ΔE" (a region edit: also the pixels beyond the feather)."""
        if self.kind == "region":
            key = "drift.summary_region" if self.outside_changed == 0 else "drift.summary_leak"
            return message(key, delta_e=self.delta_e, outside=self.outside_changed)
        return message("drift.summary", delta_e=self.delta_e)

    def caption(self) -> str:
        """The figure a gallery shows under a picture: "drift 2.3 ΔE" (and any leak)."""
        if self.kind == "region" and self.outside_changed:
            return message("drift.caption_leak", delta_e=self.delta_e, outside=self.outside_changed)
        return message("drift.caption", delta_e=self.delta_e)

    def heatmap(self, max_delta_e: float = HEATMAP_MAX_DELTA_E) -> Image.Image:
        """ΔE00 per pixel as a picture: dark = unchanged, light = `max_delta_e` or more."""
        t = np.clip(self.delta_map / max_delta_e, 0, 1) * (len(RAMP) - 1)
        low = np.minimum(t.astype(np.int32), len(RAMP) - 2)
        frac = (t - low)[:, :, None]
        rgb = RAMP[low] * (1 - frac) + RAMP[low + 1] * frac
        image = Image.fromarray(np.clip(rgb + 0.5, 0, 255).astype(np.uint8), "RGB")
        if self.outline is not None:
            ImageDraw.Draw(image).rectangle(self.outline, outline=(0, 220, 255), width=2)
        return image

    def lines(self) -> list[str]:
        """The figures, one per line, in the current language."""
        (iw, ih), (ow, oh) = self.compared
        found = [
            message("drift.line_ssim", ssim=self.ssim),
            message("drift.line_delta_e", delta_e=self.delta_e, threshold=CHANGED_DELTA_E),
            message("drift.line_changed", percent=100 * self.changed_fraction),
        ]
        if self.kind == "region":
            found.insert(
                0,
                message("drift.line_outside", count=self.outside_changed, total=self.outside_total),
            )
        if self.stretched:
            found.append(message("drift.line_stretched", before=f"{iw}×{ih}", after=f"{ow}×{oh}"))
        found.append(message("drift.line_frame", frame=f"{self.frame[0]}×{self.frame[1]}"))
        return found + ([self.note] if self.note else [])

    def __repr__(self) -> str:
        head = message("drift.title_region" if self.kind == "region" else "drift.title")
        return f"Drift: {head} · {self.summary()}\n" + "\n".join(f"  {x}" for x in self.lines())

    def _repr_html_(self) -> str:
        head = html.escape(
            message("drift.title_region" if self.kind == "region" else "drift.title")
        )
        rows = "".join(f"<li>{html.escape(line)}</li>" for line in self.lines())
        src = thumbnail_data_uri(self.heatmap(), max_side=320)
        legend = html.escape(message("drift.legend", top=HEATMAP_MAX_DELTA_E))
        return (
            '<div class="kling-nb-drift" style="display:flex;gap:12px;align-items:flex-start">'
            f'<img src="{src}" alt="{legend}" title="{legend}" style="max-width:320px">'
            f"<div><b>{head}: {html.escape(self.summary())}</b><ul>{rows}</ul>"
            f"<small>{legend}</small></div></div>"
        )


def measure(before: Source, after: Source, *, plan: RegionPlan | None = None) -> Drift:
    """The drift of `after` from `before`: of a region edit's composite when `plan` is given
    (same size, exact count beyond the feather), else of a whole-picture edit."""
    if plan is not None:
        return _region_drift(_photo(before), _photo(after), plan)
    first, second = _rgb(before), _rgb(after)
    stretched = first.size != second.size
    compared = (first.size, second.size)
    frame = _frame(second.size)  # the input goes straight to it: stretched and reduced at once
    a, b = _reduced(first, frame), _reduced(second, frame)
    delta = delta_e_map(a, b)
    return Drift(
        "whole",
        ssim(a, b),
        float(delta.mean()),
        float((delta > CHANGED_DELTA_E).mean()),
        frame,
        compared,
        stretched,
        delta_map=delta,
    )


def input_drifts(
    first_input: str | None,
    exact: bool,
    outputs: Sequence[PhotoSource],
    *,
    fetch: bool = False,
) -> list[Drift]:
    """The drift of each output of a whole-picture edit against its input image 1 (its
    `data:` URI as sent, a bundled sample's file, or — only when `fetch` — the picture at
    its web address, fetched once and said); a KlingError in words when there is none."""
    if not first_input:
        raise KlingError(message("drift.no_input"))
    if not exact:
        raise KlingError(message("drift.thumbnail_only"))
    note = ""
    if first_input.startswith("data:"):
        data = decode_data_uri(first_input)[1]
    else:
        from ._samples import sample_bytes

        found = sample_bytes(first_input)
        if found is None and not fetch:
            raise KlingError(message("drift.remote_input", url=clip(first_input, 120)))
        if found is None:
            from ._transport import fetch_public

            found, note = (
                fetch_public(first_input),
                message("drift.fetched", url=clip(first_input, 120)),
            )
        data = found
    before = open_photo(data)
    return [replace(measure(before, path), note=note) for path in outputs]


def _region_drift(original: Photo, result: Photo, plan: RegionPlan) -> Drift:
    if original.size != result.size:
        raise ValueError(f"a composite is the original's size: {original.size} ≠ {result.size}")
    changed, total = _changed_beyond_feather(original, result, plan)
    frame = _frame(original.size)
    a, b = _reduced(original.rgb(), frame), _reduced(result.rgb(), frame)
    delta = delta_e_map(a, b)
    region = _reduced_mask(plan, original.size, frame)
    outside = ~region
    ssim_map = _ssim_map(_luma(a), _luma(b))
    pad = SSIM_WINDOW // 2
    ssim_outside = outside[pad : pad + ssim_map.shape[0], pad : pad + ssim_map.shape[1]]
    sx, sy = frame[0] / original.size[0], frame[1] / original.size[1]
    box = plan.region.box
    outline = (
        int(box[0] * sx),
        int(box[1] * sy),
        max(int(box[0] * sx), int(box[2] * sx) - 1),
        max(int(box[1] * sy), int(box[3] * sy) - 1),
    )
    return Drift(
        "region",
        float(ssim_map[ssim_outside].mean()) if ssim_outside.any() else 1.0,
        float(delta[outside].mean()) if outside.any() else 0.0,
        float((delta[outside] > CHANGED_DELTA_E).mean()) if outside.any() else 0.0,
        frame,
        (original.size, result.size),
        outside_changed=changed,
        outside_total=total,
        delta_map=delta,
        outline=outline,
    )


def _changed_beyond_feather(original: Photo, result: Photo, plan: RegionPlan) -> tuple[int, int]:
    """(pixels that differ in any channel, pixels) beyond the feather, at full resolution."""
    width, height = original.size
    touched = plan.touched
    changed, reach = 0, 0
    if _differ_only_within(original, result, touched):  # the usual case, seen in C at once
        inside = (touched[0], touched[1], touched[2], touched[3])
        differs = (original.window(inside) != result.window(inside)).any(axis=2)
        near = plan.reach(inside)
        return int((differs & ~near).sum()), width * height - int(near.sum())
    for top in range(0, height, BAND_ROWS):
        band = (0, top, width, min(height, top + BAND_ROWS))
        differs = (original.window(band) != result.window(band)).any(axis=2)
        rows = (max(top, touched[1]), min(band[3], touched[3]))
        if rows[0] < rows[1]:
            near = plan.reach((touched[0], rows[0], touched[2], rows[1]))
            sub = differs[rows[0] - top : rows[1] - top, touched[0] : touched[2]]
            reach += int(near.sum())
            sub[near] = False
        changed += int(differs.sum())
    return changed, width * height - reach


def _differ_only_within(original: Photo, result: Photo, box: Box) -> bool:
    """True when every pixel that differs lies inside `box` (Pillow's difference, for the
    8-bit modes it handles; False when it cannot tell)."""
    a, b = original.pixels, result.pixels
    if not isinstance(a, Image.Image) or not isinstance(b, Image.Image):
        return False
    if a.mode != b.mode or a.mode not in ("L", "RGB", "RGBA", "LA", "CMYK"):
        return False
    found = ImageChops.difference(a, b).getbbox(alpha_only=False)
    return found is None or (
        found[0] >= box[0] and found[1] >= box[1] and found[2] <= box[2] and found[3] <= box[3]
    )


def _reduced_mask(plan: RegionPlan, size: tuple[int, int], frame: tuple[int, int]) -> np.ndarray:
    """The region over the measure frame: True where a frame pixel covers any region pixel."""
    full = plan.region_mask((0, 0, *size))
    image = Image.fromarray(full.astype(np.uint8) * 255)
    return np.asarray(image.resize(frame, Image.Resampling.BOX)) > 0


# --- the measures ----------------------------------------------------------------------------


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of 8-bit sRGB pixels (…×3 uint8) as float32."""
    c = rgb.astype(np.float32) / 255
    linear = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    xyz = (linear @ RGB_TO_XYZ.T) / WHITE_D65
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    lab: np.ndarray = np.empty_like(f)
    lab[..., 0] = 116 * f[..., 1] - 16
    lab[..., 1] = 500 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200 * (f[..., 1] - f[..., 2])
    return lab


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """ΔE00 between CIELAB arrays (…×3), kL = kC = kH = 1 (Sharma, Wu, Dalal 2005)."""
    l1, a1, b1 = (lab1[..., i].astype(np.float32) for i in range(3))
    l2, a2, b2 = (lab2[..., i].astype(np.float32) for i in range(3))
    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_bar**7 / (c_bar**7 + np.float32(25.0**7))))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    both = (c1p * c2p) != 0
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh)) * both
    d_big_h = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    l_bar, cp_bar = (l1 + l2) / 2, (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_bar = np.where(
        np.abs(h1p - h2p) <= 180, h_sum / 2, np.where(h_sum < 360, h_sum + 360, h_sum - 360) / 2
    )
    h_bar = np.where(both, h_bar, h_sum)
    t = (
        1
        - 0.17 * np.cos(np.radians(h_bar - 30))
        + 0.24 * np.cos(np.radians(2 * h_bar))
        + 0.32 * np.cos(np.radians(3 * h_bar + 6))
        - 0.20 * np.cos(np.radians(4 * h_bar - 63))
    )
    d_theta = 30 * np.exp(-(((h_bar - 275) / 25) ** 2))
    r_c = 2 * np.sqrt(cp_bar**7 / (cp_bar**7 + np.float32(25.0**7)))
    s_l = 1 + 0.015 * (l_bar - 50) ** 2 / np.sqrt(20 + (l_bar - 50) ** 2)
    s_c = 1 + 0.045 * cp_bar
    s_h = 1 + 0.015 * cp_bar * t
    r_t = -np.sin(np.radians(2 * d_theta)) * r_c
    dl, dc, dh_ = (l2 - l1) / s_l, (c2p - c1p) / s_c, d_big_h / s_h
    delta: np.ndarray = np.sqrt(dl**2 + dc**2 + dh_**2 + r_t * dc * dh_).astype(np.float32)
    return delta


def delta_e_map(a: Image.Image, b: Image.Image) -> np.ndarray:
    """ΔE00 per pixel between two RGB images of one size."""
    return ciede2000(srgb_to_lab(np.asarray(a)), srgb_to_lab(np.asarray(b)))


def ssim(a: Image.Image, b: Image.Image) -> float:
    """Mean SSIM of the lumas of two RGB images of one size (1 = identical)."""
    return float(_ssim_map(_luma(a), _luma(b)).mean())


def _ssim_map(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """SSIM at each position a full 7×7 window fits (data range 1, sample covariances)."""
    n = SSIM_WINDOW * SSIM_WINDOW
    norm = n / (n - 1)
    mx, my = _window_mean(x), _window_mean(y)
    vx = norm * (_window_mean(x * x) - mx * mx)
    vy = norm * (_window_mean(y * y) - my * my)
    cxy = norm * (_window_mean(x * y) - mx * my)
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    found: np.ndarray = ((2 * mx * my + c1) * (2 * cxy + c2)) / (
        (mx * mx + my * my + c1) * (vx + vy + c2)
    )
    return found


def _window_mean(values: np.ndarray) -> np.ndarray:
    """Means over every full 7×7 window (running sums in float64 for accuracy)."""
    k = SSIM_WINDOW
    s = np.cumsum(np.cumsum(np.pad(values.astype(np.float64), ((1, 0), (1, 0))), 0), 1)
    return (s[k:, k:] - s[:-k, k:] - s[k:, :-k] + s[:-k, :-k]) / (k * k)


def _luma(image: Image.Image) -> np.ndarray:
    return (np.asarray(image).astype(np.float32) / 255) @ LUMA


# --- inputs ----------------------------------------------------------------------------------


def _photo(source: Source) -> Photo:
    return source.photo if isinstance(source, Composite) else open_photo(source)


def _rgb(source: Source) -> Image.Image:
    return _photo(source).rgb()


def _frame(size: tuple[int, int]) -> tuple[int, int]:
    width, height = size
    scale = min(1.0, MEASURE_SIDE / max(width, height))
    return (max(SSIM_WINDOW, round(width * scale)), max(SSIM_WINDOW, round(height * scale)))


def _reduced(image: Image.Image, frame: tuple[int, int]) -> Image.Image:
    return image if image.size == frame else image.resize(frame, Image.Resampling.BOX)
