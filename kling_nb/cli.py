"""`kling-nb`: edit images, estimate and cap what they cost, open the tutorials, run the
emulator or a classroom gateway, list and resume jobs, check a key.

Every failure is one line on stderr (never a traceback, never the key) and an exit status:
2 for bad input (every argument is checked before an emulator starts or a journal row is
written), 1 for the service's or the machine's failures (and a budget refusal), 130 when
interrupted (Ctrl-C; a job being waited on is cancelled on the server first).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from ._errors import KlingConfigError, KlingError
from ._i18n import message, use_cli_words
from ._preflight import (
    admit_early,
    check_out,
    checked_request,
    journal_exists,
)
from ._secrets import scrub
from ._wire import (
    ASPECT_RATIOS,
    NUM_IMAGES_MAX,
    NUM_IMAGES_MIN,
    OUTPUT_FORMATS,
    PROMPT_MAX_CHARS,
    RESOLUTIONS,
)

if TYPE_CHECKING:
    pass

BACKEND_CHOICES = ["auto", "emulator", "qiniu", "fal", "local"]  # local: the emulator's old name
# Kernel views, not storage: a result "saved" there is lost (and /proc refuses most writes).
EXAMPLES = """\
examples:
  kling-nb edit sample:running-man -p "将 <<<image_1>>> 转换为水彩画风格" --out results/
  kling-nb edit photo.jpg sample:cat -p "put the cat of <<<image_2>>> into <<<image_1>>>"
  kling-nb estimate photo.jpg -p "watercolor of <<<image_1>>>" --num-images 4
  kling-nb edit photo.jpg --region 120,80,900,640 -p "make <<<image_1>>> a sunflower"
  kling-nb budget 5 USD          kling-nb samples          kling-nb doctor

No key set: everything runs offline on the bundled emulator (free; its pictures are
classical filters badged EMULATED, not Kling). QINIU_API_KEY selects Qiniu AIToken,
FAL_KEY fal.ai; both bill per output image."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 failed, 2 bad input, 130 interrupted)."""
    args = list(sys.argv[1:] if argv is None else argv)
    previous = use_cli_words(True)  # hints name flags and verbs, not Python calls
    try:
        with _interrupts() as interrupted:
            status = _main(args)
        return 130 if interrupted else status
    finally:
        use_cli_words(previous)


@contextlib.contextmanager
def _interrupts() -> Iterator[list[int]]:
    """Note every Ctrl-C (SIGINT) while raising KeyboardInterrupt as usual: however the
    library words the cancelled job, the exit status is then 130."""
    seen: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield seen  # signals are the main thread's (a test calling main() from a worker)
        return

    def noted(signum: int, frame: object) -> None:
        seen.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, noted)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, previous)


def _main(args: list[str]) -> int:
    try:
        lang, rest = _leading_lang(args)
        if rest[:1] == ["emulator"]:
            return _emulator(rest[1:], lang)
        if rest[:1] == ["classroom"]:
            return _classroom(rest[1:], lang)
        parser = _parser()
        ns, extra = parser.parse_known_args(args)
        if extra and ns.command != "lab":  # only `lab` passes arguments on (to JupyterLab)
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exc:  # --help (0), or a bad argument already said in one line (2)
        return exc.code if isinstance(exc.code, int) else 2
    ns.extra = extra
    return run_command(ns)


def run_command(ns: argparse.Namespace, *, os_error_status: int = 1) -> int:
    """Run a parsed command (`ns.run`) in its language; every failure is one line and a status.

    2 for bad input, 1 for the service's or the machine's failures (`os_error_status` for an
    OSError: the classroom counts a port in use as a bad `--port`), 130 when interrupted.
    """
    try:
        if ns.lang:
            from ._config import set_language

            set_language(ns.lang)
        return int(ns.run(ns))
    except KlingError as exc:
        fail(str(exc))
        if isinstance(exc.__context__, KeyboardInterrupt):
            return 130
        return 2 if isinstance(exc, (ValueError, KlingConfigError)) else 1
    except KeyboardInterrupt:
        fail(message("cli.interrupted"))
        return 130
    except OSError as exc:  # a port in use, a folder not writable: the machine says why
        fail(f"{type(exc).__name__}: {exc}")
        return os_error_status
    except Exception as exc:  # noqa: BLE001 - a bug: still one line, no key
        fail(f"{type(exc).__name__}: {exc}")
        return 1


def _leading_lang(args: list[str]) -> tuple[str | None, list[str]]:
    """`--lang X` given before the command, and the arguments after it."""
    if args[:1] == ["--lang"] and len(args) > 1:
        return args[1], args[2:]
    if args[:1] and args[0].startswith("--lang="):
        return args[0].split("=", 1)[1], args[1:]
    return None, args


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr, like every other failure."""

    def error(self, message: str) -> NoReturn:
        fail(f"{message} (see: {self.prog} --help)")
        raise SystemExit(2)


def fail(text: str) -> None:
    """One scrubbed line on stderr, whatever the text holds."""
    line = " ".join(scrub(text).split())
    sys.stderr.write(f"kling-nb: {line.encode('utf-8', 'backslashreplace').decode('utf-8')}\n")


def _box(text: str) -> tuple[float, ...]:
    """`--region 120,80,900,640`: four numbers; the rest is checked against the photo."""
    parts = [part.strip() for part in text.replace(" ", ",").split(",") if part.strip()]
    try:
        numbers = tuple(float(part) for part in parts)
    except ValueError:
        numbers = ()
    if len(numbers) != 4 or not all(n == n and abs(n) != float("inf") for n in numbers):
        raise argparse.ArgumentTypeError(message("cli.region_bad", value=text))
    return tuple(int(n) if n.is_integer() else n for n in numbers)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    return value


# --- the parser ---------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="kling-nb",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _lang(parser, argparse_default=None)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    ed = _add(sub, "edit", "edit images with a prompt and save the results (--help: every limit)")
    _request_arguments(ed)
    ed.add_argument(
        "--out",
        default=".",
        help="folder for the results, created if needed, or an image file name (out.png); "
        "never a file of another kind, never under /proc (default: here)",
    )
    ed.add_argument(
        "--timeout",
        type=_positive,
        default=900.0,
        help="seconds to wait; past them the job is cancelled on the server (900)",
    )
    ed.add_argument(
        "--fresh",
        action="store_true",
        help="pay for new pictures even if an identical edit was already made "
        "(by default it is replayed from the journal, not billed)",
    )
    ed.add_argument(
        "--lossless",
        action="store_true",
        help="save a region edit of a JPEG photo as PNG: every pixel outside the region and "
        "its feather the original's (a JPEG re-encoded changes them by a few levels)",
    )
    ed.set_defaults(run=_edit)
    es = _add(sub, "estimate", "what an edit would cost (same arguments as edit); nothing is sent")
    _request_arguments(es)
    es.set_defaults(run=_estimate, out=None)
    bu = _add(sub, "budget", "show the budget (spent, left), set it (AMOUNT CURRENCY) or lift it")
    bu.add_argument(
        "amount",
        nargs="*",
        metavar="AMOUNT [CURRENCY]",
        help="cap the estimated spend from now on, e.g. 5 USD, 20 CNY or $5",
    )
    bu.add_argument("--off", action="store_true", help="lift the budget")
    bu.set_defaults(run=_budget)
    sa = _add(sub, "samples", "list the bundled sample pictures (use them as sample:NAME)")
    sa.set_defaults(run=_samples)
    _history_parser(sub)
    _resume_parser(sub)
    _lab_parser(sub)
    _doctor_parser(sub)
    em = _add(sub, "emulator", "run the offline fal-queue emulator (kling-nb emulator --help)")
    em.set_defaults(run=lambda ns: 0)
    cr = _add(
        sub,
        "classroom",
        "run a gateway for a class: one key, per-student budgets (kling-nb classroom --help)",
    )
    cr.set_defaults(run=lambda ns: 0)
    return parser


def _add(sub: Any, name: str, text: str, **options: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=text, description=text, **options)
    _lang(parser)
    return parser


def _lang(parser: argparse.ArgumentParser, argparse_default: Any = argparse.SUPPRESS) -> None:
    """`--lang` before or after the command (the one after it wins)."""
    parser.add_argument(
        "--lang",
        choices=["zh", "en"],
        default=argparse_default,
        help="language of messages (default: KLING_NB_LANG, else the locale)",
    )


def _request_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "images",
        nargs="+",
        metavar="IMAGE",
        help="1-10 input images: paths, http(s) URLs (sent as they are), or sample:NAME for a "
        "bundled picture (kling-nb samples lists them). Each at least 300 px a side, ratio "
        "within 1:2.5-2.5:1; EXIF rotation, CMYK, 16-bit and alpha are fixed, large ones shrunk",
    )
    parser.add_argument(
        "--prompt",
        "-p",
        required=True,
        help=f"what to do, 1-{PROMPT_MAX_CHARS} characters; name the inputs <<<image_1>>>, "
        "<<<image_2>>>… in the order given (or @Image1…)",
    )
    parser.add_argument(
        "--resolution",
        default=None,
        choices=RESOLUTIONS["qiniu"],
        help="output resolution (1K; for a region edit, the one that does not shrink the "
        "crop); 4K is not offered by the service",
    )
    _region_arguments(parser)
    parser.add_argument(
        "--aspect-ratio",
        default="auto",
        choices=ASPECT_RATIOS,
        metavar="RATIO",
        help=f"output aspect ratio: {', '.join(ASPECT_RATIOS)} (auto: as the input)",
    )
    parser.add_argument(
        "--num-images",
        type=int,
        default=1,
        metavar="N",
        help=f"pictures to make, {NUM_IMAGES_MIN}-{NUM_IMAGES_MAX} (1); each is billed",
    )
    parser.add_argument(
        "--output-format",
        choices=OUTPUT_FORMATS,
        help="file format of the results (default: the service's, png)",
    )
    parser.add_argument(
        "--backend",
        default="auto",
        choices=BACKEND_CHOICES,
        help="auto (default): Qiniu if QINIU_API_KEY is set, fal if FAL_KEY is set, else the "
        "offline emulator; emulator: free, no key needed, pictures badged EMULATED "
        "(local is its old name)",
    )


def _region_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--region",
        type=_box,
        metavar="L,T,R,B",
        help="edit only this box of the first image, in pixels of the photo as shown "
        "(left,top,right,bottom; right and bottom excluded): the crop around it is sent and "
        "the pictures are pasted back, every other pixel kept",
    )
    where.add_argument(
        "--region-mask",
        metavar="MASK",
        help="edit only the white part of this mask picture (the photo's size as shown)",
    )


def _history_parser(sub: Any) -> None:
    hi = _add(sub, "history", "list the jobs in the journal (KLING_NB_HOME, else ~/.kling_nb)")
    hi.add_argument(
        "--state",
        action="append",
        help="only this state (repeatable): completed, failed, cancelled, running, queued, "
        "unknown, or pending (every unfinished one)",
    )
    hi.add_argument(
        "--since", help="only jobs from this date/time on (ISO, e.g. 2025-01-31, or 'yesterday')"
    )
    hi.add_argument("--until", help="only jobs before the end of this date/time (ISO)")
    hi.add_argument("--limit", type=int, default=50, help="at most this many rows (50)")
    hi.set_defaults(run=_history)


def _resume_parser(sub: Any) -> None:
    re_ = _add(sub, "resume", "wait for unfinished jobs from the journal and save their pictures")
    re_.add_argument("request_id", nargs="?", help="only this job (default: every unfinished one)")
    re_.add_argument(
        "--out", default=".", help="folder for the results, created if needed (default: here)"
    )
    re_.add_argument(
        "--timeout", type=_positive, default=900.0, help="seconds to wait for each job (900)"
    )
    re_.set_defaults(run=_resume)


def _lab_parser(sub: Any) -> None:
    lab = _add(
        sub,
        "lab",
        "open a tutorial in JupyterLab: kling-nb lab [zh|en|NAME] [--dir D] [jupyter options]",
        allow_abbrev=False,
    )
    lab.description = (
        "Copy the tutorials into a working folder (once; files you changed are never "
        "overwritten: a newer packaged version is put beside them) and open one in "
        "JupyterLab. NAME comes first: zh (default), en, a tutorial's name or a .ipynb file; "
        "every other argument goes to JupyterLab (--no-browser, --port=8899…)."
    )
    lab.add_argument(
        "--dir", help="working folder for the tutorials (default: ./kling_nb_tutorials)"
    )
    lab.set_defaults(run=_lab)


def _doctor_parser(sub: Any) -> None:
    doc = _add(sub, "doctor", "check a backend without paying; exit 0 when it is usable")
    doc.add_argument(
        "--backend",
        default="auto",
        choices=BACKEND_CHOICES,
        help="auto (default): the backend edit would use; with no key set, the offline "
        "emulator is started and checked",
    )
    doc.add_argument(
        "--host", help="queue host to check, e.g. api.qnaigc.com/queue (default: the backend's)"
    )
    doc.add_argument(
        "--timeout",
        type=_positive,
        default=10.0,
        help="seconds each check may take in all, however slowly the server answers; the "
        "whole check takes at most about twice that, plus the emulator's start (10)",
    )
    doc.add_argument(
        "--probe",
        action="store_true",
        help="then ask the service itself, paying for it: one real 1K job with a small local "
        "picture, a second job cancelled at once, one malformed submit; the cost is shown and "
        "your consent asked first; what it answered is saved under KLING_NB_HOME/probes/",
    )
    doc.add_argument("--yes", action="store_true", help="with --probe: consent given, no question")
    doc.set_defaults(run=_doctor)


# --- the commands -------------------------------------------------------------------------------


def _emulator(args: list[str], lang: str | None) -> int:
    from ._config import set_language
    from .emulator.__main__ import main as emulator_main

    if lang:
        set_language(lang)
    return int(emulator_main(args, prog="kling-nb emulator"))


def _classroom(args: list[str], lang: str | None) -> int:
    from ._config import set_language
    from .classroom.cli import main as classroom_main

    if lang:
        set_language(lang)
    return int(classroom_main(args))


def _lab(ns: argparse.Namespace) -> int:
    from ._tutorials import open_lab

    extra = list(ns.extra)
    name = extra.pop(0) if extra and not extra[0].startswith("-") else None
    return open_lab(name, ns.dir, extra)


def _doctor(ns: argparse.Namespace) -> int:
    from ._doctor import doctor

    report = doctor(ns.backend, host=ns.host, timeout=ns.timeout, probe=ns.probe, yes=ns.yes)
    print(report)
    return 0 if report.ok else 1


def _edit(ns: argparse.Namespace) -> int:
    from ._api import edit
    from ._config import connect
    from ._job import kept_if_interrupted

    request, planned, body = checked_request(ns)
    admit_early(planned, request, body, ns.fresh)
    conn = connect(ns.backend, quiet=True)
    print(conn.describe(), file=sys.stderr)
    result = edit(
        request.prompt,
        request.images,
        resolution=request.resolution,
        aspect_ratio=request.aspect_ratio,
        num_images=request.num_images,
        output_format=request.output_format,
        region=request.region,
        timeout=ns.timeout,
        connection=conn,
        fresh=ns.fresh,
    )
    words = message("cli.interrupted_saving", out=ns.out, request_id=result.request_id)
    with kept_if_interrupted(result.request_id, result.endpoint, words):
        for path in result.save(ns.out, lossless=ns.lossless):
            print(path)
    return 0


def _estimate(ns: argparse.Namespace) -> int:
    from ._admission import find_replay
    from ._money import Estimate, budget, plan_item, price_for

    request, conn, _ = checked_request(ns)
    item = plan_item(conn, request, strict=True)
    print(repr(Estimate([item], price_for(conn))))
    if item.fingerprint and journal_exists(conn):  # reading only: nothing is written
        replay = find_replay(item.fingerprint, home=conn.home, host=conn.host)
        if replay and replay.entry is not None:
            print(message("cli.estimate_replay", request_id=replay.entry.request_id))
    state = budget(home=conn.home)
    if state.amount is not None:
        print(repr(state))
    return 0


def _budget(ns: argparse.Namespace) -> int:
    from ._journal import default_home
    from ._money import budget, set_budget

    home = default_home()
    if ns.off and ns.amount:
        raise KlingConfigError(message("cli.budget_both"))
    if ns.off:
        print(repr(set_budget(None, home=home)))
    elif ns.amount:
        print(repr(set_budget(*_budget_words(ns.amount), home=home)))
    else:
        print(repr(budget(home=home)))
    return 0


def _budget_words(words: list[str]) -> tuple[str, str]:
    """(amount, currency) from `5 USD`, `5USD` or `$5`; refused in one line otherwise."""
    from ._price import parse_price

    try:
        price = parse_price(" ".join(words), "budget")
    except KlingConfigError:
        raise KlingConfigError(message("cli.budget_words", value=" ".join(words))) from None
    return str(price.amount), price.currency


def _samples(ns: argparse.Namespace) -> int:
    from ._samples import samples_table

    print(samples_table())
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
            fail(str(outcome))
        elif hasattr(outcome, "save"):
            for path in outcome.save(ns.out):
                print(path)
        else:
            print(json.dumps(outcome, ensure_ascii=False))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
