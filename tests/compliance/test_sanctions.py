"""``import_sanctions`` on the published OFAC files: counts, versions, re-imports, fail-closed."""

import json
import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from compliance.models import SanctionedAddress, SanctionedName, SanctionsList
from compliance.selectors import sanctioned_address_hits, sanctioned_name_hits
from compliance.services import SanctionsImportError, sanctions_import

DATA = Path(__file__).resolve().parents[2] / "compliance" / "data" / "sanctions"
CRYPTO_DIR = DATA / "crypto-addresses-2024-09"
SDN_CSV = DATA / "ofac-2024-05-03" / "sdn.csv"

pytestmark = pytest.mark.django_db


def sdn_rows(*entry_ids: str) -> bytes:
    """Lines of the real sdn.csv for the given entry numbers, as published (CRLF, latin-1)."""
    wanted = {f"{entry_id}," for entry_id in entry_ids}
    lines = [line for line in SDN_CSV.read_bytes().split(b"\r\n")
             if any(line.startswith(prefix.encode()) for prefix in wanted)]
    assert len(lines) == len(entry_ids)
    return b"\r\n".join(lines) + b"\r\n"


def run_import(*paths) -> str:
    """Run the command as an operator does; return what it printed on stdout."""
    from io import StringIO

    out = StringIO()
    call_command("import_sanctions", *[str(p) for p in paths], stdout=out)
    return out.getvalue()


def active(source: str) -> SanctionsList:
    return SanctionsList.objects.get(source=source, is_active=True)


# --- the crypto address folder --------------------------------------------------------------


def test_crypto_folder_imports_every_address_of_every_ticker(capsys):
    out = run_import(CRYPTO_DIR)
    loaded = active("ofac-crypto")
    assert out == f"ofac-crypto: version {loaded.version[:12]} active (0 names, 654 addresses)\n"
    assert (loaded.name_count, loaded.address_count) == (0, 654)
    assert len(loaded.version) == 64
    assert SanctionedAddress.objects.filter(sanctions_list=loaded).count() == 654
    assert SanctionedName.objects.count() == 0
    tickers = {
        ticker: SanctionedAddress.objects.filter(sanctions_list=loaded, ticker=ticker).count()
        for ticker in ("ETH", "XBT", "USDT", "USDC", "TRX", "ARB", "BSC")
    }
    assert tickers == {"ETH": 152, "XBT": 435, "USDT": 26, "USDC": 2, "TRX": 6, "ARB": 1,
                       "BSC": 1}
    # EVM addresses are stored lower-cased next to the published form; others as published.
    eth = SanctionedAddress.objects.get(sanctions_list=loaded,
                                        address="0x01e2919679362dFBC9ee1644Ba9C6da6D6245BB1")
    assert (eth.ticker, eth.normalized) == ("ETH", "0x01e2919679362dfbc9ee1644ba9c6da6d6245bb1")
    xbt = SanctionedAddress.objects.get(sanctions_list=loaded,
                                        address="123WBUDmSJv4GctdVEz6Qq6z8nXSKrJ4KX")
    assert xbt.normalized == "123WBUDmSJv4GctdVEz6Qq6z8nXSKrJ4KX"
    # Progress goes to stderr, ending on a full bar and a newline; stdout holds only the summary.
    err = capsys.readouterr().err
    assert err.endswith(f"{CRYPTO_DIR}: [{'#' * 30}] 654/654\n")


def test_reimporting_the_same_folder_changes_nothing():
    run_import(CRYPTO_DIR)
    first = active("ofac-crypto")
    out = run_import(CRYPTO_DIR)
    assert out == f"ofac-crypto: version {first.version[:12]} active (0 names, 654 addresses)\n"
    assert list(SanctionsList.objects.values_list("pk", "version", "is_active")) == [
        (first.pk, first.version, True)]
    assert SanctionedAddress.objects.count() == 654


def test_a_new_version_replaces_the_active_one_and_only_its_entries_match(tmp_path):
    run_import(CRYPTO_DIR)
    old = active("ofac-crypto")
    newer = tmp_path / "crypto-new"
    newer.mkdir()
    shutil.copy(CRYPTO_DIR / "sanctioned_addresses_ETH.json", newer)
    run_import(newer)
    new = active("ofac-crypto")
    old.refresh_from_db()
    assert new.pk != old.pk
    assert new.version != old.version
    assert (new.name_count, new.address_count) == (0, 152)
    assert old.is_active is False
    assert SanctionsList.objects.filter(source="ofac-crypto", is_active=True).count() == 1
    # The old version keeps its rows (decisions name it) but no longer matches anything.
    assert SanctionedAddress.objects.filter(sanctions_list=old).count() == 654
    assert sanctioned_address_hits(addresses=["123WBUDmSJv4GctdVEz6Qq6z8nXSKrJ4KX"]) == []
    [hit] = sanctioned_address_hits(addresses=["0x01E2919679362DFBC9EE1644BA9C6DA6D6245BB1"])
    assert hit.sanctions_list == new

    # Going back to the first files reactivates the first version without loading it again.
    run_import(CRYPTO_DIR)
    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.is_active, new.is_active) == (True, False)
    assert SanctionsList.objects.count() == 2
    assert SanctionedAddress.objects.count() == 654 + 152


def test_sources_are_versioned_independently(tmp_path):
    sdn = tmp_path / "sdn.csv"
    sdn.write_bytes(sdn_rows("29584"))
    run_import(CRYPTO_DIR, sdn)
    assert set(SanctionsList.objects.filter(is_active=True).values_list("source", flat=True)) == {
        "ofac-crypto", "ofac-sdn"}
    sdn.write_bytes(sdn_rows("29584", "29585"))
    run_import(sdn)
    assert SanctionsList.objects.filter(source="ofac-crypto", is_active=True).count() == 1
    assert SanctionsList.objects.filter(source="ofac-sdn", is_active=True).count() == 1
    assert SanctionsList.objects.filter(source="ofac-sdn").count() == 2


# --- fail-closed ----------------------------------------------------------------------------


def _assert_still_active(previous: SanctionsList) -> None:
    assert list(SanctionsList.objects.values_list("pk", "is_active")) == [(previous.pk, True)]
    assert SanctionedAddress.objects.count() == 654
    assert SanctionedName.objects.count() == 0


@pytest.mark.parametrize(("content", "message"), [
    ("[]", "ofac-crypto: the files hold no entries; active list kept."),
    ("[\"0x01e2919679362dfbc9ee1644ba9c6da6d6245bb1\",", "Expecting value"),
    ("{\"addresses\": []}",
     "sanctioned_addresses_ETH.json: expected a JSON array of address strings"),
    ("", "Expecting value"),
])
def test_an_empty_or_broken_address_file_fails_and_keeps_the_active_list(tmp_path, content,
                                                                         message):
    run_import(CRYPTO_DIR)
    previous = active("ofac-crypto")
    broken = tmp_path / "sanctioned_addresses_ETH.json"
    broken.write_text(content)
    with pytest.raises(CommandError) as excinfo:
        run_import(broken)
    assert str(excinfo.value).startswith(f"{broken}: ")
    assert message in str(excinfo.value)
    _assert_still_active(previous)


def test_one_broken_file_in_a_folder_fails_the_whole_folder(tmp_path):
    run_import(CRYPTO_DIR)
    previous = active("ofac-crypto")
    folder = tmp_path / "crypto"
    shutil.copytree(CRYPTO_DIR, folder)
    (folder / "sanctioned_addresses_ZEC.json").chmod(0o644)
    (folder / "sanctioned_addresses_ZEC.json").write_text("[\"t1MMX")
    with pytest.raises(CommandError) as excinfo:
        run_import(folder)
    assert str(excinfo.value).startswith(f"{folder}: Unterminated string")
    _assert_still_active(previous)


@pytest.mark.parametrize("content", [
    b"",
    b"not,an,sdn,file\r\n",
    b"\x1a",
])
def test_an_sdn_file_without_entries_fails_and_keeps_the_active_list(tmp_path, content):
    good = tmp_path / "good.csv"
    good.write_bytes(sdn_rows("29584"))
    run_import(good)
    previous = active("ofac-sdn")
    broken = tmp_path / "sdn.csv"
    broken.write_bytes(content)
    with pytest.raises(CommandError) as excinfo:
        run_import(broken)
    assert str(excinfo.value) == f"{broken}: ofac-sdn: the files hold no entries; active list kept."
    assert list(SanctionsList.objects.values_list("pk", "is_active")) == [(previous.pk, True)]
    assert SanctionedName.objects.count() == 3


def test_paths_the_command_does_not_read_are_refused(tmp_path):
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    text = tmp_path / "list.txt"
    text.write_text("0x01e2919679362dfbc9ee1644ba9c6da6d6245bb1")
    with pytest.raises(CommandError) as excinfo:
        run_import(empty_dir)
    assert str(excinfo.value) == f"{empty_dir}: no sdn.csv and no sanctioned_addresses_*.json."
    with pytest.raises(CommandError) as excinfo:
        run_import(text)
    assert str(excinfo.value) == f"{text}: not a sanctions file or folder this command reads."
    with pytest.raises(CommandError):
        run_import(tmp_path / "missing.json")
    assert SanctionsList.objects.count() == 0


def test_the_service_refuses_an_unknown_source_and_several_sdn_files(tmp_path):
    sdn = tmp_path / "sdn.csv"
    sdn.write_bytes(sdn_rows("29584"))
    with pytest.raises(SanctionsImportError, match="Unknown list source 'eu-fsf'"):
        sanctions_import(source="eu-fsf", files=[sdn])
    with pytest.raises(SanctionsImportError, match=r"one sdn\.csv or the four-file set"):
        sanctions_import(source="ofac-sdn", files=[sdn, sdn])
    with pytest.raises(SanctionsImportError, match=r"sdn\.csv: not well-formed XML"):
        sanctions_import(source="un-consolidated", files=[sdn])
    assert SanctionsList.objects.count() == 0


def test_an_address_file_of_non_strings_fails_and_keeps_the_active_list(tmp_path):
    run_import(CRYPTO_DIR)
    previous = active("ofac-crypto")
    broken = tmp_path / "sanctioned_addresses_ETH.json"
    broken.write_text(json.dumps(
        [{"address": "0x01e2919679362dFBC9ee1644Ba9C6da6D6245BB1"}, None, 12]))
    with pytest.raises(CommandError):
        run_import(broken)
    _assert_still_active(previous)


# --- the SDN list ---------------------------------------------------------------------------


@pytest.fixture
def sdn_loaded(capsys):
    out = run_import(SDN_CSV)
    return active("ofac-sdn"), out, capsys.readouterr().err


def test_sdn_csv_indexes_every_entry_with_its_aliases_and_addresses(sdn_loaded):
    loaded, out, err = sdn_loaded
    assert out == (f"ofac-sdn: version {loaded.version[:12]} active "
                   f"(14965 entries, {loaded.name_count} names, 294 addresses)\n")
    assert loaded.address_count == 294
    assert SanctionedName.objects.filter(sanctions_list=loaded).count() == loaded.name_count
    assert SanctionedName.objects.values("entry_id").distinct().count() == 14965
    names = SanctionedName.objects.filter(entry_id="29584").values_list("name", "normalized")
    assert set(names) == {
        ("POTEKHIN, Danil", "danil potekhin"),
        ("cronuswar", "cronuswar"),
        ("SERGEY, Kireev Valerievich", "kireev sergey valerievich"),
    }
    assert err.endswith(
        f"{SDN_CSV}: [{'#' * 30}] {loaded.name_count + 294}/{loaded.name_count + 294}\n")


def test_sdn_alias_and_digital_currency_address_are_matched(sdn_loaded):
    loaded, _, _ = sdn_loaded
    [alias] = sanctioned_name_hits(names=["Valerievich Kireev SERGEY"])
    assert (alias.entry_id, alias.name, alias.sanctions_list) == (
        "29584", "SERGEY, Kireev Valerievich", loaded)
    [address] = sanctioned_address_hits(addresses=["0x7f367cc41522ce07553e823bf3be79a889debe1b"])
    assert (address.entry_id, address.ticker, address.address) == (
        "29584", "ETH", "0x7F367cC41522cE07553e823bf3be79A889DEbe1B")
    [upper] = sanctioned_address_hits(addresses=["0x7F367CC41522CE07553E823BF3BE79A889DEBE1B"])
    assert upper == address
    # Non-EVM addresses are case-sensitive: changing one letter's case is another address.
    [xbt] = sanctioned_address_hits(addresses=["1Q9UAQbcDezmyouFrzt94t4dSMxgsUfW1X"])
    assert (xbt.entry_id, xbt.ticker) == ("29584", "XBT")
    assert sanctioned_address_hits(addresses=["1q9uaqbcdezmyoufrzt94t4dsmxgsufw1x"]) == []


def test_sdn_entries_of_the_lazarus_group_carry_their_eth_addresses(sdn_loaded):
    hits = sanctioned_address_hits(addresses=["0x098b716b8aaf21512996dc57eb0615e2383e2f96",
                                              "0xA0E1C89EF1A489C9C7DE96311ED5CE5D32C20E4B"])
    assert sorted((h.entry_id, h.normalized) for h in hits) == [
        ("27307", "0x098b716b8aaf21512996dc57eb0615e2383e2f96"),
        ("27307", "0xa0e1c89ef1a489c9c7de96311ed5ce5d32c20e4b"),
    ]
    [name] = sanctioned_name_hits(names=["Lazarus Group"])
    assert name.entry_id == "27307"


def test_sdn_aliases_with_apostrophes_are_indexed_whole(tmp_path):
    sdn = tmp_path / "sdn.csv"
    sdn.write_bytes(sdn_rows("9598", "6925"))
    run_import(sdn)
    assert set(SanctionedName.objects.filter(entry_id="9598").values_list("name", flat=True)) == {
        "NASUF, Tahir", "AL-QA'QA", "ABU SALIMA EL LIBI", "ABU RIDA"}
    assert {h.entry_id for h in sanctioned_name_hits(names=["Al-Qa'qa"])} == {"9598"}
    assert {h.entry_id for h in sanctioned_name_hits(names=["Foopie"])} == {"6925"}


def test_sdn_aliases_in_last_comma_first_form_ending_in_an_apostrophe_are_indexed_whole(
        tmp_path):
    sdn = tmp_path / "sdn.csv"
    sdn.write_bytes(sdn_rows("21266", "11177"))
    run_import(sdn)
    assert set(SanctionedName.objects.filter(entry_id="21266").values_list(
        "normalized", flat=True)) == {
        "iyad khalil nazmi salih", "abu al darda", "abu al julaybib urduni", "abu julaybib"}
    assert {h.entry_id for h in sanctioned_name_hits(names=["Abu al-Darda'"])} == {"21266"}
    assert {h.entry_id for h in sanctioned_name_hits(names=["Yusuf Abu-al-Karkh"])} == {"11177"}


def test_word_rarity_is_counted_at_import_and_the_index_uses_the_stored_counts(tmp_path):
    from compliance.selectors import active_name_index

    path = tmp_path / "sdn.csv"
    path.write_bytes(sdn_rows("29584", "8279", "2676"))
    sanctions_import(source="ofac-sdn", files=[path])
    loaded = active("ofac-sdn")
    # Three entries; each folded spelling counted once per entry (POTEKHIN once, although
    # the entry has three names), a variant of a common name also under its first spelling.
    assert loaded.token_counts["entries"] == 3
    assert loaded.token_counts["counts"]["potehin"] == 1
    assert loaded.token_counts["counts"]["=viktor"] == 1
    index, _ = active_name_index()
    assert index.rarity.entry_counts["potehin"] == 1
    # The index reads what the import stored (it does not count again).
    loaded.token_counts["counts"]["potehin"] = 9000
    SanctionsList.objects.filter(pk=loaded.pk).update(token_counts=loaded.token_counts,
                                                      version="v-edited")
    index, _ = active_name_index()
    assert index.rarity.entry_counts["potehin"] == 9000
