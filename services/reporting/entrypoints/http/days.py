"""Days a client gives (a phase, a timetable, a check): in the years a report covers, or a 422 at the field."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AfterValidator

from services.reporting.domain.weeks import in_report_years

Day = Annotated[date, AfterValidator(in_report_years)]
