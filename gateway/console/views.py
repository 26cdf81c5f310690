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
    from gateway.common.audit import audit_record

    if request.method != "POST":
        return _page(request, site, "admin/console/recovery_codes.html", {
            "title": "Recovery codes", "codes": [], "next": reverse(f"{site.name}:index")})
    codes = recovery_codes_issue(user=request.user)
    audit_record(request=request, action="sign_in.recovery_codes_reissued", obj=request.user)
    return _page(request, site, "admin/console/recovery_codes.html", {
        "title": "Your new recovery codes", "codes": codes,
        "next": reverse(f"{site.name}:index")})


DASHBOARD_PERMISSION = "console.view_dashboard"


def _plain(value):
    """JSON-safe figures: money as decimal strings, dates in ISO 8601."""
    import datetime
    from decimal import Decimal

    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")  # 12700, 0.397516: no trailing zeros
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return value


def _charts(figures: dict) -> dict:
    from gateway.console.charts import horizontal_bars, money_text, stacked_bars

    days = [day.isoformat() for day in figures["days"]]
    index = {day: position for position, day in enumerate(figures["days"])}

    def per_corridor(field: str) -> list[tuple[str, list]]:
        series = {code: [0] * len(days) for code in figures["corridors"]}
        for row in figures["per_day"]:
            series[row["corridor"]][index[row["day"]]] = row[field]
        return list(series.items())

    revenue = {"fees": [0] * len(days), "FX spread": [0] * len(days)}
    for row in figures["per_day"]:
        revenue["fees"][index[row["day"]]] += row["fees"]
        revenue["FX spread"][index[row["day"]]] += row["fx_spread"]
    assets = "/".join(figures["revenue"]) or "USDC"
    return {
        "volume": stacked_bars(title="Transfers per day and corridor", categories=days,
                               series=per_corridor("transfers"), unit="transfers"),
        "value": stacked_bars(title=f"Value sent per day and corridor ({assets})",
                              categories=days, series=per_corridor("value_in"), unit=assets),
        "revenue": stacked_bars(title=f"Revenue per day: fees and FX spread ({assets})",
                                categories=days, series=list(revenue.items()), unit=assets),
        "failed": horizontal_bars(title="Failed payouts per rail (share of decided attempts)",
                                  rows=[(row["rail"], row["failed_rate"] or 0,
                                         f"{(row['failed_rate'] or 0):.1%} of "
                                         f"{row['succeeded'] + row['failed']}", None)
                                        for row in figures["payouts"]]),
        "time_to_cash": horizontal_bars(
            title="Time to cash per corridor: p50 bar, p90 line (minutes)",
            rows=[(row["corridor"], row["p50_seconds"] / 60, f"p50 {row['p50_seconds'] / 60:.1f}"
                   f" · p90 {row['p90_seconds'] / 60:.1f} min", row["p90_seconds"] / 60)
                  for row in figures["time_to_cash"]]),
        "float": horizontal_bars(
            title="Free float per rail, refill threshold as a line",
            rows=[(row["rail"], row["free"], money_text(row["free"], row["currency"]),
                   row["refill_threshold"]) for row in figures["float"]]),
    }


def dashboard_context(request: HttpRequest) -> dict:
    """The dashboard and the head of the queue on the admin's home, for roles that see it."""
    from gateway.console.charts import money_text
    from gateway.console.selectors import (
        attention_queue,
        dashboard_figures_cached,
        dashboard_filter_parse,
    )
    from gateway.transfers.models import Corridor

    if not request.user.has_perm(DASHBOARD_PERMISSION):
        return {}
    error = ""
    try:
        selection = dashboard_filter_parse(request.GET)
    except DomainError as exc:
        error = exc.detail
        selection = dashboard_filter_parse({})
    figures = dashboard_figures_cached(selection=selection)
    queue = attention_queue()
    for row in figures["per_day"]:
        row["value_in_text"] = money_text(row["value_in"], row["asset"])
        row["value_out_text"] = money_text(row["value_out"], row["currency_out"])
        row["revenue_text"] = money_text(row["revenue"], row["asset"])
    for row in figures["float"]:
        row["free_text"] = money_text(row["free"], row["currency"])
        row["reserved_text"] = money_text(row["reserved"], row["currency"])
        row["threshold_text"] = money_text(row["refill_threshold"], row["currency"])
    revenue = [{"asset": asset, "fees": money_text(parts["fees"], asset),
                "fx_spread": money_text(parts["fx_spread"], asset),
                "total": money_text(parts["total"], asset)}
               for asset, parts in figures["revenue"].items()]
    return {"dashboard": {
        "error": error, "selection": selection, "figures": figures, "charts": _charts(figures),
        "revenue": revenue, "query": selection.query(),
        "corridor_choices": list(Corridor.objects.order_by("code").values_list("code",
                                                                                flat=True)),
        "queue_head": queue[:10], "queue_count": len(queue),
    }}


def _selection_or_problem(request: HttpRequest):
    from django.http import JsonResponse

    from gateway.common.problems import PROBLEM_CONTENT_TYPE, problem_body
    from gateway.console.selectors import dashboard_filter_parse

    if not request.user.has_perm(DASHBOARD_PERMISSION):
        raise PermissionDenied
    try:
        return dashboard_filter_parse(request.GET), None
    except DomainError as exc:
        body = problem_body(slug=exc.slug, title=exc.title, status=exc.status,
                            detail=exc.detail, instance=request.path)
        return None, JsonResponse(body, status=exc.status, content_type=PROBLEM_CONTENT_TYPE)


def dashboard_json(request: HttpRequest) -> HttpResponse:
    """The dashboard's figures for the ops team's own tools (money as decimal strings)."""
    from django.http import JsonResponse

    from gateway.console.selectors import dashboard_figures_cached

    selection, problem = _selection_or_problem(request)
    if problem is not None:
        return problem
    return JsonResponse(_plain(dashboard_figures_cached(selection=selection)))


CSV_COLUMNS = ["day", "corridor", "asset", "currency_out", "transfers", "completed", "value_in",
               "value_out", "fees", "fx_spread", "revenue"]


def dashboard_csv(request: HttpRequest) -> HttpResponse:
    """Per day and corridor: the rows behind the charts, as CSV."""
    import csv

    from gateway.console.selectors import dashboard_figures_cached

    selection, problem = _selection_or_problem(request)
    if problem is not None:
        return problem
    figures = _plain(dashboard_figures_cached(selection=selection))
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = (f'attachment; filename="dashboard-{selection.date_from}'
                                       f'-{selection.date_to}.csv"')
    writer = csv.DictWriter(response, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(figures["per_day"])
    return response


def attention_view(request: HttpRequest, site) -> HttpResponse:
    """Everything waiting on a person, oldest first, with its action."""
    from django.utils import timezone

    from gateway.console.selectors import attention_queue

    if not request.user.has_perm(DASHBOARD_PERMISSION):
        raise PermissionDenied
    kind = request.GET.get("kind", "")
    queue = attention_queue()
    kinds = sorted({item.kind for item in queue})
    if kind:
        queue = [item for item in queue if item.kind == kind]
    return _page(request, site, "admin/console/attention.html", {
        "title": "Needs attention", "items": queue, "kinds": kinds, "kind": kind,
        "now": timezone.now()})


@csrf_protect
@never_cache
def time_zone_view(request: HttpRequest, site) -> HttpResponse:
    """The operator's own time zone (times and dashboard days); audited when changed."""
    from django.contrib import messages

    from gateway.common.audit import audit_record
    from gateway.console.models import OperatorPreference
    from gateway.console.time_zones import (
        operator_time_zone,
        operator_time_zone_set,
        time_zone_default,
        time_zone_names,
    )

    chosen = OperatorPreference.objects.filter(user=request.user).values_list(
        "time_zone", flat=True).first() or ""
    error, status = "", 200
    if request.method == "POST":
        wanted = request.POST.get("time_zone", "")
        try:
            zone = operator_time_zone_set(user=request.user, name=wanted)
        except DomainError as exc:
            error, status, chosen = exc.detail, exc.status, wanted[:64]
        else:
            audit_record(request=request, action="console.time_zone", obj=request.user,
                         before={"time_zone": chosen}, after={"time_zone": wanted.strip()})
            messages.success(request, f"Times are now shown in {zone}.")
            return redirect(f"{site.name}:index")
    return _page(request, site, "admin/console/time_zone.html", {
        "title": "Your time zone", "current": str(operator_time_zone(user=request.user)),
        "default": time_zone_default(), "chosen": chosen, "names": time_zone_names(),
        "error": error}, status=status)
