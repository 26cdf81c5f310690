"""The JSON-RPC client module."""

from django.test import override_settings

from ramps.chain.client import redact_rpc_url, web3_for_url


def test_provider_has_the_outbound_timeout_and_no_retries():
    with override_settings(OUTBOUND_HTTP_TIMEOUT_SECONDS=3.5):
        w3 = web3_for_url("http://127.0.0.1:8545")

    assert w3.provider.get_request_kwargs()["timeout"] == 3.5
    assert w3.provider.exception_retry_configuration is None


def test_secret_parts_of_the_rpc_url_are_redacted():
    url = "https://user:s3cret@polygon.example.com/v3/abcdef0123?key=zzz"
    message = f"HTTPError: 401 for url: {url} (path /v3/abcdef0123?key=zzz)"

    redacted = redact_rpc_url(message, url)

    assert "abcdef0123" not in redacted
    assert "s3cret" not in redacted
    assert "zzz" not in redacted
    assert redacted.startswith("HTTPError: 401 for url: <rpc>")


def test_plain_local_url_is_redacted_whole():
    assert redact_rpc_url("boom at http://127.0.0.1:1", "http://127.0.0.1:1") == "boom at <rpc>"
