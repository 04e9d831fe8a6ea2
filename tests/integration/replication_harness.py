"""What the replication suites share (test_replication, test_replication_faults,
test_checkpoint_sequences): a node with a server admin whose credentials every request carries,
as production runs it, and bounded waits."""

import base64
import socket
import time
import unittest

from divan_harness import Node, db_path

WAIT = 20.0  # seconds any replication in these tests may take to show its effect


def basic_auth(name, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


class AdminNode(Node):
    """A node with one server admin; every request carries the admin's credentials. Crashed
    replications are retried after 300 ms (doubling, at most 1 s), not CouchDB's 30 s."""

    def __init__(self, extra_args=(), admin="admin", password="pw", **kw):
        self.admin, self.password = admin, password
        super().__init__(extra_args=["--admin", f"{admin}:{password}",
                                     "--replication-backoff-ms", "300",
                                     "--replication-backoff-cap-ms", "1000", *extra_args], **kw)

    def request(self, method, path, body=None, headers=None, **kw):
        merged = basic_auth(self.admin, self.password)
        merged.update(headers or {})
        return super().request(method, path, body=body, headers=merged, **kw)

    def url(self, db, credentials=True):
        """This node's `db` as a replication endpoint names it."""
        userinfo = f"{self.admin}:{self.password}@" if credentials else ""
        return f"http://{userinfo}127.0.0.1:{self.port}{db_path(db)}"

    def json(self, method, path, body=None, status=None):
        """The answer's body; fails the test when `status` is given and differs."""
        resp = self.request(method, path, body=body)
        if status is not None and resp.status != status:
            raise AssertionError(f"{method} {path}: {resp.status} {resp.body!r}, wanted {status}")
        return resp.body


def free_port():
    """A loopback port nothing listens on right now (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(what, check, timeout=WAIT, step=0.05):
    """Polls `check()` until it returns a truthy value; fails naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def written_this_run(out):
    """docs_written of a `_replicate` answer's own session: history counts are cumulative (a run
    starts from the stats of the checkpoint it resumes, as CouchDB's do)."""
    if out.get("no_changes"):
        return 0
    hist = out["history"]
    return hist[0]["docs_written"] - (hist[1]["docs_written"] if len(hist) > 1 else 0)


class NodesTestCase(unittest.TestCase):
    """Runs `node_count` nodes (make_node()) for the whole class: `nodes`, and `a`, `b` for the
    first two. Each test must leave them alive; they are stopped by pid at the end."""

    node_count = 2

    @classmethod
    def make_node(cls):
        return AdminNode()

    @classmethod
    def setUpClass(cls):
        cls.nodes = [cls.make_node() for _ in range(cls.node_count)]
        for node in cls.nodes:
            node.start()
        cls.a, cls.b = (cls.nodes + [None, None])[:2]

    @classmethod
    def tearDownClass(cls):
        for node in cls.nodes:
            node.stop()
            node.cleanup()

    def tearDown(self):
        for node in self.nodes:
            node.assert_alive()
