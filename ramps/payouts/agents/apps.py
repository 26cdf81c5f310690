from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "ramps.payouts.agents"
    label = "agents"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Cash pickup agents"
