"""``python manage.py screen`` as the issue specifies it, against real SDN entries: one name as
text or JSON, a CSV batch as one JSON object per input line in input order, and readable errors
that print nothing else."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from compliance.services import sanctions_import

DATA = Path(__file__).resolve().parents[2] / "compliance" / "data" / "sanctions"
SDN_CSV = DATA / "ofac-2024-05-03" / "sdn.csv"
# BOUT, Viktor Anatolijevitch (DOB 13 Jan 1967); BIN LADIN, Usama bin Muhammad bin Awad;
# POTEKHIN, Danil (DOB 14 Sep 1995, alt. 14 Sep 1990, alt. 08 Aug 1990).
ENTRIES = ("8279,", "6365,", "29584,")

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def sdn(tmp_path):
    extract = tmp_path / "sdn.csv"
    extract.write_bytes(b"\r\n".join(line for line in SDN_CSV.read_bytes().split(b"\r\n")
                                     if line.startswith(tuple(e.encode() for e in ENTRIES)))
                        + b"\r\n")
    return sanctions_import(source="ofac-sdn", files=[extract])


def screen(*args) -> str:
    out = StringIO()
    call_command("screen", *args, stdout=out)
    return out.getvalue()


def test_one_name_prints_the_decision_and_each_hit_explained():
    assert screen("Viktor Bout").splitlines() == [
        "block 0.9600 Viktor Bout",
        "  block  0.9600 ofac-sdn 8279 'BOUT, Viktor Anatolijevitch' (name 0.9600; "
        "viktor~viktor 1.00, bout~bout 1.00; 26.6 bits of evidence; dob absent, "
        "country absent, gender absent; review 0.85, block 0.95)",
    ]


def test_a_gender_the_list_contradicts_lowers_the_score():
    # The SDN list gives POTEKHIN, Danil as male: -0.1 for a woman of that name, from block to
    # review; Viktor Bout's entry gives no gender, so it changes nothing there.
    assert [json.loads(screen("Danil Potekhin", "--gender", gender, "--json"))["score"]
            for gender in ("male", "female", "")] == [1.0, 0.9, 1.0]
    assert json.loads(screen("Viktor Bout", "--gender", "female", "--json"))["score"] == 0.96
    with pytest.raises(CommandError, match="Gender 'x' is not male, female or empty"):
        screen("Viktor Bout", "--gender", "x")


def test_one_name_as_json_with_date_of_birth_and_country():
    # 0.87 for the initial, +0.05 for the exact date of birth, +0.03 for Tajikistan.
    assert json.loads(screen("V. Bout", "--dob", "1967-01-13", "--country", "TJ", "--json")) == {
        "name": "V. Bout", "decision": "block", "score": 0.95,
        "hits": [{"list": "ofac-sdn", "entry_id": "8279",
                  "matched_name": "BOUT, Viktor Anatolijevitch", "score": 0.95}],
    }
    assert json.loads(screen("Joseph Mwangi", "--json")) == {
        "name": "Joseph Mwangi", "decision": "clear", "score": 0.0, "hits": []}


def test_a_batch_gives_one_json_object_per_input_line_in_input_order(tmp_path):
    names = tmp_path / "names.csv"
    names.write_text("name,dob,country\n"
                     "Joseph Mwangi,,\n"
                     "Usama bin Ladin,,\n"
                     "Danil Potehkin,1990-08-08,\n"
                     "Danil Potehkin,1965-02-03,KE\n"
                     "\"Bout, Viktor\",,\n", encoding="utf-8")
    lines = screen("--file", str(names), "--json").splitlines()
    assert [json.loads(line) for line in lines] == [
        {"name": "Joseph Mwangi", "decision": "clear", "score": 0.0, "hits": []},
        {"name": "Usama bin Ladin", "decision": "review", "score": 0.9,
         "hits": [{"list": "ofac-sdn", "entry_id": "6365",
                   "matched_name": "BIN LADIN, Usama bin Muhammad bin Awad", "score": 0.9}]},
        {"name": "Danil Potehkin", "decision": "block", "score": 1.0,
         "hits": [{"list": "ofac-sdn", "entry_id": "29584", "matched_name": "POTEKHIN, Danil",
                   "score": 1.0}]},
        # Born 25 years earlier and from another country: below review.
        {"name": "Danil Potehkin", "decision": "clear", "score": 0.0, "hits": []},
        {"name": "Bout, Viktor", "decision": "block", "score": 0.96,
         "hits": [{"list": "ofac-sdn", "entry_id": "8279",
                   "matched_name": "BOUT, Viktor Anatolijevitch", "score": 0.96}]},
    ]


def test_a_batch_without_dob_and_country_columns_is_screened_on_names(tmp_path):
    names = tmp_path / "names.csv"
    names.write_text("name\nViktor Bout\n", encoding="utf-8")
    assert json.loads(screen("--file", str(names), "--json"))["decision"] == "block"


@pytest.mark.parametrize(("content", "message"), [
    (None, "No such file or directory"),
    ("", "the file is empty"),
    ("full_name,dob\nViktor Bout,\n", "the header must name the columns name, dob, country"),
    ("name,dob,country\nViktor Bout,,\n,1990-01-01,\n", "names.csv:3: the name is empty"),
    ("name,dob,country\nViktor Bout,,\nDanil Potekhin,14/09/1995,\n",
     "names.csv:3: Date of birth '14/09/1995' is not YYYY-MM-DD"),
    ("name,dob,country\nViktor Bout,,Atlantis\n",
     "names.csv:2: Country 'Atlantis' is not an ISO 3166 code or known name"),
    (b"name,dob\n\xff\xfe\x00broken\n", "not a readable CSV file"),
])
def test_a_bad_batch_file_gives_a_readable_error_and_prints_nothing(tmp_path, content, message):
    names = tmp_path / "names.csv"
    if isinstance(content, bytes):
        names.write_bytes(content)
    elif content is not None:
        names.write_text(content, encoding="utf-8")
    out = StringIO()
    with pytest.raises(CommandError, match=message):
        call_command("screen", "--file", str(names), "--json", stdout=out)
    assert out.getvalue() == ""


@pytest.mark.parametrize(("args", "message"), [
    ((), "Give a NAME or --file names.csv, not both"),
    (("  ",), "The name is empty"),
    (("Viktor Bout", "--dob", "13 Jan 1967"), "Date of birth '13 Jan 1967' is not YYYY-MM-DD"),
])
def test_bad_arguments_give_a_readable_error(args, message):
    with pytest.raises(CommandError, match=message):
        screen(*args)


def test_with_no_list_loaded_the_command_refuses_to_clear_anyone(sdn):
    sdn.delete()
    with pytest.raises(CommandError, match="No sanctions name list is loaded"):
        screen("Joseph Mwangi")
