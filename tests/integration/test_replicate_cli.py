"""`divan replicate SOURCE TARGET` (tools/replicate_cmd.h) against a real node on loopback: the
progress bar under a pseudo-terminal, plain lines and a summary otherwise, clear one-line errors
with a non-zero exit, Ctrl-C that keeps the checkpoint, local database names. Every wait is
bounded."""

import os
import pty
import select
import signal
import subprocess
import tempfile
import shutil
import time
import unittest

from divan_harness import binary_path, db_path
from replication_harness import AdminNode, free_port, wait_until

DOCS = 20000
RUN_TIMEOUT = 120


def run_cli(*args, timeout=RUN_TIMEOUT):
    proc = subprocess.run([binary_path(), "replicate", *args], capture_output=True,
                          timeout=timeout)
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def run_cli_in_pty(*args, timeout=RUN_TIMEOUT):
    """Runs the command with its stdout on a pseudo-terminal; returns (exit code, output)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([binary_path(), "replicate", *args], stdout=slave,
                            stderr=subprocess.DEVNULL)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    proc.wait(timeout=10)
    return proc.returncode, out.decode(errors="replace")


class ReplicateCliTests(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.node = AdminNode()
        cls.node.start()
        cls.node.json("PUT", db_path("src"), status=201)
        docs = [{"_id": f"d{i:06}", "v": i} for i in range(DOCS)]
        for start in range(0, DOCS, 5000):
            cls.node.json("POST", db_path("src") + "/_bulk_docs", {"docs": docs[start:start + 5000]},
                          status=201)
        cls.base = f"http://admin:pw@127.0.0.1:{cls.node.port}"

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()

    def tearDown(self):
        self.node.assert_alive()

    def doc_count(self, db):
        return self.node.json("GET", db_path(db), status=200)["doc_count"]

    def test_a_terminal_gets_a_progress_bar_and_a_summary(self):
        code, out = run_cli_in_pty(f"{self.base}/src", f"{self.base}/tty", "--create-target")
        self.assertEqual(code, 0, out)
        self.assertIn("\r[", out)  # redrawn in place
        self.assertIn("100%", out)
        self.assertIn("docs/s", out)
        self.assertIn(f"{DOCS} docs written", out)
        self.assertNotIn("pw@", out)  # the password is never shown
        self.assertEqual(self.doc_count("tty"), DOCS)

    def test_without_a_terminal_plain_lines_and_an_up_to_date_rerun(self):
        code, out, err = run_cli(f"{self.base}/src", f"{self.base}/plain", "--create-target")
        self.assertEqual(code, 0, err)
        self.assertNotIn("\r", out)
        self.assertIn(f"{DOCS} docs written", out)
        code, out, err = run_cli(f"{self.base}/src", f"{self.base}/plain")
        self.assertEqual(code, 0, err)
        self.assertIn("0 docs written", out)  # resumed from the checkpoint: nothing left

    def test_doc_ids_and_selector(self):
        code, out, err = run_cli(f"{self.base}/src", f"{self.base}/some", "--create-target",
                                 "--doc-ids", "d000001,d000002")
        self.assertEqual(code, 0, err)
        self.assertEqual(self.doc_count("some"), 2)
        code, out, err = run_cli(f"{self.base}/src", f"{self.base}/sel", "--create-target",
                                 "--selector", '{"v": {"$lt": 10}}')
        self.assertEqual(code, 0, err)
        self.assertEqual(self.doc_count("sel"), 10)

    def test_failures_exit_non_zero_with_one_clear_line(self):
        cases = [
            ((f"{self.base}/nosuch", f"{self.base}/x"), 1, "could not open"),
            ((f"http://admin:wrong@127.0.0.1:{self.node.port}/src", f"{self.base}/x"), 1,
             "unauthorized"),
            ((f"http://admin:pw@127.0.0.1:{free_port()}/src", f"{self.base}/x"), 1, "connect"),
            (("ftp://host/db", f"{self.base}/x"), 2, "invalid url"),
            ((f"{self.base}/src", f"{self.base}/x", "--selector", "{nope"), 2, "not JSON"),
        ]
        for args, wanted_code, reason in cases:
            code, out, err = run_cli(*args)
            self.assertEqual(code, wanted_code, (args, out, err))
            lines = [line for line in err.splitlines() if line.strip()]
            self.assertEqual(len(lines), 1, err)
            self.assertTrue(lines[0].startswith("divan replicate: "), err)
            self.assertIn(reason, lines[0])
            self.assertNotIn(":wrong@", err)
            self.assertNotIn(":pw@", err)

    def test_ctrl_c_stops_cleanly_and_keeps_the_checkpoint(self):
        proc = subprocess.Popen([binary_path(), "replicate", f"{self.base}/src",
                                 f"{self.base}/cont", "--create-target", "--continuous"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_until("docs copied", lambda: "cont" in self.node.json("GET", "/_all_dbs") and
                       self.doc_count("cont") == DOCS, timeout=60, step=0.1)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(proc.returncode, 130, err)
        self.assertIn("checkpoint is saved", out.decode())
        local = self.node.json("GET", db_path("cont") + "/_local_docs", status=200)["rows"]
        self.assertEqual(len(local), 1)  # the replication's checkpoint
        code, out, err = run_cli(f"{self.base}/src", f"{self.base}/cont")
        self.assertEqual(code, 0, err)
        self.assertIn("0 docs written", out)  # the one-shot shares the checkpoint

    def test_local_database_names_of_a_data_dir(self):
        data = tempfile.mkdtemp(prefix="divan-cli-")
        try:
            code, out, err = run_cli(f"{self.base}/src", "copy", "--create-target",
                                     "--data-dir", data)
            self.assertEqual(code, 0, err)
            self.assertIn(f"{DOCS} docs written", out)
            code, out, err = run_cli("copy", f"{self.base}/back", "--create-target",
                                     "--data-dir", data)
            self.assertEqual(code, 0, err)
            self.assertEqual(self.doc_count("back"), DOCS)
            code, out, err = run_cli("nosuch", f"{self.base}/back", "--data-dir", data)
            self.assertEqual(code, 1)
            self.assertIn("divan replicate: ", err)
        finally:
            shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
