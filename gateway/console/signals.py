"""Every sign-in, successful or not, goes to the audit log (admin and agent portal alike)."""

from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from gateway.common.audit import audit_record
from gateway.console.models import AuditEvent


@receiver(user_logged_in, dispatch_uid="console-audit-signed-in")
def _signed_in(sender, request, user, **kwargs) -> None:
    if request is None:  # force_login in tests and shells: no one typed a password
        return
    audit_record(request=request, actor=user, action="sign_in.password",
                 detail="password accepted; second factor next" if user.is_staff else
                 "password accepted")


@receiver(user_login_failed, dispatch_uid="console-audit-sign-in-failed")
def _sign_in_failed(sender, credentials, request=None, **kwargs) -> None:
    username = str(credentials.get("username", ""))
    actor = get_user_model().objects.filter(username=username).first() if username else None
    audit_record(request=request, actor=actor, actor_username=username or "?",
                 action=kwargs.get("audit_action", "sign_in.failed"),
                 outcome=AuditEvent.Outcome.REFUSED,
                 detail=kwargs.get("audit_detail", "wrong username or password"))


@receiver(user_locked_out, dispatch_uid="console-audit-locked-out")
def _locked_out(sender, request, username, ip_address, **kwargs) -> None:
    audit_record(request=request, actor_username=username or "?", action="sign_in.locked_out",
                 outcome=AuditEvent.Outcome.REFUSED,
                 detail="too many failed attempts: the account is locked for a while")


@receiver(user_logged_out, dispatch_uid="console-audit-signed-out")
def _signed_out(sender, request, user, **kwargs) -> None:
    if request is not None and user is not None:
        audit_record(request=request, actor=user, action="sign_out")
