"""deploy/kafka/start.sh tries once more after a silent JVM start, and only then; it and cluster.sh refuse
what is not theirs.

On the 2-core machine the broker's JVM sometimes writes nothing at all within the
ready timeout, while the next start takes seconds. A broker with its logging
switched off and a one-second timeout stands in for that silence here; a broker
that fails with an error (its port taken) is a real failure and is not retried.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from tests.support.system import ROOT, free_port


def start(data_dir: Path, port: int, java_opts: str, ready_timeout: int = 1) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if k != "KAFKA_SASL_PORT"}
    env = {
        **inherited,
        "KAFKA_PORT": str(port),
        "KAFKA_CONTROLLER_PORT": str(free_port()),
        "KAFKA_DATA_DIR": str(data_dir),
        "KAFKA_READY_TIMEOUT": str(ready_timeout),
        "KAFKA_JAVA_OPTS": java_opts,
    }
    try:
        return subprocess.run(
            ["bash", "deploy/kafka/start.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
        )
    finally:  # whatever happened, no broker of this test's is left behind
        subprocess.run(["bash", "deploy/kafka/stop.sh"], cwd=ROOT, env=env, capture_output=True, timeout=120)


def test_a_silent_start_is_tried_once_more_then_given_up(tmp_path: Path) -> None:
    done = start(tmp_path, free_port(), "-Dorg.slf4j.simpleLogger.defaultLogLevel=off")

    assert done.returncode == 1
    assert done.stderr.count("started broker pid") == 2
    assert "a silent JVM start); trying once more" in done.stderr
    assert "wrote nothing within 1s, twice; killed it" in done.stderr
    assert not (tmp_path / "kafka.pid").exists()


def test_a_broker_that_fails_is_not_retried(tmp_path: Path) -> None:
    with socket.socket() as taken:
        # bound but not listening: nothing answers on it (the check before the start passes), and the
        # broker's own bind fails
        taken.bind(("127.0.0.1", 0))
        done = start(tmp_path, taken.getsockname()[1], "", ready_timeout=60)

    assert done.returncode == 1
    assert done.stderr.count("started broker pid") == 1
    assert "broker exited during startup" in done.stderr
    assert "Address already in use" in done.stderr
    assert not (tmp_path / "kafka.pid").exists()


def test_a_port_another_process_answers_on_is_refused_before_a_broker_starts(tmp_path: Path) -> None:
    """Another Kafka on the port would answer this one's readiness check while this one dies."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = start(tmp_path, port, "", ready_timeout=60)

    assert done.returncode == 1
    assert f"port {port} is in use by another process" in done.stderr
    assert "started broker pid" not in done.stderr
    assert not (tmp_path / "kafka.pid").exists()


def test_a_cluster_directory_of_other_nodes_is_refused(tmp_path: Path) -> None:
    """Three nodes' data started as one (or on other ports) would wait for voters that never come."""
    (tmp_path / "voters").write_text("1@127.0.0.1:29193,2@127.0.0.1:29195,3@127.0.0.1:29197\n")
    env = {**os.environ, "KAFKA_CLUSTER_DIR": str(tmp_path), "KAFKA_NODES": "1", "KAFKA_CLUSTER_PORT": "29192"}
    done = subprocess.run(
        ["bash", "deploy/kafka/cluster.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 2
    assert "holds a cluster of other nodes (1@127.0.0.1:29193,2@127.0.0.1:29195,3@127.0.0.1:29197)" in done.stderr
    assert not list(tmp_path.glob("node-*"))


def test_a_stopped_brokers_classes_become_the_archive_the_next_start_maps_and_a_cut_one_is_not_used(
    tmp_path: Path,
) -> None:
    archives = tmp_path / "cds"
    data_dir = tmp_path / "data"
    port = free_port()

    def run(action: str) -> subprocess.CompletedProcess[str]:
        env = {
            **{k: v for k, v in os.environ.items() if k != "KAFKA_SASL_PORT"},
            "KAFKA_PORT": str(port),
            "KAFKA_CONTROLLER_PORT": str(free_port()),
            "KAFKA_DATA_DIR": str(data_dir),
            "KAFKA_CDS_DIR": str(archives),
        }
        return subprocess.run(
            ["bash", f"deploy/kafka/{action}.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
        )

    def broker_command_line() -> str:
        pid = (data_dir / "kafka.pid").read_text().strip()
        return (Path("/proc") / pid / "cmdline").read_bytes().replace(b"\0", b" ").decode()

    try:
        first = run("start")
        assert first.returncode == 0, first.stderr
        assert "-XX:ArchiveClassesAtExit=" in broker_command_line()
    finally:
        assert run("stop").returncode == 0
    [partial] = archives.glob(f"*.jsa.partial-{port}")
    whole = partial.read_bytes()
    assert len(whole) > 1_000_000

    # a broker stopped while writing its file leaves it cut (a JVM that mapped it would crash); another port's
    # broker stopped cleanly (its whole file; "99999" is checked after this port's); and one still writing
    partial.chmod(0o600)
    partial.write_bytes(whole[: len(whole) // 2])
    stopped = archives / partial.name.replace(f"partial-{port}", "partial-99999")
    stopped.write_bytes(whole)
    writing = archives / partial.name.replace(f"partial-{port}", "partial-1")
    writing.write_bytes(b"being written")
    writer = subprocess.Popen(["bash", "-c", "sleep 300; true", f"-XX:ArchiveClassesAtExit={writing}"])
    try:
        second = run("start")
        assert second.returncode == 0, second.stderr
        assert "class archive is incomplete" in second.stderr
        assert "class archive made from a stopped broker's classes" in second.stderr
        [archive] = archives.glob("*.jsa")
        assert archive.read_bytes() == whole
        assert f"-XX:SharedArchiveFile={archive}" in broker_command_line()
        assert "ArchiveClassesAtExit" not in broker_command_line()
        assert [p.name for p in archives.glob("*.partial-*")] == [writing.name]
        assert writing.read_bytes() == b"being written"
    finally:
        run("stop")
        writer.kill()
