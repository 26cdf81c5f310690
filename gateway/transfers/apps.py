from django.apps import AppConfig


class TransfersConfig(AppConfig):
    name = "gateway.transfers"
    label = "transfers"
    default_auto_field = "django.db.models.BigAutoField"
