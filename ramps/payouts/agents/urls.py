"""Routes of cash pickup: the agent portal (include under ``agents/`` with namespace
``agents``) and the API (include under ``api/v1/``)."""

from django.urls import path

from ramps.payouts.agents import apis, views

portal_urlpatterns = [
    path("", views.portal_home, name="home"),
    path("login/", views.portal_login, name="login"),
    path("verify/", views.portal_verify, name="verify"),
    path("logout/", views.portal_logout, name="logout"),
    path("lookup/", views.portal_lookup, name="lookup"),
    path("confirm/", views.portal_confirm, name="confirm"),
    path("receipts/<str:receipt_id>/", views.portal_receipt, name="receipt"),
]

api_urlpatterns = [
    path("agent-network/redemptions/lookup", apis.RedemptionLookupApi.as_view(),
         name="agent-redemption-lookup"),
    path("agent-network/redemptions/confirm", apis.RedemptionConfirmApi.as_view(),
         name="agent-redemption-confirm"),
    path("agent-network/agents/<slug:agent_code>/float", apis.AgentFloatApi.as_view(),
         name="agent-float"),
    path("transfers/<str:transfer_id>/cash-pickup", apis.TransferCashPickupApi.as_view(),
         name="transfer-cash-pickup"),
    path("transfers/<str:transfer_id>/cash-pickup/reissue",
         apis.TransferCashPickupReissueApi.as_view(), name="transfer-cash-pickup-reissue"),
]
