"""Admin sign-in: password, then a second factor (TOTP or a recovery code); enrolment with a
QR code; lockout after repeated failures; every attempt in the audit log."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from gateway.console.models import AuditEvent
from tests.gateway.console.factories import OPERATOR_PASSWORD, make_operator

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_otp_throttle(settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_STATIC_THROTTLE_FACTOR = 0


def code_of(device: TOTPDevice) -> str:
    device.refresh_from_db()
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


def sign_in_password(client, username: str, password: str = OPERATOR_PASSWORD):
    return client.post("/admin/login/?next=/admin/transfers/transfer/",
                       {"username": username, "password": password,
                        "next": "/admin/transfers/transfer/"}, REMOTE_ADDR="203.0.113.7")


def actions(username: str) -> list[tuple[str, str]]:
    return list(AuditEvent.objects.filter(actor_username=username).order_by("id")
                .values_list("action", "outcome"))


def test_password_alone_does_not_open_the_admin(client):
    make_operator("amina", roles=["support"])
    response = sign_in_password(client, "amina")
    assert response.status_code == 302
    assert response["Location"] == "/admin/two-factor/?next=/admin/transfers/transfer/"
    # every admin page sends the half-signed-in account back to the second factor
    listing = client.get("/admin/transfers/transfer/")
    assert listing.status_code == 302
    assert client.get(listing["Location"])["Location"].startswith("/admin/two-factor/")
    assert client.get("/admin/console/dashboard.json").status_code == 302


def test_totp_code_opens_the_admin_and_both_steps_are_audited(client):
    account = make_operator("amina", roles=["support"])
    sign_in_password(client, "amina")
    page = client.get("/admin/two-factor/")
    assert page.status_code == 200
    assert 'name="token"' in page.content.decode()
    response = client.post("/admin/two-factor/", {"token": code_of(account.totp_device),
                                                  "next": "/admin/transfers/transfer/"},
                           REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 302
    assert response["Location"] == "/admin/transfers/transfer/"
    assert client.get("/admin/transfers/transfer/").status_code == 200
    assert actions("amina") == [("sign_in.password", "done"), ("sign_in.verified", "done")]
    verified = AuditEvent.objects.get(actor_username="amina", action="sign_in.verified")
    assert verified.ip_address == "203.0.113.7"
    assert verified.actor_id == account.user.pk
    assert verified.detail == "second factor: authenticator"


def test_wrong_code_is_refused_and_audited(client):
    account = make_operator("amina", roles=["support"])
    sign_in_password(client, "amina")
    wrong = "000000" if code_of(account.totp_device) != "000000" else "111111"
    response = client.post("/admin/two-factor/", {"token": wrong}, REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 401
    assert "That code is not valid" in response.content.decode()
    assert client.get("/admin/transfers/transfer/").status_code == 302
    failed = AuditEvent.objects.get(action="sign_in.second_factor_failed")
    assert (failed.actor_username, failed.outcome, failed.ip_address) == (
        "amina", "refused", "203.0.113.7")


def test_a_recovery_code_works_once(client):
    account = make_operator("amina", roles=["support"])
    code = account.recovery_codes[3]
    sign_in_password(client, "amina")
    assert client.post("/admin/two-factor/", {"token": code.upper()}).status_code == 302
    assert client.get("/admin/").status_code == 200
    assert StaticToken.objects.filter(device__user=account.user).count() == 9
    client.post("/admin/logout/")
    sign_in_password(client, "amina")
    again = client.post("/admin/two-factor/", {"token": code})
    assert again.status_code == 401
    assert client.get("/admin/").status_code == 302


def test_enrolment_with_qr_code_then_recovery_codes(client):
    user = get_user_model().objects.create_user("noor", password=OPERATOR_PASSWORD,
                                                is_staff=True)
    response = sign_in_password(client, "noor")
    assert response["Location"].startswith("/admin/two-factor/enrol/")
    page = client.get("/admin/two-factor/enrol/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "<svg" in html
    assert "<path" in html
    device = TOTPDevice.objects.get(user=user)
    assert not device.confirmed
    assert client.get("/admin/").status_code == 302  # not before the device is confirmed
    refused = client.post("/admin/two-factor/enrol/", {"token": "12345"})
    assert refused.status_code == 401
    done = client.post("/admin/two-factor/enrol/", {"token": code_of(device)})
    assert done.status_code == 200
    codes = done.context["codes"]
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert all(code in done.content.decode() for code in codes)
    device.refresh_from_db()
    assert device.confirmed
    assert TOTPDevice.objects.filter(user=user).count() == 1
    assert client.get("/admin/").status_code == 200
    # an enrolled account cannot be re-enrolled from a half-signed-in session
    client.post("/admin/logout/")
    sign_in_password(client, "noor")
    assert client.get("/admin/two-factor/enrol/")["Location"] == "/admin/two-factor/"
    assert AuditEvent.objects.filter(actor_username="noor", action="sign_in.enrolled").count() == 1


def test_repeated_wrong_passwords_lock_the_account(client, settings):
    make_operator("amina", roles=["support"])
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = sign_in_password(client, "amina", "not-the-password")
        assert response.status_code in (200, 429)
    locked = sign_in_password(client, "amina")  # even the right password now
    assert locked.status_code == 429
    assert client.get("/admin/").status_code == 302
    assert AuditEvent.objects.filter(action="sign_in.failed", actor_username="amina",
                                     outcome="refused").count() >= settings.AXES_FAILURE_LIMIT
    assert AuditEvent.objects.filter(action="sign_in.locked_out").exists()
    assert not AuditEvent.objects.filter(action="sign_in.verified").exists()


def test_repeated_wrong_codes_lock_the_account_and_sign_it_out(client, settings):
    account = make_operator("amina", roles=["support"])
    sign_in_password(client, "amina")
    statuses = [client.post("/admin/two-factor/", {"token": "999999x"}).status_code
                for _ in range(settings.AXES_FAILURE_LIMIT)]
    assert statuses[:-1] == [401] * (settings.AXES_FAILURE_LIMIT - 1)
    assert statuses[-1] == 429
    # signed out: the right code no longer helps, and the password is refused while locked
    assert client.post("/admin/two-factor/",
                       {"token": code_of(account.totp_device)}).status_code == 302
    assert client.get("/admin/").status_code == 302
    assert sign_in_password(client, "amina").status_code == 429


def test_non_staff_accounts_never_reach_the_admin(client):
    get_user_model().objects.create_user("agent-clerk", password=OPERATOR_PASSWORD)
    response = sign_in_password(client, "agent-clerk")
    assert response.status_code == 200  # the login form again, with its error
    assert client.get("/admin/two-factor/")["Location"] == "/admin/login/"


def test_operator_create_command_prints_the_authenticator_and_codes(monkeypatch, capsys):
    monkeypatch.setenv("OPERATOR_PASSWORD", OPERATOR_PASSWORD)
    call_command("operator_create", "kofi", "--role", "treasury", "--role", "support")
    out = capsys.readouterr().out
    user = get_user_model().objects.get(username="kofi")
    assert user.is_staff
    assert not user.is_superuser
    assert sorted(user.groups.values_list("name", flat=True)) == ["support", "treasury"]
    assert "otpauth://totp/" in out
    assert len([line for line in out.splitlines() if line.startswith("  ")
                and "-" in line and "otpauth" not in line]) == 10
    assert TOTPDevice.objects.get(user=user).confirmed


@pytest.mark.parametrize(("arguments", "password", "message"), [
    (["kofi", "--role", "support"], "short", "too short"),
    (["kofi"], OPERATOR_PASSWORD, "at least one role"),
    (["", "--role", "support"], OPERATOR_PASSWORD, "username is required"),
])
def test_operator_create_refuses_bad_input_and_creates_nothing(monkeypatch, arguments, password,
                                                               message):
    monkeypatch.setenv("OPERATOR_PASSWORD", password)
    with pytest.raises(CommandError, match=message):
        call_command("operator_create", *arguments)
    assert not get_user_model().objects.exists()
    assert not TOTPDevice.objects.exists()


def test_operator_create_refuses_a_taken_username(monkeypatch):
    make_operator("kofi", roles=["support"])
    monkeypatch.setenv("OPERATOR_PASSWORD", OPERATOR_PASSWORD)
    with pytest.raises(CommandError, match="taken"):
        call_command("operator_create", "kofi", "--role", "admin")
    assert get_user_model().objects.get(username="kofi").groups.get().name == "support"


def test_the_audit_log_is_append_only_down_to_the_database():
    event = AuditEvent.objects.create(actor_username="x", action="test.action")
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        event.delete()
    with pytest.raises(TypeError):
        AuditEvent.objects.filter(pk=event.pk).update(reason="changed")
    for statement in ("UPDATE console_auditevent SET reason = 'changed'",
                      "DELETE FROM console_auditevent"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), \
                connection.cursor() as cursor:
            cursor.execute(statement)
    assert AuditEvent.objects.get(pk=event.pk).reason == ""
