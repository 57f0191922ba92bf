"""Division codes of the national directory and the prefix questions asked of them.

Codes are hierarchical: 2 digits province, 4 city, 6 district (county),
9 street (township). A code's parent is always its own prefix, so every
routing question is a prefix comparison plus an existence check here.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from shared.digits import ascii_digits

DATA_DIR = Path(__file__).parent / "data"


class DivisionLevel(StrEnum):
    PROVINCE = "province"
    CITY = "city"
    DISTRICT = "district"
    STREET = "street"


LEVEL_BY_LENGTH = {
    2: DivisionLevel.PROVINCE,
    4: DivisionLevel.CITY,
    6: DivisionLevel.DISTRICT,
    9: DivisionLevel.STREET,
}


@dataclass(frozen=True, slots=True)
class DivisionDirectory:
    """Names of every known division, keyed by code."""

    names: dict[str, str]

    def exists(self, code: str, level: DivisionLevel | None = None) -> bool:
        """True when `code` is in the directory (and at `level`, when given)."""
        if level is not None and LEVEL_BY_LENGTH.get(len(code)) is not level:
            return False
        return code in self.names

    def name_of(self, code: str) -> str | None:
        return self.names.get(code)

    def streets_of(self, district: str) -> list[str]:
        """The 9-digit street codes of a 6-digit district, in code order."""
        return sorted(c for c in self.names if len(c) == 9 and c.startswith(district))


def level_of(code: str) -> DivisionLevel | None:
    """The level a code's length stands for, or None for a malformed code."""
    if not ascii_digits(code):
        return None
    return LEVEL_BY_LENGTH.get(len(code))


def district_of(code: str) -> str:
    """The 6-digit district prefix of a district or street code."""
    return code[:6]


def _read_names(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return {row["code"]: row["name"] for row in csv.DictReader(handle)}


@functools.cache
def load_directory(data_dir: Path = DATA_DIR) -> DivisionDirectory:
    """Read the vendored CSV files once per process (about 45,000 rows, ~50 ms)."""
    names: dict[str, str] = {}
    for file_name in ("provinces.csv", "cities.csv", "areas.csv", "streets.csv"):
        names.update(_read_names(data_dir / file_name))
    return DivisionDirectory(names=names)
