"""`kling-nb`: edit images, open the tutorials, run the emulator or a classroom gateway,
list/resume jobs, check a key.

Every failure is one line on stderr (never a traceback, never the key) and an exit status:
2 for bad input (checked before anything is sent where it can be), 1 for the service's or
the machine's failures, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from ._errors import KlingConfigError, KlingError
from ._secrets import scrub
from ._wire import ASPECT_RATIOS, OUTPUT_FORMATS, RESOLUTIONS

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 failed, 2 bad input, 130 interrupted)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["emulator"]:
        from .emulator.__main__ import main as emulator_main

        return emulator_main(args[1:])
    if args[:1] == ["classroom"]:
        from .classroom.cli import main as classroom_main

        return classroom_main(args[1:])
    parser = _parser()
    try:
        ns, extra = parser.parse_known_args(args)
        if extra and ns.command != "lab":  # only `lab` passes arguments on (to JupyterLab)
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exc:  # --help (0), or a bad argument already said in one line (2)
        return exc.code if isinstance(exc.code, int) else 2
    ns.extra = extra
    try:
        if ns.lang:
            from ._config import set_language

            set_language(ns.lang)
        return int(ns.run(ns))
    except KlingError as exc:
        _fail(str(exc))
        if isinstance(exc.__context__, KeyboardInterrupt):
            return 130
        return 2 if isinstance(exc, (ValueError, KlingConfigError)) else 1
    except KeyboardInterrupt:
        _fail("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug or the machine: still one line, no key
        _fail(f"{type(exc).__name__}: {exc}")
        return 1


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr, like every other failure."""

    def error(self, message: str) -> NoReturn:
        _fail(f"{message} (see: {self.prog} --help)")
        raise SystemExit(2)


def _fail(text: str) -> None:
    """One scrubbed line on stderr, whatever the text holds."""
    line = " ".join(scrub(text).split())
    sys.stderr.write(f"kling-nb: {line.encode('utf-8', 'backslashreplace').decode('utf-8')}\n")


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    return value


def check_out(out: str) -> Path:
    """`out` as a results folder (or an image file name in one), refused before paying."""
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir() and path.suffix.lower() not in IMAGE_SUFFIXES:
        _refuse_out(path, "it is a file, not a folder")
    probe = path.parent if path.suffix.lower() in IMAGE_SUFFIXES and not path.is_dir() else path
    existing = probe
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        _refuse_out(path, f"{existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        _refuse_out(path, f"{existing} is not writable")
    return path


def _refuse_out(path: Path, reason: str) -> NoReturn:
    from ._i18n import message

    raise KlingConfigError(message("cli.out_not_folder", path=path, reason=reason))


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kling-nb", description=__doc__)
    parser.add_argument("--lang", choices=["zh", "en"], help="language of messages")
    sub = parser.add_subparsers(dest="command", required=True)
    ed = sub.add_parser("edit", help="edit images with a prompt and save the results")
    ed.add_argument("images", nargs="+", help="input images: paths or http(s) URLs")
    ed.add_argument("--prompt", "-p", required=True)
    ed.add_argument("--resolution", default="1K", choices=RESOLUTIONS["qiniu"])
    ed.add_argument("--aspect-ratio", default="auto", choices=ASPECT_RATIOS)
    ed.add_argument("--num-images", type=int, default=1)
    ed.add_argument("--output-format", choices=OUTPUT_FORMATS)
    ed.add_argument("--out", default=".", help="folder for the results (default: here)")
    ed.add_argument("--backend", default="auto", choices=["auto", "local", "qiniu", "fal"])
    ed.add_argument(
        "--timeout", type=_positive, default=900.0, help="seconds before the job is cancelled"
    )
    ed.set_defaults(run=_edit)
    hi = sub.add_parser("history", help="list the jobs in the journal (KLING_NB_HOME)")
    hi.add_argument("--state", action="append", help="only this state (repeatable); 'pending'")
    hi.add_argument(
        "--since", help="only jobs from this date/time on (ISO, e.g. 2025-01-31, or 'yesterday')"
    )
    hi.add_argument("--until", help="only jobs before the end of this date/time (ISO)")
    hi.add_argument("--limit", type=int, default=50, help="at most this many rows (50)")
    hi.set_defaults(run=_history)
    re_ = sub.add_parser("resume", help="wait for unfinished jobs from the journal, save them")
    re_.add_argument("request_id", nargs="?", help="only this job (default: every unfinished)")
    re_.add_argument("--out", default=".", help="folder for the results (default: here)")
    re_.add_argument(
        "--timeout", type=_positive, default=900.0, help="seconds to wait for each job"
    )
    re_.set_defaults(run=_resume)
    lab = sub.add_parser(
        "lab",
        help="open a tutorial in JupyterLab: kling-nb lab [zh|en|NAME] [--dir D] [jupyter options]",
        description="Copy the tutorials into a working folder (once; your changes are kept) "
        "and open one in JupyterLab. NAME comes first: zh (default), en, a tutorial's name or "
        "a .ipynb file; every other argument goes to JupyterLab (--no-browser, --port=8899…).",
        allow_abbrev=False,
    )
    lab.add_argument(
        "--dir", help="working folder for the tutorials (default: ./kling_nb_tutorials)"
    )
    lab.set_defaults(run=_lab)
    doc = sub.add_parser("doctor", help="check a key and host without paying; exit 0 when usable")
    doc.add_argument("--backend", default="auto", choices=["auto", "qiniu", "fal"])
    doc.add_argument("--host", help="queue host to check (default: the backend's)")
    doc.add_argument("--timeout", type=_positive, default=10.0, help="seconds for each check (10)")
    doc.set_defaults(run=_doctor)
    em = sub.add_parser("emulator", help="run the local fal-queue emulator (see --help there)")
    em.set_defaults(run=lambda ns: 0)
    cr = sub.add_parser("classroom", help="run a gateway for a class (see --help there)")
    cr.set_defaults(run=lambda ns: 0)
    return parser


def _lab(ns: argparse.Namespace) -> int:
    from ._tutorials import open_lab

    extra = list(ns.extra)
    name = extra.pop(0) if extra and not extra[0].startswith("-") else None
    return open_lab(name, ns.dir, extra)


def _doctor(ns: argparse.Namespace) -> int:
    from ._doctor import doctor

    report = doctor(ns.backend, host=ns.host, timeout=ns.timeout)
    print(report)
    return 0 if report.ok else 1


def _edit(ns: argparse.Namespace) -> int:
    from ._config import connect
    from ._tasks import edit

    check_out(ns.out)  # before paying: a result that cannot be saved is money lost
    conn = connect(ns.backend, quiet=True)
    print(conn.describe(), file=sys.stderr)
    result = edit(
        ns.prompt,
        ns.images,
        resolution=ns.resolution,
        aspect_ratio=ns.aspect_ratio,
        num_images=ns.num_images,
        output_format=ns.output_format,
        timeout=ns.timeout,
        connection=conn,
    )
    for path in result.save(ns.out):
        print(path)
    return 0


def _history(ns: argparse.Namespace) -> int:
    from ._history import history

    print(repr(history(ns.state, since=ns.since, until=ns.until, limit=ns.limit)))
    return 0


def _resume(ns: argparse.Namespace) -> int:
    from ._resume import resume

    check_out(ns.out)
    if ns.request_id:
        outcomes = [resume(ns.request_id, timeout=ns.timeout)]
    else:
        batch = resume(timeout=ns.timeout)
        print(batch.summary(), file=sys.stderr)
        outcomes = list(batch)
    failed = 0
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            failed += 1
            _fail(str(outcome))
        elif hasattr(outcome, "save"):
            for path in outcome.save(ns.out):
                print(path)
        else:
            print(json.dumps(outcome, ensure_ascii=False))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
