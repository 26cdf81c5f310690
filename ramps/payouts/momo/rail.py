"""MTN MoMo Disbursement as a ``PayoutRail``."""

from ramps.payouts.mobile_money import MobileMoneyRail
from ramps.payouts.momo.client import MomoClient


class MomoRail(MobileMoneyRail):
    client_class = MomoClient
