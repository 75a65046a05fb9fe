"""How kling_nb's errors look in IPython: the message and its fix, without internal frames.

A `KlingError` already says what happened and what to do; twenty frames of kling_nb
and httpx above it only hide that. `%tb` still prints the full traceback, and
`kling_nb.plain_tracebacks()` turns this display off.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

from ._errors import KlingError
from ._i18n import message


def _show(
    shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None
) -> list[str]:
    """IPython's custom exception handler: shows two lines, keeps the traceback for %tb."""
    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb  # what %tb reads
    red, dim, reset = ("\x1b[0;31m", "\x1b[2m", "\x1b[0m") if _colored(shell) else ("", "", "")
    stb = [f"{red}{etype.__name__}{reset}: {value}", f"{dim}{message('engine.tb_hint')}{reset}"]
    shell._showtraceback(etype, value, stb)
    return stb


def _colored(shell: Any) -> bool:
    return str(getattr(shell, "colors", "nocolor")).lower() != "nocolor"


def _shell() -> Any:
    if "IPython" not in sys.modules:  # never import IPython just to find out
        return None
    from IPython import get_ipython

    return get_ipython()


_plain = False  # plain_tracebacks() was asked for: connect() leaves the display alone


def friendly_tracebacks(*, unless_declined: bool = False) -> bool:
    """Show KlingErrors briefly in this IPython session; True if there is one.

    `connect()` calls it with `unless_declined`, which keeps a `plain_tracebacks()` choice."""
    global _plain
    if unless_declined and _plain:
        return False
    _plain = False
    shell = _shell()
    if shell is None:
        return False
    shell.set_custom_exc((KlingError,), _show)
    # trio, when something imports it later, warns that a custom handler exists and skips
    # its own (which only formats its exception groups): noise in every notebook otherwise.
    warnings.filterwarnings(
        "ignore", message="IPython detected, but you already have a custom exception handler"
    )
    return True


def plain_tracebacks() -> None:
    """Show kling_nb's errors with IPython's full tracebacks again (also after `connect()`)."""
    global _plain
    _plain = True
    shell = _shell()
    if shell is not None and KlingError in getattr(shell, "custom_exceptions", ()):
        shell.set_custom_exc((), None)
