from django.urls import path

from compliance.kyc.apis import CustomerApi

urlpatterns = [
    path("customers", CustomerApi.as_view(), name="customer"),
]
