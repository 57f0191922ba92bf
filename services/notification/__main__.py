"""`python -m services.notification`: serve notification with uvicorn."""

from services.notification.settings import NotificationSettings
from shared.serving import serve

if __name__ == "__main__":
    serve("services.notification.bootstrap:create_app", NotificationSettings())
