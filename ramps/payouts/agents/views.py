"""Agent portal: mobile-first pages for counter staff. Thin: each view calls one service.

Staff who can pay out sign in with a password and then a TOTP code (django-otp); every page
of such staff requires the verified session. Errors of the services are shown as messages on
the page, with the service error's HTTP status.
"""

import logging
from functools import wraps
from zoneinfo import ZoneInfo

from django.contrib.auth import authenticate, login, logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp import match_token
from django_otp.plugins.otp_totp.models import TOTPDevice

from gateway.common.money import money_round
from gateway.common.problems import DomainError
from ramps.payouts.agents.apis import client_ip
from ramps.payouts.agents.models import LookupAudit
from ramps.payouts.agents.selectors import (
    agent_float_balance,
    agent_paid_today_total,
    agent_payouts_today,
    agent_staff_for_user,
    redemption_paid_by_agent,
)
from ramps.payouts.agents.services import (
    ID_DOCUMENT_TYPES,
    Counter,
    redemption_code_normalize,
    redemption_confirm,
    redemption_lookup,
)

logger = logging.getLogger(__name__)

PENDING_SESSION_KEY = "agents_pending_payout"


def staff_required(view):
    """Signed-in agent staff only; staff who can pay out must also have passed their TOTP."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        staff = agent_staff_for_user(user=request.user)
        if staff is None:
            return redirect("agents:login")
        if staff.can_pay_out and not request.user.is_verified():
            return redirect("agents:verify")
        request.agent_staff = staff
        # Times on the counter's pages are the agent's own (its opening hours' zone).
        with timezone.override(ZoneInfo(staff.agent.timezone or "UTC")):
            return view(request, *args, **kwargs)

    return wrapper


@require_http_methods(["GET", "POST"])
def portal_login(request: HttpRequest) -> HttpResponse:
    error = ""
    if request.method == "POST":
        user = authenticate(request, username=request.POST.get("username", "").strip(),
                            password=request.POST.get("password", ""))
        staff = agent_staff_for_user(user=user)
        if staff is None or not staff.agent.network.is_active:
            error = "Wrong username or password, or the account is not agent staff."
        else:
            login(request, user)
            return redirect("agents:verify" if staff.can_pay_out else "agents:home")
    return render(request, "agents/login.html", {"error": error}, status=401 if error else 200)


@require_http_methods(["GET", "POST"])
def portal_verify(request: HttpRequest) -> HttpResponse:
    staff = agent_staff_for_user(user=request.user)
    if staff is None:
        return redirect("agents:login")
    has_device = TOTPDevice.objects.filter(user=request.user, confirmed=True).exists()
    error = "" if has_device else ("No authenticator app is set up for this account. Ask your "
                                   "network administrator to set one up.")
    if request.method == "POST" and has_device:
        token = request.POST.get("token", "").strip().replace(" ", "")
        device = match_token(request.user, token) if token.isdigit() else None
        if device is None:
            error = "That code is not valid. Enter the 6-digit code your authenticator shows now."
        else:
            otp_login(request, device)
            return redirect("agents:home")
    return render(request, "agents/verify.html", {"error": error, "staff": staff},
                  status=401 if error else 200)


@require_POST
def portal_logout(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("agents:login")


def _home(request: HttpRequest, *, error: str = "", status: int = 200,
          code: str = "") -> HttpResponse:
    agent = request.agent_staff.agent
    return render(request, "agents/home.html", {
        "staff": request.agent_staff, "agent": agent, "error": error, "code": code,
        "float": money_round(agent_float_balance(agent=agent), agent.currency),
        "paid_today": money_round(agent_paid_today_total(agent=agent), agent.currency),
        "payouts": agent_payouts_today(agent=agent)[:50],
    }, status=status)


def _counter(request: HttpRequest) -> Counter:
    staff = request.agent_staff
    return Counter(agent=staff.agent, staff=staff, channel=LookupAudit.Channel.PORTAL,
                   client_ip=client_ip(request))


@staff_required
def portal_home(request: HttpRequest) -> HttpResponse:
    return _home(request)


@staff_required
@require_POST
def portal_lookup(request: HttpRequest) -> HttpResponse:
    code = request.POST.get("code", "")
    try:
        result = redemption_lookup(counter=_counter(request), code=code)
    except DomainError as exc:
        return _home(request, error=exc.detail, status=exc.status, code=code[:40])
    redemption = result.redemption
    pending = {"code": redemption_code_normalize(code), "recipient_name": result.recipient_name,
               "amount": str(money_round(redemption.amount, redemption.currency)),
               "currency": redemption.currency}
    request.session[PENDING_SESSION_KEY] = {k: v for k, v in pending.items() if k != "code"}
    return _confirm_page(request, pending=pending)


def _confirm_page(request: HttpRequest, *, pending: dict, error: str = "", status: int = 200,
                  document_type: str = "", document_number: str = "") -> HttpResponse:
    return render(request, "agents/confirm.html", {
        "staff": request.agent_staff, "pending": pending, "error": error,
        "document_types": ID_DOCUMENT_TYPES.items(), "document_type": document_type,
        "document_number": document_number,
    }, status=status)


@staff_required
@require_POST
def portal_confirm(request: HttpRequest) -> HttpResponse:
    code = request.POST.get("code", "")
    document_type = request.POST.get("id_document_type", "")
    document_number = request.POST.get("id_document_number", "")
    try:
        result = redemption_confirm(counter=_counter(request), code=code,
                                    id_document_type=document_type,
                                    id_document_number=document_number)
    except DomainError as exc:
        pending = request.session.get(PENDING_SESSION_KEY)
        if pending and exc.status == 422:
            return _confirm_page(request, pending={**pending, "code": code[:40]},
                                 error=exc.detail, status=exc.status,
                                 document_type=document_type,
                                 document_number=document_number[:40])
        return _home(request, error=exc.detail, status=exc.status)
    request.session.pop(PENDING_SESSION_KEY, None)
    url = reverse("agents:receipt", args=[result.redemption.public_id])
    return redirect(url + ("?already_paid=1" if result.already_paid else ""))


@staff_required
def portal_receipt(request: HttpRequest, receipt_id: str) -> HttpResponse:
    redemption = redemption_paid_by_agent(agent=request.agent_staff.agent, public_id=receipt_id)
    if redemption is None:
        return render(request, "agents/not_found.html", {"staff": request.agent_staff},
                      status=404)
    document = redemption.id_document or {}
    return render(request, "agents/receipt.html", {
        "staff": request.agent_staff, "redemption": redemption,
        "already_paid": request.GET.get("already_paid") == "1",
        "recipient_name": (redemption.transfer.recipient or {}).get("name", ""),
        "amount": money_round(redemption.amount, redemption.currency),
        "document_type": ID_DOCUMENT_TYPES.get(document.get("type", ""), ""),
        "document_last4": document.get("number", "")[-4:],
    })
