"""The anchor intake is measured against: a bare FastAPI app that validates the same record model.

No key check, no database, no Kafka: what one uvicorn worker with the same
server settings (uvloop, httptools) does per POST with the same body.

    .venv/bin/python bench/anchor.py PORT
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn
from fastapi import FastAPI

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.events import CaseRecord

app = FastAPI()


@app.post("/v1/records", status_code=202)
async def submit(record: CaseRecord) -> dict[str, str]:
    return {"status": "accepted", "street": record.reporting_street}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", loop="uvloop", http="httptools")
