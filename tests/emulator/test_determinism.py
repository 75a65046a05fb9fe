"""The same request draws the same pictures in any order; jitter is seeded; streams are
counted per request."""

from __future__ import annotations

import hashlib

import httpx

from kling_nb.emulator import start

from .conftest import AUTH, SUBMIT, body


def _run(emu, payload: dict) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=emu.url, headers=AUTH, verify=emu.ssl_context()) as client:
        sub = client.post(SUBMIT, json=payload).json()
        with client.stream("GET", sub["status_url"] + "/stream", params={"logs": "0"}) as r:
            for _ in r.iter_lines():
                pass
        out = client.get(sub["response_url"]).json()
        digests = []
        for image in out["images"]:
            data = httpx.get(image["url"]).content
            digests.append(hashlib.sha256(data).hexdigest())
    return sub["request_id"], digests


def test_identical_requests_give_identical_pictures_in_any_order() -> None:
    a, b = body(prompt="oil painting"), body(prompt="pixel art", num_images=2)
    with start(service_time=0.01, seed=3) as first:
        _, a1 = _run(first, a)
        _, b1 = _run(first, b)
    with start(service_time=0.01, seed=3) as second:
        _, b2 = _run(second, b)
        _, a2 = _run(second, a)
    assert (a1, b1) == (a2, b2)
    assert len(set(b1)) == 2  # the two variants of one request still differ


def test_status_streams_are_counted_per_request() -> None:
    with start(service_time=0.01) as emu:
        rid, _ = _run(emu, body())
        facts = emu.stats()["requests"][rid]
    assert facts["status_streams"] == 1 and facts["status_polls"] == 0


def test_service_jitter_varies_planned_durations_reproducibly() -> None:
    def planned(seed: int) -> list[float]:
        with start(service_time=0.01, service_jitter=0.5, seed=seed, workers=1) as emu:
            ids = [_run(emu, body(prompt=f"sketch {i}"))[0] for i in range(4)]
            facts = emu.stats()["requests"]
        return [facts[i]["planned_seconds"] for i in ids]

    first, again, other = planned(9), planned(9), planned(10)
    assert first == again  # the same seed draws the same durations, job by job
    assert first != other and len(set(first)) == 4
    assert max(first) / min(first) <= 1.5 / 0.5 + 1e-9  # factors lie in 1 ± 0.5
