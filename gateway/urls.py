"""URL routes: the partner API under /api/v1/, provider callbacks, admin and API docs."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from gateway.common.problems import json_problem_view
from gateway.common.schema_view import SerializedSpectacularAPIView
from gateway.partners.urls import api_urlpatterns as partner_api_urlpatterns
from gateway.transfers.urls import api_urlpatterns, callback_urlpatterns
from gateway.webhooks.urls import api_urlpatterns as webhook_api_urlpatterns
from ramps.payouts.agents.urls import api_urlpatterns as agent_api_urlpatterns
from ramps.payouts.agents.urls import portal_urlpatterns as agent_portal_urlpatterns

urlpatterns = [
    path("api/v1/", include("compliance.kyc.urls")),
    path("api/v1/", include(partner_api_urlpatterns)),
    path("api/v1/", include("compliance.monitoring.urls")),
    path("api/v1/", include(agent_api_urlpatterns)),
    path("api/v1/", include(api_urlpatterns)),
    path("api/v1/", include("gateway.recipients.urls")),
    path("api/v1/", include(webhook_api_urlpatterns)),
    path("agents/", include((agent_portal_urlpatterns, "agents"))),
    path("callbacks/", include(callback_urlpatterns)),
    path("admin/", admin.site.urls),
    path(
        "api/schema/",
        SerializedSpectacularAPIView.as_view(authentication_classes=[],
                                             permission_classes=[AllowAny]),
        name="api-schema",
    ),
    path("api/docs/", SpectacularSwaggerView.as_view(
        url_name="api-schema", authentication_classes=[], permission_classes=[AllowAny]
    ), name="api-docs"),
]

# A request Django itself refuses (an unreadable multipart body, a suspicious header) is a
# problem too, not Django's HTML page.
handler400 = json_problem_view(400, "malformed-request", "Malformed request")
handler404 = json_problem_view(404, "not-found", "Not found")
handler500 = json_problem_view(500, "internal-error", "Internal error")
