"""Base model and the money field types shared by every app."""

from decimal import Decimal, InvalidOperation

from django import forms
from django.core.exceptions import ValidationError
from django.db import models


class BaseModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class MoneyField(models.Field):
    """A fiat or decimal asset amount (``Decimal``), never a float.

    18 decimal places cover every asset's exponent; the value is rounded to its currency's
    exponent by ``gateway.common.money.money_round`` before it gets here. PostgreSQL stores
    NUMERIC(40,18). SQLite (the demo) would turn a decimal column into a binary float, so there
    the exact decimal text is stored instead, and sums are done in Python
    (``gateway.ledger.selectors.amount_sum``).
    """

    description = "Exact decimal money amount"
    max_digits = 40
    decimal_places = 18

    def db_type(self, connection):
        if connection.vendor == "postgresql":
            return f"numeric({self.max_digits},{self.decimal_places})"
        return "text"

    def from_db_value(self, value, expression, connection):
        if value is None or isinstance(value, Decimal):
            return value
        return Decimal(str(value))

    def to_python(self, value):
        if value is None or isinstance(value, Decimal):
            return value
        if isinstance(value, float):
            raise ValidationError("Money amounts are never floats.")
        try:
            return Decimal(str(value).strip())
        except InvalidOperation as exc:
            raise ValidationError(f"{value!r} is not a decimal amount.") from exc

    def get_prep_value(self, value):
        return self.to_python(super().get_prep_value(value))

    def get_db_prep_value(self, value, connection, prepared=False):
        if not prepared:
            value = self.get_prep_value(value)
        if value is None or connection.vendor == "postgresql":
            return value
        return str(value)

    def formfield(self, **kwargs):
        return super().formfield(**{"form_class": forms.DecimalField,
                                    "max_digits": self.max_digits,
                                    "decimal_places": self.decimal_places, **kwargs})


class TokenAmountField(models.Field):
    """An on-chain amount in integer base units, up to uint256 (78 digits).

    PostgreSQL stores NUMERIC(78,0). SQLite (the demo) has no exact type that wide, so the value is
    stored as its decimal text there; the model attribute is always a Python ``int``.
    """

    description = "Integer amount in token base units (uint256)"

    def db_type(self, connection):
        if connection.vendor == "postgresql":
            return "numeric(78,0)"
        return "varchar(80)"

    def from_db_value(self, value, expression, connection):
        return None if value is None else int(value)

    def to_python(self, value):
        if value is None or isinstance(value, int):
            return value
        if isinstance(value, float):
            raise TypeError("Token amounts are integers in base units, never floats.")
        return int(Decimal(value))

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None:
            return None
        value = self.to_python(value)
        if value < 0 or value >= 2**256:
            raise ValueError("Token amount out of uint256 range.")
        return value

    def get_db_prep_value(self, value, connection, prepared=False):
        if not prepared:
            value = self.get_prep_value(value)
        if value is None:
            return None
        return Decimal(value) if connection.vendor == "postgresql" else str(value)
