"""Pluggable SMS notifier for redemption codes.

``AGENTS_SMS_NOTIFIER`` in settings names the class (dotted path); the default writes the message
to the console, which is what the demo needs. A message carries a redemption code, a secret: the
log notifier therefore logs only that a message went out, and a production deployment names a
real SMS provider's class here.
"""

import logging
import sys
from typing import ClassVar, Protocol

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

DEFAULT_NOTIFIER = "ramps.payouts.agents.notifier.ConsoleSmsNotifier"


class SmsNotifier(Protocol):
    def send(self, *, phone_number: str, message: str) -> None: ...


def phone_mask(phone_number: str) -> str:
    """Enough of a number to tell messages apart in a log, not enough to identify anyone."""
    return f"{phone_number[:4]}***{phone_number[-2:]}" if len(phone_number) > 6 else "***"


class ConsoleSmsNotifier:
    """Demo and development: prints the message (code included) on standard output."""

    def send(self, *, phone_number: str, message: str) -> None:
        sys.stdout.write(f"[sms to {phone_number}] {message}\n")
        sys.stdout.flush()


class LogSmsNotifier:
    """Records that a message was sent, without its content (the code is a secret)."""

    def send(self, *, phone_number: str, message: str) -> None:
        logger.info("sms of %s characters to %s", len(message), phone_mask(phone_number))


class MemorySmsNotifier:
    """Tests: keeps every message in ``sent`` (class-wide, cleared by the tests)."""

    sent: ClassVar[list[tuple[str, str]]] = []

    def send(self, *, phone_number: str, message: str) -> None:
        self.sent.append((phone_number, message))


def sms_notifier() -> SmsNotifier:
    return import_string(getattr(settings, "AGENTS_SMS_NOTIFIER", DEFAULT_NOTIFIER))()


def sms_send(*, phone_number: str, message: str) -> None:
    """Send, and log a failure rather than raise: the code can be reissued, the payout state
    must not depend on an SMS gateway."""
    try:
        sms_notifier().send(phone_number=phone_number, message=message)
    except Exception:
        logger.exception("sms to %s failed", phone_mask(phone_number))
