from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "gateway.demo"
    label = "demo"
