"""Container health check of the web process: GET /api/schema/ on the local gunicorn.

Django answers 400 to a Host header outside DJANGO_ALLOWED_HOSTS, and a plain request to
127.0.0.1 would carry exactly such a header; so the request names the first allowed host
instead. Exit status 0 means healthy, anything else unhealthy (Docker's HEALTHCHECK contract).
Standard library only: the runtime image has no curl.
"""

import http.client
import os
import sys

HEALTH_PATH = "/api/schema/"
DEFAULT_PORT = 8000


def host_header(allowed_hosts: str) -> str:
    """A Host value that Django's ALLOWED_HOSTS check accepts, from the comma-separated list."""
    for entry in (part.strip() for part in allowed_hosts.split(",")):
        if not entry:
            continue
        if entry == "*":
            return "localhost"
        # ".example.com" allows example.com and every subdomain of it.
        return entry.lstrip(".")
    # Nothing allowed: Django rejects every request, and the check should say so.
    return "localhost"


def check(port: int = DEFAULT_PORT, timeout: float = 8.0) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(
            "GET", HEALTH_PATH,
            headers={"Host": host_header(os.environ.get("DJANGO_ALLOWED_HOSTS", ""))},
        )
        response = connection.getresponse()
        response.read()
        return response.status == 200
    except OSError:
        return False
    finally:
        connection.close()


if __name__ == "__main__":
    port = int(os.environ.get("HEALTHCHECK_PORT", DEFAULT_PORT))
    sys.exit(0 if check(port) else 1)
