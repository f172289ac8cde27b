"""Factories for case tests: customers and cases opened through the real service."""

from __future__ import annotations

import itertools

import factory

from cases.models import Customer
from cases.services import case_open

_seq = itertools.count(1)


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer
        django_get_or_create = ("external_id",)

    external_id = factory.Sequence(lambda n: f"CUST-{n:05d}")
    name = factory.Faker("name")
    dob = "1980-01-01"
    country = "GB"


def screening_case(
    *,
    customer=None,
    name="Ivan Petrov",
    listed="PETROV, Ivan",
    entity_uid=None,
    priority=80,
    list_code="ofac-sdn",
):
    customer = customer or CustomerFactory(name=name)
    n = next(_seq)
    entity_uid = entity_uid or f"OFAC-{n}"
    return case_open(
        source="screening",
        title=f"Possible match: {customer.name}",
        subject_type="customer",
        subject_id=customer.external_id,
        customer=customer,
        priority=priority,
        dedupe_key=f"screening:{customer.external_id}:{list_code}:{entity_uid}",
        evidence={
            "kind": "screening_match",
            "object_id": f"m{n}",
            "summary": {
                "query_name": customer.name,
                "matched_name": listed,
                "score": 91,
                "list": list_code,
                "entity_uid": entity_uid,
                "content_hash": f"h-{entity_uid}",
                "explanation": "token match",
            },
        },
    )


def monitoring_case(*, customer=None, rule_code="STRUCT-01", priority=50):
    customer = customer or CustomerFactory()
    n = next(_seq)
    return case_open(
        source="monitoring",
        title=f"{rule_code} alert",
        subject_type="customer",
        subject_id=customer.external_id,
        customer=customer,
        priority=priority,
        dedupe_key=f"monitoring:{customer.external_id}:{rule_code}:{n}",
        evidence={
            "kind": "alert",
            "object_id": f"a{n}",
            "summary": {
                "rule_code": rule_code,
                "rule_version": 3,
                "parameters": {"threshold": 10000, "window_days": 7},
                "observed": {"threshold": 9950, "count": 4},
                "contributing_ids": ["TX-1", "TX-2", "TX-3"],
            },
        },
    )
