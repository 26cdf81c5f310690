from django.urls import path

from compliance.monitoring.apis import TravelRuleValidateApi

urlpatterns = [
    path("travel-rule/validate", TravelRuleValidateApi.as_view(), name="travel-rule-validate"),
]
