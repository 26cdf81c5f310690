from django.apps import AppConfig


class PartnersConfig(AppConfig):
    name = "gateway.partners"
    label = "partners"
    default_auto_field = "django.db.models.BigAutoField"
