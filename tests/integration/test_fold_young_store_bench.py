"""bench/fold_young_store.py checks the notices' senders after its timed batch, whatever its arguments."""

from __future__ import annotations

from bench.fold_young_store import one_run


async def test_one_notices_batch_leaves_no_notice_without_its_sender_and_the_check_says_so() -> None:
    """With one notices' batch every notice's record is in the records' batch: no notice is left unnamed, and the
    check must not expect a group of them (it did: an AssertionError on a right store)."""
    _, notices_ms = await one_run(batch=20, notice_batches=1)
    assert len(notices_ms) == 1
