"""Files whose move out of our folder failed are remembered to be only moved again; past the bound, the oldest is
forgotten (taken again once, as after a restart), not every one."""

from __future__ import annotations

import pytest

from services.notification.adapters.ftp_drop import DONE
from services.notification.service_layer import ftp_moves
from services.notification.service_layer.ftp_moves import Moves


class RefusingDrop:
    """A platform on which no move succeeds: our account may not rename in the folder."""

    def __init__(self) -> None:
        self.tried: list[list[str]] = []

    async def move(self, folder: str, names: list[str], to: str, *, note: tuple[str, bytes] | None = None) -> None:
        self.tried.append(names)
        raise ConnectionResetError("the platform dropped the connection")


async def test_past_its_bound_it_forgets_the_oldest_stuck_file_not_every_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Full, it emptied itself: every batch it had forgotten was taken again at the next poll, downloaded, applied
    as duplicates and acknowledged again, the ones still stuck among them."""
    monkeypatch.setattr(ftp_moves, "MAX_REMEMBERED", 3)
    drop = RefusingDrop()
    moves = Moves(drop)  # type: ignore[arg-type]  # the move is all Moves asks of its drop
    for n in range(1, 5):
        with pytest.raises(ConnectionResetError):
            await moves.move("/440106", [f"b{n}.manifest.json", f"b{n}.batch"], DONE)

    assert [moves.pending("/440106", f"b{n}.manifest.json") for n in range(1, 5)] == [False, True, True, True]
    with pytest.raises(ConnectionResetError):
        await moves.again("/440106", "b2.manifest.json")  # tried again, still stuck: now the newest
    with pytest.raises(ConnectionResetError):
        await moves.move("/440106", ["b5.manifest.json", "b5.batch"], DONE)
    assert [moves.pending("/440106", f"b{n}.manifest.json") for n in range(2, 6)] == [True, False, True, True]
    assert drop.tried[-2] == ["b2.manifest.json", "b2.batch"]
