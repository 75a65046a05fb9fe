"""Region edits (issue 19), side by side in one run:

1. pixels beyond the region and its feather that are bit-identical to the original, for
   JPEG, PNG, 16-bit (grey and colour) and alpha photos: in the composite's decoded pixels,
   in the file kling_nb caches and shows (lossless PNG), and in the file `save()` writes in
   the original's format (a JPEG is re-encoded whole: its figure is given too);
2. paste-back of a 24-megapixel JPEG: wall seconds (decode + paste + the cached lossless
   PNG, target ≤ 1.0 s; a JPEG as saved beside it) and peak memory (target ≤ 4× the decoded
   photo), measured in a fresh subprocess by its resident set (Linux VmHWM, reset before the
   run through /proc/self/clear_refs);
3. the drift meter on a 2K pair (target ≤ 0.3 s), and on a 24-megapixel region edit;
4. the effective resolution gained: a 600 × 600 region of a 6000 × 4000 photo, edited whole
   (the region shrinks with the picture) or as a region (it keeps its pixels);
5. end to end through the real emulator (fal_client on loopback): `kling_nb.edit` of that
   24 MP photo with a region and whole, from submit to the result in hand, and the part of
   it after the job completed (download, paste-back, cache, drift, gallery).

Photos are made by code; the "model output" is the emulator's renderer painting the crop.

    python -m benchmarks.bench_region           # full run, about a minute
    python -m benchmarks.bench_region --quick   # smaller photos for the exactness figures
"""

from __future__ import annotations

import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import standalone  # noqa: E402
from kling_nb._composites import cache_bytes, composite_file  # noqa: E402
from kling_nb._drift import measure  # noqa: E402
from kling_nb._paste import RegionEdit, paste  # noqa: E402
from kling_nb._photo import _png16, open_photo  # noqa: E402
from kling_nb._region import OUTPUT_LONG_SIDE, RegionPlan, plan  # noqa: E402
from kling_nb.emulator._render import output_size, render  # noqa: E402

PROMPT = "将 <<<image_1>>> 转换为水彩画风格，保持原始构图"
TARGET_PASTE_S = 1.0
TARGET_MEMORY_RATIO = 4.0
TARGET_DRIFT_S = 0.3
BIG = (6000, 4000)
BIG_REGION = (2700, 1700, 3300, 2300)  # 600 × 600 px


def synthetic(width: int, height: int, seed: int = 0) -> np.ndarray:
    """An 8-bit RGB photo-like picture: gradients, discs and grain (made channel by channel)."""
    rng = np.random.default_rng(seed)
    y = np.arange(height, dtype=np.float32)[:, None]
    x = np.arange(width, dtype=np.float32)[None, :]
    out = np.empty((height, width, 3), np.uint8)
    waves = [(x / 310 + y / 530, 0.0), (y / 260, 1.0), ((x - y) / 700, 2.0)]
    for c, (phase, shift) in enumerate(waves):
        plane = 128 + 90 * np.sin(phase + shift) + rng.normal(0, 6, (height, width))
        out[:, :, c] = np.clip(plane, 0, 255).astype(np.uint8)
    for _ in range(40):
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(0.02, 0.08) * width
        disc = (x - cx) ** 2 + (y - cy) ** 2 < r * r
        out[disc] = rng.integers(20, 235, 3)
    return out


def _encoded(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _photos(width: int, height: int) -> dict[str, bytes]:
    rgb = synthetic(width, height)
    alpha = np.tile(np.linspace(0, 255, width, dtype=np.float32), (height, 1)).astype(np.uint8)
    wide = rgb.astype(np.uint16) * 257 + np.random.default_rng(1).integers(0, 257, rgb.shape)
    return {
        "JPEG (RGB, q 90)": _encoded(Image.fromarray(rgb), "JPEG", quality=90),
        "PNG (RGB)": _encoded(Image.fromarray(rgb), "PNG", compress_level=1),
        "PNG 16-bit grey (I;16)": _encoded(
            Image.fromarray(wide[:, :, 1].astype(np.uint16)), "PNG", compress_level=1
        ),
        "PNG 16-bit RGB": _png16(wide.astype(np.uint16), None, None, None, ()),
        "PNG RGBA (alpha)": _encoded(
            Image.fromarray(np.dstack([rgb, alpha]), "RGBA"), "PNG", compress_level=1
        ),
    }


def _output(crop: Image.Image, resolution: str, ratio: str) -> bytes:
    """The emulator's picture of the crop (its badge left off: it is measured, not shown)."""
    return render([crop], PROMPT, resolution=resolution, aspect_ratio=ratio, _badge=False)[0].data


def _identical(before: np.ndarray, after: np.ndarray, reach: np.ndarray) -> tuple[int, int, int]:
    """(pixels beyond the feather, of them identical in every channel, largest difference)."""
    outside = ~reach
    same = (before == after).all(axis=2)
    delta = np.abs(before.astype(np.int32) - after.astype(np.int32)).max(axis=2)
    return int(outside.sum()), int((same & outside).sum()), int(delta[outside].max(initial=0))


def exactness(size: tuple[int, int], folder: Path) -> dict[str, Any]:
    """Per photo kind: identical pixels beyond the feather, in the composite, in the file
    cached (and shown), and in the file saved in the original's format."""
    width, height = size
    region = (width * 2 // 5, height * 2 // 5, width * 3 // 5, height * 3 // 5)
    found: dict[str, Any] = {}
    for kind, data in _photos(width, height).items():
        crop, chosen = RegionEdit.prepare(data, region)
        done = RegionEdit.finish_one(
            chosen, data, _output(crop, chosen.resolution, chosen.aspect_ratio)
        )
        reach = chosen.reach((0, 0, width, height))
        original = open_photo(data)
        before = original.window((0, 0, width, height))
        composite = done.photo.window((0, 0, width, height))
        cached, cached_format = cache_bytes(done.photo)
        (folder / "cached").write_bytes(cached)
        (folder / "original").write_bytes(data)  # save() reads a JPEG's own tables from it
        fmt = "JPEG" if original.format == "JPEG" else "PNG"
        saved, _ = composite_file(folder / "cached", folder / "original", fmt, "{}")
        outside, same, _ = _identical(before, composite, reach)
        found[kind] = {
            "pixels_beyond_feather": outside,
            "identical_in_composite_pct": round(100 * same / outside, 4),
            "cached_format": cached_format,
            "identical_in_cached_pct": _identical_pct(before, cached, reach),
            "file_format": fmt,
            "identical_in_file_pct": _identical_pct(before, saved, reach),
            "file_max_difference": _identical(
                before, open_photo(saved).window((0, 0, width, height)), reach
            )[2],
            "changed_in_region_pct": round(
                100
                * float(
                    (before != composite)
                    .any(axis=2)[chosen.region_mask((0, 0, width, height))]
                    .mean()
                ),
                2,
            ),
        }
    return found


def _identical_pct(before: np.ndarray, data: bytes, reach: np.ndarray) -> float:
    photo = open_photo(data)
    outside, same, _ = _identical(before, photo.window((0, 0, *photo.size)), reach)
    return round(100 * same / outside, 4)


# --- paste-back of a 24 MP JPEG, in a subprocess ------------------------------------------------


def _memory_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def child_paste(folder: str) -> dict[str, Any]:
    """In a fresh process: decode the 24 MP JPEG, paste, encode; seconds and peak memory."""
    photo_bytes = (Path(folder) / "photo.jpg").read_bytes()
    output = (Path(folder) / "output.png").read_bytes()
    chosen = RegionPlan.from_json(json.loads((Path(folder) / "plan.json").read_text()))
    small = Image.fromarray(synthetic(640, 480))  # warm-up: imports and first-call caches
    crop, warm = RegionEdit.prepare(_encoded(small, "JPEG"), (200, 150, 400, 300))
    RegionEdit.finish_one(warm, _encoded(small, "JPEG"), _encoded(crop, "PNG"))
    runs = []
    peak_kb = 0
    for _ in range(3):
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to now
        base_kb = _memory_kb("VmRSS")
        started = time.perf_counter()
        photo = open_photo(photo_bytes)
        decoded = time.perf_counter()
        pasted, _fit = paste(photo, output, chosen)
        done = time.perf_counter()
        cached, fmt = cache_bytes(pasted)  # what the pipeline writes to its cache
        encoded = time.perf_counter()
        peak_kb = max(peak_kb, _memory_kb("VmHWM") - base_kb)
        saved, _ = pasted.encode()  # the JPEG save() writes, with the original's tables
        jpeg = time.perf_counter()
        runs.append(
            (decoded - started, done - decoded, encoded - done, encoded - started, jpeg - encoded)
        )
        del photo, pasted, cached, saved
    medians = [statistics.median(r[i] for r in runs) for i in range(5)]
    return {
        "decode_s": round(medians[0], 3),
        "paste_s": round(medians[1], 3),
        "encode_s": round(medians[2], 3),
        "total_s": round(medians[3], 3),
        "format": fmt,
        "jpeg_save_s": round(medians[4], 3),
        "peak_memory_mb": round(peak_kb / 1024, 1),
    }


def paste_24mp(folder: Path) -> dict[str, Any]:
    """The big photo, its plan and output written to `folder`; the child measures them."""
    width, height = BIG
    pixels = synthetic(width, height, seed=5)
    photo = _encoded(Image.fromarray(pixels), "JPEG", quality=92)
    del pixels
    crop, chosen = RegionEdit.prepare(photo, BIG_REGION)
    (folder / "photo.jpg").write_bytes(photo)
    (folder / "output.png").write_bytes(_output(crop, chosen.resolution, chosen.aspect_ratio))
    (folder / "plan.json").write_text(json.dumps(chosen.to_json()))
    code = (
        "import json, benchmarks.bench_region as b; "
        f"print(json.dumps(b.child_paste({str(folder)!r})))"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, check=True
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    decoded_mb = width * height * 3 / 2**20
    found.update(
        megapixels=width * height / 1e6,
        photo_mb=round(len(photo) / 2**20, 1),
        decoded_mb=round(decoded_mb, 1),
        memory_ratio=round(found["peak_memory_mb"] / decoded_mb, 2),
        region=list(BIG_REGION),
        crop=list(chosen.crop),
        sent_at=f"{chosen.resolution} {chosen.aspect_ratio}",
    )
    original = open_photo(photo)
    done = RegionEdit.finish_one(chosen, original, (folder / "output.png").read_bytes())
    seconds = _median(lambda: measure(original, done, plan=chosen), 3)
    found["region_drift_24mp_s"] = round(seconds, 3)
    return found


# --- the drift meter on a 2K pair -----------------------------------------------------------


def _median(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def drift_2k(repeats: int) -> dict[str, Any]:
    """A 2048 × 1536 input and the emulator's 2K output of it (another size: stretched)."""
    before = Image.fromarray(synthetic(2048, 1536, seed=3))
    after_bytes = render([before], PROMPT, resolution="2K", aspect_ratio="4:3", _badge=False)[
        0
    ].data
    after = Image.open(io.BytesIO(after_bytes))
    after.load()
    measure(before, after)  # warm-up
    seconds = _median(lambda: measure(before, after), repeats)
    drift = measure(before, after)
    return {
        "input": list(before.size),
        "output": list(after.size),
        "seconds": round(seconds, 3),
        "summary": drift.summary(),
        "ssim": round(drift.ssim, 3),
        "delta_e": round(drift.delta_e, 2),
        "frame": list(drift.frame),
    }


# --- effective resolution -------------------------------------------------------------------


def effective_resolution() -> dict[str, Any]:
    """Model pixels across a 600 px region: edited whole at 2K, or as a region."""
    width, height = BIG
    region_w = BIG_REGION[2] - BIG_REGION[0]
    chosen = plan(BIG, BIG_REGION)
    whole_assumed = OUTPUT_LONG_SIDE["2K"] / max(BIG)
    whole_emulated = output_size("2K", "3:2", BIG)[0] / width
    crop_w = chosen.crop_size[0]
    region_emulated = min(
        1.0, output_size(chosen.resolution, chosen.aspect_ratio, chosen.crop_size)[0] / crop_w
    )
    return {
        "photo": list(BIG),
        "region": list(BIG_REGION),
        "whole_picture_2k_region_px_assumed": round(region_w * whole_assumed, 1),
        "whole_picture_2k_region_px_emulator": round(region_w * whole_emulated, 1),
        "region_edit_crop": list(chosen.crop_size),
        "region_edit_sent_at": f"{chosen.resolution} {chosen.aspect_ratio}",
        "region_edit_region_px_assumed": round(region_w * min(1.0, chosen.scale), 1),
        "region_edit_region_px_emulator": round(region_w * region_emulated, 1),
        "linear_gain_assumed": round(min(1.0, chosen.scale) / whole_assumed, 2),
        "pixel_gain_assumed": round((min(1.0, chosen.scale) / whole_assumed) ** 2, 1),
    }


# --- end to end, through the real emulator ---------------------------------------------------


def end_to_end(folder: Path) -> dict[str, Any]:
    """`kling_nb.edit` of the 24 MP photo through fal_client and the emulator on loopback:
    with the region and whole, each a fresh job; wall seconds from the call to the result
    in hand, and after the job completed (by the emulator's own clock)."""
    import kling_nb
    from kling_nb import emulator

    photo = folder / "photo.jpg"
    photo.write_bytes(_encoded(Image.fromarray(synthetic(*BIG, seed=5)), "JPEG", quality=92))
    found: dict[str, Any] = {}
    os.environ["KLING_NB_HOME"] = str(folder / "home")
    with emulator.start(service_time=0.5, workers=2, seed=1) as emu:
        conn = kling_nb.connect(
            env={
                "FAL_QUEUE_RUN_HOST": emu.host,
                "FAL_KEY": "bench",
                "SSL_CERT_FILE": emu.ca_bundle,
                "KLING_NB_HOME": str(folder / "home"),
                "KLING_NB_PROFILE": "plain",
            },
            quiet=True,
        )
        for name, region in (("region", BIG_REGION), ("whole", None)):
            started = time.time()
            result = kling_nb.edit(
                PROMPT, photo, region=region, fresh=True, progress=False, connection=conn
            )
            ended = time.time()
            job = emu.stats()["requests"][result.request_id]
            found[name] = {
                "submit_to_result_s": round(ended - started, 2),
                "after_completion_s": round(ended - job["completed_at"], 2),
                "service_s": round(job["completed_at"] - job["started_at"], 2),
                "result_size": [result.images[0].width, result.images[0].height],
                "drift": result.drift()[0].summary(),
            }
    os.environ.pop("KLING_NB_HOME", None)
    return found


def run(quick: bool = False) -> dict[str, Any]:
    """Every figure of the module docstring, in one run."""
    size = (1200, 800) if quick else (3000, 2000)
    with tempfile.TemporaryDirectory(prefix="kling_nb_region_") as folder:
        paste = paste_24mp(Path(folder))
        exact = exactness(size, Path(folder))
        e2e = end_to_end(Path(folder))
    return {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "quick": quick,
        "load_average": round(os.getloadavg()[0], 2),
        "exactness_photo": list(size),
        "exactness": exact,
        "paste_24mp": paste,
        "drift_2k": drift_2k(3 if quick else 7),
        "effective_resolution": effective_resolution(),
        "end_to_end": e2e,
        "targets": {
            "identical_pct": 100.0,
            "paste_24mp_s": TARGET_PASTE_S,
            "memory_ratio": TARGET_MEMORY_RATIO,
            "drift_2k_s": TARGET_DRIFT_S,
        },
        "how": {
            "identical": (
                "pixels farther than the feather from the region, equal in every channel to "
                "the original's decoded value; composite = the decoded arrays paste() "
                "returns; cached = the lossless file the pipeline caches and shows, decoded "
                "again; file = the bytes save() writes in the original's format, decoded again"
            ),
            "paste": (
                "fresh subprocess; decode + paste + the cached lossless PNG, median of 3 after "
                "a warm-up (the JPEG save() would write, timed apart); peak = VmHWM - VmRSS "
                "before (clear_refs 5 resets VmHWM)"
            ),
            "drift": "median wall seconds of measure(input, output) on decoded pictures",
            "end_to_end": (
                "kling_nb.edit(fresh=True) through fal_client and the in-process emulator "
                "(service time 0.5 s, 1 output); after completion = the call's return minus "
                "the emulator's completed_at"
            ),
        },
    }


def table(results: dict[str, Any]) -> str:
    """The figures as Markdown."""
    lines = [
        "| photo | beyond feather (px) | identical: composite | cached and shown | "
        "saved as | identical: saved (max Δ) |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for kind, row in results["exactness"].items():
        composite = f"{row['identical_in_composite_pct']} %"
        cached = f"{row['identical_in_cached_pct']} % ({row['cached_format']})"
        written = f"{row['identical_in_file_pct']} % ({row['file_max_difference']})"
        beyond = f"{row['pixels_beyond_feather']:,}"
        lines.append(
            f"| {kind} | {beyond} | {composite} | {cached} | {row['file_format']} | {written} |"
        )
    paste, drift = results["paste_24mp"], results["drift_2k"]
    gain = results["effective_resolution"]
    steps = (
        f"decode {paste['decode_s']} + paste {paste['paste_s']} + lossless PNG "
        f"{paste['encode_s']}; a JPEG as saved: {paste['jpeg_save_s']} s more"
    )
    memory = f"{paste['peak_memory_mb']} MB / {paste['decoded_mb']} MB"
    pair = "{}×{} → {}×{}".format(*drift["input"], *drift["output"])
    crop = "{}×{}".format(*gain["region_edit_crop"])
    whole = (
        f"{gain['whole_picture_2k_region_px_assumed']} / "
        f"{gain['whole_picture_2k_region_px_emulator']} px"
    )
    region = (
        f"{gain['region_edit_region_px_assumed']} / {gain['region_edit_region_px_emulator']} px"
    )
    rows = [
        (f"paste-back, 24 MP JPEG ({steps})", f"{paste['total_s']} s", TARGET_PASTE_S, "s"),
        (
            f"peak memory / decoded photo ({memory})",
            f"{paste['memory_ratio']}×",
            TARGET_MEMORY_RATIO,
            "×",
        ),
        (f"drift meter, 2K pair ({pair})", f"{drift['seconds']} s", TARGET_DRIFT_S, "s"),
        ("drift meter, 24 MP region edit", f"{paste['region_drift_24mp_s']} s", None, ""),
        ("region width in model px, whole picture at 2K (assumed / emulator)", whole, None, ""),
        (
            f"region width in model px, region edit ({gain['region_edit_sent_at']}, crop {crop})",
            region,
            None,
            "",
        ),
        (
            "gain (assumed output sizes)",
            f"{gain['linear_gain_assumed']}× linear, {gain['pixel_gain_assumed']}× pixels",
            None,
            "",
        ),
    ]
    for name, row in results.get("end_to_end", {}).items():
        rows.append(
            (
                f"end to end, 24 MP JPEG, {name} edit through the emulator (service "
                f"{row['service_s']} s): submit → result / after completion",
                f"{row['submit_to_result_s']} / {row['after_completion_s']} s",
                None,
                "",
            )
        )
    lines += ["", "| figure | value | target | ok |", "|---|---:|---:|:---:|"]
    for name, value, target, unit in rows:
        if target is None:
            lines.append(f"| {name} | {value} | | |")
            continue
        good = float(value.split()[0].rstrip("×")) <= target
        lines.append(f"| {name} | {value} | ≤ {target} {unit} | {'yes' if good else '**no**'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return standalone.main("region", __doc__, run, table, argv, "smaller photos for exactness")


if __name__ == "__main__":
    sys.exit(main())
