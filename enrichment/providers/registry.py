"""Business registries: the interface, the normalised entity, and the GLEIF LEI client.

Other registries (UK Companies House, OpenCorporates) plug in by implementing
:class:`RegistryProvider` and returning :class:`RegistryEntity` values.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from .errors import MalformedResponse, ProviderError
from .http import CallRecord, ProviderHttpClient, ProviderResponse

LEI_RE = re.compile(r"^[A-Z0-9]{18}[0-9]{2}$")
GLEIF_MEDIA_TYPE = "application/vnd.api+json"


def lei_is_valid(lei: str) -> bool:
    """ISO 17442: 20 characters, the last two ISO 7064 MOD 97-10 check digits."""
    if not LEI_RE.match(lei or ""):
        return False
    return int("".join(str(int(c, 36)) for c in lei)) % 97 == 1


def lei_with_check_digits(base18: str) -> str:
    """Append the two ISO 7064 check digits to an 18-character LEI prefix."""
    number = int("".join(str(int(c, 36)) for c in base18.upper() + "00"))
    return f"{base18.upper()}{98 - number % 97:02d}"


@dataclass
class RegistryEntity:
    """One legal entity as a registry describes it, with where and when it came from."""

    provider: str
    lei: str
    legal_name: str
    registration_number: str | None
    registration_authority: str | None
    jurisdiction: str | None
    country: str | None
    legal_address: dict[str, Any]
    entity_status: str | None
    registration_status: str | None
    category: str | None
    legal_form: str | None
    creation_date: str | None
    call_id: str
    fetched_at: datetime
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class RegistryResult:
    """Entities plus every call record made to obtain them."""

    entities: list[RegistryEntity]
    records: list[CallRecord]


class RegistryProvider(Protocol):
    """What enrichment needs from any business registry."""

    name: str

    def lookup(self, identifier: str) -> RegistryResult:
        """One entity by the registry's identifier (LEI for GLEIF); empty when unknown."""

    def search(self, *, legal_name: str, country: str) -> RegistryResult:
        """Entities whose legal name starts with ``legal_name`` in ``country``, all pages."""

    def direct_parent(self, identifier: str) -> RegistryResult:
        """The direct accounting parent, or no entity when none is reported."""

    def ultimate_parent(self, identifier: str) -> RegistryResult:
        """The ultimate accounting parent, or no entity when none is reported."""


def normalise_name(name: str) -> str:
    """Case-, accent- and punctuation-insensitive form used to compare legal names."""
    text = unicodedata.normalize("NFKD", name or "")
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


def normalise_registration(number: str | None) -> str:
    return re.sub(r"[^0-9A-Z]", "", (number or "").upper())


def select_registry_match(
    entities: list[RegistryEntity], *, legal_name: str, registration_number: str | None
) -> RegistryEntity | None:
    """Pick the entity that is the applicant, or None when it cannot be told apart.

    A registration number match is decisive. Otherwise exactly one exact (normalised)
    legal-name match is required; several candidates are ambiguous and left for a
    human rather than guessed.
    """
    wanted_reg = normalise_registration(registration_number)
    if wanted_reg:
        by_reg = [
            e for e in entities if normalise_registration(e.registration_number) == wanted_reg
        ]
        if len(by_reg) == 1:
            return by_reg[0]
        if len(by_reg) > 1:
            return None
    wanted_name = normalise_name(legal_name)
    by_name = [e for e in entities if normalise_name(e.legal_name) == wanted_name]
    return by_name[0] if len(by_name) == 1 else None


class GleifClient:
    """GLEIF LEI API (JSON:API, no key). Default budget: 60 requests a minute."""

    name = "gleif"

    def __init__(self, http: ProviderHttpClient, *, page_size: int = 50, max_pages: int = 10):
        if not 1 <= page_size <= 200:
            raise ValueError("GLEIF page[size] must be between 1 and 200")
        self.http = http
        self.page_size = page_size
        self.max_pages = max_pages

    def lookup(self, identifier: str) -> RegistryResult:
        lei = identifier.strip().upper()
        if not lei_is_valid(lei):
            raise ValueError(f"{identifier!r} is not a valid LEI (ISO 17442 check digits)")
        response = self.http.request(
            "GET", f"lei-records/{lei}", operation="lei_record", allow_404=True
        )
        if response.data is None:
            return RegistryResult([], response.records)
        entity = self._single(response)
        if entity.lei != lei:
            raise self._malformed(response, f"asked for LEI {lei}, got {entity.lei}")
        return RegistryResult([entity], response.records)

    def search(self, *, legal_name: str, country: str) -> RegistryResult:
        records: list[CallRecord] = []
        entities: dict[str, RegistryEntity] = {}
        params: dict[str, Any] = {
            "filter[entity.legalName]": legal_name,
            "filter[entity.legalAddress.country]": country.upper(),
            "page[size]": self.page_size,
        }
        try:
            self._search_pages(params, records, entities)
        except ProviderError as exc:
            # Keep the pages already fetched on the record of the failed search.
            exc.records = records + [r for r in exc.records if r not in records]
            raise
        return RegistryResult(list(entities.values()), records)

    def _search_pages(
        self,
        params: dict[str, Any],
        records: list[CallRecord],
        entities: dict[str, RegistryEntity],
    ) -> None:
        page = 1
        last_page = 1
        while page <= last_page:
            if page > self.max_pages:
                # A registry that keeps paging (or a name that matches thousands) is not
                # a match we can decide on; stop rather than spend the rate budget.
                break
            response = self.http.request(
                "GET", "lei-records", operation="lei_search",
                params={**params, "page[number]": page},
            )
            records.extend(response.records)
            data = self._data_list(response)
            pagination = ((response.data.get("meta") or {}).get("pagination")) or {}
            reported_last = pagination.get("lastPage", 1)
            if not isinstance(reported_last, int) or reported_last < 1:
                raise self._malformed(
                    response, "meta.pagination.lastPage is not a positive integer"
                )
            if page == 1:
                last_page = reported_last
            if not data:
                # Past the real end (the registry's counts moved between pages).
                break
            for item in data:
                entity = self._entity(item, response)
                # The live registry can shift records between pages while we page; keep
                # the first copy of each LEI.
                entities.setdefault(entity.lei, entity)
            page += 1

    def direct_parent(self, identifier: str) -> RegistryResult:
        return self._parent(identifier, "direct-parent", "direct_parent")

    def ultimate_parent(self, identifier: str) -> RegistryResult:
        return self._parent(identifier, "ultimate-parent", "ultimate_parent")

    def _parent(self, identifier: str, path: str, operation: str) -> RegistryResult:
        lei = identifier.strip().upper()
        if not lei_is_valid(lei):
            raise ValueError(f"{identifier!r} is not a valid LEI (ISO 17442 check digits)")
        # GLEIF answers 404 when no parent is reported (or a reporting exception applies).
        response = self.http.request(
            "GET", f"lei-records/{lei}/{path}", operation=operation, allow_404=True
        )
        if response.data is None:
            return RegistryResult([], response.records)
        entity = self._single(response)
        if entity.lei == lei:
            raise self._malformed(response, f"{path} of {lei} is the entity itself")
        return RegistryResult([entity], response.records)

    def _malformed(self, response: ProviderResponse, message: str) -> MalformedResponse:
        last = response.records[-1]
        last.outcome = "failed"
        last.error = message
        error = MalformedResponse(
            f"gleif: {message}", provider=self.name, method=last.method, url=response.url,
            status=response.status, attempts=last.attempt, excerpt=last.response_excerpt[:2000],
            call_id=response.call_id,
        )
        error.records = list(response.records)
        return error

    def _single(self, response: ProviderResponse) -> RegistryEntity:
        body = response.data
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise self._malformed(response, "JSON:API document without a single 'data' object")
        return self._entity(body["data"], response)

    def _data_list(self, response: ProviderResponse) -> list[dict[str, Any]]:
        body = response.data
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise self._malformed(response, "JSON:API document without a 'data' array")
        return body["data"]

    def _entity(self, item: Any, response: ProviderResponse) -> RegistryEntity:
        if not isinstance(item, dict) or item.get("type") != "lei-records":
            raise self._malformed(response, "resource is not of type 'lei-records'")
        attributes = item.get("attributes")
        if not isinstance(attributes, dict):
            raise self._malformed(response, "lei-record without attributes")
        lei = attributes.get("lei")
        if not isinstance(lei, str) or not lei_is_valid(lei) or item.get("id") != lei:
            raise self._malformed(response, f"lei-record with invalid LEI {lei!r}")
        entity = attributes.get("entity")
        registration = attributes.get("registration")
        if not isinstance(entity, dict) or not isinstance(registration, dict):
            raise self._malformed(response, f"lei-record {lei} without entity/registration")
        legal_name = (entity.get("legalName") or {}).get("name")
        if not isinstance(legal_name, str) or not legal_name.strip():
            raise self._malformed(response, f"lei-record {lei} without entity.legalName.name")
        address = entity.get("legalAddress") or {}
        if not isinstance(address, dict):
            raise self._malformed(response, f"lei-record {lei} legalAddress is not an object")
        return RegistryEntity(
            provider=self.name,
            lei=lei,
            legal_name=legal_name.strip(),
            registration_number=entity.get("registeredAs"),
            registration_authority=(entity.get("registeredAt") or {}).get("id"),
            jurisdiction=entity.get("jurisdiction"),
            country=address.get("country"),
            legal_address={
                "address_lines": list(address.get("addressLines") or []),
                "city": address.get("city"),
                "region": address.get("region"),
                "postal_code": address.get("postalCode"),
                "country": address.get("country"),
            },
            entity_status=entity.get("status"),
            registration_status=registration.get("status"),
            category=entity.get("category"),
            legal_form=(entity.get("legalForm") or {}).get("id"),
            creation_date=entity.get("creationDate"),
            call_id=response.call_id,
            fetched_at=response.fetched_at,
            raw=attributes,
        )


def gleif_http(**kwargs: Any) -> ProviderHttpClient:
    """A :class:`ProviderHttpClient` set up for GLEIF's JSON:API media type."""
    return ProviderHttpClient(
        provider="gleif",
        accept=GLEIF_MEDIA_TYPE,
        content_types=(GLEIF_MEDIA_TYPE, "application/json"),
        **kwargs,
    )
