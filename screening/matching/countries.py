"""Countries as ISO 3166-1 alpha-2 codes, whatever spelling a list publishes them in.

A query's country is an alpha-2 code (the API and the batch file validate it). The lists
do not agree: the EU list gives codes, OFAC's and the UN's give names, and in their own
spellings ("Russia", "Korea, North", "Burma", "Iran (Islamic Republic of)",
"Congo, Democratic Republic of the"). The country qualifier compares codes, so every
listed value is read here first: ISO names, official and common names and alpha-3 codes
come from pycountry; the spellings the lists use that ISO does not are in `LIST_SPELLINGS`.
A value that is not a country (a city, a number the publisher put in the wrong field) has
no code and never counts as the customer's country.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import pycountry

# Spellings found on the OFAC SDN and UN consolidated lists (the shipped publications)
# and on the UK and EU lists, which ISO 3166 does not carry as a name.
LIST_SPELLINGS = {
    "RUSSIA": "RU", "TURKEY": "TR", "BURMA": "MM", "KOREA NORTH": "KP",
    "NORTH KOREA": "KP", "KOREA SOUTH": "KR", "SOUTH KOREA": "KR",
    "DEMOCRATIC REPUBLIC OF THE CONGO": "CD", "CONGO DEMOCRATIC REPUBLIC OF THE": "CD",
    "CONGO REPUBLIC OF THE": "CG", "REPUBLIC OF THE CONGO": "CG",
    "IRAN ISLAMIC REPUBLIC OF": "IR", "PALESTINIAN": "PS", "STATE OF PALESTINE": "PS",
    "PALESTINIAN TERRITORIES": "PS", "WEST BANK": "PS", "GAZA": "PS", "REGION GAZA": "PS",
    "KOSOVO": "XK", "NORTH MACEDONIA THE REPUBLIC OF": "MK", "MACEDONIA": "MK",
    "ST VINCENT AND THE GRENADINES": "VC", "ST KITTS AND NEVIS": "KN",
    "ST LUCIA": "LC", "MACAU": "MO", "THE GAMBIA": "GM", "GAMBIA THE": "GM",
    "BAHAMAS THE": "BS", "THE BAHAMAS": "BS", "MAN ISLE OF": "IM",
    "CHINA HONG KONG SPECIAL ADMINISTRATIVE REGION": "HK",
    "CHINA MACAO SPECIAL ADMINISTRATIVE REGION": "MO", "COTE D IVOIRE": "CI",
    "IVORY COAST": "CI", "BRUNEI": "BN", "SWAZILAND": "SZ", "CAPE VERDE": "CV",
    "CZECH REPUBLIC": "CZ", "UNITED KINGDOM": "GB", "UK": "GB", "GREAT BRITAIN": "GB",
    "UNITED STATES": "US", "USA": "US", "VATICAN": "VA", "HOLY SEE": "VA",
    "SYRIAN ARAB REPUBLIC": "SY", "LAO PEOPLES DEMOCRATIC REPUBLIC": "LA", "LAOS": "LA",
    "MICRONESIA FEDERATED STATES OF": "FM", "TAIWAN": "TW", "VIETNAM": "VN",
    "VIET NAM": "VN", "EAST TIMOR": "TL", "TIMOR LESTE": "TL",
}
_NOT_WORD = re.compile(r"[^A-Z0-9]+")


def _key(value: str) -> str:
    """Upper case, accents and punctuation dropped: "Côte d'Ivoire" -> "COTE D IVOIRE"."""
    plain = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    return _NOT_WORD.sub(" ", plain.upper().replace("&", " AND ")).strip()


@lru_cache(maxsize=1)
def _table() -> dict[str, str]:
    table: dict[str, str] = {}
    for c in pycountry.countries:
        for attr in ("name", "official_name", "common_name", "alpha_3"):
            value = getattr(c, attr, None)
            if value:
                table.setdefault(_key(value), c.alpha_2)
    table.update(LIST_SPELLINGS)
    return table


@lru_cache(maxsize=4096)
def country_code(value: str) -> str | None:
    """The alpha-2 code of a country as a list publishes it, or None when it names none."""
    key = _key(value or "")
    if len(key) == 2 and key.isalpha():
        return key if pycountry.countries.get(alpha_2=key) is not None or key == "XK" else None
    return _table().get(key)
