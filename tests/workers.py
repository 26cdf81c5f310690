"""Functions run in separate processes by tests (multiprocessing 'spawn'): they import Django
themselves, so this module must not import any model at top level."""

import os


def transition_in_subprocess(transfer_id: int, target: str, expect_from: str,
                             database_name: str, queue) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django
    from django.conf import settings

    settings.DATABASES["default"]["NAME"] = database_name
    django.setup()
    from gateway.common.problems import InvalidTransitionError
    from gateway.transfers.services.machine import transfer_transition

    try:
        transfer_transition(transfer_id=transfer_id, to_state=target,
                            expect_from=frozenset({expect_from}))
        queue.put("won")
    except InvalidTransitionError:
        queue.put("refused")
