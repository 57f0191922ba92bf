"""The street office's page (server-rendered HTML, no JavaScript)."""

from services.notification.entrypoints.office.pages import office_router

__all__ = ["office_router"]
