from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "gateway.agents"
    label = "agents"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Cash pickup agents"
