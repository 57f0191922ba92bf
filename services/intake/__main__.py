"""`python -m services.intake`: serve intake with uvicorn."""

from services.intake.settings import IntakeSettings
from shared.serving import serve

if __name__ == "__main__":
    serve("services.intake.bootstrap:create_app", IntakeSettings())
