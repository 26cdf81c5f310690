"""Partner API-key authentication (placeholder replaced by the partners app)."""
