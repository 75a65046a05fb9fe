"""KlingErrors in IPython: message and fix without internal frames; %tb keeps the rest."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import kling_nb
from kling_nb._display import friendly_tracebacks


@pytest.fixture
def shell() -> Iterator[object]:
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("colors", "nocolor")
    yield ip
    kling_nb.plain_tracebacks()


RAISE = (
    "from kling_nb._errors import KlingConfigError\n"
    "def deep():\n"
    "    raise KlingConfigError('No key: set FAL_KEY.')\n"
    "deep()\n"
)


def test_a_kling_error_shows_its_message_without_frames(shell, capsys) -> None:  # type: ignore[no-untyped-def]
    assert friendly_tracebacks() is True
    shell.run_cell(RAISE)
    out = capsys.readouterr()
    text = out.out + out.err
    assert "KlingConfigError" in text and "No key: set FAL_KEY." in text
    assert "%tb" in text and "deep()" not in text and "Traceback" not in text


def test_tb_still_shows_the_full_traceback(shell, capsys) -> None:  # type: ignore[no-untyped-def]
    friendly_tracebacks()
    shell.run_cell(RAISE)
    capsys.readouterr()
    shell.run_line_magic("tb", "")
    out = capsys.readouterr()
    assert "deep()" in out.out + out.err


def test_plain_tracebacks_turns_it_off_and_other_errors_are_untouched(shell, capsys) -> None:  # type: ignore[no-untyped-def]
    friendly_tracebacks()
    kling_nb.plain_tracebacks()
    shell.run_cell(RAISE)
    out = capsys.readouterr()
    assert "deep()" in out.out + out.err
    friendly_tracebacks()
    shell.run_cell("def f():\n    raise ValueError('plain')\nf()\n")
    out = capsys.readouterr()
    assert "f()" in out.out + out.err and "%tb" not in out.out + out.err
