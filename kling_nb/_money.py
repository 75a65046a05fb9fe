"""What things cost and what was paid: prices, estimates, the budget, replays.

The billed unit is one output image: fal publishes a price per output image of
`fal-ai/kling-image/o1`; Qiniu bills per image but its price is taken only from the user
(`KLING_NB_PRICE` or `connect(price=...)`), else it is "unknown" — never a guess shown as
a fact. Neither service publishes whether failed or cancelled jobs are billed: kling_nb
counts their estimated cost as spent (the safe side for a budget) and says so.

The emulator prices as the service its profile imitates (the plain protocol as fal, whose
queue it is), and every such figure says "emulated, not billed". A budget counts emulated
figures too, so that it can be learnt offline; `budget()` shows how much was emulated.

A request's fingerprint (endpoint, service, every parameter and the hash of each input
image's bytes as sent) finds a completed job that made the same pictures, to replay it
instead of paying again. A remote image URL is passed through unfetched, so for it the
URL string is all the fingerprint has: changed pictures behind the same URL look the same.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ._config import FAL_HOST, QINIU_HOST, Connection, on_loopback
from ._errors import KlingBudgetError, KlingConfigError, KlingValidationError
from ._i18n import message
from ._journal import Journal, JournalEntry, default_home, journal_for
from ._price import (
    PRICES,
    Cost,
    Price,
    amount_text,
    parse_price,
    total,
)
from ._request import KlingO1Request
from ._wire import ENDPOINT, decode_data_uri

if TYPE_CHECKING:
    from ._images import ImageInput

# How long a finished job's result URL can still be fetched (PROTOCOL.md): fal keeps
# results about an hour, Qiniu 7 days; any other host gets the shorter, safer figure.
RESULT_LIFETIME = {QINIU_HOST: 7 * 86400.0, FAL_HOST: 3600.0}
DEFAULT_LIFETIME = 3600.0
REPLAY_CANDIDATES = 20  # completed rows of one fingerprint looked at, newest first


def price_for(conn: Connection) -> Price | None:
    """The price one output image costs on `conn`; None when nobody knows it."""
    imitated = conn.profile if conn.emulated else conn.backend
    # The plain protocol is fal's queue as published; fal's is the only published price for
    # it, so an emulator speaking it quotes that figure (marked emulated, never billed).
    price = conn.price or PRICES.get("fal" if imitated == "plain" else imitated)
    if price is not None and conn.emulated:
        price = replace(price, emulated=True)
    return price


def cost_of(conn: Connection, request: KlingO1Request | Mapping[str, Any]) -> Cost:
    """What a checked request (or guide-style arguments) would cost on `conn`."""
    if isinstance(request, KlingO1Request):
        images = int(request.num_images)
    else:  # run_fal_task's arguments: the service's default is one image
        images = int(request.get("num_images", 1))
    price = price_for(conn)
    if price is None:
        return Cost(images, None, "", conn.emulated)
    return price.cost(images)


# --- fingerprints ------------------------------------------------------------------------------


def fingerprint(conn: Connection, endpoint: str, body: Mapping[str, Any]) -> str:
    """A hash of everything that decides a job's pictures: service, endpoint, the body.

    Each `data:` image counts by the hash of its bytes (so the same picture from another
    path matches, a changed picture at the same path does not). An emulator counts by the
    service it imitates, not by its port, which changes with every kernel.
    """
    service = f"emulator:{conn.profile}" if conn.emulated else f"{conn.backend}:{conn.host}"
    canonical = {"service": service, "endpoint": endpoint, "body": _hashed(body)}
    text = json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _hashed(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("data:"):
        try:
            _, data = decode_data_uri(value)
        except ValueError:
            data = value.encode()
        return "sha256:" + hashlib.sha256(data).hexdigest()
    if isinstance(value, Mapping):
        return {str(k): _hashed(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_hashed(v) for v in value]
    return value


# --- estimates ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanItem:
    """One request of an estimate: checked, with its cost and fingerprint, or its error."""

    index: int
    request: KlingO1Request | None
    cost: Cost
    fingerprint: str | None = None
    error: KlingValidationError | None = None


@dataclass(frozen=True)
class Estimate:
    """Validated requests and what they would cost; nothing was sent."""

    items: list[PlanItem]
    price: Price | None
    batch: bool = False

    @property
    def requests(self) -> list[KlingO1Request]:
        """The requests that passed every check, in order."""
        return [item.request for item in self.items if item.request is not None]

    @property
    def total(self) -> Cost:
        return total(item.cost for item in self.items if item.error is None)

    @property
    def images(self) -> int:
        return self.total.images

    def __repr__(self) -> str:
        head = message(
            "money.estimate_head",
            requests=len(self.requests),
            images=self.images,
            total=repr(self.total),
        )
        price = repr(self.price) if self.price is not None else message("money.price_unknown")
        lines = [head, message("money.estimate_price", price=price)]
        return "\n".join(lines + (self._table() if self.batch else []))

    def _table(self) -> list[str]:
        header = message("money.estimate_columns").split("|")
        rows = [header]
        for item in self.items:
            if item.error is not None or item.request is None:
                error = str(item.error).splitlines()[0]
                rows.append([str(item.index), "—", "—", message("money.invalid", error=error)])
                continue
            prompt = item.request.prompt.replace("\n", " ")
            prompt = prompt if len(prompt) <= 40 else prompt[:39] + "…"
            rows.append([str(item.index), str(item.cost.images), str(item.cost), prompt])
        widths = [max(_cells(row[i]) for row in rows) for i in range(3)]
        return [
            "  ".join([*(r[i] + " " * (widths[i] - _cells(r[i])) for i in range(3)), r[3]])
            for r in rows
        ]


def estimate(
    prompt: str | KlingO1Request | Mapping[str, Any] | Sequence[KlingO1Request | Mapping[str, Any]],
    images: ImageInput | Sequence[ImageInput] | None = None,
    *,
    resolution: str = "1K",
    num_images: int = 1,
    aspect_ratio: str = "auto",
    output_format: str | None = None,
    connection: Connection | None = None,
) -> Estimate:
    """What an `edit` (same arguments) or a batch (a list, as for `run_batch`) would cost."""
    from ._config import current_connection

    conn = connection or current_connection()
    if isinstance(prompt, str):
        sources = images if images is not None else []
        one = KlingO1Request(prompt, sources, resolution, num_images, aspect_ratio, output_format)  # type: ignore[arg-type]
        return Estimate([plan_item(conn, one, 0, strict=True)], price_for(conn))
    if isinstance(prompt, (KlingO1Request, Mapping)):
        return Estimate([plan_item(conn, prompt, 0, strict=True)], price_for(conn))
    items = [plan_item(conn, item, i) for i, item in enumerate(prompt)]
    return Estimate(items, price_for(conn), batch=True)


def plan_item(
    conn: Connection,
    item: KlingO1Request | Mapping[str, Any],
    index: int = 0,
    *,
    strict: bool = False,
) -> PlanItem:
    """Check and encode one request (nothing sent); its error is raised when `strict`."""
    try:
        if not isinstance(item, KlingO1Request):
            item = KlingO1Request.from_arguments(item, ENDPOINT)
        body, _ = item.prepare(conn.profile)
    except KlingValidationError as exc:
        if strict:
            raise
        return PlanItem(index, None, Cost(0, Decimal(0)), error=exc)
    return PlanItem(index, item, cost_of(conn, item), fingerprint(conn, item.endpoint, body))


# --- the budget --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    """A cap on the estimated spend since it was set, what was spent and what is left."""

    amount: Decimal | None
    currency: str = ""
    since: float | None = None
    spent: Decimal = Decimal(0)
    emulated: Decimal = Decimal(0)  # the part of `spent` that no service billed

    @property
    def left(self) -> Decimal | None:
        return None if self.amount is None else max(Decimal(0), self.amount - self.spent)

    def __repr__(self) -> str:
        if self.amount is None or self.since is None:
            return message("money.budget_none")
        return message(
            "money.budget",
            amount=amount_text(self.amount),
            currency=self.currency,
            since=datetime.fromtimestamp(self.since).strftime("%Y-%m-%d %H:%M"),
            spent=amount_text(self.spent),
            emulated=amount_text(self.emulated),
            left=amount_text(self.left or Decimal(0)),
        )


def set_budget(
    amount: float | int | str | Decimal | None,
    currency: str | None = None,
    *,
    home: str | Path | None = None,
) -> Budget:
    """Cap the estimated spend from now on in this home's journal; None lifts the cap."""
    journal = _journal(home)
    if amount is None:
        journal.set_budget(None)
        return budget(home=home)
    value, currency = _budget_amount(amount, currency)
    journal.set_budget(amount_text(value), currency, time.time())
    return budget(home=home)


def budget(*, home: str | Path | None = None) -> Budget:
    """The budget of this home: amount, spent since it was set, and what is left."""
    journal = _journal(home)
    row = journal.budget()
    if row is None:
        return Budget(None)
    amount, currency, since = row
    spent = emulated = Decimal(0)
    for cost, backend, host in journal.costs_since(since, currency):
        value = _decimal(cost)
        spent += value
        if backend == "local" or on_loopback(host):
            emulated += value
    return Budget(Decimal(amount), currency, since, spent, emulated)


def check_budget(cost: Cost, *, home: str | Path | None = None) -> None:
    """Raise KlingBudgetError when `cost` would pass what is left of the budget."""
    _, refused = split_by_budget([cost], home=home)
    if refused:
        raise refused[0][1]


def split_by_budget(
    costs: Sequence[Cost], *, home: str | Path | None = None
) -> tuple[list[int], list[tuple[int, KlingBudgetError]]]:
    """Which items of a batch fit what is left (in order), and why each other one is refused.

    An item either fits whole or is refused whole: nothing is half-sent."""
    state = budget(home=home)
    if state.amount is None:
        return list(range(len(costs))), []
    left = state.left or Decimal(0)
    fits: list[int] = []
    refused: list[tuple[int, KlingBudgetError]] = []
    for index, cost in enumerate(costs):
        if cost.amount is not None and cost.currency == state.currency and cost.amount <= left:
            left -= cost.amount
            fits.append(index)
        else:
            refused.append((index, _refusal(cost, left, state)))
    return fits, refused


def _refusal(cost: Cost, left: Decimal, state: Budget) -> KlingBudgetError:
    facts = {
        "cost": str(cost),
        "left": f"{amount_text(left)} {state.currency}",
        "amount": amount_text(state.amount or Decimal(0)),
        "currency": state.currency,
    }
    if cost.amount is None or cost.currency != state.currency:
        return KlingBudgetError(message("money.budget_unknown_cost", **facts), cost=cost, left=left)
    return KlingBudgetError(message("money.over_budget", **facts), cost=cost, left=left)


def _budget_amount(amount: Any, currency: str | None) -> tuple[Decimal, str]:
    if isinstance(amount, str) and currency is None:
        price = parse_price(amount, "set_budget amount")
        return price.amount, price.currency
    value = _decimal(amount) if not isinstance(amount, bool) else None
    if value is None or not value.is_finite() or value < 0:
        raise KlingConfigError(message("money.budget_amount_bad", value=amount))
    if not currency or not re.fullmatch(r"[A-Za-z]{3}", currency.strip()):
        raise KlingConfigError(message("money.budget_currency_bad", value=currency))
    return value, currency.strip().upper()


# --- what each journal row cost ----------------------------------------------------------------


def record_charge(journal: Journal, row_id: int, cost: Cost, fingerprint: str | None) -> None:
    """Write a submitted row's estimated cost and its request's fingerprint."""
    journal.record(
        row_id,
        fingerprint=fingerprint,
        cost=amount_text(cost.amount) if cost.amount is not None else None,
        currency=cost.currency or None,
    )


def row_cost(entry: JournalEntry) -> Cost | None:
    """What a journal row cost (0 for a replay); None when it was not recorded or unknown."""
    emulated = entry.backend == "local" or on_loopback(entry.host)
    images = int((entry.arguments or {}).get("num_images", 1) or 0)
    if entry.replay_of:
        return Cost(images, Decimal(0), entry.currency or "", emulated, replay=True)
    if entry.cost is None:
        return None
    return Cost(images, _decimal(entry.cost), entry.currency or "", emulated)


def day_totals(entries: Iterable[JournalEntry]) -> dict[date, dict[str, Decimal]]:
    """Estimated spend per local day and currency (replays and refused submits excluded)."""
    out: dict[date, dict[str, Decimal]] = {}
    for entry in entries:
        cost = row_cost(entry)
        if cost is None or cost.amount is None or cost.replay or entry.state == "rejected":
            continue
        day = datetime.fromtimestamp(entry.created_at).date()
        per = out.setdefault(day, {})
        per[cost.currency] = per.get(cost.currency, Decimal(0)) + cost.amount
    return out


# --- replays -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Replay:
    """What the journal offers instead of paying again for a request."""

    source: Literal["cache", "url", "expired", "none"]
    entry: JournalEntry | None = None
    files: list[Path] = field(default_factory=list)
    until: float | None = None  # the result URL's expiry, for `url`

    def __bool__(self) -> bool:
        return self.source in ("cache", "url")

    def __repr__(self) -> str:
        request_id = self.entry.request_id if self.entry is not None else ""
        until = datetime.fromtimestamp(self.until).strftime("%Y-%m-%d %H:%M") if self.until else ""
        return message(f"money.replay_{self.source}", request_id=request_id, until=until)


def find_replay(
    fingerprint: str,
    *,
    home: str | Path | None = None,
    now: float | None = None,
    host: str | None = None,
) -> Replay:
    """The most recent completed job of this fingerprint whose pictures can still be had.

    `host` is the queue host in use: an emulator's result URLs live only as long as that
    emulator, so a URL from another loopback host counts as expired."""
    now = time.time() if now is None else now
    entries = _journal(home).completed_with(fingerprint, REPLAY_CANDIDATES)
    for entry in entries:
        files = _cached_files(entry)
        if files:  # `until` set too when its result URLs still work
            return Replay("cache", entry, files, until=_urls_until(entry, now, host))
    for entry in entries:
        until = _urls_until(entry, now, host)
        if until is not None:
            return Replay("url", entry, until=until)
    return Replay("expired", entries[0]) if entries else Replay("none")


def _urls_until(entry: JournalEntry, now: float, host: str | None) -> float | None:
    """Until when this entry's result URLs can still be fetched (None: they cannot)."""
    until = (entry.finished_at or entry.created_at) + RESULT_LIFETIME.get(
        entry.host, DEFAULT_LIFETIME
    )
    gone = on_loopback(entry.host) and host is not None and entry.host != host
    return until if until > now and not gone and _result_urls(entry) else None


class KlingReplayError(KlingBudgetError):
    """An identical request was paid before, but its pictures are gone: paying again
    needs `fresh=True`; nothing was sent."""


@dataclass(frozen=True)
class Admission:
    """What a submit about to be sent costs, its fingerprint, and a replay when one exists."""

    cost: Cost
    fingerprint: str
    replay: Replay


def admit(
    conn: Connection,
    endpoint: str,
    body: Mapping[str, Any],
    request: KlingO1Request | None = None,
    *,
    fresh: bool = False,
) -> Admission:
    """Before a submit: its cost, its fingerprint and, unless `fresh`, a replay to use instead.

    Raises KlingBudgetError when it would have to be paid and passes the budget, and
    KlingReplayError when it was paid before but its pictures are gone (paying again
    needs `fresh=True`).
    """
    (one,) = admit_all(conn, [(endpoint, body, request)], fresh=fresh)
    if isinstance(one, KlingBudgetError):
        raise one
    return one


def admit_all(
    conn: Connection,
    items: Sequence[tuple[str, Mapping[str, Any], KlingO1Request | None]],
    *,
    fresh: bool = False,
) -> list[Admission | KlingBudgetError]:
    """`admit` for a batch of (endpoint, body, request): replays first, then the budget
    split over the rest in order, each item whole or refused (nothing is half-sent)."""
    out: list[Admission | KlingBudgetError] = []
    for endpoint, body, request in items:
        found = fingerprint(conn, endpoint, body)
        replay = Replay("none") if fresh else find_replay(found, home=conn.home, host=conn.host)
        cost = cost_of(conn, request if request is not None else body)
        if replay.source == "expired":
            rid = replay.entry.request_id if replay.entry is not None else ""
            text = message("money.replay_expired_error", request_id=rid)
            out.append(KlingReplayError(text, cost=cost))
        else:
            out.append(Admission(cost, found, replay))
    to_pay = [i for i, a in enumerate(out) if isinstance(a, Admission) and not a.replay]
    costs = [a.cost for i in to_pay if isinstance(a := out[i], Admission)]
    _, refused = split_by_budget(costs, home=conn.home)
    for position, error in refused:
        out[to_pay[position]] = error
    return out


def record_replay(replay: Replay, *, home: str | Path | None = None) -> int:
    """Journal a replay (cost 0, `replay_of` the original request id); the new row's id."""
    assert replay.entry is not None
    return _journal(home).add_replay(replay.entry)


def _cached_files(entry: JournalEntry) -> list[Path]:
    from ._files import EXTENSIONS, cached_image_ok

    types = {ext: kind for kind, ext in EXTENSIONS.items()} | {".jpeg": "image/jpeg"}
    paths = [Path(p) for p in entry.cached]
    if not paths or len(paths) < _result_count(entry):
        return []
    for path in paths:
        if not cached_image_ok(path, types.get(path.suffix.lower(), "")):
            return []
    return paths


def _result_count(entry: JournalEntry) -> int:
    images = (entry.result or {}).get("images")
    return len(images) if isinstance(images, list) else 0


def _result_urls(entry: JournalEntry) -> list[str]:
    images = (entry.result or {}).get("images")
    if not isinstance(images, list) or not images:
        return []
    urls = [im.get("url") for im in images if isinstance(im, Mapping)]
    good = [u for u in urls if isinstance(u, str) and u.startswith(("https://", "http://"))]
    return good if len(good) == len(images) else []


# --- small pieces ------------------------------------------------------------------------------


def _journal(home: str | Path | None) -> Journal:
    return journal_for(home if home is not None else default_home())


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        return Decimal("NaN")


def _cells(text: str) -> int:
    """Terminal cells `text` takes: a Chinese character takes two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
