"""HTTP client for partners' webhook endpoints, refusing private addresses when it connects.

Outside demo mode a URL whose host is (or resolves to) a private, loopback, link-local or other
non-global address is refused. The check runs when each connection opens: the host is resolved,
every address is checked, and the socket connects to the checked address (TLS still verifies the
host name), so a DNS answer cannot point a public name at an internal service between the check
and the call. Proxies from the environment are ignored for the same reason.
"""

import ipaddress
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NameResolutionError, NewConnectionError

ERROR_TEXT_LIMIT = 500


class AddressRefusedError(ValueError):
    """The host is, or resolves to, an address webhooks may not be sent to."""


def address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def host_addresses_check(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, all of them public; raises ``AddressRefusedError``
    (or ``socket.gaierror`` when the name does not resolve)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    refused = [address for address in addresses if not address_is_public(address)]
    if refused:
        raise AddressRefusedError(
            f"{host} resolves to {', '.join(refused)}, which is not a public address.")
    return addresses


def private_addresses_allowed() -> bool:
    return bool(settings.WEBHOOK_ALLOW_PRIVATE_URLS)


class _CheckedAddressMixin:
    """Resolves and checks the host, then connects to the checked address."""

    def _new_conn(self):
        if private_addresses_allowed():
            return super()._new_conn()
        try:
            addresses = host_addresses_check(self._dns_host, self.port)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        except AddressRefusedError as exc:
            raise NewConnectionError(self, f"refused: {exc}") from exc
        original = self._dns_host
        self._dns_host = addresses[0]
        try:
            return super()._new_conn()
        finally:
            self._dns_host = original


class CheckedHTTPConnection(_CheckedAddressMixin, HTTPConnection):
    pass


class CheckedHTTPSConnection(_CheckedAddressMixin, HTTPSConnection):
    pass


class CheckedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = CheckedHTTPConnection


class CheckedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = CheckedHTTPSConnection


class CheckedAddressAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": CheckedHTTPConnectionPool,
                                                   "https": CheckedHTTPSConnectionPool}


_local = threading.local()


def _session() -> requests.Session:
    """One keep-alive session per thread (a ``requests.Session`` is not shared across threads)."""
    session = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        session.trust_env = False
        adapter = CheckedAddressAdapter(pool_connections=32, pool_maxsize=4, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        _local.session = session
    return session


@dataclass(frozen=True)
class PostResult:
    status_code: int | None
    error: str

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def webhook_post(*, url: str, body: bytes, headers: dict[str, str],
                 timeout: float) -> PostResult:
    """POST once, redirects not followed (a 3xx means the body reached no receiver). At most
    ``ERROR_TEXT_LIMIT`` characters of a failed answer are kept, read within the timeout."""
    deadline = time.monotonic() + timeout
    try:
        with _session().post(url, data=body, headers=headers, timeout=timeout,
                             allow_redirects=False, stream=True) as response:
            # Read (a short answer entirely, so the connection can be kept alive).
            text = b""
            for chunk in response.iter_content(chunk_size=ERROR_TEXT_LIMIT):
                text += chunk
                if len(text) >= ERROR_TEXT_LIMIT or time.monotonic() > deadline:
                    break
            if 200 <= response.status_code < 300:
                return PostResult(response.status_code, "")
            return PostResult(response.status_code,
                              text[:ERROR_TEXT_LIMIT].decode("utf-8", "replace"))
    except requests.RequestException as exc:
        return PostResult(None, f"{type(exc).__name__}: {exc}"[:ERROR_TEXT_LIMIT])


def url_host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
