"""Roles shipped as data: the operator permissions (one per action, not the model's "change")
and the four groups that hold them. ``roles_sync`` creates or updates both and is idempotent: it
runs after every migrate and from ``manage.py operator_roles``.

A permission here is attached to the model it acts on (``transfers.approve_hold`` lives on the
transfer's content type), so ``user.has_perm("transfers.approve_hold")`` reads naturally.
"""

import logging

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.management import create_contenttypes
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

logger = logging.getLogger(__name__)

# (app_label, model, codename, description): every action an operator can take in the console.
OPERATOR_PERMISSIONS = [
    ("transfers", "transfer", "approve_hold",
     "Propose or confirm the approval of a transfer held by compliance"),
    ("transfers", "transfer", "reject_hold",
     "Propose or confirm the rejection (refund) of a transfer held by compliance"),
    ("transfers", "transfer", "release_hold",
     "Release a transfer held for float or conversion"),
    ("transfers", "transfer", "retry_payout", "Retry a failed payout"),
    ("transfers", "transfer", "reroute_payout", "Reroute a failed payout to another rail"),
    ("transfers", "transfer", "refund_transfer", "Refund a transfer to its sender"),
    ("transfers", "transfer", "decrypt_parties", "See the decrypted sender and recipient"),
    ("transfers", "transfer", "add_note", "Add an operator note to a transfer"),
    ("webhooks", "webhookdelivery", "resend_delivery", "Send a webhook delivery again"),
    ("cases", "case", "work_case", "Assign, annotate and attach files to compliance cases"),
    ("kyc", "customer", "review_customer", "Accept or reject a customer's KYC"),
    ("kyc", "kyctier", "change_tier_limits",
     "Propose or confirm a KYC tier's limits or a customer's move to another tier"),
    ("agents", "redemption", "hold_redemption", "Hold or release a redemption code"),
    ("agents", "redemption", "reissue_redemption", "Reissue a redemption code"),
    ("agents", "lookupthrottle", "unlock_throttle", "Lift an agent lookup lockout"),
    ("agents", "agent", "top_up_float", "Top up an agent's float"),
    ("agents", "agentnetwork", "settle_network", "Record a settlement with an agent network"),
    ("treasury", "incident", "resolve_incident", "Resolve a treasury incident"),
    ("treasury", "floatpolicy", "adjust_rail_float",
     "Record money put on a rail's float or taken back to the bank"),
    ("treasury", "floatpolicy", "record_venue_transfer",
     "Record a transfer between the bank and a venue"),
    ("chain", "chainincident", "resolve_incident", "Resolve a chain incident"),
    ("chain", "chain", "scan_chain", "Scan a chain now"),
    ("liquidity", "conversionorder", "refresh_order", "Ask the venue about an order"),
]

OPERATIONS_APPS = ["transfers", "ledger", "partners", "webhooks", "treasury", "agents", "chain",
                   "liquidity", "payouts", "compliance", "cases", "kyc", "monitoring"]

# What each role may do beyond reading the operational models.
ROLE_PERMISSIONS: dict[str, list[str]] = {
    "support": [
        "transfers.add_note", "webhooks.resend_delivery", "agents.hold_redemption",
        "agents.reissue_redemption", "agents.unlock_throttle", "console.view_dashboard",
    ],
    "compliance": [
        "transfers.approve_hold", "transfers.reject_hold", "transfers.decrypt_parties",
        "transfers.add_note", "cases.work_case", "kyc.review_customer",
        "kyc.change_tier_limits", "compliance.add_screeningwhitelist",
        "compliance.change_screeningwhitelist",
        "monitoring.add_monitoringrule", "monitoring.change_monitoringrule",
        "console.view_dashboard", "console.view_auditevent",
    ],
    "treasury": [
        "transfers.release_hold", "transfers.retry_payout", "transfers.reroute_payout",
        "transfers.refund_transfer", "transfers.add_note", "agents.top_up_float",
        "agents.settle_network", "treasury.resolve_incident", "treasury.adjust_rail_float",
        "treasury.record_venue_transfer", "treasury.add_floatpolicy",
        "treasury.change_floatpolicy", "treasury.add_exposurelimit",
        "treasury.change_exposurelimit", "chain.resolve_incident", "chain.scan_chain",
        "liquidity.refresh_order", "console.view_dashboard",
        # Refunds held for a destination (the payer is a contract or an exchange's wallet):
        # "set destination and send" in the outbound transactions' queue. The admin shows
        # those rows read-only whatever this permission says; it only opens that action.
        "chain.change_outboundtransaction",
    ],
}
ROLES = ["support", "compliance", "treasury", "admin"]


def _permission(label: str) -> Permission:
    app_label, codename = label.split(".", 1)
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def permissions_sync() -> None:
    """Create the operator permissions (idempotent; renames a description that changed)."""
    for app_label, model, codename, name in OPERATOR_PERMISSIONS:
        content_type, _ = ContentType.objects.get_or_create(app_label=app_label, model=model)
        permission, created = Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name})
        if not created and permission.name != name:
            permission.name = name
            permission.save(update_fields=["name"])


@transaction.atomic
def roles_sync() -> dict[str, int]:
    """Create or update the four groups with exactly their permissions; returns the number of
    permissions per group."""
    permissions_sync()
    view_all = list(Permission.objects.filter(content_type__app_label__in=OPERATIONS_APPS,
                                              codename__startswith="view_"))
    counts = {}
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        if role == "admin":
            wanted = list(Permission.objects.all())
        else:
            wanted = [*view_all, *(_permission(label) for label in ROLE_PERMISSIONS[role])]
        group.permissions.set(wanted)
        counts[role] = len({permission.pk for permission in wanted})
    return counts


def roles_sync_after_migrate(sender, app_config=None, using="default", apps=global_apps,
                             verbosity=1, **kwargs) -> None:
    """After migrate (and after a test flush): make sure every app's content types and model
    permissions exist first, whatever the order of the apps, then sync the roles."""
    if not global_apps.is_installed("django.contrib.auth"):
        return
    for config in global_apps.get_app_configs():
        create_contenttypes(config, verbosity=0, using=using)
        create_permissions(config, verbosity=0, using=using)
    counts = roles_sync()
    if verbosity >= 2:
        logger.info("operator roles synced: %s", counts)
