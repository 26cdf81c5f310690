from django.urls import path

from gateway.transfers.apis import (
    PayoutCallbackApi,
    QuoteCreateApi,
    TransferCreateApi,
    TransferDetailApi,
)

api_urlpatterns = [
    path("quotes", QuoteCreateApi.as_view(), name="quote-create"),
    path("transfers", TransferCreateApi.as_view(), name="transfer-create"),
    path("transfers/<str:transfer_id>", TransferDetailApi.as_view(), name="transfer-detail"),
]

callback_urlpatterns = [
    path("payouts/<slug:rail_code>/result", PayoutCallbackApi.as_view(kind="result"),
         name="payout-callback-result"),
    path("payouts/<slug:rail_code>/timeout", PayoutCallbackApi.as_view(kind="timeout"),
         name="payout-callback-timeout"),
]
