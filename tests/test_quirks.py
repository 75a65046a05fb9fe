"""The client against the shapes real services and gateways answer in (issue 10, client side):
a real fal_client and kling_nb against a real HTTPS server on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import kling_nb
from kling_nb import KlingJobError, KlingTimeoutError, KlingValidationError
from kling_nb._config import Connection
from kling_nb._job import Job
from kling_nb._wire import ENDPOINT
from tests.conftest import CANARY_KEY
from tests.quirks import OUTPUT, Quirks, QuirkServer, quirk_server

ARGS = {"prompt": "make it snow", "image_urls": ["https://x.example/a.jpg"]}


@pytest.fixture
def serve(tmp_path: Path, home: Path) -> Iterator[object]:
    """Start a quirk server and connect kling_nb to it; yields (server, connection)."""
    servers: list[object] = []

    def start(**quirks: object) -> tuple[QuirkServer, Connection]:
        manager = quirk_server(tmp_path / f"tls{len(servers)}", Quirks(**quirks))  # type: ignore[arg-type]
        server = manager.__enter__()
        servers.append(manager)
        env = {
            "FAL_QUEUE_RUN_HOST": server.host,
            "FAL_KEY": CANARY_KEY,
            "SSL_CERT_FILE": server.ca_bundle,
            "KLING_NB_HOME": str(home),
        }
        return server, kling_nb.connect(env=env, quiet=True)

    yield start
    for manager in servers:
        manager.__exit__(None, None, None)  # type: ignore[attr-defined]


def submit(conn: Connection) -> Job:
    return Job.submit(ENDPOINT, dict(ARGS), connection=conn)


@pytest.mark.parametrize("stream", ["404", "405", "400-detail"])
def test_no_stream_means_poll_and_inline_result_skips_the_result_get(serve, stream) -> None:  # type: ignore[no-untyped-def]
    server, conn = serve(stream=stream, final="inline")
    assert submit(conn).wait(timeout=20, progress=False) == OUTPUT
    assert server.calls("GET", "/status/stream")  # tried once
    assert len(server.calls("GET", "/status")) == 2  # IN_PROGRESS without logs, COMPLETED
    assert not [c for c in server.calls("GET") if c[1].endswith("000001")]  # no result GET


def test_completed_without_inline_result_fetches_it(serve) -> None:  # type: ignore[no-untyped-def]
    server, conn = serve(final="plain")
    assert submit(conn).wait(timeout=20, progress=False) == OUTPUT
    assert [c for c in server.calls("GET") if c[1].endswith("000001")]


@pytest.mark.parametrize(
    ("final", "words"),
    [("failed", "content moderation: image blocked"), ("error", "upstream model crashed")],
)
def test_a_terminal_failure_ends_the_wait_at_once_with_the_services_words(
    serve, final, words
) -> None:  # type: ignore[no-untyped-def]
    server, conn = serve(final=final)
    job = submit(conn)
    started = time.monotonic()
    with pytest.raises(KlingJobError) as exc:
        job.wait(timeout=60, progress=False)
    assert time.monotonic() - started < 10  # not the 60 s deadline
    assert words in str(exc.value) and exc.value.request_id == job.request_id
    assert not isinstance(exc.value, KlingTimeoutError)
    entry = kling_nb.history(limit=1)[0]
    assert entry.state == "failed"


def test_an_unknown_status_shape_is_a_clear_error_not_an_endless_retry(serve) -> None:  # type: ignore[no-untyped-def]
    server, conn = serve(final="shape")
    with pytest.raises(KlingJobError, match="shape kling_nb does not know") as exc:
        submit(conn).wait(timeout=60, progress=False)
    assert "done?" in str(exc.value)
    assert len(server.calls("GET", "/status")) == 2


def test_empty_cancel_url_cancels_by_the_short_form(serve) -> None:  # type: ignore[no-untyped-def]
    server, conn = serve(polls_before_done=10_000)
    job = submit(conn)
    assert job.handle.cancel_url == ""
    cancel = job.cancel()
    # This gateway answers 202 and the job keeps running: asked, not confirmed.
    assert cancel and cancel.outcome == "requested" and "may still finish" in str(cancel)
    assert [c[1] for c in server.calls("PUT")] == [
        f"/fal-ai/kling-image/requests/{job.request_id}/cancel"
    ]


def test_a_deadline_cancels_by_the_short_form_and_says_deadline(serve) -> None:  # type: ignore[no-untyped-def]
    server, conn = serve(polls_before_done=10_000)
    with pytest.raises(KlingTimeoutError) as exc:
        submit(conn).wait(timeout=1.5, progress=False)
    assert server.calls("PUT", "/cancel")
    assert "interrupted" not in str(exc.value) and "1.5 s" in str(exc.value)


def test_every_call_carries_fal_clients_user_agent(serve) -> None:  # type: ignore[no-untyped-def]
    from fal_client.client import USER_AGENT

    server, conn = serve(final="plain")
    submit(conn).wait(timeout=20, progress=False)
    assert {agent for _, _, agent in server.quirks.calls} == {USER_AGENT}


def test_an_expired_result_says_so_in_one_sentence(serve) -> None:  # type: ignore[no-untyped-def]
    server, conn = serve(final="expired")
    with pytest.raises(KlingJobError) as exc:
        submit(conn).wait(timeout=20, progress=False)
    text = str(exc.value)
    assert "no longer keeps its result" in text and "cannot be recovered" in text
    assert exc.value.error_type == "result_expired"


def test_resume_of_an_expired_result_says_so(serve) -> None:  # type: ignore[no-untyped-def]
    server, conn = serve(final="expired")
    job = submit(conn)
    with pytest.raises(KlingJobError):
        job.wait(timeout=20, progress=False)
    with pytest.raises(KlingJobError, match="no longer keeps its result"):
        kling_nb.resume(job.request_id, progress=False, connection=conn)


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), "60", True])
def test_a_bad_timeout_is_refused_before_submitting(serve, timeout) -> None:  # type: ignore[no-untyped-def]
    server, conn = serve()
    with pytest.raises(KlingValidationError, match="timeout") as exc:
        kling_nb.run_fal_task(ENDPOINT, ARGS, timeout=timeout, progress=False, connection=conn)
    assert "positive number of seconds" in str(exc.value)
    assert not server.calls("POST")


@pytest.mark.slow
def test_a_hung_server_cannot_hold_a_wait_past_its_deadline(serve) -> None:  # type: ignore[no-untyped-def]
    server, conn = serve(stream="hang", hang=True)
    job = submit(conn)
    started = time.monotonic()
    with pytest.raises(KlingTimeoutError) as exc:
        job.wait(timeout=2, progress=False)
    assert time.monotonic() - started <= 2 + 2  # the guarantee: deadline + 2 s
    assert "deadline reached" in str(exc.value) and "interrupted" not in str(exc.value)


@pytest.mark.slow
def test_a_killed_server_cannot_hold_a_wait_past_its_deadline(serve) -> None:  # type: ignore[no-untyped-def]
    server, conn = serve(polls_before_done=10_000)
    job = submit(conn)
    server.kill()
    started = time.monotonic()
    with pytest.raises(KlingTimeoutError) as exc:
        job.wait(timeout=3, progress=False)
    assert time.monotonic() - started <= 3 + 2
    text = str(exc.value)
    assert "deadline reached" in text and "could not be reached" in text
    assert "interrupted" not in text and CANARY_KEY not in text


def test_a_status_that_echoes_the_key_is_masked(serve) -> None:  # type: ignore[no-untyped-def]
    server, conn = serve(final="echo")
    with pytest.raises(KlingJobError) as exc:
        submit(conn).wait(timeout=20, progress=False)
    assert "bad Key" in str(exc.value) and CANARY_KEY not in str(exc.value)
    assert CANARY_KEY not in repr(exc.value.__dict__)
