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
    for n in range(1, 5):  # acknowledgements: a file each
        with pytest.raises(ConnectionResetError):
            await moves.move("/440106", [f"b{n}.ack.json"], DONE)

    assert [moves.pending("/440106", f"b{n}.ack.json") for n in range(1, 5)] == [False, True, True, True]
    with pytest.raises(ConnectionResetError):
        await moves.again("/440106", "b2.ack.json", {"b2.ack.json"})  # tried again, still stuck: now the newest
    with pytest.raises(ConnectionResetError):
        await moves.move("/440106", ["b5.ack.json"], DONE)
    assert [moves.pending("/440106", f"b{n}.ack.json") for n in range(2, 6)] == [True, False, True, True]
    assert drop.tried[-2] == ["b2.ack.json"]


class HalfwayDrop:
    """Moves the first file of each move, then the connection drops: the manifest in done/, its batch file not."""

    def __init__(self) -> None:
        self.folder = {"b1.batch", "b1.manifest.json"}
        self.fails = True

    async def move(self, folder: str, names: list[str], to: str, *, note: tuple[str, bytes] | None = None) -> None:
        for name in names:
            if self.fails and name != names[0]:
                raise ConnectionResetError("the platform dropped the connection")
            self.folder.discard(name)  # moved, or gone already (FtpDrop passes over what an earlier move moved)


async def test_a_batch_file_left_by_a_move_that_failed_half_way_is_only_moved_again() -> None:
    """Only the move's first file was remembered: once it had moved, the batch file was listed alone and was no
    longer known for one whose move failed (a batch file without its manifest)."""
    drop = HalfwayDrop()
    moves = Moves(drop)  # type: ignore[arg-type]
    with pytest.raises(ConnectionResetError):
        await moves.move("/440106", ["b1.manifest.json", "b1.batch"], DONE)
    assert drop.folder == {"b1.batch"}

    assert moves.pending("/440106", "b1.batch")
    drop.fails = False
    assert await moves.again("/440106", "b1.batch", {"b1.batch"})
    assert drop.folder == set()
    assert not moves.pending("/440106", "b1.batch")
    assert not moves.pending("/440106", "b1.manifest.json")


async def test_a_stuck_batch_listed_whole_is_moved_once_a_poll_not_once_for_each_of_its_files() -> None:
    drop = RefusingDrop()
    moves = Moves(drop)  # type: ignore[arg-type]
    names = ["b1.manifest.json", "b1.batch"]
    with pytest.raises(ConnectionResetError):
        await moves.move("/440106", names, DONE)
    listed = set(names)
    assert await moves.again("/440106", "b1.batch", listed) is False  # its manifest leads
    with pytest.raises(ConnectionResetError):
        await moves.again("/440106", "b1.manifest.json", listed)
    assert drop.tried == [names, names]
