"""The scheduled sanctions refresh against a loopback HTTP server serving the real OFAC files:
fail-closed on an empty, broken, shrunken, missing or slow download, the 2024-04-26 ->
2024-05-03 difference, and the re-screening of active customers with a case per new hit."""

import contextlib
import shutil
import threading
import time
from datetime import timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from pathlib import Path

import pytest
from django.utils import timezone

from compliance.cases.models import Case
from compliance.kyc.models import Customer, KycTier
from compliance.models import SanctionsList, ScreeningDecision
from compliance.sanctions.refresh import sanctions_refresh
from compliance.services import sanctions_import, sanctions_list_diff, screening_whitelist_add
from compliance.tasks import sanctions_refresh_task
from tests.gateway.partners.factories import make_partner

DATA = Path(__file__).resolve().parents[2] / "compliance" / "data" / "sanctions"
SDN_0426 = DATA / "ofac-2024-04-26" / "sdn.csv"
SDN_0503 = DATA / "ofac-2024-05-03" / "sdn.csv"

pytestmark = pytest.mark.django_db


class ListServer:
    """Serves a folder over HTTP on 127.0.0.1; ``slow`` paths answer after two seconds."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.slow: set[str] = set()
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(folder), **kwargs)

            def do_GET(self):
                if self.path in server.slow:
                    time.sleep(2)
                # A slow answer finds the client gone, as it should be.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    super().do_GET()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}/{name}"

    def publish(self, source: Path, name: str = "sdn.csv") -> None:
        shutil.copyfile(source, self.folder / name)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path, settings):
    served = ListServer(tmp_path)
    settings.SANCTIONS_SOURCE_URLS = {"ofac-sdn": [served.url("sdn.csv")]}
    settings.SANCTIONS_REFRESH_MIN_RATIO = 0.9
    settings.SANCTIONS_DOWNLOAD_TIMEOUT_SECONDS = 0.5
    yield served
    served.close()


def load_screened(path: Path) -> SanctionsList:
    """A version loaded, and its customers already re-screened, before the test begins."""
    loaded = sanctions_import(source="ofac-sdn", files=[path])
    SanctionsList.objects.filter(pk=loaded.pk).update(rescreened_at=timezone.now())
    return loaded


def active_sdn() -> SanctionsList | None:
    return SanctionsList.objects.filter(source="ofac-sdn", is_active=True).first()


def customer(name: tuple[str, str], *, status=Customer.Status.ACCEPTED, dob="", country="",
             kind=Customer.Kind.NATURAL_PERSON) -> Customer:
    tier, _ = KycTier.objects.get_or_create(code="basic", defaults={"name": "Basic", "level": 1})
    fields = ({"organization.name": name[0], "organization.registration_country_code": country}
              if kind == Customer.Kind.BUSINESS else
              {"first_name": name[0], "last_name": name[1], "birth_date": dob,
               "address_country_code": country})
    return Customer.objects.create(partner=make_partner()[0], external_id=" ".join(name),
                                   role="recipient", kind=kind, tier=tier, status=status,
                                   fields=fields)


# --- the difference between two real versions ---------------------------------------------


def test_the_difference_between_the_april_26_and_may_3_lists():
    old = sanctions_import(source="ofac-sdn", files=[SDN_0426])
    new = sanctions_import(source="ofac-sdn", files=[SDN_0503])
    diff = sanctions_list_diff(old=old, new=new)
    assert (len(diff.added), len(diff.removed)) == (305, 8)
    assert sorted(diff.removed) == ["38556", "38557", "38558", "38559", "38560", "38563",
                                    "38565", "38566"]  # EMPEROR AVIATION LTD and its aircraft
    assert {"48321", "48323", "48604"} <= diff.added
    assert diff.to_screen == diff.added | diff.changed
    assert not diff.changed & diff.added


# --- refresh, switch and re-screen ----------------------------------------------------------


def test_a_refresh_switches_the_list_and_opens_a_case_for_each_newly_listed_customer(server):
    server.publish(SDN_0426)
    [first] = sanctions_refresh()
    april = active_sdn()
    # The first version ever: everything in it is new.
    assert (first.source, first.status, first.version, first.rescreen, first.added) == (
        "ofac-sdn", "switched", april.version, "done", april.entry_count)

    # AL-ZEIN, Mazen Hassan (48323, DOB 21 Jun 1974, Lebanon) is listed on 2024-05-03.
    listed = customer(("Mazen", "Al-Zein"), dob="1974-06-21", country="LB")
    pending = customer(("Ivan", "Seliverstov"), status=Customer.Status.PROCESSING)
    rejected = customer(("Firas", "Moukalled"), status=Customer.Status.REJECTED)
    cleared = customer(("Adnan", "Youssef"))
    customer(("Amina", "Odhiambo"), dob="1990-01-01", country="KE")
    screening_whitelist_add(customer_reference=str(cleared.public_id), list_source="ofac-sdn",
                            entry_id="38556", reason="not the aviation company",
                            author="officer", expires_at=timezone.now() + timedelta(days=1))

    server.publish(SDN_0503)
    [second] = sanctions_refresh()
    may = active_sdn()
    assert (second.status, second.version, second.rescreen, second.added, second.removed) == (
        "switched", may.version, "done", 305, 8)
    assert (may.replaced, may.rescreened_at is not None) == (april, True)
    cases = {case.subject_reference: case for case in Case.objects.all()}
    assert set(cases) == {f"customer:{listed.public_id}", f"customer:{pending.public_id}",
                          f"customer:{cleared.public_id}"}
    assert f"customer:{rejected.public_id}" not in cases
    case = cases[f"customer:{listed.public_id}"]
    assert case.decision.outcome == ScreeningDecision.Outcome.HOLD
    assert case.decision.list_versions == {"ofac-sdn": may.version}
    [reason] = case.reasons
    assert (reason["rule"], reason["trigger"], reason["entry_id"], reason["matched_name"],
            reason["fields"]["date_of_birth"], reason["fields"]["country"]) == (
        "sanctioned-name", "list-change", "48323", "AL-ZEIN, Mazen Hassan", "exact", "match")

    # The same list again: nothing switches and no case is opened twice.
    [third] = sanctions_refresh()
    assert (third.status, third.rescreen, Case.objects.count()) == ("unchanged", "", 3)


def failing_hook(*, diff):
    raise RuntimeError("case queue unavailable")


def test_a_failed_re_screen_is_retried_by_the_next_run(server, settings):
    load_screened(SDN_0426)
    listed = customer(("Mazen", "Al-Zein"))
    server.publish(SDN_0503)
    settings.SANCTIONS_RESCREEN_HOOK = "tests.compliance.test_refresh.failing_hook"
    [failed] = sanctions_refresh()
    assert (failed.status, failed.rescreen, failed.detail) == (
        "switched", "failed", "case queue unavailable")
    assert active_sdn().rescreened_at is None
    assert not Case.objects.exists()
    del settings.SANCTIONS_RESCREEN_HOOK  # the default hook
    [retried] = sanctions_refresh()
    assert (retried.status, retried.rescreen, retried.added) == ("unchanged", "done", 305)
    assert [case.subject_reference for case in Case.objects.all()] == [
        f"customer:{listed.public_id}"]


def test_a_list_loaded_by_the_command_is_re_screened_by_the_next_run(settings):
    from django.core.management import call_command

    settings.SANCTIONS_SOURCE_URLS = {}
    listed = customer(("Viktor", "Bout"))
    call_command("import_sanctions", str(SDN_0503), stdout=StringIO())
    [result] = sanctions_refresh()
    assert (result.source, result.status, result.rescreen) == ("ofac-sdn", "unchanged", "done")
    [case] = Case.objects.all()
    assert case.subject_reference == f"customer:{listed.public_id}"
    assert case.reasons[0]["matched_name"] == "BOUT, Viktor Anatolijevitch"


def test_a_setting_naming_the_customers_hook_by_its_old_path_still_opens_cases(settings):
    from django.core.management import call_command

    settings.SANCTIONS_SOURCE_URLS = {}
    settings.SANCTIONS_RESCREEN_HOOK = "compliance.sanctions.rescreen.customers_rescreen"
    listed = customer(("Viktor", "Bout"))
    call_command("import_sanctions", str(SDN_0503), stdout=StringIO())
    [result] = sanctions_refresh()
    assert result.rescreen == "done"
    assert [case.subject_reference for case in Case.objects.all()] == [
        f"customer:{listed.public_id}"]


def test_a_rerun_of_the_hook_for_the_same_difference_opens_nothing_new(server):
    from compliance.cases.rescreen import customers_rescreen

    old = sanctions_import(source="ofac-sdn", files=[SDN_0426])
    new = sanctions_import(source="ofac-sdn", files=[SDN_0503])
    customer(("Mazen", "Al-Zein"))
    diff = sanctions_list_diff(old=old, new=new)
    assert len(customers_rescreen(diff=diff).cases) == 1
    again = customers_rescreen(diff=diff)
    assert (again.screened_hits, again.cases, Case.objects.count()) == (1, [], 1)


def test_a_business_customer_is_screened_on_its_registered_name(server):
    load_screened(SDN_0426)
    business = customer(("Wuhan Global Sensor Technology Co. Ltd", ""), country="CN",
                        kind=Customer.Kind.BUSINESS)
    server.publish(SDN_0503)
    sanctions_refresh()
    [case] = Case.objects.all()
    assert case.subject_reference == f"customer:{business.public_id}"
    assert [(reason["entry_id"], reason["matched_name"]) for reason in case.reasons] == [
        ("46633", "WUHAN GLOBAL SENSOR TECHNOLOGY CO., LTD.")]


def test_the_task_refreshes_and_reports_each_source(server):
    server.publish(SDN_0426)
    [report] = sanctions_refresh_task()
    assert (report["source"], report["status"], report["version"]) == (
        "ofac-sdn", "switched", active_sdn().version)


def test_an_empty_hook_setting_switches_without_re_screening(server, settings):
    settings.SANCTIONS_RESCREEN_HOOK = ""
    load_screened(SDN_0426)
    customer(("Mazen", "Al-Zein"))
    server.publish(SDN_0503)
    assert sanctions_refresh()[0].status == "switched"
    assert not Case.objects.exists()


# --- fail closed ----------------------------------------------------------------------------


def _truncated(tmp_path) -> Path:
    """The first fifth of the file: parses as a shorter list, not as an error."""
    data = SDN_0503.read_bytes()
    cut = tmp_path / "truncated.csv"
    cut.write_bytes(data[:data.index(b"\r\n", len(data) // 5) + 2])
    return cut


@pytest.mark.parametrize(("content", "message"), [
    (b"", "the files hold no entries"),
    (b"\x00\x01garbage without a single entry\r\n", "the files hold no entries"),
    ("truncated", "below 90%; active list kept"),
])
def test_an_empty_broken_or_shrunken_download_keeps_the_active_list(server, tmp_path, content,
                                                                    message):
    april = load_screened(SDN_0426)
    customer(("Mazen", "Al-Zein"))
    if content == "truncated":
        server.publish(_truncated(tmp_path))
    else:
        (server.folder / "sdn.csv").write_bytes(content)
    [result] = sanctions_refresh()
    assert (result.status, result.version) == ("failed", april.version)
    assert message in result.detail
    assert active_sdn() == april
    assert SanctionsList.objects.filter(source="ofac-sdn").count() == 1
    assert not Case.objects.exists()


def test_a_missing_file_or_a_slow_server_keeps_the_active_list(server):
    april = load_screened(SDN_0426)
    [missing] = sanctions_refresh()
    assert (missing.status, active_sdn()) == ("failed", april)
    assert "404" in missing.detail
    server.publish(SDN_0503)
    server.slow.add("/sdn.csv")
    [slow] = sanctions_refresh()
    assert (slow.status, active_sdn()) == ("failed", april)
    assert "timed out" in slow.detail


def test_with_no_list_yet_a_failed_refresh_leaves_screening_closed(server):
    (server.folder / "sdn.csv").write_bytes(b"")
    [result] = sanctions_refresh()
    assert (result.status, result.version, active_sdn()) == ("failed", "", None)
