"""Operator accounts and their second factor: creation (enrolled, with a role), TOTP enrolment,
recovery codes, verification with lockout.

Two factors are required of every staff account at the admin: a TOTP device (an authenticator
app) and, for a lost phone, single-use recovery codes (django-otp's static device). Failed second
factors count towards the same lockout as failed passwords (django-axes).
"""

import io
import secrets
from dataclasses import dataclass

import qrcode
import qrcode.image.svg
from axes.handlers.proxy import AxesProxyHandler
from axes.utils import reset as axes_reset
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.db import transaction
from django_otp import login as otp_login
from django_otp import match_token
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from gateway.common.audit import audit_record
from gateway.common.problems import DomainError
from gateway.console.models import AuditEvent
from gateway.console.roles import ROLES, roles_sync

RECOVERY_CODE_COUNT = 10
TOTP_DEVICE_NAME = "authenticator"
RECOVERY_DEVICE_NAME = "recovery codes"


@dataclass(frozen=True)
class OperatorAccount:
    user: object
    totp_device: TOTPDevice
    recovery_codes: list[str]


def recovery_codes_issue(*, user) -> list[str]:
    """New single-use recovery codes for the user; the old ones stop working. The codes are
    shown once and kept only in django-otp's static device."""
    codes = ["-".join(secrets.token_hex(2) for _ in range(3)) for _ in range(RECOVERY_CODE_COUNT)]
    with transaction.atomic():
        device, _ = StaticDevice.objects.get_or_create(
            user=user, name=RECOVERY_DEVICE_NAME, defaults={"confirmed": True})
        device.token_set.all().delete()
        StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def operator_create(*, username: str, password: str, roles: list[str], email: str = "",
                    superuser: bool = False) -> OperatorAccount:
    """A staff account with its roles, a confirmed TOTP device and recovery codes."""
    username = username.strip()
    if not username:
        raise DomainError("A username is required.", slug="username-required")
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise DomainError(f"Unknown role(s): {', '.join(unknown)}. Roles: {', '.join(ROLES)}.",
                          slug="unknown-role")
    if not roles and not superuser:
        raise DomainError("Give the operator at least one role.", slug="role-required")
    user_model = get_user_model()
    if user_model.objects.filter(username=username).exists():
        raise DomainError(f"The username {username} is taken.", slug="username-taken",
                          status=409)
    try:
        validate_password(password, user_model(username=username, email=email))
    except ValidationError as exc:
        raise DomainError(" ".join(exc.messages), slug="weak-password") from exc
    if Group.objects.filter(name__in=roles).count() != len(set(roles)):
        roles_sync()  # a database migrated before the roles existed
    with transaction.atomic():
        if superuser:
            user = user_model.objects.create_superuser(username=username, email=email,
                                                       password=password)
        else:
            user = user_model.objects.create_user(username=username, email=email,
                                                  password=password, is_staff=True)
        user.groups.set(Group.objects.filter(name__in=roles))
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=True)
        codes = recovery_codes_issue(user=user)
        audit_record(actor_username="system", action="operator.create", obj=user,
                     after={"username": username, "roles": sorted(roles),
                            "superuser": superuser})
    return OperatorAccount(user=user, totp_device=device, recovery_codes=codes)


def totp_device_pending(*, user) -> TOTPDevice:
    """The unconfirmed TOTP device of an enrolment in progress (created on first visit)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME,
                                               confirmed=False)


def has_second_factor(*, user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def qr_svg(data: str) -> str:
    """An inline SVG QR code (no image library, no network)."""
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    svg = buffer.getvalue().decode()
    return svg[svg.index("<svg"):]


def _failed(request, user, detail: str) -> None:
    user_login_failed.send(sender=__name__, request=request,
                           credentials={"username": user.get_username()},
                           audit_action="sign_in.second_factor_failed", audit_detail=detail)


def is_locked_out(*, request, user) -> bool:
    return AxesProxyHandler.is_locked(request, {"username": user.get_username()})


def totp_enrol_confirm(*, request, user, token: str) -> list[str]:
    """Confirm the pending device with a code from the app, verify the session, and return the
    first recovery codes."""
    token = token.strip().replace(" ", "")
    device = totp_device_pending(user=user)
    if not (token.isdigit() and device.verify_token(token)):
        _failed(request, user, "enrolment code did not match")
        raise DomainError("That code does not match. Enter the 6-digit code the app shows now.",
                          slug="otp-invalid", status=401)
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=False).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = recovery_codes_issue(user=user)
    otp_login(request, device)
    axes_reset(username=user.get_username())
    audit_record(request=request, actor=user, action="sign_in.enrolled", obj=device,
                 detail="authenticator enrolled; recovery codes issued")
    return codes


def second_factor_verify(*, request, user, token: str) -> None:
    """Check a TOTP or recovery code; on success the session is verified and the failure count
    reset, on failure the failure counts towards the lockout."""
    token = token.strip().replace(" ", "").lower()
    if is_locked_out(request=request, user=user):
        audit_record(request=request, actor=user, action="sign_in.locked_out",
                     outcome=AuditEvent.Outcome.REFUSED, detail="second factor while locked")
        raise DomainError("Too many failed attempts: the account is locked for a while.",
                          slug="locked-out", status=429)
    device = match_token(user, token) if token else None
    if device is None:
        _failed(request, user, "wrong code")
        raise DomainError("That code is not valid. Enter the 6-digit code of your "
                          "authenticator, or one of your recovery codes.",
                          slug="otp-invalid", status=401)
    otp_login(request, device)
    axes_reset(username=user.get_username())
    used = "recovery code" if isinstance(device, StaticDevice) else "authenticator"
    audit_record(request=request, actor=user, action="sign_in.verified", obj=device,
                 detail=f"second factor: {used}")
