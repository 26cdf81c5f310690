"""The project's routes plus the agents app's, as gateway/urls.py will have them."""

from django.urls import include, path

from gateway.agents.urls import api_urlpatterns, portal_urlpatterns
from gateway.urls import handler404, handler500  # noqa: F401
from gateway.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    path("agents/", include((portal_urlpatterns, "agents"))),
    path("api/v1/", include(api_urlpatterns)),
    *project_urlpatterns,
]
