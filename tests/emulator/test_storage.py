"""fal's storage upload API, emulated: fal_client 1.0.3's own upload code runs against the
emulator once its `REST_URL` (and, for the default repository, `CDN_URL`) name it; the
uploaded file is then a valid `image_urls` entry. Any other host would trip the loopback
guard of tests/conftest.py, so these tests also prove nothing leaves the machine."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import fal_client
import fal_client.client
import httpx
import pytest
from PIL import Image

from kling_nb.emulator import Emulator

from .conftest import image_bytes

APP = "fal-ai/kling-image/o1"


def _route(monkeypatch: pytest.MonkeyPatch, emu: Emulator, cdn: bool = True) -> None:
    """Point fal_client's storage at the emulator: the two module attributes it reads."""
    monkeypatch.setattr(fal_client.client, "REST_URL", emu.fal_rest_url)
    if cdn:
        monkeypatch.setattr(fal_client.client, "CDN_URL", emu.fal_cdn_url)


def _edit(client: Any, url: str) -> dict[str, Any]:
    arguments = {"prompt": "turn <<<image_1>>> into a watercolor", "image_urls": [url]}
    output: dict[str, Any] = client.subscribe(APP, arguments=arguments, client_timeout=60)
    return output


@pytest.mark.parametrize("profile", ["fal", "qiniu"])
def test_fal_clients_default_upload_feeds_a_job(
    fal: Any, monkeypatch: pytest.MonkeyPatch, profile: str
) -> None:
    client, emu = fal(profile=profile)
    _route(monkeypatch, emu)
    data = image_bytes((640, 480))
    url = client.upload(data, "image/png", file_name="my photo.png")  # token, then the CDN
    assert url.startswith(emu.files_url + "/uploads/") and url.endswith("/my_photo.png")
    served = httpx.get(url, trust_env=False)  # public, as fal's CDN URLs are
    assert served.content == data and served.headers["content-type"] == "image/png"
    output = _edit(client, url)  # Qiniu would fetch the public URL just the same
    assert output["images"] and emu.stats()["uploads"]["files"] == 1


def test_the_storage_path_alone_needs_only_rest_url(
    fal: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    client, emu = fal(profile="fal")
    _route(monkeypatch, emu, cdn=False)  # CDN_URL still says v3.fal.media: never called
    photo = tmp_path / "photo.jpg"
    Image.linear_gradient("L").resize((500, 400)).convert("RGB").save(photo, "JPEG")
    url = client.upload_file(photo, repository="fal", fallback_repository=[])
    assert url.endswith("/photo.jpg")
    assert Image.open(io.BytesIO(httpx.get(url, trust_env=False).content)).size == (500, 400)
    assert _edit(client, url)["images"]


def test_the_async_client_uploads_the_same_way(fal: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _, emu = fal(profile="fal")
    _route(monkeypatch, emu)

    async def upload() -> str:
        client = fal_client.AsyncClient(key="test-key")
        url: str = await client.upload(image_bytes(), "image/png")
        return url

    url = asyncio.run(upload())
    assert url.endswith("/upload.png") and emu.stats()["uploads"]["uploaded"] == 1


def test_an_upload_above_the_cap_is_a_413_with_the_limit(
    fal: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, emu = fal(profile="fal", uploads_max_mb=0.01)
    _route(monkeypatch, emu)
    with pytest.raises(fal_client.client.FalClientHTTPError) as exc:
        client.upload(b"x" * 20_000, "image/png", repository="fal_v3", fallback_repository=[])
    assert exc.value.status_code == 413 and "0.01 MB" in exc.value.message
    assert emu.stats()["uploads"]["files"] == 0


def test_the_oldest_uploads_go_first_above_the_cap(
    fal: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, emu = fal(profile="fal", uploads_max_mb=0.05)  # about 52 KB
    _route(monkeypatch, emu)
    urls = [client.upload(bytes([i]) * 20_000, "image/png") for i in range(3)]
    assert httpx.get(urls[0], trust_env=False).status_code == 404
    assert [httpx.get(u, trust_env=False).status_code for u in urls[1:]] == [200, 200]
    assert emu.stats()["uploads"] == {"files": 2, "bytes": 40_000, "uploaded": 3}


def test_without_fal_storage_the_hosts_do_not_answer(
    fal: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, emu = fal(profile="qiniu", fal_storage=False)
    _route(monkeypatch, emu)
    with pytest.raises(httpx.HTTPStatusError) as exc:
        client.upload(image_bytes(), "image/png")  # the token request is a 404
    assert exc.value.response.status_code == 404


def test_storage_calls_need_a_key_and_a_signed_put_its_signature(
    fal: Any,
) -> None:
    _, emu = fal(profile="fal")
    with httpx.Client(verify=emu.ssl_context(), trust_env=False) as http:
        no_key = http.post(emu.fal_rest_url + "/storage/auth/token", json={})
        started = http.post(
            emu.fal_rest_url + "/storage/upload/initiate",
            json={"file_name": "a.png", "content_type": "image/png"},
            headers={"Authorization": "Key k"},
        ).json()
        forged = http.put(started["upload_url"].split("?")[0] + "?signature=wrong", content=b"x")
        no_token = http.post(emu.fal_cdn_url + "/files/upload", content=b"x")
        multipart = http.post(emu.fal_cdn_url + "/files/upload/multipart")
    assert no_key.status_code == 401 and forged.status_code == 403
    assert no_token.status_code == 401 and multipart.status_code == 413
    assert httpx.get(started["file_url"], trust_env=False).status_code == 404  # never filled
