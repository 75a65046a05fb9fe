"""`kling_nb.connect(classroom=URL, token=…)`: a student's kling_nb through the gateway."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import kling_nb
from kling_nb import _config, emulator
from kling_nb._errors import KlingConfigError, KlingConnectionError
from kling_nb._money import price_for
from kling_nb.classroom import Classroom, UpstreamSpec
from kling_nb.classroom._join import gateway_address

from ..conftest import CANARY_KEY
from .conftest import add, open_room


@pytest.fixture(autouse=True)
def forget_connection(home: Path) -> Iterator[None]:
    yield
    _config._current = None


@pytest.fixture(scope="module", params=["plain", "qiniu", "fal"])
def profiled(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Classroom]:
    price = "0.028 USD" if request.param == "qiniu" else None
    with (
        emulator.start(service_time=0.2, workers=4, seed=5, profile=request.param) as emu,
        open_room(tmp_path_factory.mktemp("class"), emu, price=price) as room,
    ):
        yield room


def test_kling_nb_edits_through_the_gateway_with_each_profile(profiled: Classroom) -> None:
    token = add(profiled, name=f"ed_{profiled.profile}")
    conn = kling_nb.connect(classroom=profiled.url, token=token, ca_bundle=profiled.ca_bundle)
    assert (conn.host, conn.key, conn.profile) == (profiled.host, token, profiled.profile)
    assert os.environ["FAL_QUEUE_RUN_HOST"] == profiled.host  # the guide's raw cells follow
    assert os.environ["FAL_KEY"] == token and os.environ["SSL_CERT_FILE"] == profiled.ca_bundle
    result = kling_nb.edit(
        "turn <<<image_1>>> into a watercolor",
        kling_nb.sample_image("cat.jpg"),
        progress=False,
        fresh=True,
    )
    assert len(result.images) == 1 and result.emulated
    job = profiled.store.job(result.request_id)
    assert job is not None and job.kept  # the gateway kept what the student received
    student = profiled.store.student(f"ed_{profiled.profile}")
    assert student.spent == job.cost == price_for(conn).amount  # type: ignore[union-attr]


def test_a_loopback_gateway_in_front_of_a_real_service_is_not_emulated(
    upstream_emu: emulator.Emulator, tmp_path: Path
) -> None:
    # The gateway calls its upstream "fal": the connection must not badge it emulated,
    # although the gateway itself is on 127.0.0.1.
    spec = UpstreamSpec("fal", upstream_emu.host, CANARY_KEY, "fal", upstream_emu.ca_bundle)
    from kling_nb import classroom

    with classroom.start(tmp_path / "class", upstream_spec=spec, port=0) as room:
        token = add(room)
        conn = kling_nb.connect(classroom=room.url, token=token, ca_bundle=room.ca_bundle)
    assert not conn.emulated and conn.label == room.host
    assert price_for(conn) is not None and not price_for(conn).emulated  # type: ignore[union-attr]
    assert "classroom gateway" in conn.describe() and "fal" in conn.describe()


def test_connect_says_who_and_what_budget_in_one_line(
    room: Classroom, capsys: pytest.CaptureFixture[str]
) -> None:
    token = add(room, "0.5", name="zoe_join")
    conn = kling_nb.connect(classroom=room.url, token=token, ca_bundle=room.ca_bundle)
    line = capsys.readouterr().out.strip()
    assert line == conn.describe()
    assert "zoe_join" in line and "0.5 USD" in line and token not in line


@pytest.mark.parametrize(
    ("given", "base", "host"),
    [
        ("https://10.0.0.5:8443", "https://10.0.0.5:8443", "10.0.0.5:8443/queue"),
        ("10.0.0.5:8443/queue", "https://10.0.0.5:8443", "10.0.0.5:8443/queue"),
        (
            "https://school.example/kling/",
            "https://school.example/kling",
            "school.example/kling/queue",
        ),
    ],
)
def test_gateway_addresses_are_read_in_every_usual_spelling(
    given: str, base: str, host: str
) -> None:
    assert gateway_address(given) == (base, host)


def test_plain_http_is_refused_in_words() -> None:
    with pytest.raises(KlingConfigError, match="only speaks https"):
        gateway_address("http://10.0.0.5:8080")


def test_a_wrong_token_is_refused_at_connect(room: Classroom) -> None:
    with pytest.raises(KlingConfigError, match="refused the token .*HTTP 401"):
        kling_nb.connect(
            classroom=room.url, token="knc_00000000_" + "x" * 32, ca_bundle=room.ca_bundle
        )


def test_a_missing_token_is_refused_in_words(room: Classroom) -> None:
    with pytest.raises(KlingConfigError, match="needs token="):
        kling_nb.connect(classroom=room.url, env={}, ca_bundle=room.ca_bundle)


def test_a_token_without_a_classroom_is_refused_not_ignored() -> None:
    with pytest.raises(KlingConfigError, match="pass classroom= too"):
        kling_nb.connect(token="knc_00000000_" + "x" * 32, env={})


def test_an_untrusted_certificate_names_the_bundle_to_use(room: Classroom) -> None:
    with pytest.raises(KlingConfigError, match="ca_bundle="):
        kling_nb.connect(classroom=room.url, token=add(room), env={})


def test_a_gateway_that_is_not_there_is_said_in_words(room: Classroom) -> None:
    with pytest.raises(KlingConfigError, match="Cannot reach the classroom gateway"):
        kling_nb.connect(classroom="https://127.0.0.1:9", token=add(room), env={})


def test_a_revoked_student_cannot_submit_from_kling_nb(room: Classroom) -> None:
    token = add(room, name="rex_join")
    kling_nb.connect(classroom=room.url, token=token, ca_bundle=room.ca_bundle, quiet=True)
    room.store.revoke("rex_join")
    with pytest.raises(KlingConnectionError, match="revoked"):
        kling_nb.edit(
            "turn <<<image_1>>> into ink", kling_nb.sample_image("cat.jpg"), progress=False
        )
