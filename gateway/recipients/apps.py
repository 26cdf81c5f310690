from django.apps import AppConfig


class RecipientsConfig(AppConfig):
    name = "gateway.recipients"
    label = "recipients"
    default_auto_field = "django.db.models.BigAutoField"
