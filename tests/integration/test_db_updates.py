"""GET /_db_updates (issue #5): created / updated / deleted database events, feed=normal, longpoll
and continuous. Events are kept in memory from node start, so each test reads the current last_seq
first (or uses since=now) and looks only at events for the databases it made."""

import json
import time
import unittest

from divan_harness import FeedStream, NodeTestCase, db_path, doc_path, seq_num, seq_param

TYPES = {"created", "updated", "deleted"}


class DbUpdatesTest(NodeTestCase):

    def updates(self, query=""):
        r = self.get("/_db_updates" + (f"?{query}" if query else ""), timeout=15)
        self.assertStatus(r, 200, query)
        self.assertJsonReply(r)
        self.assertIsInstance(r.body, dict, r)
        self.assertIn("results", r.body)
        self.assertIn("last_seq", r.body)
        self.assertIsInstance(r.body["results"], list)
        for row in r.body["results"]:
            self.assertRowShape(row)
        return r.body

    def assertRowShape(self, row):
        self.assertEqual(set(row), {"db_name", "type", "seq"}, row)
        self.assertIsInstance(row["db_name"], str)
        self.assertIn(row["type"], TYPES, row)
        seq_num(row["seq"])

    def now(self):
        return self.updates()["last_seq"]

    def open_feed(self, query):
        stream = FeedStream(self.node, "GET", f"/_db_updates?{query}")
        self.addCleanup(stream.close)
        return stream

    def events_for(self, rows, name):
        return [r["type"] for r in rows if r["db_name"] == name]

    def assertIncreasing(self, rows):
        seqs = [seq_num(r["seq"]) for r in rows]
        self.assertEqual(seqs, sorted(set(seqs)), f"event seqs must strictly increase: {rows}")

    def assertLifecycle(self, types):
        """created, at least one updated, deleted, in that order."""
        self.assertGreaterEqual(len(types), 3, types)
        self.assertEqual(types[0], "created", types)
        self.assertEqual(types[-1], "deleted", types)
        self.assertEqual(set(types[1:-1]), {"updated"}, types)

    def test_normal_feed_reports_created_updated_deleted(self):
        since = self.now()
        name = "dbu-life"
        self.assertStatus(self.put(db_path(name)), 201)
        self.assertStatus(self.put(doc_path(name, "a"), {"v": 1}), 201)
        self.assertStatus(self.delete(db_path(name)), 200)
        body = self.updates(f"since={seq_param(since)}")
        self.assertIncreasing(body["results"])
        self.assertLifecycle(self.events_for(body["results"], name))
        self.assertTrue(body["results"], body)
        self.assertEqual(seq_num(body["last_seq"]), seq_num(body["results"][-1]["seq"]))
        self.assertGreater(seq_num(body["results"][0]["seq"]), seq_num(since), "since is exclusive")
        self.assertEqual(set(body), {"results", "last_seq"}, body)

    def test_since_now_and_since_exclusive(self):
        body = self.updates("since=now")
        self.assertEqual(body["results"], [])
        mark = body["last_seq"]
        self.assertEqual(seq_num(mark), seq_num(self.now()))
        self.assertStatus(self.put(db_path("dbu-one")), 201)
        self.assertStatus(self.put(db_path("dbu-two")), 201)
        body = self.updates(f"since={seq_param(mark)}")
        created = [r for r in body["results"] if r["type"] == "created"]
        self.assertEqual([r["db_name"] for r in created], ["dbu-one", "dbu-two"])
        body = self.updates(f"since={seq_param(created[0]['seq'])}")
        self.assertNotIn("dbu-one", [r["db_name"] for r in body["results"]])
        self.assertIn("dbu-two", [r["db_name"] for r in body["results"]])
        body = self.updates(f"since={seq_param(body['last_seq'])}")
        self.assertEqual(body["results"], [])

    def test_doc_writes_report_updated(self):
        name = "dbu-upd"
        self.assertStatus(self.put(db_path(name)), 201)
        since = self.now()
        r = self.post(db_path(name) + "/_bulk_docs", {"docs": [{"_id": "a"}, {"_id": "b"}]})
        self.assertStatus(r, 201)
        self.assertStatus(self.put(doc_path(name, "c"), {}), 201)
        body = self.updates(f"since={seq_param(since)}")
        types = self.events_for(body["results"], name)
        self.assertTrue(types, "a doc write reports the database as updated")
        self.assertEqual(set(types), {"updated"}, types)

    def test_delete_then_recreate(self):
        name = "dbu-again"
        self.assertStatus(self.put(db_path(name)), 201)
        since = self.now()
        self.assertStatus(self.delete(db_path(name)), 200)
        self.assertStatus(self.put(db_path(name)), 201)
        body = self.updates(f"since={seq_param(since)}")
        self.assertEqual(self.events_for(body["results"], name), ["deleted", "created"])

    def test_failed_operations_report_nothing(self):
        name = "dbu-fail"
        self.assertStatus(self.put(db_path(name)), 201)
        since = self.now()
        self.assertStatus(self.put(db_path(name)), 412)
        self.assertStatus(self.delete(db_path("dbu-never")), 404)
        self.assertStatus(self.put(db_path("Bad")), 400)
        body = self.updates(f"since={seq_param(since)}")
        self.assertEqual(body["results"], [], "failed creates/deletes are not events")

    def test_longpoll_wakes_on_a_new_database(self):
        since = self.now()
        stream = self.open_feed(f"feed=longpoll&since={seq_param(since)}&timeout=10000")
        time.sleep(0.1)
        self.assertIsNone(stream.poll(), "no event yet: the longpoll waits")
        self.assertStatus(self.put(db_path("dbu-lp")), 201)
        t_put = time.monotonic()
        body = json.loads(stream.read_to_end(timeout=5))
        self.assertLess(stream.ended_at - t_put, 1.0, "longpoll answers promptly after the event")
        self.assertEqual(stream.status, 200)
        self.assertTrue(body["results"])
        for row in body["results"]:
            self.assertRowShape(row)
        self.assertEqual(body["results"][0], {"db_name": "dbu-lp", "type": "created",
                                              "seq": body["results"][0]["seq"]})
        self.assertEqual(seq_num(body["last_seq"]), seq_num(body["results"][-1]["seq"]))

    def test_longpoll_returns_at_once_when_events_exist(self):
        since = self.now()
        self.assertStatus(self.put(db_path("dbu-lp2")), 201)
        t0 = time.monotonic()
        body = self.updates(f"feed=longpoll&since={seq_param(since)}&timeout=10000")
        self.assertLess(time.monotonic() - t0, 2.0)
        self.assertEqual(self.events_for(body["results"], "dbu-lp2"), ["created"])

    def test_longpoll_timeout_returns_empty(self):
        t0 = time.monotonic()
        body = self.updates("feed=longpoll&since=now&timeout=300")
        elapsed = time.monotonic() - t0
        self.assertEqual(body["results"], [])
        self.assertEqual(seq_num(body["last_seq"]), seq_num(self.now()))
        self.assertGreaterEqual(elapsed, 0.25)
        self.assertLess(elapsed, 5.0)

    def test_continuous_one_object_per_line_with_heartbeats(self):
        since = self.now()
        stream = self.open_feed(f"feed=continuous&since={seq_param(since)}&heartbeat=100")
        self.assertEqual(stream.read_head(), 200)
        time.sleep(0.35)
        name = "dbu-cont"
        self.assertStatus(self.put(db_path(name)), 201)
        self.assertStatus(self.put(doc_path(name, "a"), {}), 201)
        self.assertStatus(self.delete(db_path(name)), 200)
        rows, beats = [], 0
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and "deleted" not in self.events_for(rows, name):
            line = stream.readline(max(0.0, deadline - time.monotonic()))
            self.assertIsNotNone(line, f"no line in time; rows so far {rows}")
            self.assertNotEqual(line, b"", f"feed ended ({stream.end})")
            self.assertTrue(line.endswith(b"\n"))
            if line == b"\n":
                beats += 1
                continue
            obj = json.loads(line)
            self.assertRowShape(obj)
            rows.append(obj)
        self.assertGreaterEqual(beats, 2, "heartbeat newlines while idle")
        self.assertIncreasing(rows)
        self.assertLifecycle(self.events_for(rows, name))
        self.assertIsNone(stream.end, "a heartbeat feed stays open")

    def test_continuous_timeout_ends_the_feed(self):
        since = self.now()
        stream = self.open_feed(f"feed=continuous&since={seq_param(since)}&timeout=300")
        self.assertEqual(stream.read_head(), 200)
        self.assertStatus(self.put(db_path("dbu-cont2")), 201)
        body = stream.read_to_end(timeout=5)
        self.assertIn(stream.end, ("complete", "eof"))
        objs = [json.loads(line) for line in body.splitlines() if line.strip()]
        rows = [o for o in objs if "db_name" in o]
        self.assertEqual(self.events_for(rows, "dbu-cont2"), ["created"])
        for o in objs:
            self.assertTrue("db_name" in o or "last_seq" in o, o)

    def test_continuous_since_now_sees_only_new_events(self):
        self.assertStatus(self.put(db_path("dbu-old")), 201)
        stream = self.open_feed("feed=continuous&since=now&timeout=500")
        self.assertEqual(stream.read_head(), 200)
        self.assertStatus(self.put(db_path("dbu-new")), 201)
        body = stream.read_to_end(timeout=5)
        names = [json.loads(line).get("db_name") for line in body.splitlines() if line.strip()]
        self.assertIn("dbu-new", names)
        self.assertNotIn("dbu-old", names)


if __name__ == "__main__":
    unittest.main()
