"""The sample images bundled with kling_nb, and the URLs that stand for them.

The emulator never goes online: when a request names one of `SAMPLE_URLS`, it serves the
bundled file instead. The first entry is the picture Qiniu's Kling O1 guide uses; the
others are pseudo-URLs on the same host pattern that exist only inside the emulator (the
real service cannot fetch them). Licences and sources: samples/PROVENANCE.md.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

SAMPLES_DIR = Path(__file__).with_name("samples")

GUIDE_URL = "https://aitoken-public.qnaigc.com/example/generate-video/running-man.jpg"
PSEUDO_URL_PREFIX = "https://aitoken-public.qnaigc.com/example/kling-nb/"

# name -> what it shows (portrait or landscape), for notebooks and docs.
SAMPLES: dict[str, str] = {
    "running-man.jpg": "a runner at sunset by a lake (landscape, synthesised by code)",
    "astronaut.jpg": "astronaut Eileen Collins (portrait, NASA, public domain)",
    "coffee.jpg": "a cup of espresso on a wooden table (landscape, CC0)",
    "cat.jpg": "Chelsea the cat (landscape, CC0)",
    "rocket.jpg": "Falcon 9 on the launch pad at dusk (portrait, SpaceX, public domain)",
}

# name -> what it shows, in Chinese (`kling-nb samples` in a Chinese session).
SAMPLES_ZH: dict[str, str] = {
    "running-man.jpg": "湖边日落时奔跑的人",
    "astronaut.jpg": "宇航员艾琳·柯林斯",
    "coffee.jpg": "木桌上的一杯意式浓缩咖啡",
    "cat.jpg": "名叫 Chelsea 的猫",
    "rocket.jpg": "黄昏时发射台上的猎鹰 9 号火箭",
}

# name -> (who made it, licence), as samples/PROVENANCE.md states them with their sources.
PROVENANCE: dict[str, tuple[str, str]] = {
    "running-man.jpg": ("drawn by code (samples/make_running_man.py), the kling_nb authors", "MIT"),
    "astronaut.jpg": ("NASA, via scikit-image 0.26.0", "public domain"),
    "coffee.jpg": ("Rachel Michetti, via scikit-image 0.26.0", "CC0"),
    "cat.jpg": ("Stefan van der Walt, via scikit-image 0.26.0", "CC0"),
    "rocket.jpg": ("SpaceX, via scikit-image 0.26.0", "public domain"),
}

SAMPLE_URLS: dict[str, str] = {
    GUIDE_URL: "running-man.jpg",
    **{PSEUDO_URL_PREFIX + name: name for name in SAMPLES},
}


def sample_names() -> list[str]:
    """The bundled sample file names, sorted."""
    return sorted(SAMPLES)


def sample_path(name: str) -> Path:
    """A local path to a bundled sample, e.g. to pass to a notebook as an input."""
    if name not in SAMPLES:
        known = ", ".join(sample_names())
        raise ValueError(f"No bundled sample is named {name!r}; choose one of: {known}.")
    return SAMPLES_DIR / name


@cache
def _read(name: str) -> bytes:
    return sample_path(name).read_bytes()


def sample_bytes(url_or_name: str) -> bytes | None:
    """The bytes of a known sample URL or sample file name, else None."""
    name = SAMPLE_URLS.get(url_or_name, url_or_name)
    return _read(name) if name in SAMPLES else None


def find_sample(name: str) -> Path:
    """The bundled sample `name` stands for ("running-man" or "running-man.jpg"); an unknown
    name is refused with the list of names."""
    from ._errors import KlingConfigError  # here: the emulator imports this module too
    from ._i18n import message

    wanted = name.strip().lower()
    for candidate in (wanted, f"{wanted}.jpg"):
        if candidate in SAMPLES:
            return SAMPLES_DIR / candidate
    known = ", ".join(n.removesuffix(".jpg") for n in sample_names())
    raise KlingConfigError(message("samples.unknown", value=name, names=known))


def samples_table() -> str:
    """Every sample: its name as an input, size, what it shows, who made it, its licence."""
    from PIL import Image

    from ._i18n import language, message
    from ._text import aligned

    zh = language() == "zh"
    rows = []
    for name in sample_names():
        with Image.open(SAMPLES_DIR / name) as img:
            size = f"{img.width}×{img.height}"
        author, licence = PROVENANCE[name]
        shows = SAMPLES_ZH[name] if zh else SAMPLES[name].split(" (")[0]
        rows.append((f"sample:{name.removesuffix('.jpg')}", size, shows, f"{author}; {licence}"))
    lines = aligned(rows)
    lines.append(message("samples.hint", provenance=SAMPLES_DIR / "PROVENANCE.md"))
    return "\n".join(lines)
