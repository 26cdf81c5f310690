from django.urls import path

from gateway.partners.apis import (
    CustomerDocumentDetailApi,
    CustomerDocumentListCreateApi,
    CustomerErasureApi,
    CustomerErasureDetailApi,
)

api_urlpatterns = [
    path("customers/<str:customer_id>", CustomerErasureApi.as_view(), name="customer-erase"),
    path("customers/<str:customer_id>/erasure", CustomerErasureDetailApi.as_view(),
         name="customer-erasure"),
    path("customers/<str:customer_id>/documents", CustomerDocumentListCreateApi.as_view(),
         name="customer-documents"),
    path("customers/<str:customer_id>/documents/<str:document_id>",
         CustomerDocumentDetailApi.as_view(), name="customer-document"),
]
