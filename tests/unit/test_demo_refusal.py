"""`popflow demo` when intake refuses its records: what intake said, shown, not a traceback."""

from __future__ import annotations

import types
from typing import Any

import httpx
import pytest
import typer

from services.cli import demo


def test_a_refusal_cut_inside_a_character_is_said_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo shows the first 500 bytes of intake's refusal; cut inside a Chinese character, decoding them
    raised UnicodeDecodeError instead of saying what intake answered."""
    refusal = ("字" * 400).encode()  # three bytes a character: byte 500 falls inside one

    def stream(method: str, url: str, **kwargs: Any) -> Any:
        answer = httpx.MockTransport(lambda _request: httpx.Response(503, content=refusal))
        return httpx.Client(transport=answer).stream(method, url, **kwargs)

    monkeypatch.setattr(demo, "httpx", types.SimpleNamespace(stream=stream))
    with pytest.raises(typer.Exit):
        demo._send([{"n": 1}], intake="http://intake.test", key="pf_x_y")
    assert "intake answered 503" in capsys.readouterr().out
