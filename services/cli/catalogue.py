"""Writes (or checks) every generated document under docs/: `make docs`, `python -m services.cli.catalogue`.

- docs/catalogue/asyncapi.json: every topic, its payloads, keys and versions (shared/catalogue)
- docs/catalogue/*.schema.json: bodies that cross the system's edge (webhook notice, exchange feedback)
- docs/openapi/<service>.json: each service's OpenAPI document, from create_app with test settings
- docs/settings.md: the settings table, from the settings classes

Nothing here connects anywhere: the apps are built, never started.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, SecretStr
from pydantic_settings import BaseSettings

from services.intake.settings import IntakeSettings
from services.notification.entrypoints.http.notices import Feedback
from services.notification.settings import NotificationSettings
from services.reporting.settings import ReportingSettings
from services.routing.settings import RoutingSettings
from shared.catalogue.asyncapi import asyncapi_document
from shared.catalogue.documents import SHARED_SCHEMAS, json_schema_document
from shared.catalogue.settings_table import settings_markdown
from shared.settings import CommonSettings

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = "make docs"
# in-memory stores and fixed placeholder secrets: building an app must touch no file and no server
TEST_SETTINGS: dict[str, Any] = {
    "person_key_secret": SecretStr("catalogue-person-key-secret-0123"),
    "keys_database_url": "sqlite+aiosqlite:///:memory:",
    "database_url": "sqlite+aiosqlite:///:memory:",
}
TEST_DATA_KEY = SecretStr("Y2F0YWxvZ3VlLWRhdGEta2V5LTAxMjM0NTY3ODlhYmM=")


def settings_classes() -> dict[str, type[BaseSettings]]:
    return {
        "intake": IntakeSettings,
        "routing": RoutingSettings,
        "notification": NotificationSettings,
        "reporting": ReportingSettings,
    }


def openapi_documents() -> dict[str, dict[str, Any]]:
    """Each service's OpenAPI document, from its composition root with test settings (environment ignored)."""
    from services.intake.bootstrap import create_app as intake_app
    from services.notification.bootstrap import create_app as notification_app
    from services.reporting.bootstrap import create_app as reporting_app
    from services.routing.bootstrap import create_app as routing_app

    factories: dict[str, Callable[[Any], FastAPI]] = {
        "intake": intake_app,
        "routing": routing_app,
        "notification": notification_app,
        "reporting": reporting_app,
    }
    return {service: factory(test_settings(service)).openapi() for service, factory in factories.items()}


def test_settings(service: str) -> BaseSettings:
    """The service's settings with their defaults, test secrets and in-memory stores; the environment is not read."""
    settings_class = settings_classes()[service]
    values = {**TEST_SETTINGS, "data_key": TEST_DATA_KEY} if settings_class is IntakeSettings else TEST_SETTINGS
    return settings_class.model_construct(None, **values)


def generated() -> dict[Path, str]:
    """Every generated document, by path relative to the repository root."""
    documents: dict[Path, Any] = {
        Path("docs/catalogue/asyncapi.json"): asyncapi_document(),
    }
    schemas: dict[str, type[BaseModel]] = {**SHARED_SCHEMAS, "exchange-feedback.schema.json": Feedback}
    for name, model in schemas.items():
        documents[Path("docs/catalogue") / name] = json_schema_document(model, name)
    for service, document in openapi_documents().items():
        documents[Path(f"docs/openapi/{service}.json")] = document
    texts = {path: json.dumps(document, indent=2, ensure_ascii=False) + "\n" for path, document in documents.items()}
    texts[Path("docs/settings.md")] = settings_markdown(CommonSettings, settings_classes())
    return texts


def stale(root: Path = ROOT) -> list[Path]:
    """Generated documents whose committed copy is missing or differs."""
    return [
        path
        for path, text in generated().items()
        if not (root / path).exists() or (root / path).read_text(encoding="utf-8") != text
    ]


def write(root: Path = ROOT) -> list[Path]:
    changed = []
    for path, text in generated().items():
        target = root / path
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def main(argv: list[str]) -> int:
    if argv[1:] == ["--check"]:
        outdated = stale()
        for path in outdated:
            print(f"out of date: {path} (run `{REGENERATE}`)")
        return 1 if outdated else 0
    for path in write():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
