"""The gateway speaks the fal queue protocol: unmodified fal_client through it to the emulator,
for each service profile the emulator imitates."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fal_client
import pytest
from PIL import Image

from kling_nb import emulator
from kling_nb.classroom import Classroom

from ..conftest import CANARY_KEY
from .conftest import APP, add, body, http, open_room, wait_for


@pytest.fixture(scope="module", params=["plain", "qiniu", "fal"])
def profiled(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Classroom]:
    """A gateway in front of an emulator answering as each profile in turn."""
    with (
        emulator.start(service_time=0.2, workers=4, seed=3, profile=request.param) as emu,
        open_room(tmp_path_factory.mktemp("class"), emu, price=PRICES[request.param]) as room,
    ):
        yield room


# Qiniu publishes no price kling_nb could quote: the teacher gives one (budgets need it).
PRICES = {"plain": None, "qiniu": "0.028 USD", "fal": None}


def _done(client: Any, handle: Any) -> None:
    """Wait until the job completes, polling as fal_client would (with logs: Qiniu's COMPLETED
    status without them trips fal_client 1.0.3, docs/services.md)."""
    wait_for(lambda: isinstance(handle.status(with_logs=True), fal_client.Completed))


def test_fal_client_submits_polls_and_gets_the_result_through_the_gateway(
    profiled: Classroom, student: Callable[..., Any]
) -> None:
    client = student(profiled, add(profiled))
    handle = client.submit(APP, body())
    assert handle.status_url.startswith(profiled.url + "/queue/")
    _done(client, handle)
    output = client.result(APP, handle.request_id)  # the short path form
    assert handle.get() == output  # the long form, as the handle follows the URLs given
    (image,) = output["images"]
    assert image["url"] == f"{profiled.url}/files/{handle.request_id}/{Path(image['url']).name}"
    with http(profiled) as web:
        served = web.get(image["url"])  # no token: the random request id is the file's key
    assert served.status_code == 200
    Image.open(io.BytesIO(served.content)).verify()
    kept = profiled.folder / "results" / handle.request_id
    assert (kept / Path(image["url"]).name).read_bytes() == served.content


def test_submit_answer_keeps_the_upstreams_shape_with_the_gateways_id(
    profiled: Classroom, student: Callable[..., Any]
) -> None:
    with http(profiled, add(profiled)) as web:
        answer = web.post(f"/queue/{APP}", json=body()).json()
    qiniu = profiled.profile == "qiniu"
    assert (answer["cancel_url"] == "") == qiniu  # Qiniu's documented empty cancel_url
    assert ("queue_position" in answer) == (not qiniu)
    job = profiled.store.job(answer["request_id"])
    assert job is not None and job.upstream_id != answer["request_id"]
    assert answer["status_url"].endswith(f"/requests/{answer['request_id']}/status")


def test_cancel_is_forwarded_and_the_upstreams_answer_relayed(
    profiled: Classroom, student: Callable[..., Any]
) -> None:
    """The gateway relays what the service does (docs/services.md, "Cancel"): the plain
    protocol stops the job; Qiniu has no cancel (the job runs on and is charged); fal only
    signals a running job (it runs on and is charged)."""
    profile = profiled.profile
    client = student(profiled, add(profiled))
    handle = client.submit(APP, body(num_images=9, resolution="2K"))  # running when cancelled
    wait_for(lambda: isinstance(handle.status(with_logs=True), fal_client.InProgress))
    if profile == "qiniu":
        with pytest.raises(fal_client.FalClientHTTPError) as unsupported:
            client.cancel(APP, handle.request_id)  # the short form (Qiniu's cancel_url is "")
        assert unsupported.value.status_code == 404
        assert "charged" in str(unsupported.value)
    else:
        client.cancel(APP, handle.request_id)
    job = profiled.store.job(handle.request_id)
    assert job is not None and job.cancel_requested_at is not None
    _done(client, handle)
    if profile == "plain":
        with pytest.raises(fal_client.FalClientHTTPError) as refused:
            client.result(APP, handle.request_id)
        assert refused.value.status_code == 400 and "cancel" in str(refused.value).lower()
    else:  # not stopped: the pictures were made, and are the student's
        assert len(client.result(APP, handle.request_id)["images"]) == 9
    with http(profiled, add(profiled)) as other:  # another student cannot cancel it
        assert other.put(handle.status_url.removesuffix("/status") + "/cancel").status_code == 404


def test_the_status_stream_is_relayed_and_ends_with_completed(profiled: Classroom) -> None:
    with http(profiled, add(profiled)) as web:
        answer = web.post(f"/queue/{APP}", json=body()).json()
        with web.stream("GET", answer["status_url"] + "/stream", params={"logs": "1"}) as events:
            assert events.status_code == 200
            lines = [line for line in events.iter_lines() if line.startswith("data:")]
    assert '"COMPLETED"' in lines[-1]
    job = wait_for(lambda: (j := profiled.store.job(answer["request_id"])) and j.kept and j)
    assert job.result_code == 200


def test_a_job_nobody_polls_is_still_collected_and_kept(profiled: Classroom) -> None:
    with http(profiled, add(profiled)) as web:
        answer = web.post(f"/queue/{APP}", json=body()).json()
    # The student's kernel died right after the submit: the sweep follows the job alone.
    job = wait_for(lambda: (j := profiled.store.job(answer["request_id"])) and j.kept and j)
    assert job.result_code == 200 and job.result["images"][0]["file"]


def test_the_key_never_reaches_a_students_answer(
    profiled: Classroom, student: Callable[..., Any]
) -> None:
    with http(profiled, add(profiled)) as web:
        answer = web.post(f"/queue/{APP}", json=body())
        rid = answer.json()["request_id"]
        seen = [answer]
        wait_for(lambda: (j := profiled.store.job(rid)) and j.kept)
        seen += [web.get(answer.json()["status_url"], params={"logs": "1"})]
        seen += [web.get(answer.json()["response_url"])]
        seen += [web.get("/_classroom/whoami")]
    for response in seen:
        assert CANARY_KEY not in response.text
        assert all(CANARY_KEY not in v for v in response.headers.values())


def test_an_unknown_route_answers_404_in_words(room: Classroom) -> None:
    with http(room) as web:
        answer = web.get("/nothing/here")
    assert answer.status_code == 404 and "classroom gateway" in answer.json()["detail"]


def test_only_kling_o1_is_served(room: Classroom) -> None:
    with http(room, add(room)) as web:
        answer = web.post("/queue/fal-ai/flux/dev", json=body())
    assert answer.status_code == 404
    assert "fal-ai/flux/dev" in answer.json()["detail"] and APP in answer.json()["detail"]
