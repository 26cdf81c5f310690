"""The OpenAPI schema view, safe under a threaded web server.

drf-spectacular builds the schema through process-wide state (its extension classes resolve
their target class lazily on first use, and its generator statistics are one shared object),
so two threads of one gunicorn worker generating it at the same time can fail with an
``AttributeError`` (drf-spectacular issues 1123 and 1368). The web service runs gthread workers,
so the first requests after a start, or any two at once, could answer 500. Generating the schema
one request at a time per process removes the race; generation is rare and takes about a
second, so the wait is short.
"""

import threading

from drf_spectacular.views import SpectacularAPIView

_GENERATION = threading.Lock()


class SerializedSpectacularAPIView(SpectacularAPIView):
    """``SpectacularAPIView`` that generates one schema at a time in this process."""

    def _get_schema_response(self, request):
        with _GENERATION:
            return super()._get_schema_response(request)
