"""A test-only HTTP/1.1 proxy that injects network faults between two Divan nodes.

    proxy = FaultProxy(upstream_port).start()   # listens on 127.0.0.1:<proxy.port>
    proxy.set_mode("cut")                       # …faults from now on…
    proxy.clear()                               # pass-through again
    proxy.stop()                                # every socket closed, every thread joined

Loopback only, Python standard library only, one thread per client connection (at most
MAX_CONNECTIONS at once) plus the accept thread. Every blocking call has a timeout and looks at the
stop flag between waits, so stop() ends every thread within a bounded time.

The proxy understands just enough HTTP/1.1 to find message boundaries (Content-Length, chunked,
read-until-close), so a mode switch applies to the next request or response even on a kept-alive
connection. Bodies are streamed, never buffered whole (a large attachment or a long-poll feed
goes through as it comes).

Modes (set_mode(name, **params), switchable at any time):
  pass     forward everything unchanged.
  refuse   close every open connection now; accept new ones and close them at once.
  down     stop listening (connections are refused by the kernel) and close every open one;
           leaving this mode listens again on the same port.
  delay    hold each response head `delay_ms` milliseconds before forwarding it.
  cut      forward a response's head and part of its body (half of a Content-Length body, the
           first half of the first read of a chunked or read-until-close one, half of the head when
           there is no body), then close both sides.
  error    answer every request with `HTTP/1.1 500 Internal Server Error` and a CouchDB-shaped
           JSON body, without contacting the upstream.

delay, cut and error take two optional parameters: `match`, a substring of the request line
("POST /db/_bulk_docs HTTP/1.1") the fault is limited to, and `times`, how many exchanges it hits
before the proxy goes back to pass by itself (a single glitch rather than an outage).

`counts` tallies what happened (accepted, refused, forwarded, delayed, cut, error, and abandoned:
a delayed response whose client had gone, i.e. had timed out) so a test can check that a fault was
really hit.
"""

import collections
import socket
import threading
import time

HOST = "127.0.0.1"
MAX_CONNECTIONS = 128       # concurrent client connections; more are closed at once
MAX_HEAD = 64 * 1024        # bytes of a request or response head
POLL = 0.2                  # seconds between looks at the stop flag while blocked
IDLE_LIMIT = 120.0          # seconds a connection may sit idle before the proxy closes it
JOIN_TIMEOUT = 5.0          # seconds stop() waits for each thread
ERROR_BODY = b'{"error":"internal_server_error","reason":"fault proxy: injected 500"}\n'
MODES = ("pass", "refuse", "down", "delay", "cut", "error")


class Closed(Exception):
    """The connection is over (peer closed, reset, stop(), or the proxy decided to drop it)."""


class _Stream:
    """A socket plus a read buffer; every wait lasts at most POLL, then `stopping` is checked."""

    def __init__(self, sock, stopping):
        self.sock = sock
        self.buf = b""
        self.stopping = stopping
        sock.settimeout(POLL)

    def _fill(self, idle_limit=IDLE_LIMIT):
        deadline = time.monotonic() + idle_limit
        while True:
            if self.stopping.is_set():
                raise Closed("stopping")
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                if time.monotonic() >= deadline:
                    raise Closed("idle")
                continue
            except OSError as e:
                raise Closed(repr(e))
            if not data:
                raise Closed("eof")
            self.buf += data
            return

    def read_until(self, marker, limit=MAX_HEAD):
        while marker not in self.buf:
            if len(self.buf) > limit:
                raise Closed("head too large")
            self._fill()
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_some(self, limit):
        """At most `limit` bytes (at least 1), whatever is there first."""
        if not self.buf:
            self._fill()
        out, self.buf = self.buf[:limit], self.buf[limit:]
        return out

    def peer_closed(self):
        """True if the other side has closed (EOF or reset), without consuming anything."""
        try:
            self.sock.setblocking(False)
            try:
                data = self.sock.recv(1, socket.MSG_PEEK)
            finally:
                self.sock.settimeout(POLL)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True
        return data == b""

    def send(self, data, idle_limit=IDLE_LIMIT):
        # send() rather than sendall(): with a socket timeout, sendall's timeout covers the whole
        # buffer, and a slow reader of a large body would fail it.
        view = memoryview(data)
        deadline = time.monotonic() + idle_limit
        while view:
            if self.stopping.is_set():
                raise Closed("stopping")
            try:
                n = self.sock.send(view)
            except socket.timeout:
                if time.monotonic() >= deadline:
                    raise Closed("send timed out")
                continue
            except OSError as e:
                raise Closed(repr(e))
            view = view[n:]
            deadline = time.monotonic() + idle_limit

    def close(self):
        for how in (lambda: self.sock.shutdown(socket.SHUT_RDWR), self.sock.close):
            try:
                how()
            except OSError:
                pass


def _parse_head(head):
    """(first line as str, {lowercase name: value}) of a request or response head."""
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
    return lines[0], headers


def _wants_close(headers):
    return "close" in headers.get("connection", "").lower()


class FaultProxy:
    def __init__(self, upstream_port, upstream_host=HOST):
        self.upstream = (upstream_host, upstream_port)
        self.port = None
        self.counts = collections.Counter()
        self._mode = "pass"
        self._params = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener = None
        self._accept_thread = None
        self._conns = {}          # thread -> (client _Stream, [upstream _Stream or None])
        self._listen_changed = threading.Condition(self._lock)

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self):
        self._listen()
        self._accept_thread = threading.Thread(target=self._accept_loop, name="proxy-accept",
                                               daemon=True)
        self._accept_thread.start()
        return self

    def stop(self):
        """Closes the listener and every connection, joins every thread. Returns the names of
        threads that did not end in time (none expected)."""
        self._stopping.set()
        with self._lock:
            self._close_listener()
            conns = list(self._conns.items())
            self._listen_changed.notify_all()
        for _, (client, upstream) in conns:
            client.close()
            if upstream[0] is not None:
                upstream[0].close()
        stuck = []
        threads = [self._accept_thread] + [t for t, _ in conns]
        for t in threads:
            if t is None:
                continue
            t.join(JOIN_TIMEOUT)
            if t.is_alive():
                stuck.append(t.name)
        return stuck

    def url(self, db, user=None, password=None):
        userinfo = f"{user}:{password}@" if user else ""
        return f"http://{userinfo}{HOST}:{self.port}/{db}"

    # ---- modes -------------------------------------------------------------------------------

    def mode(self):
        with self._lock:
            return self._mode, dict(self._params)

    def set_mode(self, mode, **params):
        if mode not in MODES:
            raise ValueError(f"unknown proxy mode {mode!r}")
        with self._lock:
            previous = self._mode
            self._mode, self._params = mode, params
            if mode in ("refuse", "down"):
                victims = list(self._conns.values())
            else:
                victims = []
            if mode == "down":
                self._close_listener()
            elif previous == "down":
                self._listen()
            self._listen_changed.notify_all()
        for client, upstream in victims:
            client.close()
            if upstream[0] is not None:
                upstream[0].close()

    def clear(self):
        self.set_mode("pass")

    def _take(self, kinds, request_line):
        """The fault (mode, params) to apply to this exchange if the current mode is one of
        `kinds` and its `match` fits the request line; uses up one of its `times`."""
        with self._lock:
            if self._mode not in kinds:
                return None
            match = self._params.get("match")
            if match is not None and match not in request_line:
                return None
            fault = self._mode, dict(self._params)
            if self._params.get("times") is not None:
                self._params["times"] -= 1
                if self._params["times"] <= 0:
                    self._mode, self._params = "pass", {}
            return fault

    def reset_counts(self):
        with self._lock:
            self.counts.clear()

    def live_connections(self):
        with self._lock:
            return len(self._conns)

    # ---- listening ---------------------------------------------------------------------------

    def _listen(self):
        """REQUIRES: _lock held, or not started yet."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, self.port or 0))
        sock.listen(64)
        sock.settimeout(POLL)
        self.port = sock.getsockname()[1]
        self._listener = sock

    def _close_listener(self):
        """REQUIRES: _lock held."""
        if self._listener is not None:
            try:
                self._listener.close()
            except OSError:
                pass
            self._listener = None

    def _accept_loop(self):
        while not self._stopping.is_set():
            with self._lock:
                listener = self._listener
                if listener is None:  # mode down: wait for a change
                    self._listen_changed.wait(POLL)
                    continue
            try:
                sock, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                continue  # the listener was closed under us (down, stop)
            with self._lock:
                self.counts["accepted"] += 1
                refuse = self._mode in ("refuse", "down") or self._stopping.is_set() or \
                    len(self._conns) >= MAX_CONNECTIONS
                if refuse:
                    self.counts["refused"] += 1
            if refuse:
                _Stream(sock, self._stopping).close()
                continue
            client = _Stream(sock, self._stopping)
            upstream = [None]
            t = threading.Thread(target=self._serve, args=(client, upstream),
                                 name=f"proxy-conn-{self.counts['accepted']}", daemon=True)
            with self._lock:
                self._conns[t] = (client, upstream)
            t.start()

    # ---- one client connection ---------------------------------------------------------------

    def _serve(self, client, upstream):
        try:
            while True:
                if not self._exchange(client, upstream):
                    break
        except Closed:
            pass
        finally:
            client.close()
            if upstream[0] is not None:
                upstream[0].close()
            with self._lock:
                self._conns.pop(threading.current_thread(), None)

    def _exchange(self, client, upstream):
        """One request and its response. Returns False when the connection must end."""
        try:
            head = client.read_until(b"\r\n\r\n")
        except Closed:
            return False
        line, headers = _parse_head(head)
        method = line.split(" ", 1)[0].upper()
        if self.mode()[0] in ("refuse", "down"):
            return False

        if self._take(("error",), line):
            self._relay_body(client, None, headers, is_request=True)  # drain the request body
            with self._lock:
                self.counts["error"] += 1
            client.send(b"HTTP/1.1 500 Internal Server Error\r\n"
                        b"Content-Type: application/json\r\n"
                        b"Content-Length: " + str(len(ERROR_BODY)).encode() + b"\r\n"
                        b"Cache-Control: must-revalidate\r\n\r\n" + ERROR_BODY)
            return not _wants_close(headers)

        if upstream[0] is None:
            try:
                sock = socket.create_connection(self.upstream, timeout=5.0)
            except OSError:
                return False
            upstream[0] = _Stream(sock, self._stopping)
        up = upstream[0]
        up.send(head)
        self._relay_body(client, up, headers, is_request=True)

        # The response (interim 1xx heads go through as they are).
        while True:
            rhead = up.read_until(b"\r\n\r\n")
            status_line, rheaders = _parse_head(rhead)
            status = int(status_line.split(" ", 2)[1])
            if 100 <= status < 200 and status != 101:
                client.send(rhead)
                continue
            break

        # The fault that is on when the response comes back.
        if self.mode()[0] in ("refuse", "down"):
            return False
        fault = self._take(("delay", "cut"), line)
        mode, params = fault if fault else ("pass", {})
        if mode == "delay":
            with self._lock:
                self.counts["delayed"] += 1
            if self._stopping.wait(params.get("delay_ms", 1000) / 1000.0):
                return False
            if client.peer_closed():
                with self._lock:
                    self.counts["abandoned"] += 1
                return False
        no_body = method == "HEAD" or status in (204, 304)
        if mode == "cut":
            with self._lock:
                self.counts["cut"] += 1
            self._cut(client, up, rhead, rheaders, no_body)
            return False

        with self._lock:
            self.counts["forwarded"] += 1
        client.send(rhead)
        if no_body:
            ended_by_close = False
        else:
            ended_by_close = self._relay_body(up, client, rheaders, is_request=False)
        return not (ended_by_close or _wants_close(headers) or _wants_close(rheaders))

    def _cut(self, client, up, rhead, rheaders, no_body):
        length = rheaders.get("content-length")
        if no_body or (length is not None and int(length) == 0):
            client.send(rhead[:len(rhead) // 2])
            return
        client.send(rhead)
        if length is not None:
            want = max(1, int(length) // 2)
            while want > 0:
                data = up.read_some(want)
                client.send(data)
                want -= len(data)
        else:  # chunked or until-close: half of what comes first
            data = up.read_some(65536)
            client.send(data[:max(1, len(data) // 2)])

    def _relay_body(self, src, dst, headers, is_request):
        """Copies one message body from src to dst (dst None: read and drop). Returns True when
        the body is delimited by the end of the connection (the connection is then over)."""
        def out(data):
            if dst is not None:
                dst.send(data)

        if "chunked" in headers.get("transfer-encoding", "").lower():
            while True:
                size_line = src.read_until(b"\r\n")
                out(size_line)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while True:  # trailers, then the empty line
                        trailer = src.read_until(b"\r\n")
                        out(trailer)
                        if trailer == b"\r\n":
                            return False
                left = size + 2  # the data and its CRLF
                while left > 0:
                    data = src.read_some(min(left, 65536))
                    out(data)
                    left -= len(data)
        if "content-length" in headers:
            left = int(headers["content-length"])
            while left > 0:
                data = src.read_some(min(left, 65536))
                out(data)
                left -= len(data)
            return False
        if is_request:
            return False  # a request without framing has no body
        while True:  # a response delimited by the end of the connection
            try:
                data = src.read_some(65536)
            except Closed:
                return True
            out(data)
