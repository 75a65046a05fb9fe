"""Backend choice, keys, and re-pointing fal_client inside one process."""

from __future__ import annotations

import fal_client
import fal_client.client as fc
import pytest

import kling_nb
from kling_nb import KlingConfigError
from kling_nb._config import (
    EMULATOR_KEY,
    FAL_HOST,
    QINIU_HOST,
    Settings,
    connect,
    key_for_host,
)
from kling_nb._transport import check_fal_client_host

from .conftest import CANARY_KEY


@pytest.fixture(autouse=True)
def restore_fal_client_host():  # type: ignore[no-untyped-def]
    before = fc.QUEUE_URL_FORMAT
    yield
    fc.QUEUE_URL_FORMAT = before
    kling_nb._config._current = None


def test_auto_picks_qiniu_when_qiniu_key_is_set(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {"QINIU_API_KEY": CANARY_KEY, "KLING_NB_HOME": str(tmp_path)}
    conn = connect(env=env, quiet=True)
    assert (conn.backend, conn.host, conn.profile) == ("qiniu", QINIU_HOST, "qiniu")
    # The guide's raw cells read these: they must point at the same place.
    assert env["FAL_QUEUE_RUN_HOST"] == QINIU_HOST and env["FAL_KEY"] == CANARY_KEY
    assert fc.QUEUE_URL_FORMAT == f"https://{QINIU_HOST}/"


def test_auto_picks_fal_when_only_fal_key_is_set(tmp_path) -> None:  # type: ignore[no-untyped-def]
    conn = connect(env={"FAL_KEY": CANARY_KEY}, quiet=True)
    assert (conn.backend, conn.host, conn.profile) == ("fal", FAL_HOST, "fal")


def test_auto_without_keys_starts_the_emulator(capsys) -> None:  # type: ignore[no-untyped-def]
    conn = connect(env={}, service_time=0.1)
    assert conn.backend == "emulator" and conn.emulated and conn.host.startswith("127.0.0.1:")
    line = capsys.readouterr().out.strip()
    assert line.startswith("kling_nb → emulator at 127.0.0.1:") and "EMULATED" in line


@pytest.mark.parametrize("name", ["emulator", "local", " Emulator "])
def test_the_emulator_has_one_name_and_local_is_its_alias(name: str) -> None:
    conn = connect(name, env={"KLING_NB_BACKEND": "qiniu"}, quiet=True, service_time=0.1)
    assert conn.backend == "emulator" and conn.label == "emulator"
    assert "local" not in conn.describe() and "custom" not in conn.describe()
    by_variable = connect(env={"KLING_NB_BACKEND": name}, quiet=True, service_time=0.1)
    assert by_variable.backend == "emulator"


def test_backend_variable_overrides_auto(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {"KLING_NB_BACKEND": "fal", "QINIU_API_KEY": "q", "FAL_KEY": "f"}
    assert connect(env=env, quiet=True).backend == "fal"


def test_explicit_queue_host_is_honoured_as_it_is() -> None:
    env = {"FAL_QUEUE_RUN_HOST": "gateway.example:8443/queue", "FAL_KEY": "k"}
    conn = connect(env=env, quiet=True)
    assert (conn.backend, conn.host) == ("custom", "gateway.example:8443/queue")
    assert "FAL_QUEUE_RUN_HOST" in conn.describe()


def test_guide_style_qiniu_host_is_recognised_as_qiniu() -> None:
    env = {"FAL_QUEUE_RUN_HOST": QINIU_HOST, "FAL_KEY": "k"}
    assert connect(env=env, quiet=True).backend == "qiniu"


@pytest.mark.parametrize(("backend", "variable"), [("qiniu", "QINIU_API_KEY"), ("fal", "FAL_KEY")])
def test_missing_key_names_the_variable_to_set(backend: str, variable: str) -> None:
    with pytest.raises(KlingConfigError, match=f"Set the environment variable {variable}"):
        connect(backend, env={}, quiet=True)


def test_missing_key_message_in_chinese() -> None:
    kling_nb.set_language("zh")
    with pytest.raises(KlingConfigError, match="请设置环境变量 QINIU_API_KEY"):
        connect("qiniu", env={}, quiet=True)


def test_bad_backend_variable_names_variable_and_value() -> None:
    with pytest.raises(KlingConfigError, match="KLING_NB_BACKEND = 'qinu'"):
        Settings.from_env({"KLING_NB_BACKEND": "qinu"})


def test_bad_language_variable_is_named() -> None:
    from kling_nb._config import language_from

    with pytest.raises(KlingConfigError, match="KLING_NB_LANG = 'fr'"):
        language_from({"KLING_NB_LANG": "fr"})


def test_switching_backend_repoints_fal_client_and_renews_its_cached_client() -> None:
    connect(env={"QINIU_API_KEY": "q1"}, quiet=True)
    fal_client.sync_client.__dict__["_client"] = object()  # as if a guide cell had run
    conn = connect(env={"FAL_KEY": "f1"}, quiet=True)
    assert fc.QUEUE_URL_FORMAT == conn.queue_url == f"https://{FAL_HOST}/"
    assert "_client" not in fal_client.sync_client.__dict__
    check_fal_client_host(conn)


def test_submit_is_refused_when_fal_client_points_elsewhere() -> None:
    conn = connect(env={"FAL_KEY": "f1"}, quiet=True)
    fc.QUEUE_URL_FORMAT = "https://somewhere.else/"
    with pytest.raises(KlingConfigError, match="nothing was sent"):
        check_fal_client_host(conn)


def test_connection_repr_never_shows_the_key() -> None:
    conn = connect(env={"QINIU_API_KEY": CANARY_KEY}, quiet=True)
    assert CANARY_KEY not in repr(conn) and CANARY_KEY not in conn.describe()
    assert CANARY_KEY not in repr(Settings.from_env({"QINIU_API_KEY": CANARY_KEY}))


def test_reconnecting_after_the_emulator_picks_a_key_set_since() -> None:
    import os

    env = dict(os.environ)
    for name in ("QINIU_API_KEY", "FAL_KEY", "FAL_QUEUE_RUN_HOST", "KLING_NB_BACKEND"):
        env.pop(name, None)
    # Our own pointer to the emulator must not be mistaken for the user's choice...
    kling_nb._config._applied.update({"FAL_QUEUE_RUN_HOST": "127.0.0.1:1/queue", "FAL_KEY": "e"})
    env.update(FAL_QUEUE_RUN_HOST="127.0.0.1:1/queue", FAL_KEY="e", QINIU_API_KEY="q")
    assert Settings.from_env(env, kling_nb._config._applied).queue_host is None
    # ...while a host the user set is honoured, with whatever key they set.
    env["FAL_QUEUE_RUN_HOST"] = "127.0.0.1:2/queue"
    settings = Settings.from_env(env, kling_nb._config._applied)
    assert (settings.queue_host, settings.fal_key) == ("127.0.0.1:2/queue", "e")
    kling_nb._config._applied.clear()


def test_key_for_host_gives_each_key_only_to_its_own_host() -> None:
    both = Settings.from_env({"QINIU_API_KEY": "q-key", "FAL_KEY": "f-key"})
    assert key_for_host(QINIU_HOST, both) == ("q-key", "QINIU_API_KEY")
    assert key_for_host(FAL_HOST, both) == ("f-key", "FAL_KEY")
    assert key_for_host("gateway.example.com", both) == (None, "FAL_KEY")
    only_qiniu = Settings.from_env({"QINIU_API_KEY": "q-key"})
    assert key_for_host(FAL_HOST, only_qiniu) == (None, "FAL_KEY")


def test_key_for_host_honours_the_chosen_queue_host_and_the_emulator() -> None:
    chosen = Settings.from_env({"FAL_QUEUE_RUN_HOST": "gateway.example.com", "FAL_KEY": "f-key"})
    assert key_for_host("gateway.example.com", chosen) == ("f-key", "FAL_KEY")
    assert key_for_host("127.0.0.1:8123", Settings.from_env({})) == (EMULATOR_KEY, "FAL_KEY")


@pytest.mark.parametrize("profile", ["plain", "qiniu", "fal"])
def test_a_gateways_rules_follow_kling_nb_profile(profile: str) -> None:
    env = {"FAL_QUEUE_RUN_HOST": "gw.example:8443/queue", "FAL_KEY": CANARY_KEY}
    assert Settings.from_env(env).profile is None
    conn = connect(env={**env, "KLING_NB_PROFILE": profile.upper()}, quiet=True)
    assert conn.profile == profile and conn.host == "gw.example:8443/queue"


def test_an_unknown_profile_is_named_with_the_choices() -> None:
    with pytest.raises(KlingConfigError) as exc:
        Settings.from_env({"KLING_NB_PROFILE": "openai"})
    assert "KLING_NB_PROFILE" in str(exc.value) and "'openai'" in str(exc.value)
    assert "plain, qiniu, fal" in str(exc.value)
