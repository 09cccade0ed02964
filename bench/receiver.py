"""A stand-in platform for the benchmarks: answers every POST with 200 `{}`.

Runs in its own process (the benchmark starts it with subprocess), so that serving requests
never competes with the code under measurement for one interpreter lock. It listens on
127.0.0.1 on a free port, which it prints on its first line of output, serves each
connection in its own thread with HTTP/1.1 keep-alive, and can be made slow:

    python receiver.py [--latency-ms 50] [--stall-every 50 --stall-seconds 3]

``--latency-ms`` delays every answer; ``--stall-every N`` holds every Nth request (counted
in arrival order, so the same requests stall in every run) for ``--stall-seconds`` instead,
longer than the client's timeout: that client gives up and the late answer goes nowhere.
"""

import argparse
import itertools
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWER = b"{}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: one connection serves many requests
    # The answer leaves in one segment, flushed after do_POST: written as two small segments,
    # the second would wait for the client's delayed ACK (~40 ms) under Nagle's algorithm.
    wbufsize = -1
    disable_nagle_algorithm = True

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        number = self.server.next_number()
        stall_every = self.server.options.stall_every
        if stall_every and number % stall_every == 0:
            time.sleep(self.server.options.stall_seconds)
        elif self.server.options.latency_ms:
            time.sleep(self.server.options.latency_ms / 1000)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)

    def log_message(self, format, *args):
        pass


class Receiver(ThreadingHTTPServer):
    request_queue_size = 256  # many clients connect at once: no refused or retried connections
    daemon_threads = True

    def __init__(self, options):
        super().__init__(("127.0.0.1", options.port), Handler)
        self.options = options
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    def next_number(self):
        with self._lock:
            return next(self._numbers)

    def handle_error(self, request, client_address):
        pass  # a client that timed out closed its connection before the stalled answer: expected


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed on the first line)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay before every answer")
    parser.add_argument("--stall-every", type=int, default=0, help="hold every Nth request (0: never)")
    parser.add_argument("--stall-seconds", type=float, default=0.0, help="how long a held request waits")
    options = parser.parse_args()
    server = Receiver(options)
    print(server.server_port, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
