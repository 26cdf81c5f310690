"""A creation chosen as a deadlock's victim is run again whole; other database errors are not."""

import pytest
from django.db import OperationalError

from gateway.common.conflicts import ATTEMPTS
from gateway.transfers.services import creation


class _SqlStateError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _failing(sqlstates: list[str], calls: list[dict]):
    def run(**arguments):
        calls.append(arguments)
        if sqlstates:
            sqlstate = sqlstates.pop(0)
            raise OperationalError(f"failed with {sqlstate}") from _SqlStateError(sqlstate)
        return "the transfer"
    return run


@pytest.mark.django_db(transaction=True)  # outside any transaction, as the API calls it
@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
def test_a_deadlock_victim_is_created_on_the_next_run(monkeypatch, sqlstate):
    calls: list[dict] = []
    monkeypatch.setattr(creation, "_transfer_create", _failing([sqlstate, sqlstate], calls))
    assert creation.transfer_create(quote_id="q", partner=None) == "the transfer"
    assert len(calls) == 3
    assert all(call == {"quote_id": "q", "partner": None} for call in calls)


@pytest.mark.django_db(transaction=True)
def test_the_retries_are_bounded(monkeypatch):
    calls: list[dict] = []
    monkeypatch.setattr(creation, "_transfer_create", _failing(["40P01"] * 5, calls))
    with pytest.raises(OperationalError):
        creation.transfer_create(quote_id="q")
    assert len(calls) == ATTEMPTS


@pytest.mark.django_db(transaction=True)
def test_another_database_error_is_not_retried(monkeypatch):
    calls: list[dict] = []
    monkeypatch.setattr(creation, "_transfer_create", _failing(["53300"], calls))
    with pytest.raises(OperationalError):
        creation.transfer_create(quote_id="q")
    assert len(calls) == 1


@pytest.mark.django_db
def test_inside_a_callers_transaction_nothing_is_retried(monkeypatch):
    calls: list[dict] = []
    monkeypatch.setattr(creation, "_transfer_create", _failing(["40P01"], calls))
    with pytest.raises(OperationalError):
        creation.transfer_create(quote_id="q")
    assert len(calls) == 1
