"""Prices: what one output image costs, where the figure comes from, and sums of costs.

Below `_config` (which parses a user's price) and `_money` (estimates, budget, replay):
it imports only the messages and the error tree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal

from ._errors import KlingConfigError
from ._i18n import MESSAGES, message

FAL_PRICE_SOURCE = "price.source_fal"  # a message key: the source in the user's language
USER_PRICE_SOURCE = "price.source_user"
_SYMBOLS = {"$": "USD", "¥": "CNY", "￥": "CNY"}
_PRICE_TEXT = re.compile(r"^\s*([$¥￥])?\s*(\d+(?:\.\d+)?)\s*([A-Za-z]{3})?\s*$")


@dataclass(frozen=True)
class Price:
    """What one output image costs, in a currency, and where that figure comes from."""

    amount: Decimal
    currency: str
    source: str
    as_of: str = ""
    emulated: bool = False

    def __repr__(self) -> str:
        text = message(
            "money.price",
            amount=amount_text(self.amount),
            currency=self.currency,
            source=self.source_words(),
            as_of=message("money.as_of", date=self.as_of) if self.as_of else "",
        )
        return text + (
            message("money.also", note=message("money.emulated")) if self.emulated else ""
        )

    def source_words(self) -> str:
        """Where the figure comes from, in the user's language."""
        return message(self.source) if self.source in MESSAGES else self.source

    def cost(self, images: int) -> Cost:
        """The cost of `images` output images at this price."""
        return Cost(images, self.amount * images, self.currency, self.emulated)


# The published prices kling_nb knows, per service. Qiniu publishes none we could cite.
PRICES: dict[str, Price] = {
    "fal": Price(Decimal("0.028"), "USD", FAL_PRICE_SOURCE, "2026-11-30"),
}


@dataclass(frozen=True)
class Cost:
    """The cost of some output images; `amount` is None when the price is unknown."""

    images: int
    amount: Decimal | None
    currency: str = ""
    emulated: bool = False
    replay: bool = False

    @property
    def known(self) -> bool:
        return self.amount is not None

    def __add__(self, other: Cost) -> Cost:
        if not self.images and self.amount == 0:
            return replace(other, replay=False)
        if not other.images and other.amount == 0:
            return self
        same = self.currency == other.currency
        known = same and self.amount is not None and other.amount is not None
        return Cost(
            self.images + other.images,
            self.amount + other.amount if known else None,  # type: ignore[operator]
            self.currency if same else "",
            self.emulated or other.emulated,
        )

    def __str__(self) -> str:
        if self.amount is None:
            return message("money.cost_unknown", images=self.images)
        return f"{amount_text(self.amount)} {self.currency}"

    def line(self) -> str:
        """The cost as a progress line shows it, e.g. "0.028 USD (emulated, not billed)"."""
        notes = message("money.notes", notes=message("money.emulated")) if self.emulated else ""
        return str(self) + notes

    def __repr__(self) -> str:
        text = str(self)
        if self.amount is not None:
            text = message("money.cost", cost=text, images=self.images)
        notes = [message("money.replay_note")] if self.replay else []
        notes += [message("money.emulated")] if self.emulated else []
        return text + (
            message("money.notes", notes=message("money.and").join(notes)) if notes else ""
        )


NOTHING = Cost(0, Decimal(0))


def total(costs: Iterable[Cost]) -> Cost:
    """The sum of `costs` (unknown when any is unknown, or currencies differ)."""
    out = NOTHING
    for cost in costs:
        out = out + cost
    return out


def parse_price(value: str | Price, variable: str = "price") -> Price:
    """A user's price per output image, e.g. "0.2 CNY", "$0.028", "0.028USD"."""
    if isinstance(value, Price):
        return value
    found = _PRICE_TEXT.match(value) if isinstance(value, str) else None
    currency = ""
    if found is not None:
        symbol, code = _SYMBOLS.get(found[1] or ""), (found[3] or "").upper()
        currency = code or symbol or ""
        if symbol and code and symbol != code:
            currency = ""
    if found is None or not currency:
        raise KlingConfigError(message("money.price_bad", variable=variable, value=value))
    return Price(Decimal(found[2]), currency, USER_PRICE_SOURCE)


def amount_text(value: Decimal) -> str:
    """A Decimal as plain text: 0.084, 5, 0 (never 8.4E-2)."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"
