"""The settings classes as Markdown: variable, default, meaning (the field's description).

docs/settings.md is this table, written by `make docs`; nobody keeps a copy by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

from shared.settings import env_prefix

ROOT = Path(__file__).resolve().parents[2]


def settings_markdown(common: type[BaseSettings], services: Mapping[str, type[BaseSettings]]) -> str:
    """One table for the common settings, then one per service with only what it adds."""
    common_names = set(common.model_fields)
    lines = [
        "# Settings",
        "",
        "<!-- Generated from the settings classes by `make docs`; edit the Field descriptions, not this file. -->",
        "",
        "Every service reads its settings from the environment (pydantic-settings) when it starts.",
        "A setting without a default is required: the service refuses to start without it.",
        "",
        f"## Every service (`{_where(common)}`)",
        "",
        *_table(common, common.model_fields),
    ]
    for service, settings_class in services.items():
        own = {name: field for name, field in settings_class.model_fields.items() if name not in common_names}
        lines += ["", f"## {service} (`{_where(settings_class)}`)", "", *_table(settings_class, own)]
    return "\n".join(lines) + "\n"


def _table(settings_class: type[BaseSettings], fields: Mapping[str, FieldInfo]) -> list[str]:
    prefix = env_prefix(settings_class)
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in fields.items():
        variable = field.alias or f"{prefix}{name}".upper()
        meaning = _description(settings_class, name).replace("|", "\\|")
        rows.append(f"| `{variable}` | {_default(field)} | {meaning} |")
    return rows


def _description(settings_class: type[BaseSettings], name: str) -> str:
    """The field's description, or the one of the class it overrides (a service's own default port)."""
    for klass in settings_class.__mro__:
        field = getattr(klass, "model_fields", {}).get(name)
        if field is not None and field.description:
            return str(field.description)
    return ""


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value: Any = field.get_default(call_default_factory=True)
    if value is None or value == [] or value is PydanticUndefined:
        return "(none)"
    if isinstance(value, Enum):
        value = value.value
    elif isinstance(value, list):
        value = ",".join(str(item) for item in value)
    elif isinstance(value, Path):
        value = value.resolve().relative_to(ROOT) if value.resolve().is_relative_to(ROOT) else value
    return f"`{value}`"


def _where(settings_class: type[BaseSettings]) -> str:
    return f"{settings_class.__module__}.{settings_class.__qualname__}"
