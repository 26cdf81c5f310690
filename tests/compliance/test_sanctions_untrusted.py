"""Sanctions list files are untrusted input: an XML bomb or external entity, a file in another
encoding, a four-file set that lost its aliases and a list much smaller than the active one are
refused or flagged with a readable message, and the active version stays in place."""

import re
import shutil
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compliance.models import SanctionedName, SanctionsList
from compliance.sanctions.parsers import sanctions_parse_ofac_sdn_csv
from compliance.services import SanctionsImportError, sanctions_import

DATA = Path(__file__).resolve().parents[2] / "compliance" / "data" / "sanctions"
SDN_CSV = DATA / "ofac-2024-05-03" / "sdn.csv"
UN_XML = DATA / "un-2026-02" / "consolidated.xml"
LEGACY_SET = DATA / "ofac-2021-07"

pytestmark = pytest.mark.django_db


def active(source: str) -> SanctionsList | None:
    return SanctionsList.objects.filter(source=source, is_active=True).first()


def un_list(body: str, doctype: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>{doctype}<CONSOLIDATED_LIST '
            f'dateGenerated="2026-02-01T00:00:00"><INDIVIDUALS><INDIVIDUAL>'
            f"<REFERENCE_NUMBER>QDi.001</REFERENCE_NUMBER>{body}</INDIVIDUAL></INDIVIDUALS>"
            f"</CONSOLIDATED_LIST>").encode()


BOMB = un_list("<FIRST_NAME>&l2;</FIRST_NAME>", doctype=(
    '<!DOCTYPE CONSOLIDATED_LIST [<!ENTITY l0 "lol"><!ENTITY l1 "&l0;&l0;&l0;&l0;&l0;&l0;">'
    '<!ENTITY l2 "&l1;&l1;&l1;&l1;&l1;&l1;&l1;">]>'))
EXTERNAL_ENTITY = un_list("<FIRST_NAME>&secret;</FIRST_NAME>", doctype=(
    '<!DOCTYPE CONSOLIDATED_LIST [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'))


@pytest.mark.parametrize("content", [BOMB, EXTERNAL_ENTITY], ids=["bomb", "external-entity"])
def test_an_xml_list_declaring_entities_is_refused_readably_and_the_active_list_kept(
        tmp_path, content):
    loaded = sanctions_import(source="un-consolidated", files=[UN_XML])
    hostile = tmp_path / "consolidated.xml"
    hostile.write_bytes(content)

    with pytest.raises(SanctionsImportError) as excinfo:
        sanctions_import(source="un-consolidated", files=[hostile])
    assert "consolidated.xml: the XML declares entities" in excinfo.value.detail
    with pytest.raises(CommandError) as command_error:
        call_command("import_sanctions", str(hostile), stdout=StringIO(), stderr=StringIO())
    assert str(command_error.value).startswith(
        f"{hostile}: consolidated.xml: the XML declares entities")

    assert list(SanctionsList.objects.values_list("pk", "is_active")) == [(loaded.pk, True)]
    assert not SanctionedName.objects.filter(name__contains="lol").exists()
    assert not SanctionedName.objects.filter(name__contains="root:").exists()


names = st.lists(
    st.text(alphabet="AÁÄÅBCÇDEÉÈFGHIÍÏJKLMNÑOÓÖØPQRSTUÚÜVWXYÝZ", min_size=2, max_size=12),
    min_size=2, max_size=3).map(" ".join)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=names)
def test_an_sdn_file_in_utf8_or_latin1_gives_the_same_names(tmp_path, name):
    """OFAC publishes Latin-1 (ASCII in practice); a file saved as UTF-8 on the way must not
    turn MÜLLER into MÃ\x9cLLER, which no screening would match."""
    row = f'36,"{name}","individual","SDGT",-0-,-0-,-0-,-0-,-0-,-0-,-0-,-0-\r\n'
    parsed = {}
    for encoding in ("latin-1", "utf-8", "cp1252"):
        path = tmp_path / f"sdn-{encoding}.csv"
        path.write_bytes(row.encode(encoding))
        parsed[encoding] = sanctions_parse_ofac_sdn_csv(path).entries["36"].names
    assert parsed["latin-1"] == parsed["utf-8"] == parsed["cp1252"] == [name]


def test_a_windows_1252_copy_keeps_its_typographic_apostrophe(tmp_path):
    path = tmp_path / "sdn.csv"
    row = '37,"O\u2019BRIEN, Se\u00e1n","individual","SDGT",-0-,-0-,-0-,-0-,-0-,-0-,-0-,-0-\r\n'
    path.write_bytes(row.encode("cp1252"))
    assert sanctions_parse_ofac_sdn_csv(path).entries["37"].names == ["O\u2019BRIEN, Se\u00e1n"]


def test_a_four_file_set_that_lost_its_aliases_is_refused_by_the_refresh_guard(tmp_path):
    """The entries are all there, so counting entries alone lets it through; the aliases an
    empty alt.csv drops are most of what screening matches on."""
    loaded = sanctions_import(source="ofac-sdn", files=sorted(LEGACY_SET.iterdir()))
    folder = tmp_path / "set"
    shutil.copytree(LEGACY_SET, folder)
    (folder / "alt.csv").write_bytes(b"")

    with pytest.raises(SanctionsImportError) as excinfo:
        sanctions_import(source="ofac-sdn", files=sorted(folder.iterdir()), min_ratio=0.9)
    assert excinfo.value.detail == (
        f"ofac-sdn: 11417 names and aliases against {loaded.name_count} active, below 90%; "
        "active list kept.")
    assert loaded.name_count == 23321
    assert list(SanctionsList.objects.values_list("pk", "is_active")) == [(loaded.pk, True)]


def truncated_sdn(tmp_path) -> Path:
    data = SDN_CSV.read_bytes()
    cut = tmp_path / "sdn.csv"
    cut.write_bytes(data[:data.index(b"\r\n", len(data) // 3) + 2])
    return cut


def test_the_command_warns_loudly_of_a_list_much_smaller_than_the_active_one(tmp_path):
    call_command("import_sanctions", str(SDN_CSV), stdout=StringIO(), stderr=StringIO())
    before = active("ofac-sdn")
    out, err = StringIO(), StringIO()

    call_command("import_sanctions", str(truncated_sdn(tmp_path)), "--noinput", stdout=out,
                 stderr=err)

    after = active("ofac-sdn")
    assert after.pk != before.pk
    assert (f"WARNING: ofac-sdn: {after.entry_count} entries against {before.entry_count} "
            "active, below 90%") in err.getvalue()
    assert "Made active without confirmation (--noinput or no terminal)" in err.getvalue()


class Terminal(StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("answer", "switched"), [("no\n", False), ("\n", False),
                                                  ("yes\n", True)])
def test_at_a_terminal_the_command_asks_before_making_a_much_smaller_list_active(
        tmp_path, monkeypatch, answer, switched):
    call_command("import_sanctions", str(SDN_CSV), stdout=StringIO(), stderr=StringIO())
    before = active("ofac-sdn")
    monkeypatch.setattr(sys, "stdin", Terminal(answer))
    cut = truncated_sdn(tmp_path)

    if switched:
        call_command("import_sanctions", str(cut), stdout=StringIO(), stderr=StringIO())
        assert active("ofac-sdn").pk != before.pk
        return
    with pytest.raises(CommandError) as excinfo:
        call_command("import_sanctions", str(cut), stdout=StringIO(), stderr=StringIO())
    assert re.fullmatch(
        rf"{re.escape(str(cut))}: ofac-sdn: \d+ entries against {before.entry_count} active, "
        r"below 90%; active list kept\.", str(excinfo.value))
    assert list(SanctionsList.objects.values_list("pk", "is_active")) == [(before.pk, True)]


def test_yes_confirms_a_much_smaller_list_without_asking(tmp_path, monkeypatch):
    call_command("import_sanctions", str(SDN_CSV), stdout=StringIO(), stderr=StringIO())
    before = active("ofac-sdn")
    monkeypatch.setattr(sys, "stdin", Terminal(""))
    err = StringIO()
    call_command("import_sanctions", str(truncated_sdn(tmp_path)), "--yes", stdout=StringIO(),
                 stderr=err)
    assert active("ofac-sdn").pk != before.pk
    assert "WARNING: ofac-sdn:" in err.getvalue()


def test_an_address_file_that_is_not_utf8_is_refused_with_its_name(tmp_path):
    broken = tmp_path / "sanctioned_addresses_ETH.json"
    broken.write_bytes(b'["0x01e2919679362dfbc9ee1644ba9c6da6d6245bb1", "\xff\xfe"]')
    with pytest.raises(CommandError) as excinfo:
        call_command("import_sanctions", str(broken), stdout=StringIO(), stderr=StringIO())
    assert str(excinfo.value).startswith(
        f"{broken}: sanctioned_addresses_ETH.json: not UTF-8 text")
    assert not SanctionsList.objects.exists()


@pytest.mark.parametrize("kept", [("sdn.csv", "add.csv"), ("sdn.csv", "alt.csv", "add.csv"),
                                  ("sdn.csv", "sdn_comments.csv")])
def test_a_folder_with_part_of_the_four_file_set_is_refused(tmp_path, kept):
    """Read as a lone sdn.csv it would drop every alias alt.csv holds, silently."""
    folder = tmp_path / "set"
    folder.mkdir()
    for name in kept:
        shutil.copy(LEGACY_SET / name, folder / name)
    missing = sorted({"add.csv", "alt.csv", "sdn_comments.csv"} - set(kept))

    with pytest.raises(CommandError) as excinfo:
        call_command("import_sanctions", str(folder), stdout=StringIO(), stderr=StringIO())

    assert str(excinfo.value) == (
        f"{folder}: part of the OFAC four-file set; {', '.join(missing)} missing. Give the "
        "whole set, or sdn.csv alone in a folder of its own.")
    assert not SanctionsList.objects.exists()


@pytest.mark.parametrize(("content", "message"), [
    (b"\x00\x01\xff", "consolidated.xml: not well-formed XML"),
    (UN_XML.read_bytes()[:3000], "consolidated.xml: not well-formed XML"),
])
def test_a_broken_xml_list_says_the_active_list_is_kept(tmp_path, content, message):
    broken = tmp_path / "consolidated.xml"
    broken.write_bytes(content)
    with pytest.raises(SanctionsImportError) as excinfo:
        sanctions_import(source="un-consolidated", files=[broken])
    assert excinfo.value.detail.startswith(message)
    assert excinfo.value.detail.endswith("; active list kept.")


def test_the_admin_refreshes_now_and_says_what_became_of_each_source(admin_client, settings):
    from django.urls import reverse

    settings.SANCTIONS_SOURCE_URLS = {"un-consolidated": ["http://127.0.0.1:1/consolidated.xml"]}
    settings.SANCTIONS_DOWNLOAD_TIMEOUT_SECONDS = 0.5
    loaded = sanctions_import(source="ofac-sdn", files=[SDN_CSV])
    url = reverse("admin:compliance_sanctionslist_changelist")
    assert "pending: the next refresh re-screens" in admin_client.get(url).content.decode()

    answer = admin_client.post(url, {"action": "refresh_now", "_selected_action": [loaded.pk]},
                               follow=True)
    page = "\n".join(str(message) for message in answer.context["messages"])

    assert (f"ofac-sdn: unchanged, version {loaded.version[:12]} active; re-screen done "
            f"({loaded.entry_count} added, 0 changed, 0 removed)") in page
    assert "un-consolidated: failed: un-consolidated: http://127.0.0.1:1/consolidated.xml:" in page
    assert "active list kept." in page
    assert "done " in admin_client.get(url).content.decode()
    assert active("ofac-sdn").rescreened_at is not None
