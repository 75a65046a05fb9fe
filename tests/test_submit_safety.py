"""A submit whose answer is lost is never resent: raw fal_client duplicates jobs, kling_nb not."""

from __future__ import annotations

from pathlib import Path

import fal_client
import pytest
from PIL import Image

import kling_nb
from kling_nb import ENDPOINT, KlingSubmitUnknownError, emulator
from kling_nb._images import to_image_url
from kling_nb._job import Job
from kling_nb._journal import Journal

from .conftest import CANARY_KEY, connect_to

SUBMITS = 12
DROP_RATE = 0.5


def arguments() -> dict[str, object]:
    img = Image.linear_gradient("L").resize((640, 480)).convert("RGB")
    return {"prompt": "watercolor of <<<image_1>>>", "image_urls": [to_image_url(img)]}


def test_lost_submit_answers_duplicate_jobs_with_raw_fal_client_but_not_with_kling_nb(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = arguments()
    with emulator.start(service_time=0.05, workers=4, submit_drop_rate=DROP_RATE, seed=5) as emu:
        conn = connect_to(emu, home)
        monkeypatch.setenv("SSL_CERT_FILE", emu.ca_bundle)  # the raw client's httpx reads it

        # Baseline: the guide's own call. fal_client resends the POST after a dropped answer.
        raw = fal_client.SyncClient(key=CANARY_KEY)
        handles = [raw.submit(ENDPOINT, arguments=body) for _ in range(SUBMITS)]
        raw_jobs = emu.stats()["totals"]["submits"]
        assert len(handles) == SUBMITS
        assert raw_jobs > SUBMITS  # duplicates: billed jobs nobody holds a handle to

        outcomes: list[object] = []
        for _ in range(SUBMITS):
            try:
                outcomes.append(Job.submit(ENDPOINT, body, connection=conn))
            except KlingSubmitUnknownError as exc:
                outcomes.append(exc)
        ours = emu.stats()["totals"]["submits"] - raw_jobs
    assert ours == SUBMITS  # one job per call, never a second
    unknown = [o for o in outcomes if isinstance(o, KlingSubmitUnknownError)]
    assert unknown  # the drops happened, and were reported rather than resent
    entries = Journal(home).entries()
    assert len(entries) == SUBMITS
    assert sorted(e.id for e in entries if e.state == "unknown") == sorted(
        u.journal_id
        for u in unknown  # type: ignore[misc]
    )
    assert all(e.request_id for e in entries if e.state == "queued")


def test_a_gateway_504_to_a_submit_is_reported_not_resent(home: Path) -> None:
    """A gateway that took the job but answered 504 (nginx-looking, no x-fal-request-id):
    fal_client alone would resend the POST up to 10 times; kling_nb sends it once."""
    import threading

    import trustme
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    posts: list[str] = []

    async def gateway(request: Request) -> HTMLResponse:
        posts.append(request.url.path)
        return HTMLResponse("<html><center>nginx</center>504 Gateway Time-out</html>", 504)

    app = Starlette(routes=[Route("/{path:path}", gateway, methods=["POST"])])
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca_file, key_file, cert_file = home / "ca.pem", home / "key.pem", home / "cert.pem"
    home.mkdir(parents=True, exist_ok=True)
    ca.cert_pem.write_to_path(str(ca_file))
    cert.private_key_pem.write_to_path(str(key_file))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="error",
        ssl_certfile=str(cert_file),
        ssl_keyfile=str(key_file),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    env = {
        "FAL_QUEUE_RUN_HOST": f"127.0.0.1:{port}",
        "FAL_KEY": "k",
        "SSL_CERT_FILE": str(ca_file),
        "KLING_NB_HOME": str(home),
    }
    try:
        conn = kling_nb.connect(env=env, quiet=True)
        with pytest.raises(KlingSubmitUnknownError, match="HTTP 504"):
            Job.submit(ENDPOINT, arguments(), connection=conn)
    finally:
        server.should_exit = True
        thread.join(5)
    assert [e.state for e in Journal(home).entries()] == ["unknown"]
    assert posts == [f"/{ENDPOINT}"]
