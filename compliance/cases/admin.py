"""Operators work cases here. Nothing is edited by hand: the case page offers one form whose
actions call the services (assign, note, attach, propose, return, confirm), and the SAR export
links. The proposer of an outcome is not offered the confirm action, and the service refuses it
anyway (maker-checker)."""

from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from compliance.cases.models import Case, CaseAttachment, CaseEvent
from compliance.cases.services import (
    case_assign,
    case_attachment_add,
    case_confirm,
    case_note_add,
    case_propose,
    case_return_proposal,
    case_sar_export,
)
from compliance.screening.explain import reasons_html
from compliance.selectors import reason_entry_evidence
from gateway.common.audit import AuditOutcome, audit_record, snapshot
from gateway.common.problems import DomainError

CASE_AUDIT_FIELDS = ["status", "assignee", "proposed_outcome", "proposed_label", "proposed_by",
                     "outcome_label", "confirmed_by", "resolution"]

ACTIONS = {
    "assign_to_me": "Assign to me",
    "note": "Add a note",
    "attach": "Attach a file",
    "propose_approve": "Propose approval (resume the transfer)",
    "propose_reject": "Propose rejection (refund the transfer)",
    "return": "Return the proposal (checker disagrees)",
    "confirm": "Confirm the proposal (checker)",
}


# The permission each case action needs (roles: gateway.console.roles). Deciding a case needs
# the permission of the outcome, the same as the transfer list's approve and reject.
ACTION_PERMISSIONS = {
    "assign_to_me": "cases.work_case", "note": "cases.work_case", "attach": "cases.work_case",
    "propose_approve": "transfers.approve_hold", "propose_reject": "transfers.reject_hold",
}
OUTCOME_PERMISSIONS = {"approve": "transfers.approve_hold", "reject": "transfers.reject_hold"}


def action_permission(case: Case, action: str) -> str:
    if action in ("return", "confirm"):
        return OUTCOME_PERMISSIONS.get(case.proposed_outcome, "transfers.approve_hold")
    return ACTION_PERMISSIONS[action]


def actions_for(case: Case, user) -> list[str]:
    if case.status == Case.Status.CLOSED:
        names = ["note", "attach"]
    elif case.status == Case.Status.PENDING_CONFIRMATION:
        checker = [] if case.proposed_by_id == user.pk else ["return", "confirm"]
        names = ["note", "attach", *checker]
    else:
        names = ["assign_to_me", "note", "attach", "propose_approve", "propose_reject"]
    return [name for name in names if user.has_perm(action_permission(case, name))]


class CaseActionForm(forms.Form):
    action = forms.ChoiceField()
    label = forms.ChoiceField(choices=[("", "---"), *Case.Label.choices], required=False,
                              help_text="Required when proposing")
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    file = forms.FileField(required=False)

    def __init__(self, *args, allowed: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [(name, ACTIONS[name]) for name in allowed]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("action") == "attach" and not cleaned.get("file"):
            self.add_error("file", "Choose a file to attach.")
        return cleaned


def case_action_run(*, case: Case, user, data: dict) -> None:
    action, note = data["action"], data.get("note") or ""
    if action == "assign_to_me":
        case_assign(case=case, assignee=user, actor=user)
    elif action == "note":
        case_note_add(case=case, author=user, text=note)
    elif action == "attach":
        case_attachment_add(case=case, uploaded_by=user, file=data["file"], description=note)
    elif action in ("propose_approve", "propose_reject"):
        case_propose(case=case, operator=user, outcome=action.removeprefix("propose_"),
                     label=data.get("label") or "", note=note)
    elif action == "return":
        case_return_proposal(case=case, operator=user, note=note)
    elif action == "confirm":
        case_confirm(case=case, operator=user, note=note)


class CaseEventInline(admin.TabularInline):
    model = CaseEvent
    extra = 0
    can_delete = False
    fields = readonly_fields = ("created_at", "kind", "actor", "note", "data")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class CaseAttachmentInline(admin.TabularInline):
    model = CaseAttachment
    extra = 0
    can_delete = False
    fields = readonly_fields = ("created_at", "file", "description", "sha256", "uploaded_by")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


CUSTOMER_SUBJECT = "customer:"


def whitelist_link(case: Case, reason: dict) -> tuple[str, str] | None:
    """For a name hit on a customer (a KYC re-screen), the whitelist form filled in for that
    customer and entry: the operator adds the reason and the expiry. Transfers and saved
    recipients are cleared by deciding their case instead (their parties are not customers)."""
    if (reason.get("rule") != "sanctioned-name" or not reason.get("entry_id")
            or not case.subject_reference.startswith(CUSTOMER_SUBJECT)
            or case.status == Case.Status.CLOSED):
        return None
    query = urlencode({"customer_reference": case.subject_reference[len(CUSTOMER_SUBJECT):],
                       "list_source": reason.get("list", ""),
                       "entry_id": reason["entry_id"]})
    return ("Clear as a false positive for this customer (whitelist, with a reason)",
            f"{reverse('admin:compliance_screeningwhitelist_add')}?{query}")


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ("public_id", "subject_reference", "status", "assignee", "proposed_outcome",
                    "outcome_label", "created_at")
    list_filter = ("status", "outcome_label", "proposed_outcome")
    search_fields = ("public_id", "subject_reference")
    ordering = ("status", "created_at")
    inlines = [CaseEventInline, CaseAttachmentInline]
    fields = readonly_fields = (
        "public_id", "subject_reference", "status", "explanation", "reasons", "decision",
        "assignee", "proposed_outcome", "proposed_label", "proposed_by", "outcome_label",
        "confirmed_by", "resolution", "closed_at", "work_links")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Why it was held (each reason, and how each score is made)")
    def explanation(self, obj: Case) -> str:
        return reasons_html(obj.reasons, entry_lookup=reason_entry_evidence,
                            action_link=lambda reason: whitelist_link(obj, reason))

    @admin.display(description="Work")
    def work_links(self, obj: Case) -> str:
        return format_html(
            '<a href="{}">Act on this case</a> · SAR export: <a href="{}">CSV</a> · '
            '<a href="{}">JSON</a>',
            reverse("admin:cases_case_act", args=[obj.pk]),
            reverse("admin:cases_case_sar", args=[obj.pk, "csv"]),
            reverse("admin:cases_case_sar", args=[obj.pk, "json"]))

    def get_urls(self):
        return [
            path("<int:case_pk>/act/", self.admin_site.admin_view(self.act_view),
                 name="cases_case_act"),
            path("<int:case_pk>/sar.<str:export_format>",
                 self.admin_site.admin_view(self.sar_view), name="cases_case_sar"),
            *super().get_urls(),
        ]

    def act_view(self, request, case_pk: int):
        case = get_object_or_404(Case, pk=case_pk)
        if not self.has_view_permission(request, case):
            raise PermissionDenied
        allowed = actions_for(case, request.user)
        if not allowed:
            raise PermissionDenied
        form = CaseActionForm(request.POST or None, request.FILES or None, allowed=allowed)
        if request.method == "POST" and form.is_valid():
            action = form.cleaned_data["action"]
            before = snapshot(case, CASE_AUDIT_FIELDS)
            try:
                case_action_run(case=case, user=request.user, data=form.cleaned_data)
            except DomainError as exc:
                form.add_error(None, exc.detail)
                audit_record(request=request, action=f"cases.{action}", obj=case,
                             subject_reference=case.subject_reference, before=before,
                             reason=form.cleaned_data.get("note") or "",
                             outcome=AuditOutcome.FAILED, detail=exc.detail)
            else:
                case.refresh_from_db()
                audit_record(request=request, action=f"cases.{action}", obj=case,
                             subject_reference=case.subject_reference, before=before,
                             after=snapshot(case, CASE_AUDIT_FIELDS),
                             reason=form.cleaned_data.get("note") or "")
                self.message_user(request, f"{ACTIONS[form.cleaned_data['action']]}: done.")
                return HttpResponseRedirect(reverse("admin:cases_case_change", args=[case.pk]))
        context = {**self.admin_site.each_context(request), "opts": self.model._meta,
                   "case": case, "form": form, "title": f"Act on {case}"}
        return TemplateResponse(request, "admin/cases/case_act.html", context)

    def sar_view(self, request, case_pk: int, export_format: str):
        case = get_object_or_404(Case, pk=case_pk)
        if not self.has_view_permission(request, case):
            raise PermissionDenied
        try:
            content, content_type, name = case_sar_export(case=case, export_format=export_format,
                                                          actor=request.user)
        except DomainError as exc:
            self.message_user(request, exc.detail, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:cases_case_change", args=[case.pk]))
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
