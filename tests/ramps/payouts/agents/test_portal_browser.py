"""The agent portal in a real browser: Playwright driving Debian's Chromium on a phone-sized
screen against the live server. axe-core (npm) is injected into every page shown: no serious or
critical accessibility violation. Screenshots go to test-artifacts/agents/."""

from decimal import Decimal
from pathlib import Path

import pytest

from gateway.ledger.models import JournalEntry
from gateway.transfers.models import Transfer
from gateway.transfers.states import TransferState
from ramps.payouts.agents.models import LookupAudit, Redemption
from ramps.payouts.agents.selectors import agent_float_balance
from ramps.payouts.agents.services import Counter, redemption_confirm
from tests.fixtures.browser import AXE, CHROMIUM, axe_serious_violations
from tests.ramps.payouts.agents.factories import (
    PASSWORD,
    make_agent,
    make_cash_transfer,
    make_network,
    make_pickup_corridor,
    make_staff,
    totp_now,
)

ARTIFACTS = Path(__file__).resolve().parents[4] / "test-artifacts" / "agents"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"Chromium not found at {CHROMIUM}"),
    pytest.mark.skipif(not AXE.exists(), reason="axe-core missing: run npm install"),
]



@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True, device_scale_factor=2)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def shot(page, name: str) -> None:
    """Screenshot the page, then check it with axe-core (after: the check adds its script)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    assert axe_serious_violations(page) == [], name


def sign_in(page, live_server, staff, *, token: str | None = None) -> None:
    page.goto(f"{live_server.url}/agents/login/")
    page.fill("#username", staff.user.username)
    page.fill("#password", PASSWORD)
    page.click("button.primary")
    page.wait_for_url("**/agents/verify/")
    page.fill("#token", token or totp_now(staff.user))
    page.click("button.primary")


def look_up(page, code: str) -> None:
    page.fill("#code", code)
    page.click("text=Look up")
    page.wait_for_load_state()


@pytest.fixture
def counter(db):
    network = make_network("duka")
    agent = make_agent(network, "moi-avenue", name="Moi Avenue Duka")
    staff = make_staff(agent, "wanjiru")
    transfer, _, code = make_cash_transfer(make_pickup_corridor(network))
    return {"network": network, "agent": agent, "staff": staff, "transfer": transfer,
            "code": code}


def test_sign_in_with_two_factor_redeem_and_print_receipt(page, live_server, counter):
    staff, code, agent = counter["staff"], counter["code"], counter["agent"]
    page.goto(f"{live_server.url}/agents/")
    page.wait_for_url("**/agents/login/")
    shot(page, "01-sign-in")
    page.fill("#username", "wanjiru")
    page.fill("#password", "wrong")
    page.click("button.primary")
    assert page.locator(".error").inner_text() == (
        "Wrong username or password, or the account is not agent staff.")
    page.fill("#username", "wanjiru")
    page.fill("#password", PASSWORD)
    page.click("button.primary")
    page.wait_for_url("**/agents/verify/")
    # the password alone does not open the portal
    page.goto(f"{live_server.url}/agents/")
    page.wait_for_url("**/agents/verify/")
    page.fill("#token", "000000" if totp_now(staff.user) != "000000" else "111111")
    page.click("button.primary")
    assert "That code is not valid" in page.locator(".error").inner_text()
    shot(page, "02-two-factor-wrong-code")
    page.wait_for_timeout(1100)  # django-otp refuses any code for 1 s after a wrong one
    page.fill("#token", totp_now(staff.user))
    page.click("button.primary")
    page.wait_for_url(f"{live_server.url}/agents/")
    assert page.locator("#float").inner_text() == "50000.00 KES"
    shot(page, "03-home")

    look_up(page, code.lower().replace("-", " "))
    assert page.locator("#amount").inner_text() == "12700.00 KES"
    assert page.locator("#recipient").inner_text() == "Joseph Mwangi"
    assert "+254" not in page.content()  # the phone number is not shown
    page.select_option("#id_document_type", "national_id")
    page.fill("#id_document_number", "1")
    page.click("text=Confirm payout")
    assert "4 to 30 letters" in page.locator(".error").inner_text()
    assert page.locator("#amount").inner_text() == "12700.00 KES"
    shot(page, "04-confirm-id-error")
    page.fill("#id_document_number", "12345678")
    shot(page, "05-confirm")
    page.dblclick("text=Confirm payout")  # an impatient double tap pays once
    page.wait_for_url("**/agents/receipts/**")
    receipt = page.locator("#receipt").inner_text()
    assert "12700.00 KES" in receipt
    assert "National ID card ending 5678" in receipt
    assert "Moi Avenue Duka" in receipt
    assert "12345678" not in page.content()
    assert page.locator("text=Print receipt").is_visible()
    shot(page, "06-receipt")
    page.emulate_media(media="print")
    assert not page.locator("text=Print receipt").is_visible()
    shot(page, "07-receipt-print")
    page.emulate_media(media="screen")

    assert Transfer.objects.get(pk=counter["transfer"].pk).state == TransferState.COMPLETED
    assert JournalEntry.objects.filter(reference__endswith=":payout").count() == 1
    assert agent_float_balance(agent=agent) == Decimal("37300.00")
    page.click("text=Next customer")
    assert page.locator("#float").inner_text() == "37300.00 KES"
    assert page.locator("#paid-today").inner_text() == "12700.00 KES"
    shot(page, "08-today")
    # the same code again: the counter is told it was paid, not invited to pay twice
    look_up(page, code)
    assert "already paid out" in page.locator(".error").inner_text()


def test_wrong_codes_until_lockout(page, live_server, counter):
    sign_in(page, live_server, counter["staff"])
    page.wait_for_url(f"{live_server.url}/agents/")
    left = []
    for attempt in range(5):
        look_up(page, f"ZZZZ-ZZZZ-ZZZ{attempt}")
        left.append(page.locator(".error").inner_text())
    assert left[0] == ("No payable code matches. Check the code with the recipient. "
                       "4 attempts left before lookups are locked.")
    assert left[3].endswith("1 attempt left before lookups are locked.")
    assert left[4].endswith("Lookups are now locked.")
    look_up(page, counter["code"])  # even the right code, now
    assert page.locator(".error").inner_text().startswith(
        "Too many wrong codes. Lookups are locked until")
    assert page.locator("#code").input_value() == counter["code"]
    shot(page, "09-locked-out")
    outcomes = list(LookupAudit.objects.order_by("id").values_list("outcome", flat=True))
    assert outcomes == ["not_found"] * 5 + ["locked"]
    assert Redemption.objects.get().status == Redemption.Status.ISSUED


def test_another_network_cannot_see_or_redeem_through_the_portal(page, live_server, counter):
    # a receipt of the first network's agent
    _, _, paid_code = make_cash_transfer(counter["transfer"].corridor, amount_out="500.00")
    receipt = redemption_confirm(
        counter=Counter(agent=counter["agent"], staff=counter["staff"], channel="portal"),
        code=paid_code, id_document_type="passport", id_document_number="AK123456").redemption
    rival = make_agent(make_network("rival"), "kiosk")
    rival_staff = make_staff(rival, "mallam")
    sign_in(page, live_server, rival_staff)
    page.wait_for_url(f"{live_server.url}/agents/")
    look_up(page, counter["code"])
    assert page.locator(".error").inner_text().startswith("No payable code matches.")
    assert "Joseph Mwangi" not in page.content()
    page.goto(f"{live_server.url}/agents/receipts/{receipt.public_id}/")
    assert page.locator("h1").inner_text() == "Not found"
    assert "AK123456"[-4:] not in page.content()
    shot(page, "10-other-network")
    assert Redemption.objects.get(transfer=counter["transfer"]).status == "issued"
    assert agent_float_balance(agent=rival) == Decimal("50000.00")
