"""Which backend kling_nb talks to, with which key: settings and `connect()`.

`Settings` reads the environment through an injectable mapping (tests never touch
`os.environ`). `connect()` turns settings into a `Connection` and points the process at
it: kling_nb's own calls, and also the raw `fal_client` calls of the guide's cells, which
read `FAL_QUEUE_RUN_HOST`, `FAL_KEY` and `SSL_CERT_FILE`.

Backend choice (`auto`): an explicitly set `FAL_QUEUE_RUN_HOST` is honoured as it is;
else Qiniu when `QINIU_API_KEY` is set, fal when `FAL_KEY` is set, else the offline
emulator. `KLING_NB_BACKEND` replaces `auto`; an explicit `connect(backend=...)` wins.
The emulator has one name, "emulator"; "local" (its first name) is accepted as an alias.
"""

from __future__ import annotations

import os
import sys
import threading
import unicodedata
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn

from ._errors import KlingConfigError, KlingLanguageError
from ._i18n import MESSAGES, Language, message
from ._i18n import language_from as _language_from
from ._i18n import set_language as _set_language
from ._secrets import remember_secret
from ._wire import PROFILES, Profile

if TYPE_CHECKING:
    from ._price import Price
    from .classroom._join import Membership
    from .emulator import Emulator

# How local images travel: a mode's name, or a callable `(bytes, content_type) -> https URL`.
Upload = str | Callable[[bytes, str], str]
Backend = Literal["emulator", "qiniu", "fal", "custom"]
BACKENDS = ("auto", "emulator", "qiniu", "fal")
ALIASES = {"local": "emulator"}  # older name of the emulator, still accepted
QINIU_HOST = "api.qnaigc.com/queue"
FAL_HOST = "queue.fal.run"
EMULATOR_KEY = "kling-nb-emulator"  # any non-blank key satisfies the emulator
# Marks, in `_applied`, a FAL_QUEUE_RUN_HOST the user chose: a later connect() keeps it even
# when only the key changed (sending a gateway's key to another host would leak it).
USER_HOST = "user FAL_QUEUE_RUN_HOST"


@dataclass(frozen=True)
class Settings:
    """What the environment asks for; read once, through a mapping."""

    backend: str = "auto"
    qiniu_key: str | None = field(default=None, repr=False)
    fal_key: str | None = field(default=None, repr=False)
    queue_host: str | None = None
    ca_bundle: str | None = None
    home: Path = Path("~/.kling_nb").expanduser().absolute()
    price: str | None = None  # KLING_NB_PRICE, e.g. "0.2 CNY" per output image
    profile: Profile | None = None  # KLING_NB_PROFILE: the rules of a FAL_QUEUE_RUN_HOST gateway
    upload: str | None = None  # KLING_NB_UPLOAD: how local images travel (see `_uploads`)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, ours: Mapping[str, str] | None = None
    ) -> Settings:
        """Settings from `env` (default: `os.environ`); errors name the variable.

        `ours` holds values a previous `connect()` wrote: they are not the user's choice.
        """
        env = os.environ if env is None else env
        ours = ours or {}
        backend = backend_named(env.get("KLING_NB_BACKEND", "auto"))
        if backend not in BACKENDS:
            raise KlingConfigError(
                message("config.backend_unknown", variable="KLING_NB_BACKEND", value=backend)
            )
        language_from(env)  # an unknown KLING_NB_LANG is refused here, by name
        host = env.get("FAL_QUEUE_RUN_HOST", "").strip() or None
        fal_key = env.get("FAL_KEY", "").strip() or None
        if (
            host is not None
            and host == ours.get("FAL_QUEUE_RUN_HOST")
            and host != ours.get(USER_HOST)
        ):
            # Our own pointer from the last connect(), not the user's choice.
            host = None
            if fal_key == ours.get("FAL_KEY"):
                fal_key = None
        return cls(
            backend=backend,
            qiniu_key=env.get("QINIU_API_KEY", "").strip() or None,
            fal_key=fal_key,
            queue_host=host,
            ca_bundle=env.get("SSL_CERT_FILE") or None,
            # Absolute once: a relative home followed by %cd keeps the same journal.
            home=Path(env.get("KLING_NB_HOME") or "~/.kling_nb").expanduser().absolute(),
            price=env.get("KLING_NB_PRICE", "").strip() or None,
            profile=_profile_named(env.get("KLING_NB_PROFILE", ""), "KLING_NB_PROFILE"),
            upload=upload_named(env.get("KLING_NB_UPLOAD", ""), "KLING_NB_UPLOAD"),
        )


@dataclass(frozen=True)
class Connection:
    """A chosen backend: host (as `FAL_QUEUE_RUN_HOST` spells it), key, input profile."""

    backend: Backend
    host: str
    key: str = field(repr=False)
    profile: Profile = "qiniu"
    ca_bundle: str | None = None
    emulator: Emulator | None = field(default=None, repr=False, compare=False)
    home: Path = field(default=Path("~/.kling_nb").expanduser(), repr=False)
    price: Price | None = field(default=None, repr=False)  # the user's, per output image
    replay: bool = True  # an identical completed request is replayed, not paid again
    # How local images travel (`_uploads`): "auto", "data", "fal", or a callable
    # `(bytes, content_type) -> https URL` (a user's own bucket).
    upload: Upload = field(default="auto", compare=False)
    # A classroom gateway's answer (`connect(classroom=…)`): it says whether it is emulated.
    classroom: Membership | None = field(default=None, repr=False, compare=False)

    @property
    def queue_url(self) -> str:
        """The URL prefix fal_client puts before an endpoint id."""
        return f"https://{self.host}/"

    @property
    def emulated(self) -> bool:
        """True when the pictures come from a kling_nb emulator, not from Kling."""
        if self.classroom is not None:  # a gateway on loopback may front the real service
            return self.classroom.emulated
        return self.backend in ("emulator", "local") or on_loopback(self.host)

    @property
    def label(self) -> str:
        """Short name for badges: emulator, Qiniu, fal or the host."""
        if self.emulated:
            return "emulator"
        return {"qiniu": "Qiniu", "fal": "fal"}.get(self.backend, self.host)

    def spoken_label(self) -> str:
        """`label` in the interface language (模拟器 for the emulator in Chinese)."""
        key = f"result.backend_{self.label}"
        return message(key) if key in MESSAGES else self.label

    def describe(self) -> str:
        """The one line `connect()` shows."""
        if self.classroom is not None:
            return self.classroom.describe(self.host)
        if self.emulated:
            started_here = self.backend in ("emulator", "local")
            return message(
                "connect.emulator" if started_here else "connect.emulator_host", host=self.host
            )
        return message(f"connect.{self.backend}", host=self.host)


def on_loopback(host: str) -> bool:
    """True for a queue host on this machine: a kling_nb emulator, in practice."""
    return host.startswith(("127.", "localhost", "[::1]"))


_lock = threading.RLock()
_current: Connection | None = None
_applied: dict[str, str] = {}  # environment values the last connect() wrote
_emulator: Emulator | None = None


def connect(
    backend: str = "auto",
    key: str | None = None,
    *,
    env: MutableMapping[str, str] | None = None,
    quiet: bool = False,
    price: str | Price | None = None,
    replay: bool = True,
    profile: str | None = None,
    upload: Upload | None = None,
    classroom: str | None = None,
    token: str | None = None,
    ca_bundle: str | None = None,
    **emulator_options: Any,
) -> Connection:
    """Choose the backend (auto | emulator | qiniu | fal), say which in one line, and use it.

    `price` (else `KLING_NB_PRICE`), e.g. "0.2 CNY", is what one output image costs you;
    `replay=False` pays for every request, even one already completed; `profile` (else
    `KLING_NB_PROFILE`: plain | qiniu | fal) names the rules of a `FAL_QUEUE_RUN_HOST`
    gateway (default qiniu, the guide's) or the service a local emulator imitates;
    `upload` (else `KLING_NB_UPLOAD`) says how local images travel: "auto" (default: data:
    URIs, and fal's storage on fal for a large request), "data", "fal", or a callable
    `(bytes, content_type) -> https URL`. `classroom=URL, token=…` (and `ca_bundle=`, else
    `SSL_CERT_FILE`) joins a class's gateway (`kling-nb classroom serve`): its rules, price
    and emulated-or-not come from it. Other keywords are the emulator's options
    (`service_time=`, `workers=`, …), refused by name when misspelt."""
    from ._price import parse_price

    _check_emulator_options(emulator_options)
    chosen_upload = _chosen_upload(upload)

    target = os.environ if env is None else env
    settings = Settings.from_env(target, _applied if target is os.environ else None)
    if profile is not None:
        settings = replace(settings, profile=_profile_named(profile, "profile"))
    given = parse_price(price, "price") if price is not None else None
    if given is None and settings.price:
        given = parse_price(settings.price, "KLING_NB_PRICE")
    if classroom is None and (token is not None or ca_bundle is not None):
        raise KlingConfigError(message("classroom.join_url_missing"))
    with _lock:
        if classroom is not None:
            from .classroom._join import join

            conn = replace(join(classroom, token, settings, ca_bundle, given), replay=replay)
        else:
            conn = replace(
                _resolve(backend, key, settings, emulator_options), price=given, replay=replay
            )
        conn = replace(conn, upload=chosen_upload or settings.upload or "auto")
        remember_secret(conn.key)
        check_key(conn.key, _key_variable(conn.key, key, settings))
        _point_process(conn, target, user_host=conn.host == settings.queue_host)
        global _current
        previous, _current = _current, conn
    from ._display import friendly_tracebacks

    friendly_tracebacks(unless_declined=True)  # in IPython: KlingErrors as their message
    if not quiet:
        print(conn.describe())
        if previous is not None and previous.host != conn.host:
            print(message("config.host_changed", old=previous.host, new=conn.host))
    return conn


def current_connection() -> Connection:
    """The connection in use, connecting with `auto` (quietly announced) on first use."""
    with _lock:
        conn = _current
    return conn if conn is not None else connect()


def set_language(lang: str | None) -> None:
    """Choose 'zh' or 'en' for every message from now on; None returns to the environment."""
    try:
        _set_language(lang)
    except ValueError as exc:
        raise KlingLanguageError(*exc.args) from None


def language_from(env: Mapping[str, str]) -> Language:
    """The language `env` asks for; KlingConfigError naming `KLING_NB_LANG` if unknown."""
    try:
        return _language_from(env)
    except ValueError as exc:
        raise KlingLanguageError(*exc.args) from None


def active_connection() -> Connection | None:
    """The connection `connect()` last made, or None: never connects."""
    with _lock:
        return _current


def key_for_host(host: str, settings: Settings | None = None) -> tuple[str | None, str]:
    """The key this process holds for `host` and the variable it comes from.

    A key goes only to the host it was issued for: Qiniu's key to Qiniu, fal's to fal,
    either to the host `FAL_QUEUE_RUN_HOST` names; an emulator accepts any non-blank key.
    """
    settings = Settings.from_env() if settings is None else settings
    if host == QINIU_HOST:
        return settings.qiniu_key or settings.fal_key, "QINIU_API_KEY"
    if host == FAL_HOST:
        return settings.fal_key, "FAL_KEY"
    if host == settings.queue_host or on_loopback(host):
        key = settings.fal_key or settings.qiniu_key
        if on_loopback(host):
            key = key or EMULATOR_KEY
        return key, "FAL_KEY"
    return None, "FAL_KEY"


def check_key(key: str | None, variable: str) -> str | None:
    """`key` unchanged, or KlingConfigError naming its first character that no key has."""
    if key is None:
        return None
    for position, char in enumerate(key, 1):
        if not ("!" <= char <= "~") or char in "\"'`":
            code = f"U+{ord(char):04X}"
            name = unicodedata.name(char, "") or ("SPACE" if char == " " else "control character")
            raise KlingConfigError(
                message(
                    "config.key_bad_char",
                    variable=variable,
                    position=position,
                    char=f"{code} {name}",
                )
            )
    return key


def _key_variable(chosen: str, key: str | None, settings: Settings) -> str:
    if key is not None:
        return "key"
    return "QINIU_API_KEY" if chosen == settings.qiniu_key else "FAL_KEY"


def backend_named(value: str) -> str:
    """A backend name as written (any case, "local" for the emulator) in its one spelling."""
    name = str(value).strip().lower() or "auto"
    return ALIASES.get(name, name)


def _resolve(
    backend: str, key: str | None, settings: Settings, emulator_options: dict[str, Any]
) -> Connection:
    choice = backend_named(backend)
    if choice not in BACKENDS:
        raise KlingConfigError(message("config.backend_unknown", variable="backend", value=backend))
    if choice == "auto":
        choice = settings.backend
    home = settings.home
    if choice == "auto" and settings.queue_host:
        host = settings.queue_host
        chosen = key or settings.fal_key or settings.qiniu_key
        if not chosen:
            _missing_key("FAL_KEY", host)
        kind: Backend = "qiniu" if host == QINIU_HOST else "custom"
        rules = settings.profile if kind == "custom" and settings.profile else _profile(kind)
        return Connection(kind, host, chosen, rules, settings.ca_bundle, home=home)
    if choice == "auto":
        choice = "qiniu" if settings.qiniu_key else "fal" if settings.fal_key else "emulator"
    if choice == "emulator":
        if settings.profile and "profile" not in emulator_options:
            emulator_options = {**emulator_options, "profile": settings.profile}
        emu = _local_emulator(emulator_options)
        return Connection(
            "emulator", emu.host, EMULATOR_KEY, emu.options.profile, emu.ca_bundle, emu, home
        )
    if choice == "qiniu":
        chosen = key or settings.qiniu_key
        if not chosen:
            _missing_key("QINIU_API_KEY", "Qiniu AIToken")
        return Connection("qiniu", QINIU_HOST, chosen, "qiniu", home=home)
    chosen = key or settings.fal_key
    if not chosen:
        _missing_key("FAL_KEY", "fal.ai")
    return Connection("fal", FAL_HOST, chosen, "fal", home=home)


UPLOADS = ("auto", "data", "fal")


def _choice(value: object, variable: str, known: Sequence[str], key: str) -> str | None:
    """One of `known` by name ("" → None); anything else is refused in words (message `key`)."""
    name = value.strip().lower() if isinstance(value, str) else None
    if name == "":
        return None
    if name not in known:
        raise KlingConfigError(message(key, variable=variable, value=value, known=", ".join(known)))
    return name


def upload_named(value: str, variable: str) -> str | None:
    """An upload mode by name ("" → None); anything else is refused in words."""
    return _choice(value, variable, UPLOADS, "config.upload_unknown")


def _chosen_upload(upload: Upload | None) -> Upload | None:
    if upload is None or callable(upload):
        return upload
    return upload_named(upload, "upload")  # a non-string is refused by name there


def _check_emulator_options(options: Mapping[str, Any]) -> None:
    """Refuse, by name, a keyword that is no emulator option (a misspelt `profile`, say)."""
    if not options:
        return
    import difflib
    from dataclasses import fields as dataclass_fields

    from .emulator import EmulatorOptions

    known = sorted(f.name for f in dataclass_fields(EmulatorOptions))
    for name in options:
        if name not in known:
            close = difflib.get_close_matches(
                name, [*known, "profile", "price", "replay", "upload"]
            )
            raise KlingConfigError(
                message(
                    "config.option_unknown",
                    name=name,
                    hint=message("config.option_close", close=close[0]) if close else "",
                )
            )


def _profile_named(value: str, variable: str) -> Profile | None:
    """A service profile by name ("" → None); anything else is refused in words."""
    return _choice(value, variable, PROFILES, "config.profile_unknown")  # type: ignore[return-value]


def _profile(kind: Backend) -> Profile:
    return "fal" if kind == "fal" else "qiniu"


def _missing_key(variable: str, backend: str) -> NoReturn:
    raise KlingConfigError(message("config.key_missing", backend=backend, variable=variable))


def _local_emulator(options: dict[str, Any]) -> Emulator:
    """One emulator per process, restarted only when asked for other options."""
    from . import emulator as emulator_pkg

    global _emulator
    if "result_urls" not in options and "google.colab" in sys.modules:
        options["result_urls"] = "data"  # Colab's browser cannot reach the kernel's loopback
    if _emulator is not None and options and not _emulator.matches(**options):
        _emulator.stop()
        _emulator = None
    if _emulator is None:
        _emulator = emulator_pkg.start(**options)
    return _emulator


def _point_process(
    conn: Connection, env: MutableMapping[str, str], *, user_host: bool = False
) -> None:
    """Point the guide's raw fal_client calls at `conn`, or refuse clearly."""
    values = {"FAL_QUEUE_RUN_HOST": conn.host, "FAL_KEY": conn.key}
    if conn.ca_bundle:
        values["SSL_CERT_FILE"] = conn.ca_bundle
    elif env is os.environ and env.get("SSL_CERT_FILE") == _applied.get("SSL_CERT_FILE"):
        env.pop("SSL_CERT_FILE", None)  # ours, from an emulator we no longer use
    env.update(values)
    if env is os.environ:
        _applied.clear()
        _applied.update(values)
        if user_host:
            _applied[USER_HOST] = conn.host
    from ._transport import point_fal_client

    point_fal_client(conn)
