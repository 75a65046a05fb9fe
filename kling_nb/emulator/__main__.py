"""`python -m kling_nb.emulator` (or `kling-nb emulator`): print three shell lines, then serve
until SIGINT/SIGTERM.

The lines are `FAL_QUEUE_RUN_HOST=…`, `SSL_CERT_FILE=…` and `KLING_NB_PROFILE=…`: with them a
client in another shell reaches this emulator and judges requests by the same service's
rules. The default profile is `qiniu`, the service of the guide the project mirrors (the
in-process `start()` keeps `plain`, the protocol as PROTOCOL.md writes it).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence

from .._i18n import LANGUAGES, set_language
from .._wire import PROFILES, Profile
from ._failure import DETAIL_SHAPES
from ._options import CANCEL_MODES, FAULT_KINDS, EmulatorOptions

CLI_PROFILE: Profile = "qiniu"  # the guide's service
PROG = "python -m kling_nb.emulator"

# (flag, type, metavar, help); each flag maps to the `EmulatorOptions` field of that name.
FLAGS: tuple[tuple[str, type, str | None, str], ...] = (
    ("--host", str, None, "address to bind"),
    ("--port", int, None, "HTTPS port of the queue; 0 picks a free one"),
    ("--files-port", int, None, "plain-HTTP port of the result files; 0 picks a free one"),
    ("--service-time", float, "S", "seconds for a one-image 1K job (scales with pixels)"),
    ("--workers", int, "N", "jobs run at the same time"),
    ("--fault-rate", float, "F", "fraction of status/result answers made 429/502/503/drop"),
    ("--fail-rate", float, "F", "fraction of jobs that fail (422, 503 or 504 result)"),
    ("--submit-drop-rate", float, "F", "fraction of submits whose answer is lost"),
    ("--seed", int, "N", "seed of every injected fault and of the pictures"),
    ("--service-jitter", float, "F", "vary each job's duration by up to ±F of it (seeded)"),
    ("--keepalive-interval", float, "S", "seconds between SSE keep-alive comments"),
    ("--max-body-mb", float, "MB", "413 to a request body above this size"),
    ("--data-results-max-mb", float, "MB", "with --result-urls data: evict oldest above this"),
    ("--uploads-max-mb", float, "MB", "files uploaded to the emulated fal storage kept in memory"),
)
# (flag, field, help): gateway quirks any profile can combine.
SWITCHES: tuple[tuple[str, str, str], ...] = (
    ("--no-status-stream", "status_stream", "answer 404 to the SSE status stream"),
    ("--stream-refused", "stream_refused", 'answer 400 {"detail":"SSE streaming not supported"}'),
    ("--no-status-logs", "status_logs", "status answers never carry logs"),
    ("--failed-status", "failed_status", "a failed job's status is FAILED, not COMPLETED"),
    ("--block-urllib", "block_urllib", "403 'error code: 1010' to urllib's user agent"),
    ("--no-fal-storage", "fal_storage", "do not serve fal's storage upload API (404)"),
)


def parse_args(argv: Sequence[str] | None = None, prog: str = PROG) -> argparse.Namespace:
    """The CLI flags, defaults taken from `EmulatorOptions` (the profile: `CLI_PROFILE`)."""
    defaults = EmulatorOptions()
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Local fal-queue emulator for fal-ai/kling-image/o1 (offline, free). "
        "Prints FAL_QUEUE_RUN_HOST=, SSL_CERT_FILE= and KLING_NB_PROFILE= for a client "
        "in another shell, then serves until Ctrl-C.",
    )
    for flag, kind, metavar, text in FLAGS:
        default = getattr(defaults, flag[2:].replace("-", "_"))
        parser.add_argument(
            flag, type=kind, default=default, metavar=metavar, help=f"{text} ({default})"
        )
    parser.add_argument(
        "--fault-kinds",
        type=lambda text: tuple(k.strip() for k in text.split(",") if k.strip()),
        default=defaults.fault_kinds,
        metavar="K,K",
        help=f"which faults --fault-rate injects ({','.join(FAULT_KINDS)})",
    )
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        default=CLI_PROFILE,
        help="answer as the plain protocol, Qiniu or fal document it (docs/services.md; "
        f"default {CLI_PROFILE}, the guide's service)",
    )
    parser.add_argument(
        "--cancel",
        choices=CANCEL_MODES,
        default=None,
        help="how cancel answers: stops (queued and running), queued-only (fal), "
        "unsupported (Qiniu); default: as the profile",
    )
    parser.add_argument(
        "--detail-shape",
        choices=DETAIL_SHAPES,
        default=defaults.detail_shape,
        help="qiniu profile: a failure's `detail` as string, object, or mixed (seeded)",
    )
    parser.add_argument(
        "--lang",
        choices=LANGUAGES,
        default=None,
        help="language of the emulator's log lines (default: KLING_NB_LANG, else the locale; "
        "a request's Accept-Language wins)",
    )
    parser.add_argument(
        "--result-ttl",
        type=float,
        default=None,
        metavar="S",
        help="forget results S seconds after completion (fal profile: 3600)",
    )
    for flag, name, text in SWITCHES:
        on = getattr(defaults, name)
        parser.add_argument(
            flag, dest=name, action="store_false" if on else "store_true", help=text
        )
    parser.add_argument(
        "--result-urls", choices=("http", "https", "data"), default=defaults.result_urls
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    """Start, print the three shell lines, serve until a signal; `prog` names the command."""
    from ._server import start

    args = parse_args(argv, prog)
    lang = args.__dict__.pop("lang")
    if lang is not None:
        set_language(lang)
    stop: list[int] = []  # the handler only appends: no lock, no Event.set(), signal-safe
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: stop.append(signum))
    try:
        emulator = start(**vars(args))
    except (ValueError, OSError, RuntimeError) as exc:
        print(f"kling_nb emulator: {exc}", file=sys.stderr)
        return 2
    with emulator:
        print(f"FAL_QUEUE_RUN_HOST={emulator.host}", flush=True)
        print(f"SSL_CERT_FILE={emulator.ca_bundle}", flush=True)
        print(f"KLING_NB_PROFILE={emulator.options.profile}", flush=True)
        print(
            f"kling_nb emulator: queue {emulator.url}/queue, files {emulator.files_url}, "
            f"stats {emulator.url}/_emulator/stats; profile {emulator.options.profile}. "
            "Set FAL_KEY to anything. Ctrl-C stops.",
            file=sys.stderr,
            flush=True,
        )
        while not stop:
            time.sleep(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
