"""The admin site of the console: signing in takes a password and a second factor.

The password step is Django's login form (behind django-axes' lockout). A staff account that
passed it but not the second factor is sent to ``two-factor/`` (or ``two-factor/enrol/`` when it
has no authenticator yet) and sees nothing else of the admin until it passes.
"""

from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme


def _verified(user) -> bool:
    """Whether the session passed its second factor (a user freshly signed in within this
    request has not: django-otp marks it on the next request)."""
    check = getattr(user, "is_verified", None)
    return bool(check and check())


class ConsoleAdminSite(admin.AdminSite):
    site_header = "Off-ramp gateway console"
    site_title = "Gateway console"
    index_title = "Dashboard"
    index_template = "admin/console/index.html"

    def has_permission(self, request) -> bool:
        user = request.user
        return bool(user.is_active and user.is_staff and _verified(user))

    def login(self, request, extra_context=None):
        user = request.user
        if user.is_authenticated and user.is_active and user.is_staff and \
                not _verified(user) and request.method == "GET":
            return self._second_factor_redirect(request)
        response = super().login(request, extra_context)
        user = request.user
        if request.method == "POST" and user.is_authenticated and user.is_staff and \
                not _verified(user):
            return self._second_factor_redirect(request)
        return response

    def _second_factor_redirect(self, request) -> HttpResponseRedirect:
        from gateway.console.services import has_second_factor

        name = "two_factor" if has_second_factor(user=request.user) else "two_factor_enrol"
        url = reverse(f"{self.name}:{name}", current_app=self.name)
        next_url = request.POST.get("next") or request.GET.get("next") or ""
        if next_url and url_has_allowed_host_and_scheme(
                next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
            url = f"{url}?next={next_url}"
        return HttpResponseRedirect(url)

    def index(self, request, extra_context=None):
        from gateway.console.views import dashboard_context

        extra_context = {**(extra_context or {}), **dashboard_context(request)}
        return super().index(request, extra_context)

    def get_urls(self):
        from gateway.console import views

        return [
            path("two-factor/", views.two_factor_verify, {"site": self}, name="two_factor"),
            path("two-factor/enrol/", views.two_factor_enrol, {"site": self},
                 name="two_factor_enrol"),
            path("two-factor/recovery-codes/", self.admin_view(views.recovery_codes),
                 {"site": self}, name="recovery_codes"),
            path("console/dashboard.json", self.admin_view(views.dashboard_json),
                 name="console_dashboard_json"),
            path("console/dashboard.csv", self.admin_view(views.dashboard_csv),
                 name="console_dashboard_csv"),
            path("console/time-zone/", self.admin_view(views.time_zone_view), {"site": self},
                 name="console_time_zone"),
            path("console/attention/", self.admin_view(views.attention_view), {"site": self},
                 name="console_attention"),
            *super().get_urls(),
        ]
