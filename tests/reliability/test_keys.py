"""Keys: checked character by character when set, never shown by an error, and never sent to
another host because only the key changed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import kling_nb
from kling_nb import KlingConfigError, KlingError, _config
from kling_nb._secrets import remember_secret

from ..conftest import CANARY_KEY


@pytest.fixture
def clean_config() -> Iterator[None]:
    yield
    _config._current = None
    _config._applied.clear()


@pytest.mark.parametrize(
    ("key", "position", "named"),
    [
        ("sk-abc\u200bdef", 7, "U+200B ZERO WIDTH SPACE"),
        ("\u201csk-abcdef\u201d", 1, "U+201C LEFT DOUBLE QUOTATION MARK"),
        ("sk-abc def", 7, "U+0020 SPACE"),
        ("sk-abc'def", 7, "U+0027 APOSTROPHE"),
        ("sk-abc\x07def", 7, "U+0007 control character"),
        ("sk-abcdéf", 8, "U+00E9 LATIN SMALL LETTER E WITH ACUTE"),
    ],
)
def test_a_key_with_a_bad_character_is_refused_in_words_before_anything_is_journaled(
    home: Path, key: str, position: int, named: str, clean_config: None
) -> None:
    with pytest.raises(KlingConfigError) as caught:
        kling_nb.connect("fal", key=key, env={"KLING_NB_HOME": str(home)}, quiet=True)
    text = str(caught.value)
    assert f"position {position}" in text and named in text and "Copy the key again" in text
    assert key not in text
    assert not home.exists()  # nothing journaled, nothing created


def test_a_bad_key_from_the_environment_names_the_variable_in_chinese(
    home: Path, clean_config: None
) -> None:
    kling_nb.set_language("zh")
    env = {"QINIU_API_KEY": "sk-\u201cabc", "KLING_NB_HOME": str(home)}
    with pytest.raises(KlingConfigError, match="QINIU_API_KEY 在第 4 个字符处含有 U\\+201C"):
        kling_nb.connect(env=env, quiet=True)


def test_rotating_the_key_keeps_the_custom_host(
    emu,  # type: ignore[no-untyped-def]
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    clean_config: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in {
        "FAL_QUEUE_RUN_HOST": emu.host,
        "FAL_KEY": CANARY_KEY,
        "SSL_CERT_FILE": emu.ca_bundle,
        "KLING_NB_HOME": str(home),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("QINIU_API_KEY", raising=False)
    first = kling_nb.connect()
    monkeypatch.setenv("FAL_KEY", CANARY_KEY + "-rotated")
    second = kling_nb.connect()
    assert first.host == second.host == emu.host != _config.FAL_HOST
    assert second.key == CANARY_KEY + "-rotated"
    assert os.environ["FAL_QUEUE_RUN_HOST"] == emu.host
    out = capsys.readouterr().out
    assert "changed" not in out  # nothing changed host, so nothing is said
    # A host change is explicit, and said in one line.
    third = kling_nb.connect("fal")
    assert third.host == _config.FAL_HOST
    assert f"from {emu.host} to {_config.FAL_HOST}" in capsys.readouterr().out


def test_kling_error_masks_a_key_in_its_text_and_in_the_exception_it_handled() -> None:
    remember_secret(CANARY_KEY)
    with pytest.raises(KlingError) as caught:
        try:
            raise ValueError(f"server said: bad key {CANARY_KEY}")
        except ValueError as exc:
            raise KlingError(f"refused ({exc}) with {CANARY_KEY}") from exc
    error = caught.value
    assert CANARY_KEY not in str(error) and CANARY_KEY not in repr(error)
    assert "***" in str(error)
    assert error.__cause__ is not None and CANARY_KEY not in str(error.__cause__)


def test_a_connection_built_by_hand_with_a_bad_key_writes_no_row(home: Path) -> None:
    from kling_nb._config import Connection
    from kling_nb._journal import Journal

    conn = Connection("custom", "127.0.0.1:1/queue", "sk-\u200bhidden")
    with pytest.raises(KlingConfigError, match="U\\+200B ZERO WIDTH SPACE"):
        Journal(home).begin(conn, kling_nb.ENDPOINT, {"prompt": "x"})
    assert Journal(home).entries() == []
