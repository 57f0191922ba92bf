"""`popflow demo` when a service refuses a step: where it asked, and what the service said.

With the ports moved (`INTAKE_PORT=8101 make run`) and one of `--intake/--notification/--reporting` left at
its default, the demo reached another PopFlow on 8004, and said only "POST /v1/campaigns: 401": the key was
right, the address was not, and nothing in the message showed it.
"""

from __future__ import annotations

import httpx
import pytest

from services.cli import demo_week

UNKNOWN_KEY = {
    "type": "about:blank",
    "title": "Unauthorized",
    "status": 401,
    "detail": "This API key is not valid or has been revoked.",
}


def _answered(status: int, **body: object) -> httpx.Response:
    request = httpx.Request("POST", "http://127.0.0.1:8004/v1/campaigns?district=440111")
    return httpx.Response(status, request=request, **body)  # type: ignore[arg-type]


def test_a_refused_step_names_the_service_it_asked_and_the_problems_detail() -> None:
    with pytest.raises(demo_week.DemoStepFailed) as refused:
        demo_week._ok(_answered(401, json=UNKNOWN_KEY))
    said = str(refused.value)
    assert said.startswith("POST http://127.0.0.1:8004/v1/campaigns: 401")
    assert "401 Unauthorized: This API key is not valid or has been revoked." in said
    assert "district=" not in said


def test_a_validation_problem_gives_its_title_and_detail_not_its_fields() -> None:
    problem = {
        "title": "The request is not valid",
        "status": 422,
        "detail": "1 field is wrong; correct it and submit again.",
        "errors": [{"pointer": "/persons/0/id_number", "detail": "the check digit does not match"}],
    }
    said = demo_week.refusal(_answered(422, json=problem))
    assert "422 The request is not valid: 1 field is wrong" in said
    assert "/persons/0" not in said


def test_an_answer_that_is_no_problem_document_still_names_the_address_and_status() -> None:
    assert demo_week.refusal(_answered(502, text="<html>Bad Gateway</html>")) == (
        "POST http://127.0.0.1:8004/v1/campaigns: 502"
    )
    assert demo_week.refusal(_answered(500, json=["not", "an", "object"])) == (
        "POST http://127.0.0.1:8004/v1/campaigns: 500"
    )


def test_a_password_in_the_base_url_is_not_repeated() -> None:
    request = httpx.Request("GET", "http://user:secret@127.0.0.1:8003/v1/inbox/440111008")
    said = demo_week.refusal(httpx.Response(404, request=request))
    assert said == "GET http://127.0.0.1:8003/v1/inbox/440111008: 404"
