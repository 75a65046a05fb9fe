"""How local images travel (`_uploads`, `_transport.fal_upload`): data URIs, fal's storage
through the real fal_client upload code (served by the emulator), or the user's own
uploader — and a service that refuses data URIs is explained before anything is retried."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import kling_nb
from kling_nb import KlingConfigError, KlingConnectionError, emulator
from kling_nb._i18n import set_language
from kling_nb._journal import journal_for
from kling_nb._samples import GUIDE_URL as GUIDE_SAMPLE  # noqa: E402  (served offline)
from kling_nb._uploads import AUTO_LIMIT

from .conftest import CANARY_KEY
from .reliability.hostile import Hostile, hostile_server

PROMPT = "turn <<<image_1>>> into a watercolor"
TWO = "paint <<<image_1>>> in the colours of <<<image_2>>>"


@pytest.fixture(scope="module")
def fal_emu() -> Iterator[emulator.Emulator]:
    with emulator.start(service_time=0.2, workers=2, seed=5, profile="fal") as handle:
        yield handle


def connect_with(emu: emulator.Emulator, home: Path, **options: object) -> kling_nb.Connection:
    env = {
        "FAL_QUEUE_RUN_HOST": emu.host,
        "FAL_KEY": CANARY_KEY,
        "SSL_CERT_FILE": emu.ca_bundle,
        "KLING_NB_HOME": str(home),
        "KLING_NB_PROFILE": emu.options.profile,
    }
    return kling_nb.connect(env=env, quiet=True, **options)  # type: ignore[arg-type]


def photo(seed: int = 1, side: int = 640) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def uploads(emu: emulator.Emulator) -> int:
    return int(emu.stats()["uploads"]["files"])


def test_upload_fal_goes_through_fal_clients_own_upload_code(
    fal_emu: emulator.Emulator, home: Path
) -> None:
    conn = connect_with(fal_emu, home, upload="fal")
    before = uploads(fal_emu)
    result = kling_nb.edit(PROMPT, photo(2), progress=False, connection=conn, fresh=True)
    assert len(result.images) == 1
    assert uploads(fal_emu) - before == 1  # the real fal_client upload reached the emulator
    entry = journal_for(home).find(result.request_id)
    assert entry is not None  # the journal keeps the picture's hash and thumbnail, not a URL
    assert entry.arguments["image_urls"][0]["data_uri_sha256"]


def test_auto_uploads_on_fal_only_when_the_request_is_large(
    fal_emu: emulator.Emulator, home: Path
) -> None:
    conn = connect_with(fal_emu, home)  # upload="auto"
    before = uploads(fal_emu)
    kling_nb.edit(PROMPT, photo(3, 400), progress=False, connection=conn, fresh=True)
    assert uploads(fal_emu) == before  # small: a data URI
    # Two photos that stay large after kling_nb's own compression (noise compresses badly).
    big = [encoded(photo(4, 2000)), encoded(photo(5, 2000))]
    body, _ = kling_nb.KlingO1Request(TWO, big).prepare("fal")
    assert sum(len(u) for u in body["image_urls"]) > AUTO_LIMIT
    kling_nb.edit(TWO, big, progress=False, connection=conn, fresh=True)
    assert uploads(fal_emu) - before == 2


def encoded(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def test_a_users_uploader_gets_the_bytes_and_its_url_is_sent(
    fal_emu: emulator.Emulator, home: Path
) -> None:
    seen: list[tuple[int, str]] = []

    def my_bucket(data: bytes, content_type: str) -> str:
        seen.append((len(data), content_type))
        return GUIDE_SAMPLE  # a public https URL the service can fetch

    conn = connect_with(fal_emu, home, upload=my_bucket)
    result = kling_nb.edit(PROMPT, photo(5), progress=False, connection=conn, fresh=True)
    assert len(result.images) == 1 and len(seen) == 1
    assert seen[0][0] > 1000 and seen[0][1] in ("image/png", "image/jpeg")


@pytest.mark.parametrize("returned", ["ftp://x.example/a.png", None, "not a url"])
def test_an_uploader_that_gives_no_https_url_is_refused_and_nothing_is_sent(
    fal_emu: emulator.Emulator, home: Path, returned: object
) -> None:
    conn = connect_with(fal_emu, home, upload=lambda data, kind: returned)
    before = fal_emu.stats()["totals"]["submits"]
    with pytest.raises(KlingConnectionError, match="not an https URL"):
        kling_nb.edit(PROMPT, photo(6), progress=False, connection=conn, fresh=True)
    assert fal_emu.stats()["totals"]["submits"] == before
    (row,) = journal_for(home).entries()
    assert row.state == "rejected"  # nothing reached the queue: not billed, not resumable


def test_upload_fal_is_refused_where_the_key_would_travel_to_fal(home: Path) -> None:
    conn = kling_nb.connect(
        env={"QINIU_API_KEY": CANARY_KEY, "KLING_NB_HOME": str(home)}, quiet=True, upload="fal"
    )
    with pytest.raises(KlingConfigError, match="would travel to fal"):
        kling_nb.edit(PROMPT, photo(7), progress=False, connection=conn)
    assert journal_for(home).entries() == []  # refused before any row, any network


@pytest.mark.parametrize("variable", ["KLING_NB_UPLOAD"])
def test_an_unknown_upload_mode_is_refused_by_name(home: Path, variable: str) -> None:
    with pytest.raises(KlingConfigError, match=variable):
        kling_nb.connect(env={variable: "s3", "KLING_NB_HOME": str(home)}, quiet=True)


def test_a_misspelt_emulator_option_is_refused_by_name() -> None:
    with pytest.raises(KlingConfigError, match="did you mean 'profile'"):
        kling_nb.connect("emulator", proflie="plain", quiet=True)


@pytest.fixture
def refusing(tmp_path: Path) -> Iterator[Hostile]:
    with hostile_server(tmp_path / "tls") as server:
        server.behaviour.refuse_data_uris = True
        yield server


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_service_refusing_data_uris_is_explained_with_the_fix_and_not_retried(
    refusing: Hostile, home: Path, lang: str
) -> None:
    set_language(lang)
    conn = kling_nb.connect(env=refusing.env(CANARY_KEY, home), quiet=True)
    with pytest.raises(KlingConnectionError) as caught:
        kling_nb.edit(PROMPT, photo(8), progress=False, connection=conn)
    text = str(caught.value)
    assert "data: URI" in text and "upload=" in text and "image_urls" in text
    assert ("没有产生费用" if lang == "zh" else "Nothing was billed") in text
    assert refusing.behaviour.submits == 1  # explained, not retried
    (row,) = journal_for(home).entries()
    assert row.state == "rejected"
