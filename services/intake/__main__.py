"""`python -m services.intake`: serve intake with uvicorn."""

import gc

from services.intake.settings import IntakeSettings
from shared.serving import serve

if __name__ == "__main__":
    # A bulk row allocates a few hundred containers; at the default threshold (700) the cyclic
    # collector ran every few rows and walked the older generations often: a fifth of the CPU
    # per row (docs/performance.md). Rarer collections; what is loaded at start-up is never scanned.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    serve("services.intake.bootstrap:create_app", IntakeSettings())
