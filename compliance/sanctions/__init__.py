"""Sanctions lists: parsers of the published formats, the download client, the refresh task."""
