"""A RabbitMQ node of the tests' own: Debian's ``rabbitmq-server`` started on 127.0.0.1 under a
node name, ports, data directory and Erlang cookie of its own (a temporary directory), so that two
test processes never share one and a test may stop and start its broker at will.

``RabbitNode.available()`` says whether ``rabbitmq-server`` is installed (``scripts/setup.sh``
installs it); the tests skip, saying so, when it is not.
"""

import contextlib
import os
import queue
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

SERVER_PATHS = ("/usr/lib/rabbitmq/bin/rabbitmq-server",)  # Debian's, without the switch to the rabbitmq user
CTL_PATHS = ("/usr/lib/rabbitmq/bin/rabbitmqctl",)
START_SECONDS = 90
STOP_SECONDS = 60


def _found(paths, name):
    for path in paths:
        if os.access(path, os.X_OK):
            return path
    return shutil.which(name)


def free_port():
    """A local TCP port nothing listens on now."""
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RabbitNode:
    """One RabbitMQ node on 127.0.0.1: ``start()``, ``stop()``, ``restart()``, ``ctl(...)``."""

    def __init__(self):
        self.server = _found(SERVER_PATHS, "rabbitmq-server")
        self.ctl_path = _found(CTL_PATHS, "rabbitmqctl")
        self.base = Path(tempfile.mkdtemp(prefix="fs_rabbit_"))
        self.name = f"fs_{uuid.uuid4().hex[:10]}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self.process = None
        self.log = None
        cookie = self.base / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(16))
        cookie.chmod(0o400)
        (self.base / "enabled_plugins").write_text("[].\n")
        (self.base / "rabbitmq.conf").write_text(
            "loopback_users = none\n"
            "log.console = false\n"
            "disk_free_limit.absolute = 50MB\n"  # a shared machine: never block publishers on disk space
        )

    @classmethod
    def available(cls):
        return bool(_found(SERVER_PATHS, "rabbitmq-server") and _found(CTL_PATHS, "rabbitmqctl"))

    def env(self):
        base = str(self.base)
        return {
            **os.environ,
            "HOME": base,  # the Erlang cookie of this node only
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": f"{base}/mnesia",
            "RABBITMQ_LOG_BASE": f"{base}/log",
            "RABBITMQ_PID_FILE": f"{base}/node.pid",
            "RABBITMQ_CONFIG_FILE": f"{base}/rabbitmq",
            "RABBITMQ_ADVANCED_CONFIG_FILE": f"{base}/advanced.config",
            "RABBITMQ_ENABLED_PLUGINS_FILE": f"{base}/enabled_plugins",
            "RABBITMQ_GENERATED_CONFIG_DIR": f"{base}/config",
            "RABBITMQ_PLUGINS_EXPAND_DIR": f"{base}/plugins",
            "RABBITMQ_SERVER_ERL_ARGS": "+S 1:1 +A 4",  # a small node: two cores are shared by many
        }

    def ctl(self, *args, timeout=STOP_SECONDS):
        """Run ``rabbitmqctl`` on this node; its output (raises when it fails)."""
        done = subprocess.run(
            [self.ctl_path, "-n", self.name, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def start(self):
        """Start the node (again, on the same data) and wait until it takes connections."""
        self.log = open(self.base / "server.out", "ab")  # noqa: SIM115 - kept open while the node runs
        self.process = subprocess.Popen(
            [self.server], env=self.env(), stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"rabbitmq-server ended at start: {self.tail()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return self
            time.sleep(0.3)
        raise RuntimeError(f"rabbitmq-server did not start in {START_SECONDS} s: {self.tail()}")

    def stop(self):
        """Stop the node (its data stays: ``start()`` brings it back with its durable queues)."""
        if self.process is None:
            return
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self.ctl("stop")
        try:
            self.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
        self.log.close()

    def kill(self):
        """Kill the node (SIGKILL, no shutdown): what was confirmed is on disk, the rest may not be."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process = None
        self.log.close()

    def restart(self):
        self.stop()
        return self.start()

    def destroy(self):
        """Stop the node and remove its data."""
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def tail(self):
        with contextlib.suppress(OSError):
            return (self.base / "server.out").read_text(errors="replace")[-2000:]
        return ""

    def add_user(self, user, password, vhost="/", configure=".*", write=".*", read=".*"):
        """A user with these permissions on ``vhost`` (created when missing)."""
        if vhost != "/":
            with contextlib.suppress(RuntimeError):
                self.ctl("add_vhost", vhost)
        self.ctl("add_user", user, password)
        self.ctl("set_permissions", "-p", vhost, user, configure, write, read)


class LinkProxy:
    """A TCP relay on 127.0.0.1 between a client and ``port``, for what a real network does to a
    broker's connection: ``delay`` seconds before each chunk from the broker reaches the client (a
    round trip's latency), and ``cut(after)``: once ``after`` more bytes came from the client, the
    rest is dropped and, ``grace`` seconds later (the broker's confirms of what it got still
    arrive), the connection is lost."""

    def __init__(self, port, delay=0.0, grace=0.5):
        self.upstream_port = port
        self.delay = delay
        self.grace = grace
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.budget = None  # bytes from the client still forwarded; None: no limit
        self.then = None
        self.lock = threading.Lock()
        self.sockets = []
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self, after, then=None):
        """Lose the connection once ``after`` more bytes came from the client; ``then()`` at that moment."""
        with self.lock:
            self.budget, self.then = after, then

    def _accept(self):
        while True:
            try:
                client, _address = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:  # the broker is down: so is this connection
                client.close()
                continue
            with self.lock:
                self.sockets += [client, upstream]
            threading.Thread(target=self._pump_up, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump_down, args=(upstream, client), daemon=True).start()

    def _pump_up(self, client, upstream):
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                with self.lock:
                    if self.budget is not None:
                        data, self.budget = data[: self.budget], max(0, self.budget - len(data))
                        cut = self.budget == 0
                        if cut:
                            self.budget = None  # once: the next connection goes through
                    else:
                        cut = False
                upstream.sendall(data)
                if cut:
                    if self.then is not None:
                        self.then()
                    time.sleep(self.grace)
                    break
        for sock in (client, upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _pump_down(self, upstream, client):
        """Each chunk from the broker reaches the client ``delay`` seconds after it came, the
        chunks behind it not held up by its wait (latency, not a slow link)."""
        chunks = queue.SimpleQueue()

        def deliver():
            with contextlib.suppress(OSError):
                while (chunk := chunks.get()) is not None:
                    due, data = chunk
                    time.sleep(max(0.0, due - time.monotonic()))
                    client.sendall(data)

        threading.Thread(target=deliver, daemon=True).start()
        with contextlib.suppress(OSError):
            while data := upstream.recv(65536):
                chunks.put((time.monotonic() + self.delay, data))
        chunks.put(None)

    def close(self):
        self.listener.close()
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()
