from django.urls import path

from gateway.webhooks.apis import (
    DeliveryListApi,
    DeliveryRedeliverApi,
    DeliveryRedeliverFailedApi,
    EndpointDetailApi,
    EndpointListApi,
    EndpointRotateSecretApi,
    EndpointTestApi,
    EventFeedApi,
)

api_urlpatterns = [
    path("webhook-endpoints", EndpointListApi.as_view(), name="webhook-endpoints"),
    path("webhook-endpoints/<str:endpoint_id>", EndpointDetailApi.as_view(),
         name="webhook-endpoint"),
    path("webhook-endpoints/<str:endpoint_id>/rotate-secret", EndpointRotateSecretApi.as_view(),
         name="webhook-endpoint-rotate-secret"),
    path("webhook-endpoints/<str:endpoint_id>/test", EndpointTestApi.as_view(),
         name="webhook-endpoint-test"),
    path("webhook-endpoints/<str:endpoint_id>/deliveries", DeliveryListApi.as_view(),
         name="webhook-deliveries"),
    path("webhook-endpoints/<str:endpoint_id>/deliveries/redeliver-failed",
         DeliveryRedeliverFailedApi.as_view(), name="webhook-deliveries-redeliver-failed"),
    path("webhook-endpoints/<str:endpoint_id>/deliveries/<str:delivery_id>/redeliver",
         DeliveryRedeliverApi.as_view(), name="webhook-delivery-redeliver"),
    path("events", EventFeedApi.as_view(), name="events"),
]
