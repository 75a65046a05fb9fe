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
