"""Base model and the money field types shared by every app."""

from decimal import Decimal

from django.db import models


class BaseModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class MoneyField(models.DecimalField):
    """A fiat or decimal asset amount. 18 decimal places covers every asset's exponent; the
    value is rounded to its currency's exponent by ``gateway.common.money.money_round`` before
    it gets here."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", 40)
        kwargs.setdefault("decimal_places", 18)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if kwargs.get("max_digits") == 40:
            del kwargs["max_digits"]
        if kwargs.get("decimal_places") == 18:
            del kwargs["decimal_places"]
        return name, path, args, kwargs


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
