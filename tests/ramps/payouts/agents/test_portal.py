"""Portal access rules through Django's test client (the browser tests cover the flows)."""

import pytest
from django.contrib.auth import get_user_model
from django_otp.plugins.otp_totp.models import TOTPDevice

from ramps.payouts.agents.models import LookupAudit
from tests.ramps.payouts.agents.factories import (
    PASSWORD,
    make_agent,
    make_cash_transfer,
    make_network,
    make_pickup_corridor,
    make_staff,
    totp_now,
)


@pytest.fixture
def agent(db):
    return make_agent(make_network("duka"), "moi-avenue")


def signed_in(client, staff, *, verify=True):
    client.post("/agents/login/", {"username": staff.user.username, "password": PASSWORD})
    if verify:
        assert client.post("/agents/verify/", {"token": totp_now(staff.user)}).status_code == 302
    return client


def test_password_alone_does_not_open_the_portal_for_payout_staff(client, agent):
    staff = make_staff(agent, "wanjiru")
    signed_in(client, staff, verify=False)
    for path in ["/agents/", "/agents/receipts/x/"]:
        response = client.get(path)
        assert (response.status_code, response["Location"]) == (302, "/agents/verify/")
    assert client.post("/agents/lookup/", {"code": "x"})["Location"] == "/agents/verify/"
    assert not LookupAudit.objects.exists()


def test_payout_staff_without_an_authenticator_is_told_so(client, agent):
    staff = make_staff(agent, "new", with_totp=False)
    signed_in(client, staff, verify=False)
    response = client.post("/agents/verify/", {"token": "123456"})
    assert response.status_code == 401
    assert b"No authenticator app is set up" in response.content


def test_viewer_staff_sees_the_float_but_cannot_look_up_codes(client, agent):
    staff = make_staff(agent, "viewer", can_pay_out=False, with_totp=False)
    _, _, code = make_cash_transfer(make_pickup_corridor(agent.network))
    client.post("/agents/login/", {"username": "viewer", "password": PASSWORD})
    home = client.get("/agents/")
    assert home.status_code == 200
    assert b"50000.00 KES" in home.content
    assert b'name="code"' not in home.content
    refused = client.post("/agents/lookup/", {"code": code})
    assert refused.status_code == 403
    assert b"Only staff allowed to pay out" in refused.content
    assert b"Joseph Mwangi" not in refused.content
    assert not TOTPDevice.objects.filter(user=staff.user).exists()


def test_a_user_who_is_not_agent_staff_cannot_sign_in(client, db):
    get_user_model().objects.create_user(username="ops", password=PASSWORD)
    response = client.post("/agents/login/", {"username": "ops", "password": PASSWORD})
    assert response.status_code == 401
    assert client.get("/agents/")["Location"] == "/agents/login/"


def test_bad_input_gets_a_clear_page_never_a_500(client, agent):
    staff = make_staff(agent, "wanjiru")
    signed_in(client, staff)
    assert client.get("/agents/receipts/not-a-uuid/").status_code == 404
    assert client.get(
        "/agents/receipts/00000000-0000-0000-0000-000000000000/").status_code == 404
    response = client.post("/agents/lookup/", {"code": "é" * 5000})
    assert response.status_code == 404
    assert b"No payable code matches" in response.content
    response = client.post("/agents/confirm/", {"code": "", "id_document_type": "passport",
                                                "id_document_number": "AB12345"})
    assert response.status_code == 404
    assert client.get("/agents/lookup/").status_code == 405


@pytest.mark.parametrize(("zone", "abbreviation"), [("Africa/Nairobi", "EAT"), ("UTC", "UTC"),
                                                    ("Asia/Kolkata", "IST")])
def test_the_receipt_shows_the_time_in_the_agents_own_zone(client, agent, zone, abbreviation):
    from zoneinfo import ZoneInfo

    from ramps.payouts.agents.services import Counter, redemption_confirm

    agent.timezone = zone
    agent.save(update_fields=["timezone"])
    staff = make_staff(agent, "achieng")
    _, _, code = make_cash_transfer(make_pickup_corridor(agent.network))
    redemption = redemption_confirm(
        counter=Counter(agent=agent, staff=staff, channel="portal"), code=code,
        id_document_type="passport", id_document_number="AK123456").redemption
    signed_in(client, staff)
    page = client.get(f"/agents/receipts/{redemption.public_id}/").content.decode()
    local = redemption.paid_at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")
    assert f"{local} {abbreviation}" in page
