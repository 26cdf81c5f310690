from django.urls import path

from gateway.transfers.apis import (
    InfoApi,
    PayoutCallbackApi,
    PriceApi,
    QuoteCreateApi,
    TransferCancelApi,
    TransferDetailApi,
    TransferExportApi,
    TransferListCreateApi,
)

api_urlpatterns = [
    path("quotes", QuoteCreateApi.as_view(), name="quote-create"),
    path("info", InfoApi.as_view(), name="info"),
    path("prices", PriceApi.as_view(), name="prices"),
    path("transfers", TransferListCreateApi.as_view(), name="transfer-list-create"),
    path("transfers/export", TransferExportApi.as_view(), name="transfer-export"),
    path("transfers/<str:transfer_id>", TransferDetailApi.as_view(), name="transfer-detail"),
    path("transfers/<str:transfer_id>/cancel", TransferCancelApi.as_view(),
         name="transfer-cancel"),
]

# Each rail's callback URLs carry its secret (see ramps.payouts.selectors.rail_for_callback).
callback_urlpatterns = [
    path("payouts/<slug:rail_code>/<str:secret>/result", PayoutCallbackApi.as_view(kind="result"),
         name="payout-callback-result"),
    path("payouts/<slug:rail_code>/<str:secret>/timeout",
         PayoutCallbackApi.as_view(kind="timeout"), name="payout-callback-timeout"),
]
