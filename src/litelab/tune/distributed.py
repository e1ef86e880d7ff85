"""keras-tuner's distributed mode: one chief process holds the oracle, workers run trials.

keras-tuner reads three environment variables (its own protocol, gRPC underneath):
``KERASTUNER_TUNER_ID`` ("chief", or a unique id per worker), ``KERASTUNER_ORACLE_IP`` and
``KERASTUNER_ORACLE_PORT`` (where the chief listens and the workers connect). ``litelab tune
--distributed chief|worker --chief HOST:PORT`` sets them; setting them yourself works too.

What this module adds: a chief that cannot listen and a worker that cannot reach its chief
fail at once with the address in the message, instead of keras-tuner's silent hour-long
wait; and a worker whose chief stops answering mid-search gets a one-line error.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from litelab.errors import LitelabError

ROLES = ("chief", "worker")
ENV_ID, ENV_IP, ENV_PORT = "KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"


@dataclass(frozen=True)
class Cluster:
    """This process's part in a distributed search."""

    role: str  # "chief" or "worker"
    host: str
    port: int
    tuner_id: str

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) -> (host, port), or a one-line error."""
    host, sep, port = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise LitelabError(f"--chief must be HOST:PORT (e.g. 127.0.0.1:8000), got {text!r}")
    return host, int(port)


def cluster_from_args(role: str | None, chief: str | None, worker_id: str | None) -> Cluster | None:
    """The cluster these flags (or keras-tuner's environment variables) describe, if any."""
    if role is None:
        if ENV_IP not in os.environ:
            return None
        if ENV_PORT not in os.environ or ENV_ID not in os.environ:
            raise LitelabError(f"{ENV_IP} is set, so {ENV_PORT} and {ENV_ID} must be set too")
        tuner_id = os.environ[ENV_ID]
        port = os.environ[ENV_PORT]
        host, port_n = parse_address(f"{os.environ[ENV_IP]}:{port}")
        return Cluster("chief" if "chief" in tuner_id else "worker", host, port_n, tuner_id)
    if role not in ROLES:
        raise LitelabError(f"--distributed must be chief or worker, got {role!r}")
    if not chief:
        raise LitelabError("--distributed needs --chief HOST:PORT (where the chief listens)")
    host, port = parse_address(chief)
    if role == "chief":
        tuner_id = "chief"
    else:
        tuner_id = f"worker{worker_id if worker_id is not None else os.getpid()}"
        if "chief" in tuner_id:
            raise LitelabError(f"a worker id must not contain 'chief', got {worker_id!r}")
    return Cluster(role, host, port, tuner_id)


def is_worker() -> bool:
    """Whether keras-tuner's variables make this process a worker of a distributed search.

    keras-tuner's own rule: ``KERASTUNER_ORACLE_IP`` names a chief, and this process's
    ``KERASTUNER_TUNER_ID`` does not contain "chief".
    """
    return ENV_IP in os.environ and "chief" not in os.environ.get(ENV_ID, "")


def activate(cluster: Cluster) -> None:
    """Set keras-tuner's variables for this process (its public way to join a search).

    keras-tuner keeps its own RPC deadline (an hour in 1.4.8); it has no public setting, so
    litelab leaves it alone and checks the chief's address itself before a worker starts.
    """
    os.environ[ENV_ID] = cluster.tuner_id
    os.environ[ENV_IP] = cluster.host
    os.environ[ENV_PORT] = str(cluster.port)


def check_can_listen(cluster: Cluster) -> None:
    """Fail now if the chief's address cannot be bound (in use, or not this machine's)."""
    family = socket.AF_INET6 if ":" in cluster.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((cluster.host, cluster.port))
        except OSError as exc:
            raise LitelabError(
                f"the tuning chief cannot listen on {cluster.address}: {exc.strerror}"
            ) from None


def wait_for_chief(cluster: Cluster, timeout_s: float) -> None:
    """Block until the chief answers at its address, or fail after ``timeout_s`` seconds."""
    import grpc

    channel = grpc.insecure_channel(cluster.address)
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout_s)
    except grpc.FutureTimeoutError:
        raise LitelabError(
            f"no tuning chief answered at {cluster.address} within {timeout_s:g} s; start "
            f"`litelab tune --distributed chief --chief {cluster.address}` first, or fix "
            "--chief (and any firewall between the machines)"
        ) from None
    finally:
        channel.close()
