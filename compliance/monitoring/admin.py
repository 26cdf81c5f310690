"""Operators edit monitoring rules here; every save writes a new version (``monitoring_rule_save``)
and the old version stays for the evaluations that used it."""

from django import forms
from django.contrib import admin

from compliance.monitoring.models import MonitoredTransfer, MonitoringEvaluation, MonitoringRule
from compliance.monitoring.rules import RuleParamsError, rule_params_clean
from compliance.monitoring.services import monitoring_rule_save
from gateway.common.admin import ReadOnlyAdmin


class MonitoringRuleForm(forms.ModelForm):
    class Meta:
        model = MonitoringRule
        fields = ("code", "kind", "description", "params", "score", "corridor_codes",
                  "is_enabled")

    def validate_unique(self):
        """A saved form writes the next version, so (code, version) is never the form's own."""

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk and not self.instance.is_current:
            raise forms.ValidationError("Only the current version of a rule can be revised.")
        kind = cleaned.get("kind") or self.instance.kind
        try:
            cleaned["params"] = rule_params_clean(kind=kind, params=cleaned.get("params") or {})
        except RuleParamsError as exc:
            self.add_error("params", str(exc))
        codes = cleaned.get("corridor_codes") or []
        if not isinstance(codes, list) or not all(isinstance(c, str) and c for c in codes):
            self.add_error("corridor_codes", 'A JSON list of corridor codes, e.g. ["usdc-kes"].')
        elif kind == MonitoringRule.Kind.CORRIDOR_RISK and not codes:
            self.add_error("corridor_codes", "A corridor-risk rule names the corridors it scores.")
        return cleaned


@admin.register(MonitoringRule)
class MonitoringRuleAdmin(admin.ModelAdmin):
    form = MonitoringRuleForm
    list_display = ("code", "version", "kind", "score", "is_enabled", "is_current", "author",
                    "created_at")
    list_filter = ("is_current", "is_enabled", "kind")
    readonly_fields = ("version", "is_current", "author")

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "code", "kind") if obj else self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        """The edited row is not saved: the service writes the next version, and the admin
        continues (log entry, redirect) with that new row."""
        data = form.cleaned_data
        rule = monitoring_rule_save(
            code=obj.code, kind=obj.kind, params=data["params"], score=data["score"],
            corridor_codes=data["corridor_codes"] or [], is_enabled=data["is_enabled"],
            description=data["description"], author=request.user.get_username())
        obj.pk, obj.version, obj.is_current = rule.pk, rule.version, rule.is_current

    def save_related(self, request, form, formsets, change):
        """Nothing related to save; the service wrote the row."""


@admin.register(MonitoredTransfer)
class MonitoredTransferAdmin(ReadOnlyAdmin):
    list_display = ("reference", "corridor_code", "amount", "currency", "amount_usd",
                    "occurred_at")
    search_fields = ("reference", "sender_reference", "recipient_reference", "paying_address")


@admin.register(MonitoringEvaluation)
class MonitoringEvaluationAdmin(ReadOnlyAdmin):
    list_display = ("transfer", "stage", "outcome", "score", "created_at")
    list_filter = ("outcome", "stage")
