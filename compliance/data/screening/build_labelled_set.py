"""Build the labelled screening set from the real lists, deterministically.

    python -m compliance.data.screening.build_labelled_set

positives.csv: queries derived from real entries of the OFAC SDN list of 2024-05-03 and the UN
consolidated list of 2026-02, with the perturbations screening meets in practice (reordering,
case and accents, typos, transliteration variants, initials, missing middle names, company
suffixes, aliases), each labelled with the entry it must find. A second pass adds, from
SDN individuals written "LAST, Given Middle", the three perturbations operators see most and
that a token-by-token comparison gets wrong: every middle name left out ("Viktor Bout" for
"BOUT, Viktor Anatolijevitch"), the given name as an initial with the middle names left out
("V. Bout"), and a transliteration variant of a given name or surname ("Usama bin Laden").
negatives.csv: names typical of remittance corridors (East and West Africa, South Asia, the
Philippines, Latin America, the Horn of Africa), built from common given and family names, with a
date of birth and a country; exact namesakes of a listed name are left out (they are true
matches for any screener, not false positives).
"""

import csv
import random
from pathlib import Path

from compliance.normalize import name_normalize
from compliance.sanctions.parsers import sanctions_parse_ofac_sdn_csv, sanctions_parse_un_xml

HERE = Path(__file__).resolve().parent
LISTS = HERE.parent / "sanctions"
SEED = 20260227

TRANSLITERATIONS = (
    ("mohammed", "muhammad"), ("muhammad", "mohamed"), ("mohamed", "mohammad"),
    ("ahmed", "ahmad"), ("ahmad", "ahmed"), ("yusuf", "yousef"), ("hussein", "husain"),
    ("husayn", "hussein"), ("abdul", "abdel"), ("abd al", "abdul"), ("kh", "h"), ("ou", "u"),
    ("ph", "f"), ("sergey", "sergei"), ("aleksandr", "alexander"), ("yevgeny", "evgeny"),
    ("iy", "y"), ("ei", "ey"), ("q", "k"), ("dh", "d"), ("ei", "ay"),
)
# Whole-word transliteration variants (Latin spellings of one Arabic, Cyrillic or Persian
# name), and spelling endings, for the second pass.
NAME_VARIANTS = {
    "usama": "osama", "osama": "usama", "ladin": "laden", "viktor": "victor",
    "victor": "viktor", "yusuf": "youssef", "yousef": "yusuf", "youssef": "yusuf",
    "mohammad": "muhammad", "mohammed": "muhammad", "muhammad": "mohammed",
    "mohamed": "muhammad", "ahmad": "ahmed", "ahmed": "ahmad", "husayn": "hussein",
    "hussein": "husain", "hussain": "hussein", "hasan": "hassan", "hassan": "hasan",
    "abdallah": "abdullah", "abdullah": "abdallah", "omar": "umar", "umar": "omar",
    "osman": "usman", "uthman": "othman", "ali": "aly", "khalid": "khaled",
    "khaled": "khalid", "said": "saeed", "saeed": "said", "sayed": "sayyid",
    "yevgeniy": "evgeny", "yevgeny": "evgeniy", "evgeniy": "yevgeny", "sergey": "sergei",
    "sergei": "sergey", "aleksandr": "alexander", "aleksey": "alexei", "alexey": "aleksei",
    "dmitriy": "dmitry", "dmitry": "dmitri", "yuriy": "yury", "yury": "yuri",
    "andrey": "andrei", "andrei": "andrey", "nikolay": "nikolai", "mikhail": "michail",
    "vladimir": "wladimir", "igor": "ihor", "oleg": "oleh", "ivan": "iwan",
    "mahmoud": "mahmud", "mahmud": "mahmoud", "mustafa": "moustafa", "ibrahim": "ebrahim",
    "ismail": "ismael", "jamal": "gamal", "nasser": "nasir", "reza": "riza",
    "hossein": "hosein", "hamid": "hameed", "rashid": "rasheed", "majid": "majeed",
}
VARIANT_ENDINGS = (("ovich", "ovitch"), ("evich", "evitch"), ("iy", "y"), ("yev", "yev"),
                   ("kh", "h"), ("ou", "u"), ("ei", "ey"), ("ski", "sky"), ("ya", "ia"),
                   ("yu", "iu"))
SECOND_PASS = ("missing-middle-names", "initial-no-middle", "transliteration-variant")
SECOND_PASS_EACH = 30

SUFFIXES = ("LTD", "LLC", "S.A.", "CO., LTD.", "LIMITED", "INC.", "GMBH", "S.A. DE C.V.")
ACCENTS = {"a": "á", "e": "é", "i": "í", "o": "ó", "u": "ú", "n": "ñ", "c": "ç"}


def _split(name: str) -> tuple[list[str], bool]:
    """(tokens in reading order, was "LAST, First")."""
    if name.count(",") == 1 and not name.rstrip().endswith((".", "LTD", "LLC")):
        last, first = (part.strip() for part in name.split(","))
        return first.split() + last.split(), True
    return name.split(), False


def typo(rng: random.Random, word: str) -> str:
    position = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("swap", "drop", "double", "replace"))
    if kind == "swap":
        return word[:position] + word[position + 1] + word[position] + word[position + 2:]
    if kind == "drop":
        return word[:position] + word[position + 1:]
    if kind == "double":
        return word[:position] + word[position] + word[position:]
    letter = rng.choice("aeioulnrst")
    return word[:position] + letter + word[position + 1:]


KINDS = ("transliteration", "missing-middle", "initial", "company-suffix", "typo", "reorder",
         "case-accents")


def perturb(rng: random.Random, name: str, entry_type: str, turn: int) -> tuple[str, str] | None:
    """The perturbation whose turn it is, or the next one that applies to this name."""
    for offset in range(len(KINDS)):
        made = _perturb(rng, name, entry_type, KINDS[(turn + offset) % len(KINDS)])
        if made is not None:
            return made
    return None


def _applies(kind: str, tokens: list[str], entry_type: str, text: str) -> bool:
    if kind in ("missing-middle", "initial"):
        return entry_type == "individual" and len(tokens) >= (3 if kind == "missing-middle" else 2)
    if kind == "company-suffix":
        return entry_type == "entity"
    if kind == "transliteration":
        return any(source in text for source, _ in TRANSLITERATIONS)
    if kind == "typo":
        return any(len(token) >= 5 for token in tokens)
    return True


def _perturb(rng: random.Random, name: str, entry_type: str, kind: str) -> tuple[str, str] | None:
    tokens, comma = _split(name)
    if entry_type == "individual" and len(tokens) < 2:
        return None
    if not _applies(kind, tokens, entry_type, " ".join(tokens).lower()):
        return None
    if kind == "reorder":
        query = " ".join(tokens[-1:] + tokens[:-1]) if not comma else " ".join(tokens)
        if query == name:
            query = " ".join(reversed(tokens))
    elif kind == "case-accents":
        lowered = " ".join(tokens).lower()
        vowels = [i for i, ch in enumerate(lowered) if ch in ACCENTS]
        if vowels:
            i = rng.choice(vowels)
            lowered = lowered[:i] + ACCENTS[lowered[i]] + lowered[i + 1:]
        query = lowered.title() if rng.random() < 0.5 else lowered
    elif kind == "typo":
        long = [i for i, token in enumerate(tokens) if len(token) >= 5]
        if not long:
            return None
        i = rng.choice(long)
        tokens = [*tokens[:i], typo(rng, tokens[i]), *tokens[i + 1:]]
        query = " ".join(tokens)
    elif kind == "transliteration":
        text = " ".join(tokens).lower()
        found = [(a, b) for a, b in TRANSLITERATIONS if a in text]
        if not found:
            return None
        source, target = rng.choice(found)
        query = text.replace(source, target, 1).title()
    elif kind == "missing-middle":
        middle = rng.randrange(1, len(tokens) - 1)
        query = " ".join(tokens[:middle] + tokens[middle + 1:])
    elif kind == "initial":
        query = " ".join([tokens[0][0] + ".", *tokens[1:]])
    else:
        query = f"{name.rstrip('.')} {rng.choice(SUFFIXES)}"
    return query, kind


def _second_pass_query(rng: random.Random, name: str, kind: str) -> str | None:
    """A query of one second-pass kind from an SDN "LAST, Given Middle" name, or None."""
    if name.count(",") != 1:
        return None
    last, first = (part.strip() for part in name.split(","))
    given, surname = first.split(), last.split()
    if not surname or len(given) < (1 if kind == "transliteration-variant" else 2):
        return None
    if kind == "missing-middle-names":
        if rng.random() < 0.5:
            return f"{given[0].title()} {' '.join(surname).title()}"
        return f"{' '.join(surname)}, {given[0]}"
    if kind == "initial-no-middle":
        initial = next((char for char in given[0] if char.isalpha()), "")
        return f"{initial}. {' '.join(surname).title()}" if initial else None
    words = [*given, *surname]
    lowered = [word.lower() for word in words]
    swaps = [i for i, word in enumerate(lowered) if word in NAME_VARIANTS]
    if swaps:
        i = rng.choice(swaps)
        lowered[i] = NAME_VARIANTS[lowered[i]]
    else:
        endings = [(i, a, b) for i, word in enumerate(lowered) for a, b in VARIANT_ENDINGS
                   if a != b and a in word[1:]]
        if not endings:
            return None
        i, source, target = rng.choice(endings)
        lowered[i] = lowered[i][0] + lowered[i][1:].replace(source, target, 1)
    query = " ".join(lowered).title()
    return None if name_normalize(query) == name_normalize(name) else query


def second_pass(sdn) -> list[dict]:
    """Positives of the kinds in ``SECOND_PASS``, from SDN individuals, with their own seed so
    the first pass's rows stay as they were."""
    rng = random.Random(SEED + 1)
    entries = sorted((entry for entry in sdn.entries.values()
                      if entry.entry_type == "individual"), key=lambda entry: entry.entry_id)
    rng.shuffle(entries)
    rows: list[dict] = []
    for kind in SECOND_PASS:
        made = 0
        for entry in entries:
            if made == SECOND_PASS_EACH:
                break
            name = entry.names[0]
            if not name.isascii() or any(row["entry_id"] == entry.entry_id for row in rows):
                continue
            query = _second_pass_query(rng, name, kind)
            if query is None:
                continue
            rows.append({"name": query, "dob": "", "country": "", "list": sdn.source,
                         "entry_id": entry.entry_id, "listed_name": name, "perturbation": kind})
            made += 1
    return rows


def _words(text: str) -> list[str]:
    return text.split()


AFRICA_EAST_GIVEN = _words("""
Joseph Mary John Peter Grace Faith Mercy David James Samuel Daniel Esther Ann Jane Lucy Agnes
Alice Paul Stephen Francis Dennis Brian Kevin Collins Evans Wycliffe Caroline Beatrice Purity
Winnie Brenda Emmanuel Moses Isaac Elijah Gideon Naomi Ruth Wanjiru Akinyi Atieno Achieng
Chebet Jepchirchir Kiprop Kipchoge Otieno Odhiambo Baraka Neema Imani Amani Zawadi Rehema Juma
Mwajuma Halima Amina Fatuma Saida Hassani Rashidi Bakari""")
AFRICA_EAST_FAMILY = _words("""
Mwangi Kamau Njoroge Kariuki Wanjiku Omondi Otieno Ochieng Onyango Owino Kiprono Kipkemboi
Cheruiyot Rotich Kirui Mutua Musyoka Kioko Wambua Nyambura Macharia Gitau Githinji Muriuki
Ndungu Waweru Kimani Maina Ngugi Mugo Korir Langat Biwott Wekesa Wafula Barasa Simiyu Masika
Mollel Massawe Mushi Kimaro Swai Lyimo Mrema Nyirenda Banda Phiri Mwale Tembo Okello Mugisha
Byaruhanga Tumusiime Nsubuga Ssemwogerere Kato Wasswa Nakato Habimana Uwimana Niyonzima
Mukamana""")
AFRICA_WEST_GIVEN = _words("""
Chinedu Chukwuemeka Ngozi Adaeze Oluwaseun Olumide Temitope Babajide Folake Funmilayo Adebayo
Yetunde Ibrahim Aisha Musa Zainab Abubakar Hauwa Kwame Kofi Ama Akosua Yaw Kwabena Efua Abena
Kojo Esi Nana Osei Mamadou Aminata Ousmane Fatou Moussa Awa Seydou Mariama Boubacar Kadiatou
Emeka Ifeoma Tunde Bisi Segun Chiamaka Obinna Uche""")
AFRICA_WEST_FAMILY = _words("""
Okafor Okonkwo Eze Nwosu Adeyemi Adebayo Ogunleye Balogun Olawale Bello Abdullahi Suleiman
Danjuma Mensah Owusu Boateng Asante Agyeman Osei Appiah Darko Ofori Amoah Diallo Traore
Coulibaly Keita Konate Camara Sow Ndiaye Diop Fall Sarr Toure Kone Sangare Ogbu Obi Nnamdi
Okoro Chukwu Ibekwe Adewale Ajayi Oyelaran""")
SOUTH_ASIA_GIVEN = _words("""
Rahul Priya Amit Sunita Rajesh Anita Suresh Kavita Vijay Pooja Sanjay Neha Arjun Deepak Lakshmi
Ramesh Meena Ravi Geeta Manoj Imran Ayesha Farhan Sana Bilal Hina Usman Nadia Kamran Saima
Tariq Rubina Rafiq Shabnam Karim Nasreen Anwar Rashida Sohel Taslima Rakib Nusrat Habibur
Shirin Mizanur Jasmin Harpreet Gurpreet Manpreet Baljit Pradeep Shreya Kiran""")
SOUTH_ASIA_FAMILY = _words("""
Sharma Verma Gupta Patel Shah Mehta Reddy Nair Iyer Menon Pillai Rao Das Chatterjee Banerjee
Mukherjee Bose Sen Ghosh Singh Gill Sandhu Dhillon Kaur Joshi Kulkarni Desai Qureshi Siddiqui
Chaudhry Malik Butt Awan Rana Bhatti Akhtar Mirza Rahman Hossain Islam Uddin Chowdhury Miah
Sarkar Begum Haque Alam Talukder Bhuiyan Thapa Gurung Shrestha Tamang""")
PHILIPPINES_GIVEN = _words("""
Maria Jose Juan Ana Mark Michael Jennifer Maricel Rowena Jocelyn Arnel Rodel Jomar Angelica
Kristine Rhea Mylene Jerome Ramil Reynaldo Rosalie Analyn Marites Ronaldo Edgardo Leonora
Cristina Ferdinand Teresita Manuel""")
PHILIPPINES_FAMILY = _words("""
Santos Reyes Cruz Bautista Ocampo Garcia Mendoza Torres Villanueva Ramos Aquino Castillo Dela
Cruz Gonzales Navarro Soriano Pascual Dizon Manalo Salazar Aguilar Mercado Fernandez Lopez
Domingo Valdez Tolentino Gutierrez Rivera Bernardo""")
LATAM_GIVEN = _words("""
José Juan Luis Carlos Jorge Miguel Pedro Francisco Alejandro Fernando Ricardo Guadalupe María
Ana Rosa Carmen Lucía Sofía Daniela Gabriela Verónica Patricia Leticia Adriana Alejandra Karla
Yesenia Brenda Héctor Raúl Sergio Arturo Marco Édgar Iván Óscar""")
LATAM_FAMILY = _words("""
Hernández García Martínez López González Pérez Rodríguez Sánchez Ramírez Cruz Flores Gómez
Morales Vázquez Reyes Jiménez Torres Díaz Gutiérrez Ruiz Mendoza Aguilar Ortiz Moreno Castillo
Romero Álvarez Chávez Rivera Juárez Domínguez Herrera Medina Castro Vargas Guzmán Velázquez
Rojas Salazar Núñez""")
HORN_GIVEN = _words("""
Abdi Abdirahman Abdullahi Ahmed Ali Amina Asha Fadumo Farah Faisal Hodan Hamza Hawa Ismail
Khadija Layla Liban Mohamed Mohamud Mustafa Nasra Nimco Omar Osman Sahra Samira Yusuf Zahra
Hassan Hussein Ibrahim Idil Ilhan Muna Warsame Tesfaye Almaz Dawit Meron Selam Yonas Hiwot
Bereket Mekdes Abebe Kebede Alemu""")
HORN_FAMILY = _words("""
Abdi Aden Ahmed Ali Dahir Duale Egal Elmi Farah Gedi Guled Hersi Hirsi Ismail Jama Jibril Kahin
Mahamud Mohamed Mohamud Muse Nur Omar Osman Roble Said Samatar Shire Warsame Yusuf Tesfaye
Bekele Haile Girma Tadesse Wolde Mengistu Alemayehu Getachew Desta""")

CORRIDORS = (
    ("KE", AFRICA_EAST_GIVEN, AFRICA_EAST_FAMILY, 220),
    ("NG", AFRICA_WEST_GIVEN, AFRICA_WEST_FAMILY, 200),
    ("IN", SOUTH_ASIA_GIVEN, SOUTH_ASIA_FAMILY, 200),
    ("PH", PHILIPPINES_GIVEN, PHILIPPINES_FAMILY, 120),
    ("MX", LATAM_GIVEN, LATAM_FAMILY, 160),
    ("SO", HORN_GIVEN, HORN_FAMILY, 140),
)


def build() -> tuple[list[dict], list[dict]]:
    rng = random.Random(SEED)
    sdn = sanctions_parse_ofac_sdn_csv(LISTS / "ofac-2024-05-03" / "sdn.csv")
    un = sanctions_parse_un_xml(LISTS / "un-2026-02" / "consolidated.xml")
    positives: list[dict] = []
    for parsed, wanted in ((sdn, 240), (un, 60)):
        entries = sorted(
            (entry for entry in parsed.entries.values()
             if entry.entry_type in ("individual", "entity")),
            key=lambda entry: entry.entry_id)
        rng.shuffle(entries)
        for entry in entries:
            if len([p for p in positives if p["list"] == parsed.source]) >= wanted:
                break
            latin = [name for name in entry.names if name.isascii() and len(name) >= 5]
            if not latin:
                continue
            name = latin[0] if rng.random() < 0.8 or len(latin) == 1 else rng.choice(latin[1:])
            made = perturb(rng, name, entry.entry_type, len(positives))
            if made is None:
                continue
            query, kind = made
            dob = ""
            full_dates = [d for d in entry.dates_of_birth if len(d) == 10]
            if entry.entry_type == "individual" and full_dates and rng.random() < 0.5:
                dob = full_dates[0]
            country = entry.countries[0] if entry.countries and rng.random() < 0.5 else ""
            positives.append({"name": query, "dob": dob, "country": country,
                              "list": parsed.source, "entry_id": entry.entry_id,
                              "listed_name": name, "perturbation": kind})
    positives.extend(second_pass(sdn))
    listed = {name_normalize(name) for parsed in (sdn, un) for _, name in parsed.names}
    negatives: list[dict] = []
    seen: set[str] = set()
    for country, given, family, count in CORRIDORS:
        made = 0
        while made < count:
            parts = [rng.choice(given)]
            if rng.random() < 0.3:
                parts.append(rng.choice(given))
            parts.append(rng.choice(family))
            name = " ".join(parts)
            key = name_normalize(name)
            if key in seen or key in listed:
                continue
            seen.add(key)
            year, month, day = rng.randrange(1955, 2005), rng.randrange(1, 13), rng.randrange(1, 29)
            dob = f"{year}-{month:02d}-{day:02d}"
            negatives.append({"name": name, "dob": dob if rng.random() < 0.7 else "",
                              "country": country})
            made += 1
    return positives, negatives


def main() -> None:
    positives, negatives = build()
    for filename, rows in (("positives.csv", positives), ("negatives.csv", negatives)):
        with (HERE / filename).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
