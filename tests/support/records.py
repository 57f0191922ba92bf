"""Builders of valid case records (and identity numbers) for tests and benchmarks."""

from __future__ import annotations

from datetime import date
from typing import Any

from shared.identity import check_character
from tests.support import personal_data

BAIYUN = "440111"  # 白云区, Guangzhou
TONGDE = "440111005"  # 同德街道, Baiyun
XINSHI = "440111008"  # 新市街道, Baiyun
WUSHAN = "440106001"  # 五山街道, Tianhe (same city, other district)
LUJIAZUI = "310115005"  # 陆家嘴街道, Pudong, Shanghai (other province)
FURONG = "430102"  # 芙蓉区, Changsha: a registration district


def id_number(region: str = FURONG, born: date = date(1990, 3, 7), sequence: int = 12) -> str:
    """A valid 18-character identity number (sequence odd = male, even = female)."""
    first17 = f"{region}{born:%Y%m%d}{sequence:03d}"
    return personal_data.used(first17 + check_character(first17))


def record(
    *,
    reporting_street: str = TONGDE,
    residence_street: str = TONGDE,
    sequence: int = 12,
    observed_at: str = "2026-02-25T10:30:00+08:00",
    event: str = "new_inflow",
    name: str = "张三",
) -> dict[str, Any]:
    return {
        "event": event,
        "person": {"id_number": id_number(sequence=sequence), "name": personal_data.used(name)},
        "reporting_street": reporting_street,
        "residence": {"street": residence_street, "address": "同德路 8 号 3 栋 201"},
        "registration": {"division": FURONG, "address": "长沙市芙蓉区五一大道 1 号"},
        "observed_at": observed_at,
    }


def credit_code(first17: str = "91440111MA5ABCDE1") -> str:
    """A valid unified social credit code (GB 32100) for the given first 17 characters."""
    from services.intake.domain.credit_code import check_character

    return first17 + check_character(first17)


def full_record(**overrides: Any) -> dict[str, Any]:
    """A record with every optional part filled in, all of it valid."""
    body = record(**overrides)
    body["person"].update(sex="female", phone="13800138000")
    body["residence"].update(community=f"{body['residence']['street']}001", arrived_on="2026-01-10")
    body.update(
        marital_status="married",
        certificate={
            "result": "valid",
            "checked_on": "2026-02-25",
            "number": "HY-4301-000123",
            "issuing_division": FURONG,
            "issued_on": "2025-06-01",
            "valid_until": "2028-05-31",
        },
        employer={"name": "白云某某服装厂", "credit_code": credit_code()},
        source_kind="canvass",
        key_area="rental_housing",
        external_id="app-0001",
    )
    return body
