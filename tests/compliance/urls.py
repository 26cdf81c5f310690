"""The project's routes plus the customers and travel-rule API (until the project wires them)."""

from django.urls import include, path

from gateway.urls import handler404, handler500
from gateway.urls import urlpatterns as gateway_urlpatterns

urlpatterns = [
    path("api/v1/", include("compliance.kyc.urls")),
    path("api/v1/", include("compliance.monitoring.urls")),
    *gateway_urlpatterns,
]

__all__ = ["handler404", "handler500", "urlpatterns"]
