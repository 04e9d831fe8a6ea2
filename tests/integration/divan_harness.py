"""Black-box harness for the Divan integration suite (STYLE.md "Tests/Integration").

Starts the real `divan` binary on loopback with `--port 0`, reads the port from its first
`listening on` log line, polls `/_up` with a deadline, and stops it by pid (SIGTERM, then SIGKILL).
Only the Python standard library is used.

Environment:
  DIVAN_BIN   path of the binary (default /work/main/build/tools/divan)
  DIVAN_KEEP  if set, data directories are kept (their paths are printed)
  DIVAN_SEED  seed for the randomised tests (default: time-based, always printed)
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

DEFAULT_BIN = "/work/main/build/tools/divan"
LISTEN_RE = re.compile(r"listening on [\d.]+:(\d+)")
START_DEADLINE = 10.0   # seconds for the port line plus a 200 from /_up
STOP_DEADLINE = 10.0    # seconds between SIGTERM and SIGKILL
REQUEST_TIMEOUT = 30.0  # seconds per HTTP request; no test request should come near it
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def binary_path():
    return os.environ.get("DIVAN_BIN") or DEFAULT_BIN


def test_seed():
    """The seed for randomised tests; print it so a failure can be replayed with DIVAN_SEED."""
    seed = int(os.environ.get("DIVAN_SEED") or (time.time_ns() % 1_000_000_007))
    print(f"[divan-it] DIVAN_SEED={seed}", file=sys.stderr)
    return seed


# ---- URL helpers -------------------------------------------------------------------------------

def quote(segment):
    """Percent-encodes one path segment (every byte outside unreserved, so '/' becomes %2F)."""
    return urllib.parse.quote(segment, safe="")


def qjson(value):
    """A JSON-valued query parameter (keys, startkey, open_revs, …): URL-encoded JSON text."""
    return urllib.parse.quote(json.dumps(value, separators=(",", ":")), safe="")


def db_path(db):
    return "/" + quote(db)


def doc_path(db, docid):
    """/{db}/{docid}; `_design/` and `_local/` keep their literal slash (http-api.md §1.1)."""
    for prefix in ("_design/", "_local/"):
        if docid.startswith(prefix):
            return f"{db_path(db)}/{prefix}{quote(docid[len(prefix):])}"
    return f"{db_path(db)}/{quote(docid)}"


def escaped_db_filename(name):
    """The database file name of the fixed interface: bytes outside [a-z0-9_-] as %xx (lowercase)."""
    out = []
    for b in name.encode("utf-8"):
        c = chr(b)
        if ("a" <= c <= "z") or ("0" <= c <= "9") or c in "_-":
            out.append(c)
        else:
            out.append("%%%02x" % b)
    return "".join(out) + ".sqlite3"


def seq_num(seq):
    """Update seqs are recommended to be integers; tolerate CouchDB's "N-opaque" strings."""
    if isinstance(seq, bool):
        raise AssertionError(f"seq is a boolean: {seq!r}")
    if isinstance(seq, int):
        return seq
    if isinstance(seq, str):
        return int(seq.split("-", 1)[0])
    raise AssertionError(f"unexpected seq value {seq!r}")


def rev_pos(rev):
    return int(rev.split("-", 1)[0])


def rev_id(rev):
    return rev.split("-", 1)[1]


# ---- HTTP responses ----------------------------------------------------------------------------

class Response:
    """status, headers (case-insensitive), raw body bytes and `body`: parsed JSON when the reply is
    JSON, otherwise the raw bytes."""

    def __init__(self, status, reason, headers, raw):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.raw = raw
        self.body = raw
        if raw and self.content_type().startswith("application/json"):
            try:
                self.body = json.loads(raw.decode("utf-8"))
            except (ValueError, RecursionError):
                self.body = raw

    def header(self, name, default=None):
        return self.headers.get(name, default)

    def content_type(self):
        return (self.headers.get("Content-Type") or "").strip().lower()

    def __iter__(self):  # status, headers, body = node.request(...)
        return iter((self.status, self.headers, self.body))

    def __repr__(self):
        text = self.raw[:600].decode("utf-8", "replace") if isinstance(self.raw, bytes) else ""
        return f"<{self.status} {self.reason} {self.content_type()!r} {text!r}>"


def parse_raw_response(data):
    """Parses the first HTTP response in `data` (bytes). Returns (status, headers dict with
    lowercase names, body bytes after the header block) or None if no status line is there."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/"):
        return None
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    status = int(parts[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
    return status, headers, rest


def dechunk(data):
    """Decodes a chunked transfer-encoded body (as much of it as is complete)."""
    out = b""
    while data:
        size_line, sep, data = data.partition(b"\r\n")
        if not sep:
            break
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2:]
    return out


def raw_response_json(data):
    """The JSON body of the first raw HTTP response in `data` (None if absent/not JSON)."""
    parsed = parse_raw_response(data)
    if parsed is None:
        return None
    _, headers, rest = parsed
    if "chunked" in headers.get("transfer-encoding", "").lower():
        rest = dechunk(rest)
    elif "content-length" in headers:
        rest = rest[:int(headers["content-length"])]
    try:
        return json.loads(rest.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


# ---- The node ----------------------------------------------------------------------------------

class Node:
    """One running `divan serve`. Thread-safe: every thread gets its own keep-alive connection."""

    def __init__(self, data_dir=None, extra_args=(), keep_dir=None, fixed_port=0):
        self.fixed_port = fixed_port  # 0: a free port picked by the node at every start
        self.owns_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="divan-it-")
        self.extra_args = list(extra_args)
        self.keep_dir = bool(os.environ.get("DIVAN_KEEP")) if keep_dir is None else keep_dir
        self.proc = None
        self.port = None
        self._log = []
        self._log_lock = threading.Condition()
        self._drainer = None
        self._local = threading.local()
        self._conns = []
        self._conns_lock = threading.Lock()

    # -- lifecycle --

    def start(self):
        binary = binary_path()
        if not os.access(binary, os.X_OK):
            raise RuntimeError(f"divan binary not found or not executable: {binary} (set DIVAN_BIN)")
        args = [binary, "serve", "--port", str(self.fixed_port), "--bind", "127.0.0.1",
                "--data-dir", self.data_dir, "--log-level", "info", *self.extra_args]
        with self._log_lock:
            self._log = []
        self.port = None
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self._drainer = threading.Thread(target=self._drain, args=(self.proc,), daemon=True)
        self._drainer.start()
        deadline = time.monotonic() + START_DEADLINE
        with self._log_lock:
            while self.port is None:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    break
                self._log_lock.wait(min(left, 0.1))
        if self.port is None:
            self._abort_start("no 'listening on 127.0.0.1:<port>' log line")
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                r = self.request("GET", "/_up", timeout=2.0)
                last = r
                if r.status == 200:
                    return self
            except (OSError, http.client.HTTPException) as e:
                last = e
                self._drop_connection()
            time.sleep(0.05)
        self._abort_start(f"GET /_up did not answer 200 in time (last: {last!r})")

    def _abort_start(self, what):
        code = self.proc.poll()
        self.kill()
        raise RuntimeError(f"divan failed to start: {what}; exit code {code}\n--- log ---\n"
                           f"{self.log()}\n--- end log ---")

    def _drain(self, proc):
        # Reads stderr until EOF so the pipe never fills; the port comes from the first match.
        for raw in iter(proc.stderr.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._log_lock:
                self._log.append(line)
                if self.port is None:
                    m = LISTEN_RE.search(line)
                    if m:
                        self.port = int(m.group(1))
                self._log_lock.notify_all()
        proc.stderr.close()

    def log(self, tail=None):
        with self._log_lock:
            lines = list(self._log)
        if tail:
            lines = lines[-tail:]
        return "\n".join(lines)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def assert_alive(self):
        if not self.alive():
            code = self.proc.poll() if self.proc else None
            raise AssertionError(f"divan is not running (exit code {code})\n--- log tail ---\n"
                                 f"{self.log(tail=60)}\n--- end log ---")

    def stop(self, timeout=STOP_DEADLINE):
        """SIGTERM, then SIGKILL after `timeout`. Returns the exit code (None if never started)."""
        self.close_connections()
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._join_drainer()
        return self.proc.returncode

    def kill(self):
        """kill -9 (our own child, by pid). Connections are left for their threads to find broken
        (closing them here would race threads still using them); close_connections() later."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._join_drainer()
        return self.proc.returncode

    def _join_drainer(self):
        if self._drainer is not None:
            self._drainer.join(5)
            self._drainer = None

    def restart(self):
        self.stop()
        return self.start()

    def cleanup(self):
        """Stops the node and removes its data directory if we created it."""
        self.stop()
        if self.owns_dir:
            if self.keep_dir:
                print(f"[divan-it] kept data dir {self.data_dir}", file=sys.stderr)
            else:
                shutil.rmtree(self.data_dir, ignore_errors=True)

    # -- HTTP --

    def _connection(self, timeout):
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "port", None) != self.port:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            self._local.conn = conn
            self._local.port = self.port
            self._local.used = False
            with self._conns_lock:
                self._conns.append(conn)
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn

    def _drop_connection(self):
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn = None

    def close_connections(self):
        with self._conns_lock:
            conns, self._conns = self._conns, []
        for c in conns:
            try:
                c.close()
            except OSError:
                pass

    def new_connection(self, timeout=REQUEST_TIMEOUT):
        """A fresh, caller-owned keep-alive connection (for tests about connection reuse)."""
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=REQUEST_TIMEOUT,
                content_type=None):
        """Sends one request on this thread's keep-alive connection.

        body: dict/list/int/str-JSON-value → JSON (Content-Type application/json unless
        `content_type` or headers say otherwise); bytes → sent as is; None → no body.
        Returns a Response (iterable as (status, headers, body))."""
        hdrs = {}
        data = None
        if body is not None:
            if isinstance(body, (bytes, bytearray)):
                data = bytes(body)
            else:
                data = json.dumps(body).encode("utf-8")
                hdrs["Content-Type"] = "application/json"
        if content_type is not None:
            hdrs["Content-Type"] = content_type
        if headers:
            hdrs.update(headers)
        if data is not None and not any(k.lower() == "content-length" for k in hdrs) \
                and not any(k.lower() == "transfer-encoding" for k in hdrs):
            hdrs["Content-Length"] = str(len(data))
        for attempt in (0, 1):
            conn = self._connection(timeout)
            reused = self._local.used
            try:
                conn.request(method, path, body=data, headers=hdrs)
                resp = conn.getresponse()
                raw = resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    http.client.BadStatusLine) as e:
                self._drop_connection()
                # A kept-alive connection the server closed while idle: retry once on a new one.
                if reused and attempt == 0:
                    continue
                if self.proc is not None and self.proc.poll() is not None:
                    raise AssertionError(f"divan died during {method} {path}: {e!r}\n"
                                         f"--- log tail ---\n{self.log(tail=60)}") from e
                raise
            except Exception:
                self._drop_connection()
                raise
            self._local.used = True
            if resp.will_close:
                self._drop_connection()
            return Response(resp.status, resp.reason, resp.headers, raw)
        raise AssertionError("unreachable")

    # Convenience verbs.
    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def head(self, path, **kw):
        return self.request("HEAD", path, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body=body, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    # -- raw sockets (garbage, half requests, abandoned connections) --

    def raw_socket(self, timeout=5.0):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def raw_exchange(self, data, timeout=5.0, half_close=False):
        """Sends `data` on a new socket and reads until the server closes or `timeout` passes
        without data. Returns the bytes received (possibly empty). Connection resets count as
        the end of the stream."""
        s = self.raw_socket(timeout)
        received = b""
        try:
            try:
                s.sendall(data)
                if half_close:
                    s.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the server may reset a connection it rejects before we finish sending
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    break
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                received += chunk
        finally:
            s.close()
        return received


# ---- unittest glue -----------------------------------------------------------------------------

class NodeTestCase(unittest.TestCase):
    """One node per test module class (setUpClass), torn down with the class. Helpers assert the
    CouchDB error shape (http-api.md §1.2) and make per-test databases."""

    node_args = ()
    node = None
    _db_counter = 0

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.node = Node(extra_args=cls.node_args).start()
        cls.addClassCleanup(cls.node.cleanup)

    def tearDown(self):
        self.check_alive_or_restart()
        super().tearDown()

    def check_alive_or_restart(self):
        """A crash during a test fails that test with the log tail; the node is then restarted
        on the same data dir so the remaining tests of the class still run on their own merits."""
        if self.node.alive():
            # A process killed by a signal closes its sockets a moment before it is reaped: probe
            # it, and give a node that stopped answering a moment to finish dying.
            try:
                self.node.request("GET", "/_up", timeout=5)
                return
            except (OSError, http.client.HTTPException, AssertionError):
                try:
                    self.node.proc.wait(2)
                except subprocess.TimeoutExpired:
                    tail = self.node.log(tail=60)
                    self.node.kill()
                    self.node.close_connections()
                    self.node.start()
                    self.fail("divan stopped answering during this test; killed and restarted it"
                              f"\n--- log tail ---\n{tail}\n--- end log ---")
        code = self.node.proc.poll() if self.node.proc else None
        tail = self.node.log(tail=60)
        self.node.close_connections()
        self.node.start()
        self.fail(f"divan crashed during this test (exit code {code}); restarted it\n"
                  f"--- log tail ---\n{tail}\n--- end log ---")

    # -- requests --

    def req(self, method, path, body=None, **kw):
        return self.node.request(method, path, body=body, **kw)

    def get(self, path, **kw):
        return self.node.request("GET", path, **kw)

    def put(self, path, body=None, **kw):
        return self.node.request("PUT", path, body=body, **kw)

    def post(self, path, body=None, **kw):
        return self.node.request("POST", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.node.request("DELETE", path, **kw)

    def head(self, path, **kw):
        return self.node.request("HEAD", path, **kw)

    # -- fixtures --

    def new_db(self, suffix=""):
        """Creates a fresh database named after the test; returns its name."""
        NodeTestCase._db_counter += 1
        method = self.id().rsplit(".", 1)[-1].lower()
        name = re.sub(r"[^a-z0-9_]", "_", method)[:48]
        if not name[0].isalpha():
            name = "t" + name
        name = f"{name}-{NodeTestCase._db_counter}{suffix}"
        r = self.put(db_path(name))
        self.assertStatus(r, 201)
        return name

    def create_doc(self, db, docid, body=None):
        """PUT a new doc (interactive); returns its rev."""
        r = self.put(doc_path(db, docid), body if body is not None else {})
        self.assertStatus(r, 201)
        return r.body["rev"]

    def update_doc(self, db, docid, rev, body=None):
        b = dict(body or {})
        b["_rev"] = rev
        r = self.put(doc_path(db, docid), b)
        self.assertStatus(r, 201)
        return r.body["rev"]

    def replicate_in(self, db, docs):
        """_bulk_docs new_edits=false (revision-trees.md §6.2); asserts the all-success reply []."""
        r = self.post(f"{db_path(db)}/_bulk_docs", {"docs": docs, "new_edits": False})
        self.assertStatus(r, 201)
        self.assertEqual(r.body, [], r)

    def path_doc(self, docid, start, ids, deleted=False, **fields):
        """A replicated doc for the path `ids` (newest first) ending at position `start`."""
        d = {"_id": docid, "_rev": f"{start}-{ids[0]}", "_revisions": {"start": start, "ids": ids}}
        d.update(fields)
        if deleted:
            d["_deleted"] = True
        return d

    def db_info(self, db):
        r = self.get(db_path(db))
        self.assertStatus(r, 200)
        return r.body

    def update_seq(self, db):
        return seq_num(self.db_info(db)["update_seq"])

    # -- assertions --

    def assertStatus(self, resp, status, msg=None):
        if resp.status != status:
            self.fail(f"expected HTTP {status}, got {resp!r}" + (f" ({msg})" if msg else ""))

    def assertJsonReply(self, resp):
        self.assertTrue(resp.content_type().startswith("application/json"),
                        f"Content-Type should be application/json: {resp!r}")

    def assertError(self, resp, status, error, reason=None):
        """CouchDB error body: {"error": str, "reason": str} (§1.2, §1.3), JSON content type."""
        self.assertStatus(resp, status)
        self.assertJsonReply(resp)
        self.assertIsInstance(resp.body, dict, resp)
        self.assertIsInstance(resp.body.get("error"), str, resp)
        self.assertIsInstance(resp.body.get("reason"), str, resp)
        self.assertNotIn("ok", resp.body, "error bodies never carry ok:false (§1.2)")
        if error is not None:
            self.assertEqual(resp.body["error"], error, resp)
        if reason is not None:
            self.assertEqual(resp.body["reason"], reason, resp)

    def assertMethodNotAllowed(self, resp, allowed):
        """405 method_not_allowed "Only <allowed> allowed" plus an Allow header listing the same."""
        self.assertError(resp, 405, "method_not_allowed", f"Only {allowed} allowed")
        allow = resp.header("Allow")
        self.assertIsNotNone(allow, "405 must carry an Allow header")
        self.assertEqual({m.strip() for m in allow.split(",")}, set(allowed.split(",")),
                         f"Allow header {allow!r}")

    def assertRev(self, rev, pos=None):
        self.assertIsInstance(rev, str)
        m = re.match(r"^(\d+)-([0-9a-f]{32})$", rev)
        self.assertIsNotNone(m, f"rev {rev!r} is not <pos>-<32 lowercase hex>")
        if pos is not None:
            self.assertEqual(int(m.group(1)), pos, f"rev {rev!r}")

    def assertETag(self, resp, rev):
        self.assertEqual(resp.header("ETag"), f'"{rev}"', f"ETag of {resp!r}")


# ---- streamed responses (changes feeds) --------------------------------------------------------

def seq_param(seq):
    """A seq from a feed, echoed back verbatim as a query value (seqs are opaque, http-api.md
    §13.4): integers as their decimal text, strings URL-encoded as they are."""
    if isinstance(seq, bool) or seq is None:
        raise AssertionError(f"not a seq: {seq!r}")
    if isinstance(seq, int):
        return str(seq)
    if isinstance(seq, str):
        return quote(seq)
    return qjson(seq)


class FeedStream:
    """One HTTP/1.1 request on its own socket whose response is read as a stream (longpoll,
    continuous and eventsource feeds). Every read takes a timeout; chunked bodies are decoded
    incrementally, so a read that times out loses nothing and can be retried.

    `end` says how the body ended: "complete" (terminating chunk, or Content-Length reached),
    "eof" (the server closed without either), "reset" (connection reset), None (still open);
    `ended_at` is the time.monotonic() at which the end was read."""

    def __init__(self, node, method, path, body=None, headers=None, timeout=10.0):
        hdrs = {"Host": f"127.0.0.1:{node.port}"}
        data = b""
        if body is not None:
            data = body if isinstance(body, (bytes, bytearray)) else json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        if body is not None or method in ("POST", "PUT"):
            hdrs["Content-Length"] = str(len(data))
        hdrs.update(headers or {})
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
        self.sock = node.raw_socket(timeout)
        self.sock.sendall(head.encode("latin-1") + b"\r\n" + bytes(data))
        self.sent_at = time.monotonic()
        self.status = None
        self.headers = {}
        self.head_at = None
        self.end = None
        self.ended_at = None
        self._raw = b""
        self._body = b""
        self._chunked = False
        self._left = None      # bytes left in the current chunk / Content-Length body
        self._chunk_state = "size"  # size | data | crlf

    # -- context manager: always closes the socket --
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self):
        """Closes with a TCP reset (SO_LINGER 0), as a client that vanishes would."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()

    # -- reading --
    def _recv(self, deadline):
        """Reads once from the socket; False when the deadline passed first (or the stream ended)."""
        if self.end is not None:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            self._finish("reset")
            return True
        if not chunk:
            self._finish("eof")
            return True
        self._raw += chunk
        self._decode()
        return True

    def _finish(self, how):
        if self.end is None:
            self.end = how
            self.ended_at = time.monotonic()

    def _decode(self):
        if self.status is None:
            head, sep, rest = self._raw.partition(b"\r\n\r\n")
            if not sep:
                return
            lines = head.split(b"\r\n")
            self.status = int(lines[0].split(b" ", 2)[1])
            for line in lines[1:]:
                k, _, v = line.partition(b":")
                self.headers[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
            self.head_at = time.monotonic()
            self._raw = rest
            self._chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
            if not self._chunked and "content-length" in self.headers:
                self._left = int(self.headers["content-length"])
                if self._left == 0:
                    self._finish("complete")
        if not self._chunked:
            if self._left is not None:
                take = self._raw[:self._left]
                self._left -= len(take)
                self._body += take
                self._raw = self._raw[len(take):]
                if self._left == 0:
                    self._finish("complete")
            else:
                self._body += self._raw
                self._raw = b""
            return
        while self.end is None:
            if self._chunk_state == "size":
                line, sep, rest = self._raw.partition(b"\r\n")
                if not sep:
                    return
                self._raw = rest
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self._finish("complete")  # trailers, if any, are not needed
                    return
                self._left, self._chunk_state = size, "data"
            elif self._chunk_state == "data":
                take = self._raw[:self._left]
                self._body += take
                self._raw = self._raw[len(take):]
                self._left -= len(take)
                if self._left:
                    return
                self._chunk_state = "crlf"
            else:
                if len(self._raw) < 2:
                    return
                if self._raw[:2] != b"\r\n":
                    raise AssertionError(f"bad chunk framing: {self._raw[:40]!r}")
                self._raw = self._raw[2:]
                self._chunk_state = "size"

    def read_head(self, timeout=5.0):
        """Waits for the status line and headers; returns the status."""
        deadline = time.monotonic() + timeout
        while self.status is None:
            if not self._recv(deadline):
                if self.end is None and time.monotonic() >= deadline:
                    raise AssertionError(f"no response head within {timeout}s")
                if self.status is None:
                    raise AssertionError(f"connection ended ({self.end}) before a response head")
        return self.status

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def readline(self, timeout=5.0):
        """The next body line including its "\\n"; the unterminated rest (possibly b"") once the
        body has ended; None if no full line arrived within `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            i = self._body.find(b"\n")
            if i >= 0:
                line, self._body = self._body[:i + 1], self._body[i + 1:]
                return line
            if self.end is not None:
                rest, self._body = self._body, b""
                return rest
            if not self._recv(deadline) and time.monotonic() >= deadline:
                return None

    def read_available(self, timeout):
        """Everything that arrives within `timeout` seconds (or until the body ends)."""
        deadline = time.monotonic() + timeout
        while self.end is None and time.monotonic() < deadline:
            self._recv(deadline)
        data, self._body = self._body, b""
        return data

    def read_to_end(self, timeout=10.0):
        """The rest of the body; raises AssertionError if it has not ended within `timeout`."""
        deadline = time.monotonic() + timeout
        while self.end is None:
            if not self._recv(deadline) and time.monotonic() >= deadline:
                raise AssertionError(f"response did not end within {timeout}s; got "
                                     f"{self._body[:300]!r}")
        data, self._body = self._body, b""
        return data

    def wait_end(self, timeout):
        """True if the body ends within `timeout` (what arrives meanwhile stays readable)."""
        deadline = time.monotonic() + timeout
        while self.end is None:
            if not self._recv(deadline) and time.monotonic() >= deadline:
                return False
        return True

    def poll(self):
        """Reads whatever is already there without waiting; returns `end`."""
        self.sock.setblocking(False)
        try:
            while self.end is None:
                try:
                    chunk = self.sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    break
                except (ConnectionResetError, BrokenPipeError):
                    self._finish("reset")
                    break
                if not chunk:
                    self._finish("eof")
                    break
                self._raw += chunk
                self._decode()
        finally:
            self.sock.setblocking(True)
        return self.end

    def peek_body(self):
        return self._body
