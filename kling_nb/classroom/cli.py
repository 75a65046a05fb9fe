"""`kling-nb classroom …`: the teacher's commands (serve, add, list, top-up, revoke, report,
collect). Each fails in one line: exit 2 for bad input, 1 for the machine's failures."""

from __future__ import annotations

import argparse
import csv
import shutil
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .._errors import KlingConfigError
from .._i18n import message
from .._preflight import check_out
from .._price import amount_text, parse_price
from .._text import aligned
from .._wire import PROFILES
from ..cli import OneLineParser, run_command

if TYPE_CHECKING:
    from ._server import Classroom
    from ._store import Store, Student

DEFAULT_BUDGET = "1 USD"
DEFAULT_PORT = 8443


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `kling-nb classroom`; returns the exit status."""
    parser = _parser()
    try:
        ns = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # --help (0), or a bad argument already said in one line (2)
        return exc.code if isinstance(exc.code, int) else 2
    return run_command(ns, os_error_status=2)


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="kling-nb classroom",
        description="A gateway for a class: one paid key stays with the teacher, each student "
        "gets a token and a budget. The class lives in $KLING_NB_HOME/classroom unless --dir "
        "says otherwise. See docs/classroom.md.",
    )
    parser.add_argument("--lang", choices=["zh", "en"], help="language of messages")
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    add = _with_dir(sub.add_parser("add", help="add students; prints each one's token once"))
    add.add_argument("names", nargs="+", metavar="NAME", help="students' names (one word each)")
    add.add_argument(
        "--budget",
        nargs="+",
        default=[DEFAULT_BUDGET],
        metavar="AMOUNT",
        help=f'each one\'s budget, e.g. 1 USD, "5 CNY" or none (default {DEFAULT_BUDGET}); '
        "after the names",
    )
    add.set_defaults(run=_add)
    ls = _with_dir(sub.add_parser("list", help="students, budgets, spend"))
    ls.set_defaults(run=_list)
    top = _with_dir(sub.add_parser("top-up", help="raise a student's budget"))
    top.add_argument("name", help="the student's name")
    top.add_argument("amount", nargs="+", metavar="AMOUNT", help='e.g. 1 USD or "5 CNY"')
    top.set_defaults(run=_top_up)
    rv = _with_dir(sub.add_parser("revoke", help="revoke a student's token, at once"))
    rv.add_argument("name", help="the student's name")
    rv.set_defaults(run=_revoke)
    rp = _with_dir(sub.add_parser("report", help="spend, jobs and refusals per student"))
    rp.add_argument("--csv", action="store_true", help="CSV on stdout instead of a table")
    rp.set_defaults(run=_report)
    co = _with_dir(sub.add_parser("collect", help="copy every kept result into a folder"))
    co.add_argument(
        "--out", default="classroom_results", help="folder to copy into (./classroom_results)"
    )
    co.set_defaults(run=_collect)
    return parser


def _with_dir(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--dir", help="the class folder (default: $KLING_NB_HOME/classroom)")
    return parser


def _number(kind: type, low: float, high: float = float("inf")) -> Any:
    """An argparse type: a `kind` from `low` to `high`, refused in words otherwise."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} must be from {low:g} to {high:g}")
        return value

    return parse


# (flags, argparse keywords) of `serve`; every one has its help text.
SERVE_OPTIONS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("--host", {"default": "127.0.0.1", "help": "address to bind; 0.0.0.0 for the class network"}),
    (
        "--port",
        {
            "type": _number(int, 0, 65535),
            "default": DEFAULT_PORT,
            "help": f"port ({DEFAULT_PORT}); 0 picks a free one",
        },
    ),
    ("--cert", {"help": "your TLS certificate (PEM); default: the gateway makes its own"}),
    ("--key", {"help": "the private key of --cert (PEM)"}),
    (
        "--plain-http",
        {"action": "store_true", "help": "no TLS: only behind your own TLS reverse proxy"},
    ),
    ("--public-url", {"help": "the address students use when a proxy is in front (https://…)"}),
    (
        "--name",
        {
            "action": "append",
            "default": [],
            "dest": "names",
            "metavar": "NAME",
            "help": "another name or IP for the certificate (repeatable)",
        },
    ),
    ("--price", {"help": 'what one output image costs you, e.g. "0.2 CNY" (qiniu needs it)'}),
    (
        "--profile",
        {
            "choices": PROFILES,
            "help": "the upstream's rules (default: as --upstream; emulator: plain)",
        },
    ),
    (
        "--max-jobs-per-student",
        {
            "type": _number(int, 1, 1000),
            "default": 2,
            "metavar": "N",
            "help": "jobs at once per student (2)",
        },
    ),
    (
        "--max-body-mb",
        {
            "type": _number(float, 0.1, 64),
            "default": 10.0,
            "metavar": "MB",
            "help": "largest request body (10)",
        },
    ),
    (
        "--service-time",
        {
            "type": _number(float, 0, 3600),
            "default": 2.0,
            "metavar": "S",
            "help": "emulator: seconds per one-image 1K job (2)",
        },
    ),
    (
        "--workers",
        {
            "type": _number(int, 1, 256),
            "default": 2,
            "metavar": "N",
            "help": "emulator: jobs run at once (2)",
        },
    ),
    (
        "--upstream-host",
        {
            "help": "another queue host for the upstream, e.g. an emulator "
            "already running (HOST:PORT/queue)"
        },
    ),
    ("--upstream-ca", {"help": "CA bundle to trust for --upstream-host"}),
    (
        "--new-teacher-token",
        {"action": "store_true", "help": "make a new dashboard token (the old one stops working)"},
    ),
)


def _serve_parser(sub: Any) -> None:
    sv = _with_dir(sub.add_parser("serve", help="run the gateway until Ctrl-C"))
    sv.add_argument(
        "--upstream",
        required=True,
        choices=["qiniu", "fal", "emulator"],
        help="the service behind the gateway: qiniu (QINIU_API_KEY), fal (FAL_KEY) or the "
        "offline emulator, to rehearse",
    )
    for flag, keywords in SERVE_OPTIONS:
        sv.add_argument(flag, **keywords)
    sv.set_defaults(run=_serve)


def _amount(words: Sequence[str], variable: str, *, allow_none: bool) -> tuple[Decimal | None, str]:
    """'1 USD', '$0.5', '5 CNY' (or 'none') → (amount, currency); refused in words."""
    text = " ".join(words).strip()
    if allow_none and text.lower() == "none":
        return None, ""
    try:
        price = parse_price(text, variable)
    except KlingConfigError:
        none = message("classroom.amount_none") if allow_none else ""
        raise KlingConfigError(
            message("classroom.bad_amount", variable=variable, value=text, none=none)
        ) from None
    if price.amount <= 0:
        raise KlingConfigError(message("classroom.amount_positive", variable=variable, value=text))
    return price.amount, price.currency


def _store(ns: argparse.Namespace) -> Store:
    from ._server import class_folder
    from ._store import Store

    return Store(class_folder(ns.dir) / "class.sqlite3")


def _money(amount: Decimal | None, currency: str) -> str:
    return "—" if amount is None else f"{amount_text(amount)} {currency}".strip()


def _money_columns(row: Mapping[str, Any]) -> list[str]:
    """A student's name, budget, spent and left, as the list and report tables show them."""
    budget, currency = row["budget"], row["currency"]
    return [
        row["name"],
        message("classroom.no_budget") if budget is None else _money(budget, currency),
        _money(row["spent"], currency),
        _money(row["left"], currency),
    ]


def _add(ns: argparse.Namespace) -> int:
    budget, currency = _amount(ns.budget, "--budget", allow_none=True)
    from ._store import check_name

    names = [check_name(name) for name in ns.names]  # all checked before any is added
    store = _store(ns)
    for name in names:
        token = store.add_student(name, budget, currency)
        print(f"{name}\t{token}", flush=True)
    shown = message("classroom.no_budget") if budget is None else _money(budget, currency)
    print(message("classroom.added", count=len(names), budget=shown), file=sys.stderr)
    return 0


def _list(ns: argparse.Namespace) -> int:
    rows = _store(ns).report()
    if not rows:
        from ._server import class_folder

        print(message("classroom.empty", folder=class_folder(ns.dir)), file=sys.stderr)
        return 0
    table = [
        [
            *_money_columns(r),
            str(r["jobs"]),
            str(r["active"]),
            "✗" if r["revoked"] else "",
        ]
        for r in rows
    ]
    print(_table(message("classroom.list_columns").split("|"), table))
    return 0


def _top_up(ns: argparse.Namespace) -> int:
    amount, currency = _amount(ns.amount, "AMOUNT", allow_none=False)
    assert amount is not None
    student = _store(ns).top_up(ns.name, amount, currency)
    print(_student_line(student))
    return 0


def _student_line(student: Student) -> str:
    budget = (
        message("classroom.no_budget")
        if student.budget is None
        else _money(student.budget, student.currency)
    )
    return message(
        "classroom.student_line",
        name=student.name,
        budget=budget,
        spent=_money(student.spent, student.currency),
        left=_money(student.left, student.currency),
    )


def _revoke(ns: argparse.Namespace) -> int:
    student = _store(ns).revoke(ns.name)
    print(message("classroom.revoked", name=student.name))
    return 0


def _report(ns: argparse.Namespace) -> int:
    store = _store(ns)
    rows = store.report()
    if ns.csv:
        fields = [
            "name",
            "budget",
            "currency",
            "spent",
            "left",
            "jobs",
            "active",
            "completed",
            "unknown",
            "refusals",
            "revoked",
        ]
        writer = csv.writer(sys.stdout)
        writer.writerow(fields)
        for r in rows:
            writer.writerow([_csv_cell(r[f]) for f in fields])
        return 0
    table = [
        [
            *_money_columns(r),
            str(r["jobs"]),
            str(r["completed"]),
            str(r["unknown"]),
            str(r["refusals"]),
            "✗" if r["revoked"] else "",
        ]
        for r in rows
    ]
    print(_table(message("classroom.report_columns").split("|"), table))
    spent: dict[str, Decimal] = {}
    for r in rows:
        spent[r["currency"]] = spent.get(r["currency"], Decimal(0)) + r["spent"]
    total = ", ".join(_money(v, c) for c, v in spent.items() if c) or "0"
    jobs = sum(r["jobs"] for r in rows)
    refusals = sum(r["refusals"] for r in rows)
    print(message("classroom.report_total", spent=total, jobs=jobs, refusals=refusals))
    unknown = [j.id for j in store.jobs(states=("unknown", "lost"))]
    if unknown:
        print(message("classroom.report_unknown", ids=", ".join(unknown)))
    return 0


def _csv_cell(value: object) -> str:
    if isinstance(value, Decimal):
        return amount_text(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


def _collect(ns: argparse.Namespace) -> int:
    from .._files import child_path
    from ._server import class_folder

    out = check_out(ns.out)
    store = _store(ns)
    results = class_folder(ns.dir) / "results"
    names = {s.id: s.name for s in store.students()}
    out.mkdir(parents=True, exist_ok=True)
    files = jobs = 0
    with open(out / "manifest.csv", "w", newline="", encoding="utf-8") as sink:
        writer = csv.writer(sink)
        writer.writerow(
            ["student", "request_id", "state", "submitted", "cost", "currency", "prompt", "file"]
        )
        for job in reversed(store.jobs()):
            student = names.get(job.student_id, "unknown")
            kept = (
                job.result.get("images")
                if job.result_code == 200 and isinstance(job.result, dict)
                else None
            )
            copied = []
            for item in kept or []:
                source = results / job.id / str(item.get("file") or "")
                if item.get("file") and source.is_file():
                    target = child_path(out, student, job.id, str(item["file"]))
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source, target)
                    copied.append(target.relative_to(out).as_posix())
            jobs += bool(copied)
            files += len(copied)
            when = datetime.fromtimestamp(job.submitted_at).isoformat(timespec="seconds")
            cost = "" if job.cost is None else amount_text(job.cost)
            prompt = str(job.request.get("prompt", ""))
            for path in copied or [""]:
                writer.writerow(
                    [student, job.id, job.state, when, cost, job.currency, prompt, path]
                )
    print(message("classroom.collected", files=files, jobs=jobs, out=out))
    return 0


def _serve(ns: argparse.Namespace) -> int:
    import logging

    from ._server import start

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("kling_nb classroom: %(message)s"))
    logger = logging.getLogger("kling_nb.classroom")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    stop: list[int] = []  # the handler only appends: signal-safe
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: stop.append(signum))
    options = {
        name: getattr(ns, name)
        for name in (
            "upstream",
            "host",
            "port",
            "cert",
            "key",
            "plain_http",
            "public_url",
            "price",
            "profile",
            "max_jobs_per_student",
            "max_body_mb",
            "service_time",
            "workers",
            "upstream_host",
            "upstream_ca",
            "new_teacher_token",
        )
    }
    room = start(ns.dir, names=tuple(ns.names), **options)
    with room:
        _announce(room)
        while not stop:
            time.sleep(0.2)
    return 0


def _announce(room: Classroom) -> None:
    """The student lines first (stdout), then what the teacher needs (stderr)."""
    for name, value in room.env().items():
        print(f"{name}={value}", flush=True)
    price = room.price
    if price is None:
        priced = message("classroom.price_none")
    else:
        priced = message(
            "classroom.price_line",
            amount=amount_text(price.amount),
            currency=price.currency,
            source=price.source_words(),
        ) + (message("classroom.emulated_note") if price.emulated else "")
    lines = []
    if room.options.plain_http:
        lines.append(message("classroom.plain_http"))
    lines.append(
        message(
            "classroom.serving",
            students=len(room.store.students()),
            folder=room.folder,
            upstream=room.spec.kind,
            host=room.spec.host,
            profile=room.spec.profile,
            price=priced,
            max_jobs=room.options.max_jobs_per_student,
        )
    )
    if room.ca_bundle:
        lines.append(message("classroom.bundle_line", bundle=room.ca_bundle, url=room.url))
    elif not room.options.plain_http:
        lines.append(message("classroom.own_cert_line"))
    key = "classroom.teacher_new" if room.teacher_token else "classroom.teacher_kept"
    lines.append(message(key, url=room.dashboard_url))
    if room.orphans:
        lines.append(message("classroom.orphans", count=room.orphans))
    for line in lines:
        print(line, file=sys.stderr, flush=True)


def _table(header: list[str], rows: list[list[str]]) -> str:
    """Columns aligned by display width (CJK characters take two cells)."""
    return "\n".join(aligned([header, *rows]))
