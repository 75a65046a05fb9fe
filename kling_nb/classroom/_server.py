"""A running classroom gateway: the class folder, the upstream, TLS, uvicorn on a thread.

The runner reuses the emulator's (`kling_nb.emulator._server`: socket binding, the uvicorn
server, `_tls`: the CA and bundle). The class folder is locked while a gateway serves it,
so two gateways never follow the same jobs. Its certificate lives in the folder and is
reused on restart, so the bundle students were given stays valid.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._config import EMULATOR_KEY, FAL_HOST, QINIU_HOST, check_key
from .._errors import KlingConfigError
from .._i18n import message
from .._price import PRICES, Price, parse_price
from .._secrets import remember_secret, scrub
from .._wire import PROFILES, Profile
from ..emulator._server import bind_socket, url_host, uvicorn_server
from ..emulator._tls import SERVER_NAMES, make_tls_files
from ._app import Policy, create_app
from ._collector import SWEEP_INTERVAL, Collector
from ._dashboard import dashboard_routes
from ._limits import GUESSES, GuessLimiter
from ._store import Store
from ._upstream import Upstream, UpstreamSpec

if TYPE_CHECKING:
    import uvicorn

    from ..emulator import Emulator

log = logging.getLogger("kling_nb.classroom")

UPSTREAMS = ("qiniu", "fal", "emulator")
KEY_VARIABLES = {"qiniu": "QINIU_API_KEY", "fal": "FAL_KEY"}
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
USER_PRICE_SOURCE = "price.source_teacher"  # a message key


def class_folder(folder: str | Path | None, env: Mapping[str, str] | None = None) -> Path:
    """The class folder: `folder`, else `$KLING_NB_HOME/classroom` (default ~/.kling_nb)."""
    env = os.environ if env is None else env
    if folder is not None:
        return Path(folder).expanduser().absolute()
    home = Path(env.get("KLING_NB_HOME") or "~/.kling_nb").expanduser().absolute()
    return home / "classroom"


@dataclass(frozen=True)
class Options:
    """How `start()` serves a class (the CLI's `serve` flags, same names)."""

    upstream: str = "emulator"
    host: str = "127.0.0.1"
    port: int = 0
    cert: str | None = None
    key: str | None = None
    plain_http: bool = False
    public_url: str | None = None
    names: tuple[str, ...] = ()
    price: str | None = None
    profile: str | None = None
    max_jobs_per_student: int = 2
    max_body_mb: float = 10.0
    service_time: float = 2.0
    workers: int = 2
    upstream_host: str | None = None
    upstream_ca: str | None = None
    sweep_interval: float = SWEEP_INTERVAL
    guess_limit: int = GUESSES
    new_teacher_token: bool = False


class Classroom:
    """A serving gateway; `with start() as room:` stops it (threads, ports, lock) on exit."""

    def __init__(
        self,
        folder: Path,
        options: Options,
        env: Mapping[str, str],
        spec: UpstreamSpec | None = None,
    ):
        self.folder = folder
        self.options = options
        self._lock_file = _lock(folder)
        self._stopped = False
        self.emulator: Emulator | None = None
        try:
            self._prepare(env, spec)
        except BaseException:
            self._release()
            raise

    def _prepare(self, env: Mapping[str, str], spec: UpstreamSpec | None) -> None:
        options = self.options
        if options.public_url and not options.public_url.lower().startswith("https://"):
            raise KlingConfigError(message("classroom.public_url", url=options.public_url))
        self.store = Store(self.folder / "class.sqlite3")
        self.spec = spec or self._upstream_spec(env)
        self.price = _price(self.spec, options.price)
        _check_budgets(self.store, self.price)
        self.orphans = self.store.orphans()
        try:
            self._sock = bind_socket(options.host, options.port)
        except OSError as exc:
            raise KlingConfigError(
                message("classroom.port_busy", host=options.host, port=options.port, error=exc)
            ) from None
        self.port = self._sock.getsockname()[1]
        self.scheme = "http" if options.plain_http else "https"
        name = _public_name(options.host)
        self.url = f"{self.scheme}://{name}:{self.port}"
        public = options.public_url.rstrip("/") if options.public_url else self.url
        self.host = public.split("://", 1)[-1] + "/queue"  # as FAL_QUEUE_RUN_HOST spells it
        self.ca_bundle, ssl_files = self._tls(name)
        self.teacher_token = (
            self.store.new_teacher_token()
            if options.new_teacher_token or not self.store.has_teacher_token()
            else None
        )
        self.limiter = GuessLimiter(limit=options.guess_limit)
        self._server: uvicorn.Server | None = None
        self._ssl_files = ssl_files
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._serve, name="kling-nb-classroom", daemon=True)

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "serving"
        return f"<Classroom {state} host={self.host!r} upstream={self.spec.kind!r}>"

    def __enter__(self) -> Classroom:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def dashboard_url(self) -> str:
        """The teacher's page; `#t=` carries a token just printed (a fragment is never sent)."""
        base = (self.options.public_url or self.url).rstrip("/")
        return f"{base}/_classroom/" + (f"#t={self.teacher_token}" if self.teacher_token else "")

    @property
    def profile(self) -> Profile:
        return self.spec.profile

    def env(self, token: str | None = None) -> dict[str, str]:
        """The variables a student's process needs (FAL_KEY when `token` is given)."""
        out = {"FAL_QUEUE_RUN_HOST": self.host}
        if self.ca_bundle:
            out["SSL_CERT_FILE"] = self.ca_bundle
        out["KLING_NB_PROFILE"] = self.spec.profile
        if token:
            out["FAL_KEY"] = token
        return out

    def _upstream_spec(self, env: Mapping[str, str]) -> UpstreamSpec:
        """The upstream named by the options, its key read from `env` (never printed)."""
        kind, options = self.options.upstream, self.options
        if kind not in UPSTREAMS:
            raise KlingConfigError(
                message("classroom.upstream_unknown", value=kind, known=", ".join(UPSTREAMS))
            )
        profile = _profile(options.profile, kind)
        if kind == "emulator" and options.upstream_host is None:
            from .. import emulator

            self.emulator = emulator.start(
                profile=profile, service_time=options.service_time, workers=options.workers
            )
            return UpstreamSpec(
                "emulator", self.emulator.host, EMULATOR_KEY, profile, self.emulator.ca_bundle
            )
        host = options.upstream_host or {"qiniu": QINIU_HOST, "fal": FAL_HOST}.get(kind, "")
        variable = KEY_VARIABLES.get(kind, "FAL_KEY")
        key = (env.get(variable) or "").strip()
        if kind == "emulator":
            key = key or EMULATOR_KEY
        if not key:
            raise KlingConfigError(message("classroom.key_missing", variable=variable, kind=kind))
        if key != EMULATOR_KEY:
            remember_secret(key)
        check_key(key, variable)
        ca = options.upstream_ca or env.get("SSL_CERT_FILE") or None
        return UpstreamSpec(kind, host, key, profile, ca)  # type: ignore[arg-type]

    def _tls(self, name: str) -> tuple[str | None, tuple[Path, Path] | None]:
        """(the bundle students are given, the server's cert and key), or None for plain HTTP."""
        options = self.options
        if options.plain_http:
            return None, None
        if options.cert or options.key:
            if not (options.cert and options.key):
                raise KlingConfigError(message("classroom.cert_pair"))
            files = (Path(options.cert).expanduser(), Path(options.key).expanduser())
            for path in files:
                if not path.is_file() or not os.access(path, os.R_OK):
                    raise KlingConfigError(message("classroom.cert_missing", path=path))
            return None, files
        names = _cert_names(options.host, name, options.names)
        folder = self.folder / "tls"
        recorded = folder / "names.json"
        try:
            same = json.loads(recorded.read_text()) == names
        except (OSError, ValueError):
            same = False
        if not same or not (folder / "bundle.pem").is_file():
            if folder.exists():
                shutil.rmtree(folder)
                log.warning("%s", message("classroom.tls_renewed", names=", ".join(names)))
            make_tls_files(folder, names)
            recorded.write_text(json.dumps(names))
        return str(folder / "bundle.pem"), (folder / "server.pem", folder / "server.key")

    # --- running -----------------------------------------------------------------------------

    def _launch(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while self._server is None or not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(message("classroom.did_not_start"))
            time.sleep(0.01)

    def _serve(self) -> None:
        loop = _new_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._run())
        finally:
            loop.close()
            self._sock.close()

    async def _run(self) -> None:
        self.upstream = Upstream(self.spec)
        self.collector = Collector(
            self.store, self.upstream, self.folder / "results", interval=self.options.sweep_interval
        )
        policy = Policy(
            max_jobs=self.options.max_jobs_per_student,
            body_cap=int(self.options.max_body_mb * 2**20),
            price=self.price,
            public_url=self.options.public_url,
        )
        bundle = Path(self.ca_bundle) if self.ca_bundle else None
        extra = dashboard_routes(self.store, self.limiter, self.upstream.spec, policy, bundle)
        app = create_app(
            self.store, self.upstream, self.collector, self.limiter, policy, extra_routes=extra
        )
        self._server = uvicorn_server(app, ssl_files=self._ssl_files)
        if _installed("httptools"):  # the `classroom` extra: a faster HTTP parser than h11
            self._server.config.http = "httptools"
        sweep = asyncio.create_task(self.collector.sweep_forever())
        try:
            await self._server.serve([self._sock])
        finally:
            sweep.cancel()
            await asyncio.gather(sweep, return_exceptions=True)
            self.collector.close()
            await self.upstream.aclose()

    def stop(self) -> None:
        """Stop serving, join the thread, stop an in-process emulator, free the class folder."""
        if self._stopped:
            return
        self._stopped = True
        if self._thread.is_alive() and self._loop is not None:
            try:
                asyncio.run_coroutine_threadsafe(self._abort(), self._loop).result(STOP_TIMEOUT)
            except Exception:  # noqa: BLE001 - the loop ended on its own; join below
                pass
        if self._thread.is_alive():
            self._thread.join(STOP_TIMEOUT)
        else:
            self._sock.close()
        self._release()

    async def _abort(self) -> None:
        """Stop now: open status streams and keep-alive connections would hold a graceful stop."""
        server = self._server
        if server is None:
            return
        server.should_exit = True
        for connection in list(server.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()

    def _release(self) -> None:
        if self.emulator is not None:
            self.emulator.stop()
        store = getattr(self, "store", None)
        if store is not None:
            store.close()
        self._lock_file.close()  # closing the file drops its lock


def start(
    folder: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    upstream_spec: UpstreamSpec | None = None,
    **options: Any,
) -> Classroom:
    """Serve a class from `folder` (default `$KLING_NB_HOME/classroom`); returns when ready.

    `options` are `Options` fields (the CLI's `serve` flags); `upstream_spec` replaces the
    named upstream (tests point the gateway at a queue of their own)."""
    _scrub_logs()
    env = os.environ if env is None else env
    chosen = Options(**options)
    if upstream_spec is not None:
        chosen = replace(chosen, upstream=upstream_spec.kind)
    room = Classroom(class_folder(folder, env), chosen, env, upstream_spec)
    room._launch()
    return room


def _profile(value: str | None, kind: str) -> Profile:
    if value is None:
        return {"qiniu": "qiniu", "fal": "fal"}.get(kind, "plain")  # type: ignore[return-value]
    name = value.strip().lower()
    if name not in PROFILES:
        raise KlingConfigError(
            message(
                "config.profile_unknown",
                variable="--profile",
                value=value,
                known=", ".join(PROFILES),
            )
        )
    return name


def _price(spec: UpstreamSpec, given: str | None) -> Price | None:
    """The price per output image: the teacher's, else the published one (emulated: marked)."""
    price: Price | None
    if given is not None:
        price = replace(parse_price(given, "--price"), source=USER_PRICE_SOURCE)
    else:
        service = spec.profile if spec.emulated else spec.kind
        price = PRICES.get("fal" if service == "plain" else service)
    if price is not None and spec.emulated:
        price = replace(price, emulated=True)
    return price


def _check_budgets(store: Store, price: Price | None) -> None:
    """Refuse to serve budgets that cannot be kept: no price, or another currency."""
    capped = [s for s in store.students() if s.budget is not None and not s.revoked]
    if capped and price is None:
        names = ", ".join(s.name for s in capped[:5])
        raise KlingConfigError(message("classroom.price_needed", count=len(capped), names=names))
    other = [s for s in capped if price is not None and s.currency != price.currency]
    if other and price is not None:
        names = ", ".join(f"{s.name} ({s.currency})" for s in other[:5])
        raise KlingConfigError(
            message(
                "classroom.currency_start", names=names, currency=price.currency, count=len(other)
            )
        )


def _public_name(host: str) -> str:
    """The address students use: a wildcard bind is reached at this machine's LAN address."""
    if host in ("0.0.0.0", "", "::"):
        lan = _lan_addresses()
        return lan[0] if lan else "127.0.0.1"
    return url_host(host)


def _cert_names(host: str, name: str, extra: Sequence[str]) -> list[str]:
    """Every name the certificate must hold: loopback, the bind address or LAN, extras."""
    names = list(SERVER_NAMES)
    wanted: list[str] = [name.strip("[]"), *extra]
    if host in ("0.0.0.0", "", "::"):
        wanted += [socket.gethostname(), *_lan_addresses()]
    for item in wanted:
        if item and item not in names:
            names.append(item)
    return names


def _lan_addresses() -> list[str]:
    """This machine's LAN IPv4 address (a UDP socket is pointed, nothing is sent)."""
    found: list[str] = []
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.254.254.254", 1))
            found.append(probe.getsockname()[0])
    except OSError:
        pass
    return [a for a in found if not a.startswith("127.")]


def _lock(folder: Path) -> Any:
    """An exclusive lock on `folder/gateway.lock` held while serving; refused if taken."""
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / "gateway.lock", "a+")  # noqa: SIM115 - held until stop()
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise KlingConfigError(message("classroom.folder_busy", folder=folder)) from None
    return handle


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop where it is installed (the `classroom` extra), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class _ScrubFilter(logging.Filter):
    """Masks every remembered secret in a record (message, arguments and traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


# Loggers that can hold upstream text: ours, uvicorn's, and httpx/httpcore's (at DEBUG,
# httpcore logs every response's headers, where an upstream could echo the key).
LOGGERS = (
    "kling_nb.classroom",
    "uvicorn",
    "uvicorn.error",
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
)


def _scrub_logs() -> None:
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _ScrubFilter) for f in logger.filters):
            logger.addFilter(_ScrubFilter())
