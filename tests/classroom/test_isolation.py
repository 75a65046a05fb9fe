"""Isolation: a student sees only their own jobs; any other id answers like an unknown one."""

from __future__ import annotations

import uuid

import pytest

from kling_nb.classroom import Classroom

from .conftest import APP, add, body, http, wait_for

ROUTES = [("GET", "/status"), ("GET", "/status/stream"), ("GET", ""), ("PUT", "/cancel")]


@pytest.mark.parametrize(("method", "tail"), ROUTES)
@pytest.mark.parametrize("form", ["fal-ai/kling-image/o1", "fal-ai/kling-image"])
def test_another_students_job_answers_the_same_404_as_an_unknown_id(
    room: Classroom, method: str, tail: str, form: str
) -> None:
    with http(room, add(room)) as owner:
        rid = owner.post(f"/queue/{APP}", json=body()).json()["request_id"]
    unknown = str(uuid.uuid4())
    with http(room, add(room)) as other:
        theirs = other.request(method, f"/queue/{form}/requests/{rid}{tail}")
        nobody = other.request(method, f"/queue/{form}/requests/{unknown}{tail}")
    assert theirs.status_code == nobody.status_code == 404
    assert theirs.json()["detail"].replace(rid, "ID") == nobody.json()["detail"].replace(
        unknown, "ID"
    )
    assert "x-fal-request-id" not in theirs.headers


def test_a_job_is_still_its_owners_after_another_student_asked(room: Classroom) -> None:
    with http(room, add(room)) as owner:
        answer = owner.post(f"/queue/{APP}", json=body()).json()
        with http(room, add(room)) as other:
            other.put(answer["status_url"].removesuffix("/status") + "/cancel")
        wait_for(lambda: (j := room.store.job(answer["request_id"])) and j.kept)
        result = owner.get(answer["response_url"])
    assert result.status_code == 200 and result.json()["images"]


@pytest.mark.parametrize(
    "path",
    [
        "/queue/fal-ai/kling-image/requests/../requests/x/status",
        "/queue/fal-ai/kling-image/requests/%2e%2e%2fsecret/status",
        "/queue/fal-ai/kling-image/requests/a%2Fb/status",
        "/queue/fal-ai/kling-image/requests/a%5cb/status",
        "/queue/fal-ai/kling-image/requests/" + "a" * 5000 + "/status",
        "/queue/fal-ai/kling-image/requests/not-an-id/status",
        "/files/..%2f..%2fclass.sqlite3/x",
        "/files/" + "0" * 36 + "/..",
    ],
)
def test_path_tricks_in_request_ids_are_refused(room: Classroom, path: str) -> None:
    with http(room, add(room)) as web:
        answer = web.get(path)
    assert answer.status_code == 404
    assert "sqlite" not in answer.text.lower() or "refused" in answer.text


def test_a_revoked_token_mid_job_is_refused_and_the_job_is_still_kept(room: Classroom) -> None:
    token = add(room, name="revoked_mid_job")
    with http(room, token) as web:
        answer = web.post(f"/queue/{APP}", json=body()).json()
        room.store.revoke("revoked_mid_job")  # as `kling-nb classroom revoke` does, meanwhile
        refused = web.get(answer["status_url"])
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    job = wait_for(lambda: (j := room.store.job(answer["request_id"])) and j.kept and j)
    assert job.result_code == 200  # the teacher can still collect what was paid for


def test_wrong_tokens_are_limited_per_address_with_retry_after(room: Classroom) -> None:
    room.limiter._failures.clear()
    with http(room, "knc_00000000_" + "y" * 32) as guesser:
        codes = [guesser.get("/_classroom/whoami").status_code for _ in range(room.limiter.limit)]
        limited = guesser.get("/_classroom/whoami")
    assert set(codes) == {401}
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    with http(room, add(room)) as right:  # the address is limited, whatever the token
        assert right.get("/_classroom/whoami").status_code == 429
    room.limiter._failures.clear()
