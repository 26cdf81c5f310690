"""URL routes: the partner API under /api/v1/, provider callbacks, admin and API docs."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from gateway.common.problems import json_problem_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

handler404 = json_problem_view(404, "not-found", "Not found")
handler500 = json_problem_view(500, "internal-error", "Internal error")
