"""JSON-RPC client of an EVM node: the only place that builds a web3 provider."""

from urllib.parse import urlsplit

from django.conf import settings
from web3 import Web3

from ramps.chain.models import Chain


def web3_for_url(rpc_url: str, *, timeout: float | None = None) -> Web3:
    """A Web3 over HTTP with the outbound timeout and without web3's own retries.

    The watcher polls again on its next tick, so retrying inside one call would only multiply
    the time a dead node can hold a worker.
    """
    provider = Web3.HTTPProvider(
        rpc_url,
        request_kwargs={"timeout": timeout or settings.OUTBOUND_HTTP_TIMEOUT_SECONDS},
        exception_retry_configuration=None,
    )
    return Web3(provider)


def web3_for(chain: Chain) -> Web3:
    return web3_for_url(chain.rpc_url)


def redact_rpc_url(message: str, rpc_url: str) -> str:
    """Remove the RPC URL's secret parts from ``message``.

    Hosted nodes put the API key in the path, the query or the user info, and HTTP errors quote
    the URL they failed on; such a message must not reach logs or the admin as it is.
    """
    parts = urlsplit(rpc_url)
    secrets = [rpc_url]
    if parts.path not in ("", "/"):
        secrets.append(parts.path)
    if parts.query:
        secrets.append(parts.query)
    if parts.password:
        secrets.append(parts.password)
    for secret in sorted(secrets, key=len, reverse=True):
        message = message.replace(secret, "<rpc>")
    return message
