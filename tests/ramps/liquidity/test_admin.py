"""The venue admin never shows credentials; conversion orders are read-only there."""

from decimal import Decimal

from django.urls import reverse

from ramps.liquidity.models import ConversionOrder, Venue
from ramps.liquidity.services import conversion_order_create


def test_venue_list_and_form_do_not_show_the_secret(admin_client, exchange_venue):
    secret = exchange_venue.api_secret

    listing = admin_client.get(reverse("admin:liquidity_venue_changelist"))
    change = admin_client.get(reverse("admin:liquidity_venue_change", args=[exchange_venue.pk]))

    assert listing.status_code == 200
    assert change.status_code == 200
    assert secret not in listing.content.decode()
    assert secret not in change.content.decode()
    assert exchange_venue.api_key not in listing.content.decode()


def test_saving_a_venue_without_a_secret_keeps_the_stored_one(admin_client, exchange_venue):
    url = reverse("admin:liquidity_venue_change", args=[exchange_venue.pk])

    response = admin_client.post(url, {
        "name": exchange_venue.name, "exchange_id": "luno",
        "api_base_url": exchange_venue.api_base_url, "api_key": exchange_venue.api_key,
        "api_secret": "", "is_active": "on", "taker_fee_rate": "0.003",
    })

    assert response.status_code == 302
    stored = Venue.objects.get(pk=exchange_venue.pk)
    assert stored.api_secret == exchange_venue.api_secret
    assert stored.taker_fee_rate == Decimal("0.003")


def test_unknown_exchange_id_is_refused(admin_client, db):
    response = admin_client.post(reverse("admin:liquidity_venue_add"), {
        "name": "nowhere", "exchange_id": "no-such-exchange", "api_base_url": "",
        "api_key": "", "api_secret": "", "taker_fee_rate": "0",
    })

    assert response.status_code == 200
    assert not Venue.objects.filter(name="nowhere").exists()


def test_conversion_orders_cannot_be_added_or_edited(admin_client, exchange_venue):
    order = conversion_order_create(venue=exchange_venue, reference="t-1", symbol="USDC/KES",
                                    side="sell", amount_base=Decimal("10"))
    url = reverse("admin:liquidity_conversionorder_change", args=[order.pk])

    assert admin_client.get(reverse("admin:liquidity_conversionorder_add")).status_code == 403
    admin_client.post(url, {"status": "filled", "amount_base": "99"})

    order.refresh_from_db()
    assert order.status == ConversionOrder.Status.CREATED
    assert order.amount_base == Decimal("10")


def test_refresh_action_settles_an_unknown_order(admin_client, exchange_venue, exchange_sandbox):
    from ramps.liquidity.client import venue_exchange

    order = conversion_order_create(venue=exchange_venue, reference="t-2", symbol="USDC/KES",
                                    side="sell", amount_base=Decimal("10"))
    venue_exchange(exchange_venue).create_order(
        "USDC/KES", "market", "sell", "10", None, {"client_order_id": order.client_order_id})
    ConversionOrder.objects.filter(pk=order.pk).update(status=ConversionOrder.Status.UNKNOWN)

    admin_client.post(reverse("admin:liquidity_conversionorder_changelist"),
                      {"action": "refresh_from_venue", "_selected_action": [order.pk]})

    order.refresh_from_db()
    assert order.status == ConversionOrder.Status.FILLED
    assert order.filled_base == Decimal("10")
    assert len(exchange_sandbox.order_attempts) == 1


def test_venue_secret_is_encrypted_at_rest(exchange_venue):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT api_secret FROM liquidity_venue WHERE id = %s", [exchange_venue.pk])
        stored = cursor.fetchone()[0]

    assert exchange_venue.api_secret not in stored
    assert Venue.objects.get(pk=exchange_venue.pk).api_secret == exchange_venue.api_secret
