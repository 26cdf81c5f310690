from django.apps import AppConfig


class ChainConfig(AppConfig):
    name = "ramps.chain"
    label = "chain"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ramps.chain.signer import signer_check_at_start

        signer_check_at_start()
