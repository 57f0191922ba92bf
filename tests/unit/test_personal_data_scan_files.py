"""The final personal-data scan sees what every worker of the suite made up and found (tests/support/personal_data.py).

Under pytest-xdist each worker is a process with its own sets; the scan runs after them in another.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import personal_data


@pytest.fixture
def fresh_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(personal_data, "VALUES", set())
    monkeypatch.setattr(personal_data, "NAMES", set())
    monkeypatch.setattr(personal_data, "FINDINGS", [])


def worker_made(values: set[str], names: set[str], findings: list[str], worker: str) -> None:
    personal_data.VALUES.update(values)
    personal_data.NAMES.update(names)
    personal_data.FINDINGS.extend(findings)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTEST_XDIST_WORKER", worker)
        personal_data.save_for_the_scan()
    personal_data.VALUES.clear()
    personal_data.NAMES.clear()
    personal_data.FINDINGS.clear()


@pytest.mark.usefixtures("fresh_sets")
def test_the_scan_reads_what_each_worker_saved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(personal_data.SHARED_DIR_VARIABLE, str(tmp_path))
    worker_made({"110101199003074273"}, {"run.aa"}, ["database x: an identity number"], "gw0")
    worker_made({"张三"}, {"run.bb"}, [], "gw1")
    assert personal_data.load_for_the_scan() == 2
    assert sorted(personal_data.VALUES) == ["110101199003074273", "张三"]
    assert sorted(personal_data.NAMES) == ["run.aa", "run.bb"]
    assert personal_data.FINDINGS == ["database x: an identity number"]


@pytest.mark.usefixtures("fresh_sets")
def test_without_the_directory_nothing_is_saved_or_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(personal_data.SHARED_DIR_VARIABLE, raising=False)
    personal_data.VALUES.add("110101199003074273")
    personal_data.save_for_the_scan()
    assert personal_data.load_for_the_scan() == 0
    assert list(tmp_path.iterdir()) == []
