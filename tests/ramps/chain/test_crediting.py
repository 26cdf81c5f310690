"""deposit_mark_credited: only final deposits, at most once, inside the caller's transaction."""

import pytest
from django.db import transaction

from ramps.chain.crediting import deposit_mark_credited
from ramps.chain.errors import DepositAlreadyCreditedError, DepositNotConfirmedError
from ramps.chain.models import Deposit
from tests.ramps.chain.factories import make_chain, make_deposit, make_token


@pytest.mark.django_db
def test_confirmed_deposit_is_marked_credited():
    deposit = make_deposit(token=make_token(chain=make_chain()))

    with transaction.atomic():
        deposit_mark_credited(deposit=deposit)

    assert deposit.credited_at is not None
    stored = Deposit.objects.get(pk=deposit.pk)
    assert stored.credited_at == deposit.credited_at
    assert stored.status == Deposit.Status.CONFIRMED


@pytest.mark.django_db
def test_second_credit_is_refused_and_keeps_the_first_time():
    deposit = make_deposit(token=make_token(chain=make_chain()))
    with transaction.atomic():
        deposit_mark_credited(deposit=deposit)
    first = Deposit.objects.get(pk=deposit.pk).credited_at

    stale = Deposit.objects.get(pk=deposit.pk)
    stale.credited_at = None  # a caller holding an old copy must still be refused
    with pytest.raises(DepositAlreadyCreditedError), transaction.atomic():
        deposit_mark_credited(deposit=stale)

    assert Deposit.objects.get(pk=deposit.pk).credited_at == first


@pytest.mark.django_db
@pytest.mark.parametrize("status", [Deposit.Status.SEEN, Deposit.Status.REORGED])
def test_deposit_that_is_not_final_is_refused(status):
    deposit = make_deposit(token=make_token(chain=make_chain()), status=status)

    with pytest.raises(DepositNotConfirmedError) as raised, transaction.atomic():
        deposit_mark_credited(deposit=deposit)

    assert raised.value.status == 409
    assert raised.value.extra == {"deposit_status": status}
    assert Deposit.objects.get(pk=deposit.pk).credited_at is None


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_is_a_programming_error():
    deposit = make_deposit(token=make_token(chain=make_chain()))

    with pytest.raises(RuntimeError, match="inside the crediting transaction"):
        deposit_mark_credited(deposit=deposit)

    assert Deposit.objects.get(pk=deposit.pk).credited_at is None
