from django.urls import path

from gateway.recipients.apis import RecipientDetailApi, RecipientListCreateApi

urlpatterns = [
    path("recipients", RecipientListCreateApi.as_view(), name="recipient-list-create"),
    path("recipients/<str:recipient_id>", RecipientDetailApi.as_view(),
         name="recipient-detail"),
]
