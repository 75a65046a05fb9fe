"""The bundled sample images: decodable, valid service inputs, mapped from their URLs, sourced."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from kling_nb._rules import check_image_bytes
from kling_nb._samples import (
    GUIDE_URL,
    SAMPLE_URLS,
    SAMPLES_DIR,
    sample_bytes,
    sample_names,
    sample_path,
)

PROVENANCE = SAMPLES_DIR / "PROVENANCE.md"


def test_the_guides_url_is_the_running_man() -> None:
    assert GUIDE_URL == "https://aitoken-public.qnaigc.com/example/generate-video/running-man.jpg"
    assert SAMPLE_URLS[GUIDE_URL] == "running-man.jpg"
    assert sample_bytes(GUIDE_URL) == sample_path("running-man.jpg").read_bytes()


def test_every_image_in_the_folder_is_listed_and_every_listed_one_exists() -> None:
    on_disk = sorted(p.name for p in SAMPLES_DIR.iterdir() if p.suffix == ".jpg")
    assert on_disk == sample_names()
    assert len(on_disk) >= 4


@pytest.mark.parametrize("name", sample_names())
def test_each_sample_is_a_valid_kling_input(name: str) -> None:
    data = sample_bytes(name)
    assert data is not None
    assert check_image_bytes(data) == []
    assert len(data) <= 300 * 1024
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "JPEG"
        img.load()
        assert min(img.size) >= 300
        assert max(img.size) / min(img.size) <= 2.5


@pytest.mark.parametrize("name", sample_names())
def test_each_sample_has_its_provenance_recorded(name: str) -> None:
    text = PROVENANCE.read_text(encoding="utf-8")
    row = next((line for line in text.splitlines() if line.startswith(f"| `{name}`")), None)
    assert row is not None, f"{name} has no row in PROVENANCE.md"
    assert any(word in row for word in ("public domain", "CC0", "MIT"))


def test_there_is_a_portrait_and_a_landscape_sample() -> None:
    shapes = set()
    for name in sample_names():
        with Image.open(sample_path(name)) as img:
            shapes.add("portrait" if img.height > img.width else "landscape")
    assert shapes == {"portrait", "landscape"}


def test_every_sample_url_resolves_and_unknown_ones_do_not() -> None:
    for url, name in SAMPLE_URLS.items():
        assert sample_bytes(url) == sample_path(name).read_bytes()
    assert sample_bytes("https://example.com/running-man.jpg") is None
    assert sample_bytes("../_render.py") is None
    assert sample_bytes("PROVENANCE.md") is None


def test_an_unknown_sample_name_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="running-man.jpg"):
        sample_path("nope.jpg")


def test_the_emulator_imports_only_the_shared_modules_of_the_client() -> None:
    import ast
    from pathlib import Path

    import kling_nb.emulator

    # _i18n: the emulator's log lines are worded in the reader's language (issue 18).
    allowed = {"_wire", "_rules", "_samples", "_files", "_secrets", "_i18n"}
    used: set[str] = set()
    for source in Path(kling_nb.emulator.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 2:
                used |= {node.module} if node.module else {a.name for a in node.names}
    assert used and used <= allowed, used - allowed
