"""Hostile input: oversize bodies, deep JSON, odd endpoints; nothing reaches the upstream."""

from __future__ import annotations

import json

import pytest

from kling_nb import emulator
from kling_nb.classroom import Classroom

from .conftest import APP, add, body, http


def _upstream_submits(emu: emulator.Emulator) -> int:
    return int(emu.stats()["totals"]["submits"])


@pytest.mark.parametrize(
    ("raw", "status", "words"),
    [
        (b"[" * 5000 + b"]" * 5000, 422, "levels deep"),
        (json.dumps({"prompt": "x", "image_urls": [{}] * 2000}).encode(), 422, "JSON objects"),
        (b"not json at all", 422, "JSON object"),
        (b'"a string"', 422, "JSON object"),
        (
            json.dumps({"prompt": "x" * 3000, "image_urls": ["https://e.com/a.png"]}).encode(),
            422,
            "2500",
        ),
        (
            json.dumps(
                {"prompt": "x <<<image_1>>>", "image_urls": ["data:image/png;base64,AAAA"]}
            ).encode(),
            422,
            "decoded",
        ),
    ],
)
def test_bad_bodies_are_refused_in_words_and_never_forwarded(
    room: Classroom, upstream_emu: emulator.Emulator, raw: bytes, status: int, words: str
) -> None:
    before = _upstream_submits(upstream_emu)
    with http(room, add(room)) as web:
        answer = web.post(
            f"/queue/{APP}", content=raw, headers={"Content-Type": "application/json"}
        )
    assert answer.status_code == status
    detail = answer.json()["detail"]
    assert isinstance(detail, list) and words in json.dumps(detail)
    assert _upstream_submits(upstream_emu) == before


def test_an_oversize_body_is_413_and_never_forwarded(
    room: Classroom, upstream_emu: emulator.Emulator
) -> None:
    before = _upstream_submits(upstream_emu)
    huge = json.dumps(body(prompt="x <<<image_1>>>", pad="z" * (11 * 2**20))).encode()
    with http(room, add(room)) as web:
        answer = web.post(
            f"/queue/{APP}", content=huge, headers={"Content-Type": "application/json"}
        )
    assert answer.status_code == 413 and "10 MB" in answer.json()["detail"]
    assert _upstream_submits(upstream_emu) == before


def test_a_webhook_is_not_forwarded(room: Classroom) -> None:
    with http(room, add(room)) as web:
        answer = web.post(f"/queue/{APP}", params={"fal_webhook": "https://e.com/h"}, json=body())
    assert answer.status_code == 422 and "fal_webhook" in json.dumps(answer.json())


def test_refusals_are_counted_for_the_teacher(room: Classroom) -> None:
    token = add(room, name="refused_often")
    with http(room, token) as web:
        web.post(f"/queue/{APP}", json={"prompt": ""})
        web.post("/queue/fal-ai/other", json=body())
    row = next(r for r in room.store.report() if r["name"] == "refused_often")
    assert row["refusals"] == 2 and row["jobs"] == 0


def test_a_request_without_a_token_says_how_to_send_one(room: Classroom) -> None:
    with http(room) as web:
        answer = web.post(f"/queue/{APP}", json=body())
    assert answer.status_code == 401 and "FAL_KEY" in answer.json()["detail"]
    assert answer.headers["WWW-Authenticate"] == "Key"
