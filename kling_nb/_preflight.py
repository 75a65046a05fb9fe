"""What `kling-nb` checks before anything runs: no emulator is started and no journal row is
written until every argument — the output folder, the images, the request, the budget — has
passed; a bad one is refused in one line (exit 2)."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from ._errors import KlingConfigError
from ._i18n import message
from ._wire import NUM_IMAGES_MAX

if TYPE_CHECKING:
    from ._config import Connection
    from ._request import KlingO1Request

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
SAMPLE_PREFIX = "sample:"
NOT_STORAGE = (Path("/proc"), Path("/sys"))


def check_out(out: str, count: int = 1) -> Path:
    """`out` as a results folder (or an image file name in one), refused before paying:
    not writable, under /proc, or an existing file or device where a folder is needed."""
    path = Path(out).expanduser()
    absolute = path.absolute()
    if any(absolute == root or root in absolute.parents for root in NOT_STORAGE):
        _refuse_out(path, message("cli.out_not_storage"))
    names_file = path.suffix.lower() in IMAGE_SUFFIXES and not path.is_dir()
    if path.exists() and not path.is_dir() and not names_file:
        _refuse_out(path, message("cli.out_is", kind=_kind_of(path)))
    if names_file:
        _check_free_files(path, count)
    existing = path.parent if names_file else path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        _refuse_out(path, message("cli.out_blocked", blocker=existing, kind=_kind_of(existing)))
    if not _writable(existing):
        _refuse_out(path, message("cli.out_readonly", folder=existing))
    return path


def _check_free_files(path: Path, count: int) -> None:
    """An image file name: each file `save()` would write must be free (or absent). A job
    returns at most NUM_IMAGES_MAX pictures (a larger `count` is refused by the rules)."""
    count = min(count, NUM_IMAGES_MAX)
    names = [path] + [path.with_name(f"{path.stem}_{i + 1}{path.suffix}") for i in range(1, count)]
    for name in names:
        if name.exists() or name.is_symlink():
            kind = message("cli.out_exists") if name.is_file() else _kind_of(name)
            _refuse_out(name, kind)


def _kind_of(path: Path) -> str:
    """What `path` is, when it is not a folder: for the one-line refusal."""
    import stat

    try:
        mode = path.stat().st_mode
    except OSError:
        return message("cli.kind_broken_link")
    for test, key in (
        (stat.S_ISREG, "cli.kind_file"),
        (stat.S_ISCHR, "cli.kind_device"),
        (stat.S_ISBLK, "cli.kind_device"),
        (stat.S_ISFIFO, "cli.kind_fifo"),
        (stat.S_ISSOCK, "cli.kind_socket"),
    ):
        if test(mode):
            return message(key)
    return message("cli.kind_special")


def _writable(folder: Path) -> bool:
    """True when a file can be created in `folder` (tried: root passes os.access everywhere,
    a read-only mount does not show in permissions)."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def _refuse_out(path: Path, reason: str) -> NoReturn:
    raise KlingConfigError(message("cli.out_not_folder", path=path, reason=reason))


def image_source(text: str) -> str:
    """An input as given, or the path of the bundled sample `sample:NAME` names."""
    if not text.startswith(SAMPLE_PREFIX):
        return text
    from ._samples import find_sample

    return str(find_sample(text[len(SAMPLE_PREFIX) :]))


def planned_connection(backend: str) -> Connection:
    """The connection `connect(backend)` would make, decided without starting an emulator
    or changing the process: for the checks and estimates made before anything runs."""
    from dataclasses import replace

    from . import _config
    from ._price import parse_price

    settings = _config.Settings.from_env()
    choice = _config.backend_named(backend)
    if choice not in _config.BACKENDS:
        raise KlingConfigError(
            message("config.backend_unknown", variable="--backend", value=backend)
        )
    choice = settings.backend if choice == "auto" else choice
    price = parse_price(settings.price, "KLING_NB_PRICE") if settings.price else None
    conn: Connection
    if choice == "auto" and settings.queue_host:
        host = settings.queue_host
        key = settings.fal_key or settings.qiniu_key
        if not key:
            raise KlingConfigError(message("config.key_missing", backend=host, variable="FAL_KEY"))
        kind = "qiniu" if host == _config.QINIU_HOST else "custom"
        profile = settings.profile if kind == "custom" and settings.profile else "qiniu"
        conn = _config.Connection(kind, host, key, profile, settings.ca_bundle)  # type: ignore[arg-type]
    else:
        if choice == "auto":
            choice = "qiniu" if settings.qiniu_key else "fal" if settings.fal_key else "emulator"
        conn = _planned_service(choice, settings)
    _config.check_key(conn.key, _key_variable(conn, settings))
    return replace(conn, home=settings.home, price=price)


def _planned_service(choice: str, settings: Any) -> Connection:
    from . import _config

    if choice == "emulator":
        from .emulator._queue import EmulatorOptions

        profile = settings.profile or EmulatorOptions().profile
        return _config.Connection("emulator", "127.0.0.1:0/queue", _config.EMULATOR_KEY, profile)
    if choice == "qiniu":
        if not settings.qiniu_key:
            raise KlingConfigError(
                message("config.key_missing", backend="Qiniu AIToken", variable="QINIU_API_KEY")
            )
        return _config.Connection("qiniu", _config.QINIU_HOST, settings.qiniu_key, "qiniu")
    if not settings.fal_key:
        raise KlingConfigError(message("config.key_missing", backend="fal.ai", variable="FAL_KEY"))
    return _config.Connection("fal", _config.FAL_HOST, settings.fal_key, "fal")


def _key_variable(conn: Connection, settings: Any) -> str:
    return "QINIU_API_KEY" if conn.key and conn.key == settings.qiniu_key else "FAL_KEY"


def checked_request(ns: argparse.Namespace) -> tuple[KlingO1Request, Connection, dict[str, Any]]:
    """The request of `edit`/`estimate`, the connection it would go to and the body it would
    send: every argument checked (files decoded, rules applied), nothing started or written."""
    from ._request import KlingO1Request

    images = [image_source(text) for text in ns.images]
    if getattr(ns, "out", None) is not None:
        check_out(ns.out, ns.num_images)  # before paying: a result that cannot be saved is lost
    conn = planned_connection(ns.backend)
    region = ns.region if ns.region is not None else ns.region_mask
    request = KlingO1Request(
        ns.prompt,
        images,
        ns.resolution,
        ns.num_images,
        ns.aspect_ratio,
        ns.output_format,
        region=region,
    )
    body, _ = request.prepare(conn.profile)  # every rule, every image, the region: exit 2
    return request, conn, dict(body)


def journal_exists(conn: Connection) -> bool:
    from ._journal import FILE_NAME

    return (conn.home / FILE_NAME).is_file()


def admit_early(
    conn: Connection, request: KlingO1Request, body: dict[str, Any], fresh: bool
) -> None:
    """The budget and replay decision made before an emulator starts: a refusal then costs
    nothing at all. (`edit` decides again when it submits; that decision is the binding one.)"""
    if not journal_exists(conn):
        return  # no journal: no budget set, nothing to replay, and nothing is created here
    from ._admission import admit

    admit(conn, request.endpoint, body, request, fresh=fresh or not conn.replay)
