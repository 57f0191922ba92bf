"""`python -m services.reporting`: serve reporting with uvicorn."""

from services.reporting.settings import ReportingSettings
from shared.serving import serve

if __name__ == "__main__":
    serve("services.reporting.bootstrap:create_app", ReportingSettings())
