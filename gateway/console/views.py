"""Console pages: the second-factor steps of signing in, recovery codes, the dashboard's JSON
and CSV, the Needs-attention queue. Thin: each calls services or selectors."""

from django.contrib.auth import logout
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters

from gateway.common.problems import DomainError
from gateway.console.services import (
    has_second_factor,
    is_locked_out,
    qr_svg,
    recovery_codes_issue,
    second_factor_verify,
    totp_device_pending,
    totp_enrol_confirm,
)


def _next_url(request: HttpRequest, site) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
            candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return candidate
    return reverse(f"{site.name}:index")


def _signed_in_staff(request: HttpRequest, site) -> HttpResponse | None:
    """Redirect unless a staff account passed the password step; None when it did."""
    user = request.user
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return redirect(f"{site.name}:login")
    return None


def _page(request, site, template: str, context: dict, status: int = 200) -> TemplateResponse:
    return TemplateResponse(request, template, {**site.each_context(request), **context},
                            status=status)


@sensitive_post_parameters("token")
@csrf_protect
@never_cache
def two_factor_verify(request: HttpRequest, site) -> HttpResponse:
    refused = _signed_in_staff(request, site)
    if refused:
        return refused
    if request.user.is_verified():
        return HttpResponseRedirect(_next_url(request, site))
    if not has_second_factor(user=request.user):
        return redirect(f"{site.name}:two_factor_enrol")
    error, status = "", 200
    if request.method == "POST":
        try:
            second_factor_verify(request=request, user=request.user,
                                 token=request.POST.get("token", ""))
        except DomainError as exc:
            error, status = exc.detail, exc.status
            if exc.slug == "locked-out" or is_locked_out(request=request, user=request.user):
                logout(request)
                return _page(request, site, "admin/console/locked_out.html", {
                    "title": "Locked out"}, status=429)
        else:
            return HttpResponseRedirect(_next_url(request, site))
    return _page(request, site, "admin/console/two_factor.html", {
        "title": "Second factor", "error": error, "next": _next_url(request, site)},
        status=status)


@sensitive_post_parameters("token")
@csrf_protect
@never_cache
def two_factor_enrol(request: HttpRequest, site) -> HttpResponse:
    refused = _signed_in_staff(request, site)
    if refused:
        return refused
    if has_second_factor(user=request.user):
        # An enrolled account changes its device only through an administrator.
        return redirect(f"{site.name}:two_factor")
    error, status = "", 200
    if request.method == "POST":
        try:
            codes = totp_enrol_confirm(request=request, user=request.user,
                                       token=request.POST.get("token", ""))
        except DomainError as exc:
            error, status = exc.detail, exc.status
            if is_locked_out(request=request, user=request.user):
                logout(request)
                return _page(request, site, "admin/console/locked_out.html", {
                    "title": "Locked out"}, status=429)
        else:
            return _page(request, site, "admin/console/recovery_codes.html", {
                "title": "Your recovery codes", "codes": codes,
                "next": _next_url(request, site)})
    device = totp_device_pending(user=request.user)
    return _page(request, site, "admin/console/enrol.html", {
        "title": "Set up your authenticator", "error": error, "qr_svg": qr_svg(device.config_url),
        "secret": _base32(device.bin_key), "next": _next_url(request, site)}, status=status)


def _base32(key: bytes) -> str:
    from base64 import b32encode

    text = b32encode(key).decode().rstrip("=")
    return " ".join(text[index:index + 4] for index in range(0, len(text), 4))


@csrf_protect
@never_cache
def recovery_codes(request: HttpRequest, site) -> HttpResponse:
    """New recovery codes on demand (POST); the old ones stop working."""
    from gateway.console.audit import audit_record

    if request.method != "POST":
        return _page(request, site, "admin/console/recovery_codes.html", {
            "title": "Recovery codes", "codes": [], "next": reverse(f"{site.name}:index")})
    codes = recovery_codes_issue(user=request.user)
    audit_record(request=request, action="sign_in.recovery_codes_reissued", obj=request.user)
    return _page(request, site, "admin/console/recovery_codes.html", {
        "title": "Your new recovery codes", "codes": codes,
        "next": reverse(f"{site.name}:index")})


def dashboard_context(request: HttpRequest) -> dict:
    return {}


def dashboard_json(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied


def dashboard_csv(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied


def attention_view(request: HttpRequest, site) -> HttpResponse:
    raise PermissionDenied
