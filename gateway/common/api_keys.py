"""Where an API key travels in a request: shared by the partners' and the agent networks' keys."""


def api_key_from_headers(meta: dict) -> str:
    """``Authorization: Api-Key <key>`` or ``X-API-Key: <key>``; empty string if neither."""
    authorization = meta.get("HTTP_AUTHORIZATION", "")
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() == "api-key" and key.strip():
        return key.strip()
    return meta.get("HTTP_X_API_KEY", "").strip()
