"""Operator actions (gateway.common.operator_actions) for any app's admin: the permission is
checked and a refusal audited, a reason is required, a service's "no" is shown and audited as
failed with nothing changed, and odd input (a NUL in the reason) never becomes a 500."""

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.messages.storage.fallback import FallbackStorage
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory

from gateway.common.audit import AuditOutcome
from gateway.common.operator_actions import OperatorActionsMixin, operator_action
from gateway.common.problems import DomainError
from gateway.console.models import AuditEvent

pytestmark = pytest.mark.django_db
User = get_user_model()


@operator_action(permission="auth.change_user", description="Deactivate",
                 audit_fields=["is_active"])
def deactivate(modeladmin, request, user, reason):
    if user.username == "protected":
        raise DomainError("This account cannot be deactivated.", slug="protected")
    user.is_active = False
    user.save(update_fields=["is_active"])
    return "deactivated"


class UserActionsAdmin(OperatorActionsMixin, admin.ModelAdmin):
    actions = [deactivate]


def operator(*, allowed: bool):
    user = User.objects.create_user(username=f"operator-{allowed}", password="unused-here-9")
    if allowed:
        user.user_permissions.add(Permission.objects.get(codename="change_user"))
    return User.objects.get(pk=user.pk)  # a fresh permission cache


def run(user, target, **data):
    request = RequestFactory().post("/admin/auth/user/", data, REMOTE_ADDR="198.51.100.4")
    request.user, request.session = user, {}
    request._messages = FallbackStorage(request)
    response = deactivate(UserActionsAdmin(User, admin.site), request,
                          User.objects.filter(pk=target.pk))
    return response, [message.message for message in request._messages]


def test_an_operator_without_the_permission_is_refused_and_the_refusal_audited():
    target = User.objects.create_user(username="kofi")

    with pytest.raises(PermissionDenied):
        run(operator(allowed=False), target, confirm="yes", reason="left")

    assert User.objects.get(pk=target.pk).is_active
    assert list(AuditEvent.objects.values_list("action", "outcome", "detail")) == [
        ("auth.deactivate", AuditOutcome.REFUSED, "missing permission auth.change_user")]


def test_the_action_is_not_offered_to_an_operator_without_the_permission():
    request = RequestFactory().get("/admin/auth/user/")
    model_admin = UserActionsAdmin(User, admin.site)

    request.user = operator(allowed=False)
    assert "deactivate" not in model_admin.get_actions(request)
    request.user = operator(allowed=True)
    assert "deactivate" in model_admin.get_actions(request)


@pytest.mark.parametrize("reason", ["", "   "])
def test_without_a_reason_the_reason_is_asked_again_and_nothing_runs(reason):
    target = User.objects.create_user(username="kofi")

    response, _ = run(operator(allowed=True), target, confirm="yes", reason=reason)

    assert response.status_code == 422
    assert User.objects.get(pk=target.pk).is_active
    assert not AuditEvent.objects.exists()


def test_a_done_action_is_audited_with_the_fields_before_and_after():
    target = User.objects.create_user(username="kofi")

    _, messages = run(operator(allowed=True), target, confirm="yes", reason="left the team")

    assert messages == ["kofi: deactivated."]
    event = AuditEvent.objects.get()
    assert (event.action, event.outcome, event.before, event.after, event.reason) == (
        "auth.deactivate", AuditOutcome.DONE, {"is_active": True}, {"is_active": False},
        "left the team")


def test_a_refusal_of_the_service_is_shown_and_audited_as_failed_and_changes_nothing():
    target = User.objects.create_user(username="protected")

    _, messages = run(operator(allowed=True), target, confirm="yes", reason="left")

    assert messages == ["protected: This account cannot be deactivated."]
    assert User.objects.get(pk=target.pk).is_active
    event = AuditEvent.objects.get()
    assert (event.outcome, event.before, event.after) == (
        AuditOutcome.FAILED, {"is_active": True}, {})


def test_a_nul_in_the_reason_is_kept_visible_and_never_a_server_error():
    target = User.objects.create_user(username="kofi")

    _, messages = run(operator(allowed=True), target, confirm="yes", reason="left\x00team")

    assert messages == ["kofi: deactivated."]
    assert AuditEvent.objects.get().reason == "left\ufffdteam"


@pytest.mark.django_db(transaction=True)  # an admin request owns its transactions
def test_an_action_that_keeps_losing_deadlocks_tells_the_operator_and_changes_nothing(
        monkeypatch):
    """A deadlock victim runs again; when it loses every time the operator reads that nothing
    changed and to run it again (audited as failed), never a server error."""
    from django.db import OperationalError

    from gateway.common import conflicts

    class DeadlockError(Exception):
        sqlstate = "40P01"

    target = User.objects.create_user(username="ama")
    user = operator(allowed=True)
    calls: list[int] = []

    def deadlocked_save(self, *args, **kwargs):  # PostgreSQL aborts the write
        calls.append(1)
        raise OperationalError("deadlock detected") from DeadlockError()

    monkeypatch.setattr(User, "save", deadlocked_save)
    monkeypatch.setattr(conflicts.time, "sleep", lambda seconds: None)

    response, shown = run(user, target, confirm="yes", reason="left")

    assert response is None
    assert len(calls) == conflicts.ATTEMPTS
    assert shown == ["ama: The database was busy with the same records and nothing was "
                     "changed. Run the action again."]
    assert AuditEvent.objects.get().outcome == AuditOutcome.FAILED
    assert User.objects.get(pk=target.pk).is_active
