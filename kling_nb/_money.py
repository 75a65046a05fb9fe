"""What things cost and what was paid: prices, fingerprints, estimates, the budget.

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
instead of paying again (`_admission`). A remote image URL is passed through unfetched, so
for it the URL string is all the fingerprint has: changed pictures behind the same URL look
the same.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._config import FAL_HOST, Connection, on_loopback
from ._entry import JournalEntry
from ._errors import KlingBudgetError, KlingConfigError, KlingValidationError
from ._i18n import message
from ._journal import Journal, Reader, default_home, journal_for
from ._price import (
    PRICES,
    Cost,
    Price,
    amount_text,
    parse_price,
    total,
)
from ._request import KlingO1Request
from ._text import aligned
from ._wire import ENDPOINT, decode_data_uri

if TYPE_CHECKING:
    from ._images import ImageInput


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


def fingerprint(
    conn: Connection, endpoint: str, body: Mapping[str, Any], region: str | None = None
) -> str:
    """A hash of everything that decides a job's pictures: service, endpoint, the body, and
    for a region edit its plan's fingerprint (`region`: the region and the whole original's
    hash; the body holds only the crop, which other photos may share).

    Each `data:` image counts by the hash of its bytes (so the same picture from another
    path matches, a changed picture at the same path does not). An emulator counts by the
    service it imitates, not by its port, which changes with every kernel.
    """
    service = f"emulator:{conn.profile}" if conn.emulated else f"{conn.backend}:{conn.host}"
    canonical = {"service": service, "endpoint": endpoint, "body": _hashed(body)}
    if region is not None:
        canonical["region"] = region
    text = json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def request_fingerprint(
    conn: Connection,
    endpoint: str,
    body: Mapping[str, Any],
    request: KlingO1Request | None = None,
) -> str:
    """`fingerprint` of a request's body, its region plan included when it has one."""
    region = request.region_key(conn.profile) if request is not None else None
    return fingerprint(conn, endpoint, body, region)


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
    region: str = ""  # a region edit's plan, in words: what is sent, at which size


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
        if not self.batch:
            lines += [item.region for item in self.items if item.region]
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
            prompt += f" · {item.region}" if item.region else ""
            rows.append([str(item.index), str(item.cost.images), str(item.cost), prompt])
        return aligned(rows)


def estimate(
    prompt: str | KlingO1Request | Mapping[str, Any] | Sequence[KlingO1Request | Mapping[str, Any]],
    images: ImageInput | Sequence[ImageInput] | None = None,
    *,
    resolution: str | None = None,
    num_images: int = 1,
    aspect_ratio: str = "auto",
    output_format: str | None = None,
    region: Any = None,
    connection: Connection | None = None,
) -> Estimate:
    """What an `edit` (same arguments) or a batch (a list, as for `run_batch`) would cost;
    with a `region`, also what its plan sends (the crop, its resolution and ratio)."""
    from ._config import current_connection

    conn = connection or current_connection()
    if isinstance(prompt, str):
        sources = images if images is not None else []
        one = KlingO1Request(
            prompt,
            sources,  # type: ignore[arg-type]  # one image or many: __post_init__ takes both
            resolution,
            num_images,
            aspect_ratio,
            output_format,
            region=region,
        )
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
    found = request_fingerprint(conn, item.endpoint, body, item)
    send = item.region_send(conn.profile)
    region = send.plan.describe() if send is not None else ""
    return PlanItem(index, item, cost_of(conn, item), found, region=region)


# --- the budget --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    """A cap on the estimated spend since it was set, what was spent and what is left."""

    amount: Decimal | None
    currency: str = ""
    since: float | None = None
    spent: Decimal = Decimal(0)
    emulated: Decimal = Decimal(0)  # the part of `spent` that no service billed
    # The part of `spent` whose billing the service does not tell (failed jobs, unconfirmed
    # cancels, lost submit answers): counted, the safe side for a budget.
    unsure: Decimal = Decimal(0)

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
        ) + (message("money.budget_unsure", unsure=amount_text(self.unsure)) if self.unsure else "")


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
    if not journal.path.exists():
        return Budget(None)
    return journal.read(_budget_from)


def _budget_from(reader: Reader) -> Budget:
    """The budget as one reader sees it (inside a reservation's transaction, or alone)."""
    row = reader.budget()
    if row is None:
        return Budget(None)
    amount, currency, since = row
    spent = emulated = unsure = Decimal(0)
    for entry in reader.spend_rows(since, currency):
        if not counts_as_spend(entry):
            continue
        value = _decimal(entry.cost)
        spent += value
        if entry.backend == "local" or on_loopback(entry.host):
            emulated += value
        if billing_unsure(entry):
            unsure += value
    return Budget(Decimal(amount), currency, since, spent, emulated, unsure)


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

# Cancel answers after which the job may still have run and been billed (`_engine`).
UNSURE_CANCELS = ("requested", "unsupported", "failed", "too_late", "legacy")


# fal's FAQ: a request that fails with a server error (5xx) is never charged; these are the
# error types fal gives such failures (docs/services.md, "Billing"). A validation error (422)
# may be charged, and any other failure's billing is not published: those count, as unsure.
FAL_SERVER_ERRORS = frozenset(
    {"request_timeout", "runner_disconnected", "internal_server_error", "startup_timeout"}
)


def counts_as_spend(entry: JournalEntry) -> bool:
    """True when a row's cost counts against the budget: everything sent, except replays,
    submits the service refused, cancels the service confirmed, and failures the service
    documents as not billed (fal: server errors)."""
    if entry.replay_of or entry.state == "rejected":
        return False
    if entry.state == "failed" and entry.host == FAL_HOST:
        return entry.error_type not in FAL_SERVER_ERRORS
    return not (entry.state == "cancelled" and entry.cancel == "confirmed")


def billing_unsure(entry: JournalEntry) -> bool:
    """True when whether the service billed the row is not known (and so it counts): a failed
    job, a submit whose answer was lost, a cancel the service did not confirm."""
    if not counts_as_spend(entry):
        return False
    return entry.state in ("failed", "unknown") or entry.cancel in UNSURE_CANCELS


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
    """Estimated spend per local day and currency (replays, refused submits and confirmed
    cancels excluded)."""
    out: dict[date, dict[str, Decimal]] = {}
    for entry in entries:
        cost = row_cost(entry)
        if cost is None or cost.amount is None or not counts_as_spend(entry):
            continue
        day = datetime.fromtimestamp(entry.created_at).date()
        per = out.setdefault(day, {})
        per[cost.currency] = per.get(cost.currency, Decimal(0)) + cost.amount
    return out


# --- reservations: the budget checked and the cost held in one journal transaction -------------


@dataclass(frozen=True)
class Reservation:
    """What a submit about to be sent will cost, and the check its journal row is written
    under (the budget, and whatever else the caller adds): one atomic step."""

    cost: Cost
    fingerprint: str | None
    extra_check: Callable[[Reader], None] | None = None

    def cost_columns(self) -> tuple[str | None, str | None]:
        amount = amount_text(self.cost.amount) if self.cost.amount is not None else None
        return amount, self.cost.currency or None

    def check(self, reader: Reader) -> None:
        """Inside the row's transaction: refuse (KlingBudgetError) what passes the budget."""
        if self.extra_check is not None:
            self.extra_check(reader)
        state = _budget_from(reader)
        if state.amount is None:
            return
        left = state.left or Decimal(0)
        cost = self.cost
        if cost.amount is None or cost.currency != state.currency or cost.amount > left:
            raise _refusal(cost, left, state)


def reservation(
    conn: Connection,
    endpoint: str,
    body: Mapping[str, Any],
    request: KlingO1Request | None = None,
    extra_check: Callable[[Reader], None] | None = None,
) -> Reservation:
    """The reservation of a submit of `body` on `conn` (its cost and fingerprint)."""
    cost = cost_of(conn, request if request is not None else body)
    return Reservation(cost, request_fingerprint(conn, endpoint, body, request), extra_check)


# --- small pieces ------------------------------------------------------------------------------


def _journal(home: str | Path | None) -> Journal:
    return journal_for(home if home is not None else default_home())


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        return Decimal("NaN")
