"""OFAC vocabulary shared by the legacy CSV and XML parsers.

The legacy CSV packs into `Remarks` what the XML holds in structured lists (DOB, POB,
identifiers, weak aliases); both parsers map labels through the same table so that one
publication parsed from either format gives the same entities.
"""

from __future__ import annotations

import re

from screening.matching.countries import country_code

from .common import clean, entity_country, parse_date

#: OFAC identifier labels (as in the XML `idType` and in CSV remarks) -> Vigil kind.
#: Labels not listed stay in remarks / extra: they are sanctions notes, not identifiers.
ID_LABELS: dict[str, str] = {
    "Passport": "passport",
    "Diplomatic Passport": "passport",
    "Stateless Person Passport": "passport",
    "National ID No.": "national_id",
    "Cedula No.": "national_id",
    "C.U.R.P.": "national_id",
    "D.N.I.": "national_id",
    "Identification Number": "national_id",
    "Personal ID Card": "national_id",
    "Refugee ID Card": "national_id",
    "Kenyan ID No.": "national_id",
    "Electoral Registry No.": "national_id",
    "Credencial electoral": "national_id",
    "I.F.E.": "national_id",
    "NIE": "national_id",
    "SSN": "ssn",
    "Driver's License No.": "drivers_license",
    "Birth Certificate Number": "birth_certificate",
    "Residency Number": "residency_permit",
    "Tax ID No.": "tax_id",
    "R.F.C.": "tax_id",
    "RFC": "tax_id",
    "NIT #": "tax_id",
    "RUC #": "tax_id",
    "RIF #": "tax_id",
    "C.U.I.T.": "tax_id",
    "C.U.I.": "tax_id",
    "Italian Fiscal Code": "tax_id",
    "V.A.T. Number": "vat",
    "Registration ID": "registration",
    "Registration Number": "registration",
    "Business Registration Number": "registration",
    "Business Registration Document #": "registration",
    "Commercial Registry Number": "registration",
    "Company Number": "registration",
    "UK Company Number": "registration",
    "Public Registration Number": "registration",
    "Government Gazette Number": "registration",
    "Trade License No.": "registration",
    "Matricula Mercantil No": "registration",
    "Folio Mercantil No.": "registration",
    "Chamber of Commerce Number": "registration",
    "Unified Social Credit Code (USCC)": "registration",
    "Enterprise Number": "registration",
    "License": "license",
    "Legal Entity Number": "lei",
    "SWIFT/BIC": "bic",
    "BIK (RU)": "bik",
    "Vessel Registration Identification": "imo",
    "MMSI": "mmsi",
    "Aircraft Manufacturer's Serial Number (MSN)": "aircraft_msn",
    "Aircraft Tail Number": "aircraft_tail",
    "Email Address": "email",
    "Website": "website",
    "Phone Number": "phone",
    "Telephone": "phone",
    "Fax": "fax",
    "D-U-N-S Number": "duns",
    "Digital Currency Address - XBT": "crypto",
    "Digital Currency Address - ETH": "crypto",
    "Digital Currency Address - XMR": "crypto",
    "Digital Currency Address - LTC": "crypto",
    "Digital Currency Address - ZEC": "crypto",
    "Digital Currency Address - DASH": "crypto",
    "Digital Currency Address - BTG": "crypto",
    "Digital Currency Address - ETC": "crypto",
    "Digital Currency Address - BSV": "crypto",
    "Digital Currency Address - BCH": "crypto",
    "Digital Currency Address - XVG": "crypto",
    "Digital Currency Address - USDT": "crypto",
    "Digital Currency Address - XRP": "crypto",
    "Digital Currency Address - TRX": "crypto",
    "Digital Currency Address - ARB": "crypto",
    "Digital Currency Address - BSC": "crypto",
    "Digital Currency Address - USDC": "crypto",
}
_LABEL_ALTERNATION = "|".join(re.escape(k) for k in sorted(ID_LABELS, key=len, reverse=True))
_LABEL_PREFIX = re.compile(f"^({_LABEL_ALTERNATION}) (.+)$", re.S)
_TRAILING_COUNTRY = re.compile(r"^(.*?)\s*\(([^()]*)\)(?:\s+(?:issued|expires)\b.*)?$")
_ALIAS = re.compile(r"^([fna])\.k\.a\.,? '(.*)'$", re.S)


def identifier(label: str, number: str) -> tuple[str, str] | None:
    """(kind, value) for a known identifier label, None for notes that are not identifiers."""
    kind = ID_LABELS.get(clean(label))
    value = clean(number)
    if not kind or not value:
        return None
    if kind == "imo":
        value = value.removeprefix("IMO ").strip()
    elif kind == "crypto":
        value = f"{label.rsplit(' ', 1)[-1]}:{value}"
    return kind, value


def split_country(value: str) -> tuple[str, str]:
    """'042833 (Lebanon)' -> ('042833', 'Lebanon'). A parenthesis that cannot name a
    country stays part of the number: a telephone's '(357)(22660766)', a registration
    number's '2014(G)'."""
    m = _TRAILING_COUNTRY.match(value)
    if m and m.group(1) and len(re.sub(r"[^A-Za-z]", "", m.group(2))) >= 2:
        return m.group(1).strip(), m.group(2).strip()
    return value, ""


def id_country(place: str) -> str:
    """The issuing country of an identifier, or "" when the parenthesis names a place
    that is not a country: Colombian commercial registrations give the chamber's city
    ('Matricula Mercantil No 818178-2 (Cali)'). The remarks keep the text as published."""
    country = entity_country(place)
    return country if country_code(country) else ""


def split_remarks(remarks: str) -> list[str]:
    """Split OFAC remarks on '; ' outside quoted aliases; drop the closing period."""
    text = clean(remarks)
    if text.endswith("."):
        text = text[:-1]
    parts: list[str] = []
    for piece in text.split("; "):
        # An alias quote opened by "a.k.a. '" may itself contain "; ": glue it back.
        if parts and _open_alias(parts[-1]):
            parts[-1] = f"{parts[-1]}; {piece}"
        else:
            parts.append(piece)
    return [p.strip() for p in parts if p.strip()]


def _open_alias(part: str) -> bool:
    return ".k.a. '" in part[:12] and not part.endswith("'")


def parse_remarks(remarks: str) -> dict:
    """Structured facts found in an OFAC CSV `Remarks` field (DOB, POB, IDs, weak aliases...)."""
    out: dict = {
        "dobs": [],
        "pobs": [],
        "nationalities": [],
        "citizenships": [],
        "ids": [],
        "countries": [],
        "aliases": [],
        "linked_to": [],
        "gender": "",
    }
    for part in split_remarks(remarks):
        p = part.removeprefix("alt. ")
        if p.startswith("DOB "):
            out["dobs"].extend(parse_date(p[4:]))
        elif p.startswith("POB "):
            out["pobs"].append(clean(p[4:]))
        elif p.startswith("nationality "):
            out["nationalities"].append(clean(p[12:]))
        elif p.startswith("citizen "):
            out["citizenships"].append(clean(p[8:]))
        elif p.startswith("Gender "):
            out["gender"] = clean(p[7:])
        elif p.startswith("Linked To: "):
            out["linked_to"].append(clean(p[11:]))
        elif (m := _ALIAS.match(p)) is not None:
            out["aliases"].append(clean(m.group(2)))
        elif (m := _LABEL_PREFIX.match(p)) is not None:
            number, country = split_country(m.group(2))
            ident = identifier(m.group(1), number)
            if ident:
                out["ids"].append(ident)
                if country := id_country(country):
                    out["countries"].append(country)
    return out


def programs(field: str) -> tuple[str, ...]:
    """'SDGT] [IRGC' -> ('SDGT', 'IRGC'): several programs share one CSV field."""
    return tuple(p.strip(" []") for p in field.split("] [") if p.strip(" []"))
