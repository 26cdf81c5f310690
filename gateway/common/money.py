"""Money: Decimal amounts with their currency, rounded in one place.

Fiat amounts use the ISO 4217 exponent of their currency (from Babel's CLDR data: KES 2, UGX 0,
BHD 3). Crypto assets use the display exponent below; on-chain amounts are integers in the token's
base units and are converted here, exactly, at the chain boundary. No float enters or leaves.
"""

import re
from dataclasses import dataclass
from decimal import (
    MAX_EMAX,
    MIN_EMIN,
    ROUND_DOWN,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    InvalidOperation,
)

from babel.numbers import get_currency_precision, list_currencies

# Display exponent of the crypto assets the gateway quotes in. A token's on-chain decimals may
# be larger (USDT on BSC has 18); ledger and API amounts are rounded to this exponent.
CRYPTO_ASSET_EXPONENTS: dict[str, int] = {
    "USDC": 6,
    "USDT": 6,
    "EURC": 6,
    "PYUSD": 6,
    "DAI": 18,
}

_ISO_CURRENCIES = frozenset(list_currencies())


class UnknownCurrencyError(ValueError):
    """The code is neither an ISO 4217 currency nor a configured crypto asset."""


def is_fiat(code: str) -> bool:
    return code in _ISO_CURRENCIES and code not in CRYPTO_ASSET_EXPONENTS


def currency_exponent(code: str) -> int:
    """Number of decimal places of the currency or asset ``code``."""
    if code in CRYPTO_ASSET_EXPONENTS:
        return CRYPTO_ASSET_EXPONENTS[code]
    if code in _ISO_CURRENCIES:
        return int(get_currency_precision(code))
    raise UnknownCurrencyError(f"Unknown currency or asset code {code!r}.")


def money_round(amount: Decimal, currency: str, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    """Round ``amount`` to the exponent of ``currency``. The only rounding helper in the code."""
    if not isinstance(amount, Decimal):
        raise TypeError(f"Money amounts must be Decimal, got {type(amount).__name__}.")
    quantum = Decimal(1).scaleb(-currency_exponent(currency))
    return amount.quantize(quantum, rounding=rounding)


def money_round_down(amount: Decimal, currency: str, *, exponent: int | None = None) -> Decimal:
    """Round towards zero: what a payout may send without paying more than was covered.

    ``exponent`` narrows the currency's own (a rail that pays whole shillings: 0); it can never
    keep more places than the currency has.
    """
    if exponent is None:
        return money_round(amount, currency, rounding=ROUND_DOWN)
    if not 0 <= exponent <= currency_exponent(currency):
        raise ValueError(f"{currency} cannot be paid with {exponent} decimal places.")
    return money_round(amount, currency, rounding=ROUND_DOWN).quantize(
        Decimal(1).scaleb(-exponent), rounding=ROUND_DOWN)


# An amount as the API takes it: ASCII digits, optionally one point and more ASCII digits.
# No sign, exponent, spaces, grouping or other scripts' digits ("1E+3", "\u0661\u0660\u0660",
# full-width digits and " 100" are refused, not converted).
_AMOUNT_TEXT = re.compile(r"[0-9]{1,30}(?:\.[0-9]{1,30})?")
MAX_AMOUNT_ADJUSTED_EXPONENT = 24


def parse_amount(value: str | int | Decimal, currency: str) -> Decimal:
    """Parse a decimal-string amount strictly; refuse floats, NaN, infinities, amounts of 10^25
    and more, and more decimal places than ``currency`` has (trailing zeros included)."""
    if isinstance(value, float):
        raise TypeError("Amounts must be decimal strings, never floats.")
    if isinstance(value, str):
        if not _AMOUNT_TEXT.fullmatch(value):
            raise ValueError(
                f"{value[:50]!r} is not a decimal amount: write ASCII digits with an optional "
                "decimal point, e.g. \"100.50\" (no sign, exponent, spaces or separators)."
            )
        amount = Decimal(value)
    else:
        try:
            amount = Decimal(value)
        except (InvalidOperation, ValueError, TypeError) as exc:
            raise ValueError(f"{value!r} is not a decimal amount.") from exc
    if not amount.is_finite():
        raise ValueError(f"{value!r} is not a finite amount.")
    if amount.adjusted() > MAX_AMOUNT_ADJUSTED_EXPONENT:
        raise ValueError(f"{str(value)[:50]!r} is too large.")
    places = max(0, -int(amount.as_tuple().exponent))
    if places > currency_exponent(currency):
        raise ValueError(
            f"{str(value)[:50]!r} has more decimal places than {currency} allows "
            f"({currency_exponent(currency)})."
        )
    return amount


# Conversions at the chain boundary keep every digit: the default context rounds to 28
# significant digits, fewer than a uint256 amount has (78), so 10^28 + 1 base units of a token
# would silently become 10^28.
_EXACT = Context(prec=100, Emax=MAX_EMAX, Emin=MIN_EMIN)


def to_base_units(amount: Decimal, decimals: int) -> int:
    """Decimal token amount -> integer base units. Refuses amounts finer than one base unit."""
    scaled = amount.scaleb(decimals, context=_EXACT)
    if scaled != scaled.to_integral_value(context=_EXACT):
        raise ValueError(f"{amount} is finer than the token's {decimals} decimals.")
    return int(scaled)


def from_base_units(units: int, decimals: int) -> Decimal:
    """Integer base units -> exact Decimal token amount."""
    if not isinstance(units, int):
        raise TypeError("Base units must be an int.")
    return Decimal(units).scaleb(-decimals, context=_EXACT)


@dataclass(frozen=True, slots=True)
class Money:
    """An amount with its currency or asset code."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise TypeError("Money.amount must be a Decimal.")
        currency_exponent(self.currency)

    def rounded(self, rounding: str = ROUND_HALF_EVEN) -> "Money":
        return Money(money_round(self.amount, self.currency, rounding), self.currency)

    def __str__(self) -> str:
        return f"{self.rounded().amount} {self.currency}"


RATE_DECIMAL_PLACES = 12


def rate_round(rate: Decimal) -> Decimal:
    """Exchange rates are kept to 12 decimal places (rounded down: never promise more)."""
    return rate.quantize(Decimal(1).scaleb(-RATE_DECIMAL_PLACES), rounding=ROUND_DOWN)
