from django.apps import AppConfig


class LiquidityConfig(AppConfig):
    name = "ramps.liquidity"
    label = "liquidity"
    default_auto_field = "django.db.models.BigAutoField"
