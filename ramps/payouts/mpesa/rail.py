"""M-Pesa Daraja B2C as a ``PayoutRail``."""

from ramps.payouts.mobile_money import MobileMoneyRail
from ramps.payouts.mpesa.client import DarajaClient


class MpesaRail(MobileMoneyRail):
    client_class = DarajaClient
