from django.apps import AppConfig


class KycConfig(AppConfig):
    name = "compliance.kyc"
    label = "kyc"
    default_auto_field = "django.db.models.BigAutoField"
