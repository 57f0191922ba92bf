"""A Kafka cluster of three KRaft nodes on this machine (deploy/kafka/cluster.sh), for tests and benchmarks
that kill a broker under the running services."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from shared.kafka.security import KafkaConnection
from tests.support.system import ephemeral_low

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Cluster:
    servers: str  # KAFKA_BOOTSTRAP_SERVERS of the services: host:port,host:port,...
    directory: Path
    env: dict[str, str] = field(repr=False)

    def kill(self, node: int) -> None:
        """SIGKILL the node: a broker and a controller lost at once, as a machine lost."""
        os.kill(int((self.directory / f"node-{node}" / "kafka.pid").read_text()), signal.SIGKILL)

    async def start(self) -> None:
        """Start the nodes that are not running (on their data, as a machine back), until all of them answer.

        In a thread: the caller's event loop keeps serving (a webhook receiver) meanwhile."""
        await asyncio.to_thread(_cluster_sh, self.env)

    def admin(self) -> AIOKafkaAdminClient:
        return AIOKafkaAdminClient(bootstrap_servers=KafkaConnection(self.servers).bootstrap)


CLUSTER_PORTS_FROM = 30_000


def free_run_of_ports(count: int) -> int:
    """A first port of `count` consecutive ones that nothing listens on now, below the ephemeral range.

    The nodes connect to each other's controller ports while some are not listening yet. A connection to
    a port of the ephemeral range on this machine may then meet itself (a TCP simultaneous open): the node
    reads its own request as the answer and stops (a correlation id mismatch, seen in a first version).
    From 30000 up: below that, tests/support/system.free_port hands out the services' ports, and would not know
    a broker's that a test stopped for a while (to restart it later).
    """
    lowest_ephemeral = ephemeral_low()
    lowest = CLUSTER_PORTS_FROM if lowest_ephemeral - count > CLUSTER_PORTS_FROM + 100 else 20000
    for _attempt in range(200):
        first = random.randrange(lowest, lowest_ephemeral - count)
        held: list[socket.socket] = []
        try:
            for port in range(first, first + count):
                sock = socket.socket()
                held.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
        return first
    raise RuntimeError(f"no run of {count} free ports found below {lowest_ephemeral}")


@contextmanager
def kafka_cluster(directory: Path, nodes: int = 3) -> Iterator[Cluster]:
    """Start a cluster of `nodes` with its data in `directory`; stopped (and its nodes killed) on leaving."""
    env = {
        **os.environ,
        "KAFKA_CLUSTER_DIR": str(directory),
        "KAFKA_CLUSTER_PORT": str(free_run_of_ports(2 * nodes)),
        "KAFKA_NODES": str(nodes),
        "PYTHON": sys.executable,
    }
    try:
        servers = _cluster_sh(env)
        yield Cluster(servers=servers, directory=directory, env=env)
    finally:
        _cluster_sh(env, "stop")


def _cluster_sh(env: dict[str, str], action: str = "start") -> str:
    """Run cluster.sh; what a start printed last (the bootstrap list); RuntimeError when a start fails."""
    command = ["bash", "deploy/kafka/cluster.sh", action]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    if action == "start" and done.returncode != 0:
        raise RuntimeError(f"deploy/kafka/cluster.sh failed:\n{done.stderr[-3000:]}")
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


async def deployment_topics(cluster: Cluster, prefix: str) -> list[dict[str, Any]]:
    """Metadata of the topics named `prefix`...: each with its partitions' leader, replicas and isr."""
    admin = cluster.admin()
    await admin.start()
    try:
        return [topic for topic in await admin.describe_topics() if topic["topic"].startswith(prefix)]
    finally:
        await admin.close()


async def min_in_sync(cluster: Cluster, names: list[str]) -> dict[str, str]:
    """min.insync.replicas of each topic, as the brokers describe it."""
    admin = cluster.admin()
    await admin.start()
    try:
        described = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name) for name in names])
    finally:
        await admin.close()
    return {
        name: value
        for response in described
        for *_, name, entries in response.resources
        for key, value, *_rest in entries
        if key == "min.insync.replicas"
    }


async def coordinator(cluster: Cluster) -> int:
    """The node leading `__consumer_offsets` (one partition here): every consumer group's coordinator. Killing
    it moves the groups' coordination and the leadership of its share of the partitions at once."""
    [offsets] = await deployment_topics(cluster, "__consumer_offsets")
    return int(offsets["partitions"][0]["leader"])


def leaders(topics: list[dict[str, Any]]) -> Counter[int]:
    """How many of these topics' partitions each node leads."""
    return Counter(int(partition["leader"]) for topic in topics for partition in topic["partitions"])
