"""What a KYC document upload may hold, decided by its bytes (never by its name alone).

Accepted: JPEG, PNG and PDF, at most ``KYC_DOCUMENT_MAX_BYTES``. The type is recognised from the
file's signature and the file must be whole (JPEG ends with its end-of-image marker, PNG has its
IHDR chunk first and IEND last, a PDF has an ``%%EOF`` near its end), so a truncated upload or a
program renamed ``.jpg`` is refused. The name's extension and the declared content type, when
given, must agree with what the bytes are.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from django.conf import settings

from gateway.common.problems import DomainError

DEFAULT_MAX_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class DocumentType:
    content_type: str
    extensions: tuple[str, ...]


JPEG = DocumentType("image/jpeg", (".jpg", ".jpeg"))
PNG = DocumentType("image/png", (".png",))
PDF = DocumentType("application/pdf", (".pdf",))
DOCUMENT_TYPES = (JPEG, PNG, PDF)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class DocumentRejectedError(DomainError):
    slug = "document-rejected"
    title = "The document cannot be taken"
    status = 422


class DocumentTooLargeError(DomainError):
    slug = "document-too-large"
    title = "The document is too large"
    status = 413


def document_max_bytes() -> int:
    return int(getattr(settings, "KYC_DOCUMENT_MAX_BYTES", DEFAULT_MAX_BYTES))


def document_type_detect(content: bytes) -> DocumentType | None:
    """The type the bytes are, if they are a whole JPEG, PNG or PDF; else None."""
    if content.startswith(b"\xff\xd8\xff") and content.rstrip(b"\x00").endswith(b"\xff\xd9"):
        return JPEG
    if (content.startswith(_PNG_SIGNATURE) and content[12:16] == b"IHDR"
            and content[-8:-4] == b"IEND"):
        return PNG
    if content.startswith(b"%PDF-") and b"%%EOF" in content[-1024:]:
        return PDF
    return None


def document_check(*, content: bytes, filename: str = "", declared_type: str = "") -> DocumentType:
    """The document's type; ``DocumentRejectedError`` or ``DocumentTooLargeError`` otherwise."""
    limit = document_max_bytes()
    if len(content) > limit:
        raise DocumentTooLargeError(f"The file has {len(content)} bytes; at most {limit}.",
                                    extra={"max_bytes": limit})
    if not content:
        raise DocumentRejectedError("The file is empty.")
    detected = document_type_detect(content)
    if detected is None:
        raise DocumentRejectedError(
            "The file is not a whole JPEG, PNG or PDF (judged by its content).",
            extra={"accepted_types": [kind.content_type for kind in DOCUMENT_TYPES]})
    extension = ("." + filename.rsplit(".", 1)[-1].lower()) if "." in filename else ""
    if extension and extension not in detected.extensions:
        raise DocumentRejectedError(
            f"The file is a {detected.content_type} but is named {extension}.")
    declared = declared_type.split(";", 1)[0].strip().lower()
    if declared and declared not in ("application/octet-stream", detected.content_type):
        raise DocumentRejectedError(
            f"The file is a {detected.content_type} but was sent as {declared}.")
    return detected


def document_digest(content: bytes) -> str:
    """Keyed hash of the content (``BLIND_INDEX_KEY``): finds a re-sent file without keeping a
    plain hash that anyone could test a known image against."""
    key = str(getattr(settings, "BLIND_INDEX_KEY", "")).encode()
    return hmac.new(key, b"kyc-document\x1f" + content, hashlib.sha256).hexdigest()
