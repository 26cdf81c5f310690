"""Operator actions in the admin: each checks its own permission (not the model's "change"),
asks for a reason, runs one service per selected object and writes one audit event per object
with the object's fields before and after.

    @operator_action(permission="transfers.approve_hold", description="...",
                     audit_fields=["state", "hold_reason"])
    def approve_held(self, request, transfer, reason):
        return "proposed"          # a short result shown to the operator

A ``DomainError`` from the service is shown as an error for that object and audited as failed;
nothing else of that object changes. A ModelAdmin that uses operator actions mixes in
``OperatorActionsMixin`` so that actions its user may not run are not even offered.

Every app's admin may use this (it lives in ``gateway.common``); the maker-checker requests
(``PendingApproval``) are rows of the operator console (``gateway.console``), looked up by name.
"""

from collections.abc import Callable
from functools import partial, wraps

from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db import OperationalError, models, transaction
from django.template.response import TemplateResponse
from django.utils import timezone

from gateway.common.audit import AuditOutcome, audit_record, snapshot
from gateway.common.conflicts import conflicts_retried, is_conflict
from gateway.common.limits import without_nul
from gateway.common.problems import DomainError

REASON_MAX_LENGTH = 500
PENDING_APPROVAL_MODEL = "console.PendingApproval"


def _subject_of(obj: models.Model) -> str:
    reference = getattr(obj, "reference", None) or getattr(obj, "transfer_reference", None)
    return str(reference or "")


def _maker_checker(*, request, name: str, obj, reason: str, params: dict, run):
    """The first operator proposes (nothing runs); a second one with the same permission runs
    it with the same parameters. Returns what happened, or raises DomainError."""
    approvals = apps.get_model(PENDING_APPROVAL_MODEL)
    with transaction.atomic():
        key = {"action": name, "object_type": obj._meta.label_lower, "object_id": str(obj.pk)}
        pending = approvals.objects.select_for_update().filter(
            status=approvals.Status.PENDING, **key).select_related("maker").first()
        if pending is None:
            approvals.objects.create(**key, object_repr=str(obj)[:200], params=params,
                                     reason=reason, maker=request.user)
            return "proposed; a second operator must run the same action to confirm it"
        if pending.maker_id == request.user.pk:
            raise DomainError("The operator who proposed this cannot confirm it; a second "
                              "operator must.", slug="maker-checker", status=403)
        if pending.params != params:
            raise DomainError(f"{pending.maker.get_username()} proposed {pending.params}; "
                              f"confirm the same choice or ask them to withdraw it.",
                              slug="maker-checker-mismatch", status=409)
        failure: DomainError | None = None
        try:
            with transaction.atomic():
                result = run()
        except DomainError as exc:
            # Refused when run (a short float, a reference used before): the proposal is closed
            # as failed, so that a corrected one can be made; nothing of the run was written.
            failure = exc
        pending.status = approvals.Status.CONFIRMED if failure is None else approvals.Status.FAILED
        pending.checker, pending.decided_at = request.user, timezone.now()
        pending.save(update_fields=["status", "checker", "decided_at"])
    if failure is not None:
        raise failure
    return f"{result} (proposed by {pending.maker.get_username()}, confirmed)"


def _run(work: Callable[[], str | None], *, what: str) -> str | None:
    """Run an action; another transaction may deadlock with it on a busy row (a transfer's
    partner's feed counter, a float): it runs again, and if it keeps losing the operator is
    told that nothing changed instead of a server error."""
    try:
        return conflicts_retried(work, what=what)
    except OperationalError as exc:
        if not is_conflict(exc):
            raise
        raise DomainError("The database was busy with the same records and nothing was "
                          "changed. Run the action again.", slug="busy", status=409) from exc


def operator_action(*, permission: str, description: str, audit_fields: list[str] | None = None,
                    reason_required: bool = True, subject: Callable | None = None,
                    extra_fields: Callable | None = None, maker_checker: bool = False):
    """Decorate a per-object admin action (see the module docstring). ``maker_checker``: the
    action moves money, so it runs only when a second operator confirms a first one's request
    (``PendingApproval``)."""

    def decorate(function):
        @wraps(function)
        def action(modeladmin, request, queryset):
            name = f"{modeladmin.model._meta.app_label}.{function.__name__}"
            if not request.user.has_perm(permission):
                audit_record(request=request, action=name, outcome=AuditOutcome.REFUSED,
                             detail=f"missing permission {permission}")
                raise PermissionDenied
            reason = (request.POST.get("reason") or "").strip()
            if reason_required and (request.POST.get("confirm") != "yes" or not reason):
                return _reason_page(modeladmin, request, queryset, description,
                                    error=bool(request.POST.get("confirm")),
                                    extra=extra_fields(request) if extra_fields else [])
            reason = without_nul(reason[:REASON_MAX_LENGTH])  # PostgreSQL cannot store NUL
            fields = audit_fields or []
            for obj in queryset.order_by("pk"):
                before = snapshot(obj, fields)
                reference = subject(obj) if subject else _subject_of(obj)
                try:
                    if maker_checker:
                        work = partial(
                            _maker_checker, request=request, name=name, obj=obj, reason=reason,
                            params={field["name"]: request.POST.get(field["name"], "")
                                    for field in (extra_fields(request) if extra_fields
                                                  else [])},
                            run=lambda obj=obj: function(modeladmin, request, obj, reason))
                    else:
                        work = partial(function, modeladmin, request, obj, reason)
                    result = _run(work, what=f"admin action {name} on {obj.pk}")
                except DomainError as exc:
                    modeladmin.message_user(request, f"{obj}: {exc.detail}", messages.ERROR)
                    audit_record(request=request, action=name, obj=obj,
                                 subject_reference=reference, before=before, reason=reason,
                                 outcome=AuditOutcome.FAILED, detail=exc.detail)
                    continue
                obj = type(obj)._default_manager.filter(pk=obj.pk).first() or obj
                audit_record(request=request, action=name, obj=obj, subject_reference=reference,
                             before=before, after=snapshot(obj, fields), reason=reason,
                             detail=result or "")
                modeladmin.message_user(request, f"{obj}: {result or 'done'}.", messages.SUCCESS)
            return None

        action.required_permission = permission
        action.maker_checker = maker_checker
        return admin.action(description=description)(action)

    return decorate


def _reason_page(modeladmin, request, queryset, description: str, *, error: bool,
                 extra: list) -> TemplateResponse:
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": description, "opts": opts, "objects": list(queryset[:200]),
        "count": queryset.count(), "action_name": request.POST.get("action", ""),
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"), "error": error,
        "reason": request.POST.get("reason", ""), "extra_fields": extra,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/operator_action_reason.html", context,
                            status=422 if error else 200)


class OperatorActionsMixin:
    """Offers only the operator actions the signed-in user holds the permission of."""

    def get_actions(self, request):
        actions = super().get_actions(request)
        return {name: entry for name, entry in actions.items()
                if request.user.has_perm(getattr(entry[0], "required_permission", "") or "")
                or not getattr(entry[0], "required_permission", "")}
