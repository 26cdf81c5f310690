"""The operator console in a real browser (Playwright driving Debian's Chromium at 1440 px):
sign-in with two factors, the dashboard, the queue, the transfer page, a maker-checker approval
by two operators and an action refused to a role without its permission. axe-core (npm) is
injected into each page: no serious or critical accessibility violation. Screenshots go to
test-artifacts/console/."""

from pathlib import Path

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from compliance.cases.models import Case
from compliance.cases.services import case_open
from compliance.models import ScreeningDecision
from gateway.transfers.models import Transfer
from gateway.transfers.states import TransferState
from tests.fixtures.browser import AXE, CHROMIUM, axe_serious_violations
from tests.gateway.console.factories import OPERATOR_PASSWORD, make_operator
from tests.gateway.transfers.factories import make_transfer

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "test-artifacts" / "console"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"Chromium not found at {CHROMIUM}"),
    pytest.mark.skipif(not AXE.exists(), reason="axe-core missing: run npm install"),
]


@pytest.fixture(autouse=True)
def _no_otp_throttle(settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0



@pytest.fixture
def new_page(browser):
    contexts = []

    def make():
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    yield make
    for context in contexts:
        context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def code_of(user) -> str:
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


def sign_in(page, live_server, user, next_path: str = "/admin/") -> None:
    page.goto(f"{live_server.url}{next_path}")
    page.wait_for_url("**/admin/login/**")
    page.fill("#id_username", user.username)
    page.fill("#id_password", OPERATOR_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/two-factor/**")
    page.fill("#token", code_of(user))
    page.click("input[type=submit]")
    page.wait_for_load_state()


def held_transfer(**overrides) -> Transfer:
    transfer = make_transfer(state=TransferState.ON_HOLD, **overrides)
    decision = ScreeningDecision.objects.create(
        subject_reference=transfer.reference, outcome=ScreeningDecision.Outcome.HOLD,
        reasons=[{"rule": "sanctions-name", "entry_id": "OFAC-36", "score": 0.91}],
        rules_version="t", list_versions={})
    Transfer.objects.filter(pk=transfer.pk).update(compliance_decision=decision,
                                                   hold_reason="sanctions-name")
    case_open(subject_reference=transfer.reference, reasons=decision.reasons,
              decision_id=decision.pk)
    return Transfer.objects.get(pk=transfer.pk)


def test_two_factor_sign_in_dashboard_queue_and_transfer_page(new_page, live_server):
    lead = make_operator("lead", roles=["compliance"]).user
    held = held_transfer()
    for _ in range(3):
        make_transfer(state=TransferState.COMPLETED, corridor=held.corridor,
                      partner=held.partner)
    page = new_page()
    page.goto(f"{live_server.url}/admin/")
    page.wait_for_url("**/admin/login/**")
    shot(page, "01-sign-in")
    page.fill("#id_username", "lead")
    page.fill("#id_password", OPERATOR_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/two-factor/**")
    page.goto(f"{live_server.url}/admin/transfers/transfer/")  # the password alone is not enough
    page.wait_for_url("**/admin/two-factor/**")
    page.fill("#token", "000000" if code_of(lead) != "000000" else "111111")
    page.click("input[type=submit]")
    assert "That code is not valid" in page.locator("#error").inner_text()
    shot(page, "02-second-factor-refused")
    page.fill("#token", code_of(lead))
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/transfers/transfer/")  # where the operator was going
    shot(page, "03-transfer-list-1440")
    assert page.locator("#result_list tbody tr").count() == 4
    page.goto(f"{live_server.url}/admin/")
    page.wait_for_selector("#dashboard")
    assert page.locator("#kpi-transfers").inner_text() == "4"
    assert page.locator("#kpi-completed").inner_text() == "3"
    assert page.locator("#dashboard svg.chart").count() == 6
    shot(page, "04-dashboard")
    assert axe_serious_violations(page) == []

    page.click("#kpi-attention")
    page.wait_for_selector("#attention")
    assert page.locator("#queue tbody tr").count() == 1
    assert page.locator("#queue").inner_text().count("Work the compliance case") == 1
    shot(page, "05-needs-attention")
    assert axe_serious_violations(page) == []

    page.goto(f"{live_server.url}/admin/transfers/transfer/{held.pk}/change/")
    assert "sanctions-name OFAC-36 score 0.91" in page.content()
    assert "Joseph Mwangi" in page.content()  # compliance may see the parties
    shot(page, "06-transfer-page")
    assert axe_serious_violations(page) == []


def choose_action(page, live_server, transfer, action: str, reason: str) -> str:
    page.goto(f"{live_server.url}/admin/transfers/transfer/")
    page.check(f"input[name=_selected_action][value='{transfer.pk}']")
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")
    page.wait_for_selector("#action-reason")
    page.fill("#reason", reason)
    page.click("#action-reason input[type=submit]")
    page.wait_for_load_state()
    return page.locator("ul.messagelist").inner_text()


def test_maker_checker_approval_by_two_operators(new_page, live_server):
    maker = make_operator("amina", roles=["compliance"]).user
    checker = make_operator("bongani", roles=["compliance"]).user
    transfer = held_transfer()

    first = new_page()
    sign_in(first, live_server, maker)
    message = choose_action(first, live_server, transfer, "approve_held", "payslip matches")
    assert "approve proposed on case" in message
    shot(first, "07-maker-proposes")
    assert Transfer.objects.get(pk=transfer.pk).state == TransferState.ON_HOLD
    message = choose_action(first, live_server, transfer, "approve_held", "me again")
    assert "cannot confirm" in message
    assert Transfer.objects.get(pk=transfer.pk).state == TransferState.ON_HOLD

    second = new_page()
    sign_in(second, live_server, checker)
    message = choose_action(second, live_server, transfer, "approve_held", "agreed")
    assert "approve confirmed (proposed by amina)" in message
    shot(second, "08-checker-confirms")
    transfer.refresh_from_db()
    assert transfer.state != TransferState.ON_HOLD
    assert transfer.compliance_decision.decided_by == "bongani"
    assert Case.objects.get().status == Case.Status.CLOSED
    second.goto(f"{live_server.url}/admin/transfers/transfer/{transfer.pk}/change/")
    trail = second.locator(".field-audit_trail").inner_text()
    assert "payslip matches" in trail
    assert "agreed" in trail


def test_an_action_is_refused_to_a_role_without_its_permission(new_page, live_server):
    support = make_operator("sipho", roles=["support"]).user
    transfer = held_transfer()
    page = new_page()
    sign_in(page, live_server, support)
    page.goto(f"{live_server.url}/admin/transfers/transfer/")
    options = page.locator("select[name=action] option").all_inner_texts()
    assert not any("Approve held" in option for option in options)
    assert "Joseph Mwangi" not in page.content()
    response = page.goto(f"{live_server.url}/admin/cases/case/{Case.objects.get().pk}/act/")
    assert response.status == 403
    shot(page, "09-refused")
    assert Transfer.objects.get(pk=transfer.pk).state == TransferState.ON_HOLD
    assert not ScreeningDecision.objects.filter(supersedes__isnull=False).exists()
