"""Monitoring rules at, just below and just above their thresholds, over sliding windows."""

import threading
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection

from compliance.kyc.models import Customer, KycTier, KycTierCorridorLimit
from compliance.monitoring.models import MonitoredTransfer, MonitoringEvaluation, MonitoringRule
from compliance.monitoring.services import (
    MonitoringSubject,
    monitoring_evaluate,
    monitoring_rule_save,
)
from gateway.common.problems import DomainError
from tests.gateway.partners.factories import make_partner

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def partner():
    return make_partner()[0]


def subject(partner, *, at=NOON, usd="100", sender="s-1", recipient="r-1", **overrides):
    values = {"transfer_reference": str(uuid.uuid4()), "partner_id": partner.pk,
              "corridor_code": "usdc-kes", "amount": Decimal(usd), "currency": "USDC",
              "amount_usd": Decimal(usd), "sender_reference": sender,
              "recipient_reference": recipient, "created_at": at}
    return MonitoringSubject(**{**values, **overrides})


def rule(kind, score=60, corridor_codes=(), **params):
    return monitoring_rule_save(code=f"{kind}-rule", kind=kind, params=params, score=score,
                                corridor_codes=list(corridor_codes))


@pytest.mark.parametrize(("usd", "fires"), [("999.99", False), ("1000.00", True),
                                            ("1000.01", True)])
def test_threshold(partner, usd, fires):
    rule("threshold", amount_usd="1000")
    result = monitoring_evaluate(subject=subject(partner, usd=usd))
    assert result.score == (60 if fires else 0)
    assert result.outcome == ("review" if fires else "approve")
    assert result.rule_versions == {"threshold-rule": 1}
    if fires:
        assert result.reasons == [{"rule": "threshold-rule", "version": 1, "kind": "threshold",
                                   "score": 60, "amount_usd": usd, "threshold_usd": "1000"}]


@pytest.mark.parametrize(("earlier", "fires"), [(2, False), (3, True), (4, True)])
def test_velocity_count_window_spans_midnight(partner, earlier, fires):
    """Max 3 per 24 h: the earlier transfers are the evening before, the last after midnight."""
    rule("velocity_count", dimension="sender", window_hours=24, max_count=3)
    evening = datetime(2026, 3, 9, 22, 0, tzinfo=UTC)
    for index in range(earlier):
        monitoring_evaluate(subject=subject(partner, at=evening + timedelta(minutes=index)))
    result = monitoring_evaluate(subject=subject(partner, at=datetime(2026, 3, 10, 1, 30,
                                                                      tzinfo=UTC)))
    assert result.score == (60 if fires else 0)
    if fires:
        assert result.reasons[0]["count"] == earlier + 1


def test_velocity_window_edges(partner):
    """The window is (t - 24 h, t]: a transfer exactly 24 h earlier no longer counts."""
    rule("velocity_count", dimension="device", window_hours=24, max_count=1)
    monitoring_evaluate(subject=subject(partner, at=NOON - timedelta(hours=24), device_id="d"))
    assert monitoring_evaluate(subject=subject(partner, device_id="d")).score == 0
    assert monitoring_evaluate(subject=subject(
        partner, at=NOON + timedelta(hours=23, minutes=59), device_id="d")).score == 60
    # Other devices and no device do not count.
    assert monitoring_evaluate(subject=subject(partner, device_id="other")).score == 0


@pytest.mark.parametrize(("last", "fires"), [("199.99", False), ("200.00", False),
                                             ("200.01", True)])
def test_velocity_sum_per_recipient(partner, last, fires):
    rule("velocity_sum", dimension="recipient", window_hours=48, max_sum_usd="500")
    monitoring_evaluate(subject=subject(partner, usd="300", sender="a",
                                        at=NOON - timedelta(hours=47)))
    result = monitoring_evaluate(subject=subject(partner, usd=last, sender="b"))
    assert result.score == (60 if fires else 0)


def test_velocity_per_paying_address_seen_at_deposit(partner):
    rule("velocity_count", dimension="paying_address", window_hours=24, max_count=1)
    first = subject(partner, stage="deposit_confirmed", paying_address="0xABCDEF")
    assert monitoring_evaluate(subject=first).score == 0
    second = subject(partner, sender="s-2", stage="deposit_confirmed",
                     paying_address="0xabcdef", at=NOON + timedelta(hours=1))
    assert monitoring_evaluate(subject=second).score == 60


@pytest.mark.parametrize(("amounts", "fires"), [
    (["9500", "9600"], False),           # two near the threshold: not yet
    (["9500", "9600", "9999.99"], True),  # three across three days
    (["9500", "9600", "10000"], False),   # the third reaches the threshold itself
    (["9500", "9600", "9499.99"], False),  # the third is below the band
])
def test_structuring_across_days(partner, amounts, fires):
    rule("structuring", threshold_usd="10000", margin_usd="500", window_days=7, min_count=3)
    for day, usd in enumerate(amounts[:-1]):
        monitoring_evaluate(subject=subject(partner, usd=usd,
                                            at=NOON - timedelta(days=len(amounts) - 1 - day)))
    result = monitoring_evaluate(subject=subject(partner, usd=amounts[-1]))
    assert result.score == (60 if fires else 0)


def test_structuring_outside_window(partner):
    rule("structuring", threshold_usd="10000", margin_usd="500", window_days=7, min_count=2)
    monitoring_evaluate(subject=subject(partner, usd="9600", at=NOON - timedelta(days=7)))
    assert monitoring_evaluate(subject=subject(partner, usd="9600")).score == 0
    monitoring_evaluate(subject=subject(partner, usd="9600",
                                        at=NOON - timedelta(days=6, hours=23)))
    assert monitoring_evaluate(subject=subject(partner, usd="9700",
                                               at=NOON + timedelta(seconds=1))).score == 60


@pytest.mark.parametrize(("usd", "fires"), [("1000", True), ("999", False), ("1000.50", False),
                                            ("500", False)])
def test_round_amount(partner, usd, fires):
    rule("round_amount", multiple="100", min_amount_usd="1000")
    assert monitoring_evaluate(subject=subject(partner, usd=usd)).score == (60 if fires else 0)


def test_new_recipient(partner):
    rule("new_recipient", min_amount_usd="50")
    assert monitoring_evaluate(subject=subject(partner, usd="49.99")).score == 0
    # The one before was below the minimum but still makes the recipient known.
    assert monitoring_evaluate(subject=subject(partner, usd="50",
                                               at=NOON + timedelta(days=1))).score == 0
    assert monitoring_evaluate(subject=subject(partner, usd="50", recipient="r-2")).score == 60


@pytest.mark.parametrize(("senders", "fires"), [(2, False), (3, False), (4, True)])
def test_many_senders_to_one_recipient(partner, senders, fires):
    rule("many_senders", window_hours=72, max_senders=3)
    for index in range(senders - 1):
        monitoring_evaluate(subject=subject(partner, sender=f"s-{index}",
                                            at=NOON - timedelta(days=2, hours=index)))
    # The same sender twice counts once.
    monitoring_evaluate(subject=subject(partner, sender="s-0", at=NOON - timedelta(hours=1)))
    result = monitoring_evaluate(subject=subject(partner, sender="last"))
    assert result.score == (60 if fires else 0)


def test_corridor_risk_and_rules_enabled_per_corridor(partner):
    rule("corridor_risk", score=30, corridor_codes=["usdc-ngn"])
    assert monitoring_evaluate(subject=subject(partner)).score == 0
    assert monitoring_evaluate(subject=subject(partner, corridor_code="usdc-ngn")).score == 30
    with pytest.raises(DomainError, match="names the corridors"):
        rule("corridor_risk", score=30)


def test_tier_limits(partner):
    rule("tier_limit", score=100)
    tier = KycTier.objects.create(code="basic", name="Basic", level=1,
                                  limit_per_transfer_usd=Decimal("500"),
                                  limit_per_day_usd=Decimal("800"),
                                  limit_per_30_days_usd=Decimal("2000"))
    KycTierCorridorLimit.objects.create(tier=tier, corridor_code="usdc-ngn",
                                        limit_per_transfer_usd=Decimal("100"))
    customer = Customer.objects.create(partner=partner, external_id="x", role="sender",
                                       kind="natural_person", tier=tier, status="accepted")
    sender = str(customer.public_id)
    assert monitoring_evaluate(subject=subject(partner, usd="500", sender=sender)).score == 0
    result = monitoring_evaluate(subject=subject(partner, usd="300.01", sender=sender,
                                                 at=NOON + timedelta(hours=23)))
    assert [reason["limit"] for reason in result.reasons] == ["per_day"]
    assert result.outcome == "reject"
    result = monitoring_evaluate(subject=subject(partner, usd="500.01", sender=sender,
                                                 at=NOON + timedelta(days=2)))
    assert [reason["limit"] for reason in result.reasons] == ["per_transfer"]
    assert monitoring_evaluate(subject=subject(partner, usd="100.01", sender=sender,
                                               corridor_code="usdc-ngn",
                                               at=NOON + timedelta(days=5))).score == 100
    # 500 + 300.01 + 500.01 + 100.01 + 600 > 2000 within 30 days; the first is then 29 days old.
    result = monitoring_evaluate(subject=subject(partner, usd="600", sender=sender,
                                                 at=NOON + timedelta(days=29)))
    assert [r["limit"] for r in result.reasons] == ["per_transfer", "per_30_days"]
    assert monitoring_evaluate(subject=subject(partner, usd="10", sender="unknown")).reasons[0][
        "detail"] == "sender is not a registered customer"


def test_scores_add_up_and_evaluation_is_idempotent_per_stage(partner):
    rule("threshold", score=40, amount_usd="1000")
    rule("round_amount", score=40, multiple="1000", min_amount_usd="1")
    first = subject(partner, usd="2000")
    result = monitoring_evaluate(subject=first)
    assert (result.score, result.outcome) == (80, "review")
    assert monitoring_evaluate(subject=first) == result
    # A new rule version does not change the stored evaluation; the next stage uses it.
    monitoring_rule_save(code="threshold-rule", kind="threshold", params={"amount_usd": "1000"},
                         score=60, corridor_codes=[])
    assert monitoring_evaluate(subject=first).score == 80
    later = monitoring_evaluate(subject=MonitoringSubject(**{
        **first.__dict__, "stage": "deposit_confirmed", "paying_address": "0xAB"}))
    assert (later.score, later.outcome) == (100, "reject")
    assert later.rule_versions == {"threshold-rule": 2, "round_amount-rule": 1}
    assert MonitoredTransfer.objects.get().paying_address == "0xab"
    assert MonitoringEvaluation.objects.count() == 2
    assert list(MonitoringRule.objects.filter(code="threshold-rule").values_list(
        "version", "is_current")) == [(2, True), (1, False)]


def test_disabled_rule_and_invalid_params(partner):
    monitoring_rule_save(code="t", kind="threshold", params={"amount_usd": "1"}, score=60,
                         corridor_codes=[], is_enabled=False)
    assert monitoring_evaluate(subject=subject(partner)).rule_versions == {}
    for params, message in [({}, "amount_usd is required"),
                            ({"amount_usd": "abc"}, "must be a decimal"),
                            ({"amount_usd": "1", "x": 1}, "Unknown parameters")]:
        with pytest.raises(DomainError, match=message):
            monitoring_rule_save(code="t", kind="threshold", params=params, score=1,
                                 corridor_codes=[])
    assert MonitoringRule.objects.filter(code="t").count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_transfers_of_one_sender_see_each_other():
    partner = make_partner()[0]
    rule("velocity_count", dimension="sender", window_hours=24, max_count=1)
    results, barrier = [], threading.Barrier(2)

    def evaluate():
        try:
            barrier.wait()
            results.append(monitoring_evaluate(subject=subject(partner)).score)
        finally:
            connection.close()

    threads = [threading.Thread(target=evaluate) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0, 60]
