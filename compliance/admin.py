from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from compliance.models import SanctionsList, ScreeningDecision, ScreeningWhitelist
from compliance.sanctions.refresh import sanctions_refresh
from compliance.screening.explain import reasons_html
from compliance.selectors import reason_entry_evidence, whitelist_in_force
from compliance.services import screening_whitelist_add, screening_whitelist_check
from gateway.common.problems import DomainError


@admin.register(SanctionsList)
class SanctionsListAdmin(admin.ModelAdmin):
    """List versions as imported (``import_sanctions``, the scheduled refresh); never edited.
    The action runs the scheduled refresh now and says, per source, what became of it."""

    list_display = ["source", "version", "published", "entry_count", "name_count",
                    "address_count", "is_active", "rescreen_status", "created_at"]
    list_filter = ["source", "is_active"]
    readonly_fields = [f.name for f in SanctionsList._meta.fields]
    actions = ["refresh_now"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="Re-screen")
    def rescreen_status(self, obj: SanctionsList) -> str:
        if not obj.is_active:
            return "-"
        if obj.rescreened_at is None:
            return "pending: the next refresh re-screens against what this version changed"
        return f"done {obj.rescreened_at:%Y-%m-%d %H:%M} UTC"

    @admin.action(description="Refresh every configured list now and re-screen what changed "
                              "(the selection is not used)")
    def refresh_now(self, request, queryset):
        for result in sanctions_refresh():
            text = f"{result.source}: {result.status}"
            if result.version:
                text += f", version {result.version[:12]} active"
            if result.rescreen:
                text += f"; re-screen {result.rescreen}"
            if result.rescreen == "done":
                text += (f" ({result.added} added, {result.changed} changed, {result.removed} "
                         "removed)")
            if result.detail:
                text += f": {result.detail}"
            level = (messages.ERROR if "failed" in (result.status, result.rescreen)
                     else messages.WARNING if result.rescreen == "busy" else messages.SUCCESS)
            self.message_user(request, text, level=level)


@admin.register(ScreeningDecision)
class ScreeningDecisionAdmin(admin.ModelAdmin):
    list_display = ["public_id", "subject_reference", "outcome", "rules_version", "decided_by",
                    "created_at"]
    list_filter = ["outcome", "rules_version"]
    search_fields = ["subject_reference"]
    readonly_fields = ["explanation", *(f.name for f in ScreeningDecision._meta.fields)]

    @admin.display(description="Why (each reason, and how each score is made)")
    def explanation(self, obj: ScreeningDecision) -> str:
        return reasons_html(obj.reasons, entry_lookup=reason_entry_evidence)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ScreeningWhitelistForm(forms.ModelForm):
    """The add form: the author is the signed-in operator, and the service's checks (reason,
    future expiry, an active list entry) show as form errors instead of a server error."""

    class Meta:
        model = ScreeningWhitelist
        fields = ["customer_reference", "list_source", "entry_id", "reason", "expires_at"]

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            try:
                screening_whitelist_check(author=self.author, **cleaned)
            except DomainError as exc:
                raise forms.ValidationError(exc.detail) from exc
        return cleaned


@admin.register(ScreeningWhitelist)
class ScreeningWhitelistAdmin(admin.ModelAdmin):
    """Whitelists are added through ``screening_whitelist_add`` and never edited: a changed
    reason or expiry is a new decision, so an operator deletes (revokes) and adds again."""

    form = ScreeningWhitelistForm
    list_display = ["customer_reference", "list_source", "entry_id", "author", "expires_at",
                    "in_force", "created_at"]
    list_filter = ["list_source"]
    search_fields = ["customer_reference", "entry_id", "author"]

    @admin.display(description="In force")
    def in_force(self, obj: ScreeningWhitelist) -> str:
        if obj.expires_at <= timezone.now():
            return "lapsed: expired"
        if not whitelist_in_force(whitelist=obj):
            return "lapsed: the list entry changed since it was cleared"
        return "in force"

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.author = request.user.get_username()
        return form

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [f.name for f in ScreeningWhitelist._meta.fields]

    def save_model(self, request, obj, form, change):
        if change:
            return
        created = screening_whitelist_add(author=request.user.get_username(),
                                          **form.cleaned_data)
        obj.pk, obj.author = created.pk, created.author
        obj.created_at, obj.updated_at = created.created_at, created.updated_at
