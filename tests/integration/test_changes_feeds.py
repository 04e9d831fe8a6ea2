"""Live _changes feeds over real sockets (http-api.md §13.3): longpoll, continuous, eventsource;
wake-up latency, heartbeats, timeouts, limits, resuming from a since taken mid-stream, database
deletion ending open feeds, and clients that vanish mid-feed.

Every feed is read with FeedStream (divan_harness): its own socket, every read bounded by a
deadline. Timing bounds are generous except where the issue fixes them (longpoll wake ≤ 50 ms)."""

import collections
import json
import os
import statistics
import threading
import time
import unittest

from divan_harness import (FeedStream, NodeTestCase, db_path, doc_path, qjson, seq_num,
                           seq_param)

NO_DB = "Database does not exist."
JOIN_TIMEOUT = 90


class FeedTestCase(NodeTestCase):

    def setUp(self):
        self.db = self.new_db()

    def url(self, query, db=None):
        return f"{db_path(db or self.db)}/_changes?{query}"

    def open_feed(self, query, db=None, method="GET", body=None, headers=None):
        stream = FeedStream(self.node, method, self.url(query, db), body=body, headers=headers)
        self.addCleanup(stream.close)
        return stream

    def put_doc(self, docid, body=None, rev=None, db=None):
        """Writes one doc on this thread's connection; returns (rev, update_seq after it)."""
        b = dict(body or {})
        if rev:
            b["_rev"] = rev
        r = self.put(doc_path(db or self.db, docid), b)
        self.assertStatus(r, 201)
        return r.body["rev"], self.update_seq(db or self.db)

    def parse_line(self, line):
        """A continuous-feed line: None for a heartbeat (empty line), else its JSON object."""
        self.assertTrue(line.endswith(b"\n"), f"unterminated line {line[:200]!r}")
        if line == b"\n":
            return None
        obj = json.loads(line.decode("utf-8"))
        self.assertIsInstance(obj, dict, line)
        return obj

    def next_object(self, stream, timeout=5.0):
        """The next non-heartbeat line of a continuous feed as JSON; fails if none arrives in time
        or the feed ends first."""
        deadline = time.monotonic() + timeout
        while True:
            line = stream.readline(max(0.0, deadline - time.monotonic()))
            if line is None:
                self.fail(f"no feed line within {timeout}s")
            if line == b"":
                self.fail(f"feed ended ({stream.end}) while a line was expected")
            obj = self.parse_line(line)
            if obj is not None:
                return obj

    def rest_of_feed(self, stream, timeout=5.0):
        """Reads a continuous feed to its end: (objects, heartbeat count)."""
        objs, beats = [], 0
        deadline = time.monotonic() + timeout
        while True:
            line = stream.readline(max(0.0, deadline - time.monotonic()))
            if line is None:
                self.fail(f"feed did not end within {timeout}s (so far {objs})")
            if line == b"":
                return objs, beats
            obj = self.parse_line(line)
            if obj is None:
                beats += 1
            else:
                objs.append(obj)

    def assertRow(self, row, docid, rev=None):
        self.assertIn("seq", row)
        self.assertEqual(row.get("id"), docid, row)
        self.assertIsInstance(row.get("changes"), list, row)
        if rev is not None:
            self.assertEqual(row["changes"], [{"rev": rev}], row)

    def assertCleanEnd(self, stream):
        self.assertIn(stream.end, ("complete", "eof"), "the feed must end, not be reset")
        if "chunked" in stream.header("transfer-encoding", "").lower():
            self.assertEqual(stream.end, "complete", "a chunked feed ends with its last chunk")


def run_threads(n, target):
    """target(i) in n threads; returns the results, re-raising the first exception."""
    results, errors = [None] * n, []

    def wrap(i):
        try:
            results[i] = target(i)
        except BaseException as e:  # reported in the main thread
            errors.append(e)

    threads = [threading.Thread(target=wrap, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    return threads, results, errors


def join_threads(threads, errors):
    for t in threads:
        t.join(JOIN_TIMEOUT)
        if t.is_alive():
            raise AssertionError("worker thread did not finish in time")
    if errors:
        raise errors[0]


class LongpollTest(FeedTestCase):

    def assertIdle(self, data):
        """What a waiting longpoll may have sent: at most the envelope's head, then newlines."""
        head = b'{"results":['
        idle = data[len(head):] if data.startswith(head) else data
        self.assertEqual(idle.strip(b"\n"), b"", f"a waiting longpoll sent {data!r}")

    def test_returns_at_once_when_changes_exist(self):
        ra, _ = self.put_doc("a")
        rb, seq = self.put_doc("b")
        t0 = time.monotonic()
        r = self.get(self.url("feed=longpoll&since=0&timeout=10000"), timeout=15)
        self.assertLess(time.monotonic() - t0, 2.0, "rows exist: longpoll answers at once")
        self.assertStatus(r, 200)
        self.assertJsonReply(r)
        self.assertEqual(set(r.body), {"results", "last_seq", "pending"})
        self.assertEqual([(x["id"], x["changes"]) for x in r.body["results"]],
                         [("a", [{"rev": ra}]), ("b", [{"rev": rb}])])
        self.assertEqual((seq_num(r.body["last_seq"]), r.body["pending"]), (seq, 0))
        self.assertTrue(r.raw.startswith(b'{"results":[\n'), r.raw[:40])
        r = self.get(self.url("feed=longpoll&since=0&limit=1&timeout=10000"), timeout=15)
        self.assertEqual([x["id"] for x in r.body["results"]], ["a"])
        self.assertEqual(r.body["pending"], 1)
        self.assertEqual(seq_num(r.body["last_seq"]), seq_num(r.body["results"][0]["seq"]))

    def test_wakes_within_50ms_of_the_write(self):
        """Opened before a write, a longpoll returns within 50 ms of the write's commit (issue #5).
        The commit is known to the test when the writer's PUT response arrives; the median of three
        measurements absorbs scheduler noise."""
        self.put_doc("warmup")  # this thread's connection is open and warm
        deltas = []
        for attempt in range(3):
            since = self.get(self.url("since=now")).body["last_seq"]
            stream = self.open_feed(f"feed=longpoll&since={seq_param(since)}&timeout=10000")
            time.sleep(0.1)  # surely blocked by now
            self.assertIsNone(stream.poll(), "nothing changed yet: the longpoll must still wait")
            self.assertIdle(stream.peek_body())
            r = self.put(doc_path(self.db, f"w{attempt}"), {"attempt": attempt})
            t_put = time.monotonic()
            self.assertStatus(r, 201)
            body = stream.read_to_end(timeout=5)
            delta = stream.ended_at - t_put
            deltas.append(delta)
            self.assertEqual(stream.status, 200)
            parsed = json.loads(body)
            self.assertEqual([(x["id"], x["changes"]) for x in parsed["results"]],
                             [(f"w{attempt}", [{"rev": r.body["rev"]}])])
            self.assertEqual(seq_num(parsed["last_seq"]), seq_num(parsed["results"][0]["seq"]))
            self.assertEqual(parsed["pending"], 0)
            stream.close()
        median = statistics.median(deltas)
        print(f"[divan-it] longpoll wake after PUT: {[round(d * 1000, 1) for d in deltas]} ms",
              flush=True)
        self.assertLessEqual(median, 0.050, f"median wake {median * 1000:.1f} ms > 50 ms "
                                            f"({[round(d * 1000, 1) for d in deltas]})")

    def test_timeout_returns_empty_results(self):
        _, seq = self.put_doc("a")
        for since in ("now", str(seq)):
            with self.subTest(since=since):
                t0 = time.monotonic()
                r = self.get(self.url(f"feed=longpoll&since={since}&timeout=300"), timeout=15)
                elapsed = time.monotonic() - t0
                self.assertStatus(r, 200)
                self.assertEqual(r.body["results"], [])
                self.assertEqual((seq_num(r.body["last_seq"]), r.body["pending"]), (seq, 0))
                self.assertGreaterEqual(elapsed, 0.25, "answered before the timeout")
                self.assertLess(elapsed, 5.0, "timeout=300 was not honoured")

    def test_heartbeat_newlines_while_waiting_and_no_timeout(self):
        since = self.update_seq(self.db)
        stream = self.open_feed(f"feed=longpoll&since={since}&heartbeat=100&timeout=200")
        waited = stream.read_available(0.7)
        self.assertIsNone(stream.end, "with a heartbeat a longpoll never times out")
        self.assertEqual(stream.status, 200)
        self.assertIdle(waited)
        self.assertGreaterEqual(waited.count(b"\n"), 4, f"heartbeats in 700 ms at 100 ms: {waited!r}")
        rev, seq = self.put_doc("late")
        body = json.loads(waited + stream.read_to_end(timeout=3))
        self.assertEqual([(x["id"], x["changes"]) for x in body["results"]],
                         [("late", [{"rev": rev}])])
        self.assertEqual(seq_num(body["last_seq"]), seq)

    def test_filtered_longpoll_waits_for_a_matching_change(self):
        since = self.update_seq(self.db)
        stream = self.open_feed(f"feed=longpoll&filter=_doc_ids&since={since}&timeout=10000",
                                method="POST", body={"doc_ids": ["want"]})
        time.sleep(0.1)
        self.put_doc("other")
        time.sleep(0.3)
        self.assertIsNone(stream.poll(), "a change the filter rejects must not end the longpoll")
        rev, seq = self.put_doc("want")
        body = json.loads(stream.read_to_end(timeout=3))
        self.assertEqual([(x["id"], x["changes"]) for x in body["results"]],
                         [("want", [{"rev": rev}])])
        self.assertEqual(seq_num(body["last_seq"]), seq)

    def test_selector_longpoll_waits_for_a_matching_change(self):
        since = self.update_seq(self.db)
        stream = self.open_feed(f"feed=longpoll&filter=_selector&since={since}&timeout=10000",
                                method="POST", body={"selector": {"kind": "hit"}})
        time.sleep(0.1)
        self.put_doc("miss", {"kind": "miss"})
        time.sleep(0.3)
        self.assertIsNone(stream.poll(), "a change the selector rejects must not end the longpoll")
        self.put_doc("hit", {"kind": "hit"})
        body = json.loads(stream.read_to_end(timeout=3))
        self.assertEqual([x["id"] for x in body["results"]], ["hit"])

    def test_include_docs_and_limit_on_wake(self):
        since = self.update_seq(self.db)
        stream = self.open_feed(f"feed=longpoll&since={since}&limit=1&include_docs=true"
                                f"&style=all_docs&timeout=10000")
        time.sleep(0.1)
        r = self.post(db_path(self.db) + "/_bulk_docs",
                      {"docs": [{"_id": "b1", "v": 1}, {"_id": "b2"}, {"_id": "b3"}]})
        self.assertStatus(r, 201)
        body = json.loads(stream.read_to_end(timeout=3))
        self.assertEqual(len(body["results"]), 1, body)
        row = body["results"][0]
        self.assertEqual(row["id"], "b1")
        self.assertEqual(row["doc"], {"_id": "b1", "_rev": r.body[0]["rev"], "v": 1})
        self.assertEqual(seq_num(body["last_seq"]), seq_num(row["seq"]))
        self.assertEqual(body["pending"], 2)

    def test_deleted_doc_wakes_longpoll(self):
        rev, since = self.put_doc("d")
        stream = self.open_feed(f"feed=longpoll&since={since}&timeout=10000")
        time.sleep(0.1)
        r = self.delete(doc_path(self.db, "d") + f"?rev={rev}")
        self.assertStatus(r, 200)
        body = json.loads(stream.read_to_end(timeout=3))
        self.assertEqual(body["results"][0]["id"], "d")
        self.assertIs(body["results"][0].get("deleted"), True)


class ContinuousTest(FeedTestCase):

    def test_existing_rows_then_live_rows(self):
        ra, _ = self.put_doc("a")
        rb, _ = self.put_doc("b")
        stream = self.open_feed("feed=continuous&since=0&timeout=10000")
        self.assertEqual(stream.read_head(), 200)
        row_a, row_b = self.next_object(stream), self.next_object(stream)
        self.assertRow(row_a, "a", ra)
        self.assertRow(row_b, "b", rb)
        self.assertEqual(set(row_a), {"seq", "id", "changes"})
        rc, seq_c = self.put_doc("c", {"v": 1})
        row_c = self.next_object(stream, timeout=3)
        self.assertRow(row_c, "c", rc)
        self.assertEqual(seq_num(row_c["seq"]), seq_c)
        self.assertLess(seq_num(row_a["seq"]), seq_num(row_b["seq"]))
        rc2, _ = self.put_doc("c", {"v": 2}, rev=rc)
        r = self.delete(doc_path(self.db, "a") + f"?rev={ra}")
        self.assertRow(self.next_object(stream, timeout=3), "c", rc2)
        row = self.next_object(stream, timeout=3)
        self.assertRow(row, "a", r.body["rev"])
        self.assertIs(row.get("deleted"), True)
        self.assertIsNone(stream.end)

    def test_final_last_seq_line_after_timeout(self):
        ra, seq = self.put_doc("a")
        t0 = time.monotonic()
        stream = self.open_feed("feed=continuous&since=0&timeout=300")
        self.assertEqual(stream.read_head(), 200)
        objs, _ = self.rest_of_feed(stream, timeout=5)
        elapsed = time.monotonic() - t0
        self.assertEqual(len(objs), 2, objs)
        self.assertRow(objs[0], "a", ra)
        self.assertEqual(objs[-1], {"last_seq": objs[-1]["last_seq"], "pending": 0})
        self.assertEqual(seq_num(objs[-1]["last_seq"]), seq)
        self.assertGreaterEqual(elapsed, 0.25)
        self.assertLess(elapsed, 5.0)
        self.assertCleanEnd(stream)
        # The final last_seq resumes the feed exactly where it stopped.
        rb, _ = self.put_doc("b")
        r = self.get(self.url(f"since={seq_param(objs[-1]['last_seq'])}"))
        self.assertEqual([(x["id"], x["changes"]) for x in r.body["results"]],
                         [("b", [{"rev": rb}])])

    def test_idle_since_now_timeout(self):
        _, seq = self.put_doc("a")
        stream = self.open_feed("feed=continuous&since=now&timeout=200")
        objs, _ = self.rest_of_feed(stream, timeout=5)
        self.assertEqual(objs, [{"last_seq": objs[-1]["last_seq"], "pending": 0}])
        self.assertEqual(seq_num(objs[0]["last_seq"]), seq)
        self.assertCleanEnd(stream)

    def test_timeout_counts_from_the_last_change(self):
        # http-api.md §13.1: a feed "that sees no change for this long" ends.
        since = self.update_seq(self.db)
        t0 = time.monotonic()
        stream = self.open_feed(f"feed=continuous&since={since}&timeout=2000")
        self.assertEqual(stream.read_head(), 200)
        time.sleep(max(0.0, t0 + 0.5 - time.monotonic()))
        rev, _ = self.put_doc("x")
        self.assertRow(self.next_object(stream, timeout=3), "x", rev)
        time.sleep(max(0.0, t0 + 2.2 - time.monotonic()))
        self.assertIsNone(stream.poll(), "the change at 0.5 s restarts the 2 s inactivity timeout")
        objs, _ = self.rest_of_feed(stream, timeout=5)
        self.assertEqual(list(objs[-1]), ["last_seq", "pending"])
        self.assertCleanEnd(stream)

    def test_ends_after_limit(self):
        seqs = [self.put_doc(f"d{i}")[1] for i in range(5)]
        stream = self.open_feed("feed=continuous&since=0&limit=3")
        objs, _ = self.rest_of_feed(stream, timeout=3)
        self.assertEqual([o.get("id") for o in objs[:3]], ["d0", "d1", "d2"])
        self.assertEqual(len(objs), 4, objs)
        self.assertEqual(objs[3], {"last_seq": objs[3]["last_seq"], "pending": 2})
        self.assertEqual(seq_num(objs[3]["last_seq"]), seqs[2])
        self.assertCleanEnd(stream)

    def test_ends_after_limit_reached_by_live_rows(self):
        since = self.update_seq(self.db)
        stream = self.open_feed(f"feed=continuous&since={since}&limit=2")
        self.assertEqual(stream.read_head(), 200)
        r0, _ = self.put_doc("l0")
        self.assertRow(self.next_object(stream, timeout=3), "l0", r0)
        self.assertIsNone(stream.poll(), "one row of two: still open")
        r1, seq1 = self.put_doc("l1")
        objs, _ = self.rest_of_feed(stream, timeout=3)
        self.assertRow(objs[0], "l1", r1)
        self.assertEqual(objs[1:], [{"last_seq": objs[1]["last_seq"], "pending": 0}])
        self.assertEqual(seq_num(objs[1]["last_seq"]), seq1)
        self.assertCleanEnd(stream)

    def test_limit_zero_ends_at_once(self):
        for i in range(2):
            self.put_doc(f"d{i}")
        stream = self.open_feed("feed=continuous&since=0&limit=0")
        objs, _ = self.rest_of_feed(stream, timeout=3)
        self.assertEqual(len(objs), 1, objs)
        self.assertEqual(list(objs[0]), ["last_seq", "pending"])

    def test_heartbeat_blank_lines_on_time(self):
        since = self.update_seq(self.db)
        stream = self.open_feed(f"feed=continuous&since={since}&heartbeat=200")
        self.assertEqual(stream.read_head(), 200)
        start = stream.sent_at
        beats = []
        deadline = start + 2.3
        while time.monotonic() < deadline:
            line = stream.readline(max(0.0, deadline - time.monotonic()))
            if line is None:
                break
            self.assertNotEqual(line, b"", "the feed ended while idle with a heartbeat set")
            self.assertEqual(line, b"\n", f"idle feed sent {line!r}")
            beats.append(time.monotonic())
        gaps = [b - a for a, b in zip([start] + beats, beats)]
        shown = [round(g * 1000) for g in gaps]
        self.assertGreaterEqual(len(beats), 7, f"heartbeats in 2.3 s at 200 ms; gaps {shown} ms")
        self.assertLessEqual(gaps[0], 0.35, f"first heartbeat late; gaps {shown} ms")
        for g in gaps[1:]:
            self.assertGreaterEqual(g, 0.05, f"heartbeats too close; gaps {shown} ms")
            self.assertLessEqual(g, 0.35, f"heartbeat late; gaps {shown} ms")
        # Rows still flow between heartbeats.
        rev, _ = self.put_doc("x")
        self.assertRow(self.next_object(stream, timeout=3), "x", rev)

    def test_heartbeat_means_no_timeout(self):
        since = self.update_seq(self.db)
        stream = self.open_feed(f"feed=continuous&since={since}&heartbeat=100&timeout=300")
        data = stream.read_available(1.0)
        self.assertIsNone(stream.end, "with a heartbeat a continuous feed never times out")
        self.assertGreaterEqual(data.count(b"\n"), 4, data)
        self.assertEqual(data.strip(b"\n"), b"", data)

    def test_live_is_continuous(self):
        rev, seq = self.put_doc("a")
        stream = self.open_feed("feed=live&since=0&timeout=200")
        objs, _ = self.rest_of_feed(stream, timeout=5)
        self.assertRow(objs[0], "a", rev)
        self.assertEqual(objs[1], {"last_seq": objs[1]["last_seq"], "pending": 0})

    def test_filters_include_docs_and_style(self):
        since = self.update_seq(self.db)
        ids = self.open_feed(f"feed=continuous&filter=_doc_ids&since={since}&timeout=5000",
                             method="POST", body={"doc_ids": ["want", "conf"]})
        sel = self.open_feed(f"feed=continuous&filter=_selector&since={since}&include_docs=true"
                             f"&timeout=5000", method="POST", body={"selector": {"n": {"$gte": 2}}})
        design = self.open_feed(f"feed=continuous&filter=_design&since={since}&timeout=5000")
        alldocs = self.open_feed(f"feed=continuous&style=all_docs&since={since}"
                                 f"&doc_ids={qjson(['conf'])}&filter=_doc_ids&timeout=5000")
        for s in (ids, sel, design, alldocs):
            self.assertEqual(s.read_head(), 200)
        self.put_doc("other", {"n": 1})
        rw, _ = self.put_doc("want", {"n": 2})
        rd, _ = self.put_doc("_design/dd")
        self.replicate_in(self.db, [self.path_doc("conf", 2, ["b", "a"]),
                                    self.path_doc("conf", 2, ["c", "a"])])
        self.assertRow(self.next_object(ids, timeout=3), "want", rw)
        conf = self.next_object(ids, timeout=3)
        self.assertRow(conf, "conf", "2-c")
        row = self.next_object(sel, timeout=3)
        self.assertRow(row, "want", rw)
        self.assertEqual(row["doc"], {"_id": "want", "_rev": rw, "n": 2})
        self.assertRow(self.next_object(design, timeout=3), "_design/dd", rd)
        row = self.next_object(alldocs, timeout=3)
        self.assertEqual((row["id"], row["changes"]), ("conf", [{"rev": "2-c"}, {"rev": "2-b"}]))
        for s in (ids, sel, design, alldocs):
            objs, _ = self.rest_of_feed(s, timeout=10)
            self.assertEqual(len(objs), 1, f"nothing else passes the filter: {objs}")
            self.assertEqual(list(objs[0]), ["last_seq", "pending"])
            self.assertEqual(seq_num(objs[0]["last_seq"]), self.update_seq(self.db))

    def test_1000_writes_by_8_concurrent_writers_each_exactly_once_in_order(self):
        writers, per = 8, 125
        base = self.update_seq(self.db)
        stream = self.open_feed(f"feed=continuous&since={base}&heartbeat=1000")
        self.assertEqual(stream.read_head(), 200)
        revs = {}
        revs_lock = threading.Lock()

        def writer(i):
            for j in range(per):
                docid = f"w{i}-{j:03d}"
                r = self.node.put(doc_path(self.db, docid), {"writer": i, "n": j})
                if r.status != 201:
                    raise AssertionError(f"PUT {docid}: {r!r}")
                with revs_lock:
                    revs[docid] = r.body["rev"]

        threads, _, errors = run_threads(writers, writer)
        rows = []
        seen = set()
        deadline = time.monotonic() + 120
        try:
            while len(seen) < writers * per and time.monotonic() < deadline:
                line = stream.readline(max(0.0, deadline - time.monotonic()))
                if line is None or line == b"":
                    break
                obj = self.parse_line(line)
                if obj is not None:
                    rows.append(obj)
                    seen.add(obj.get("id"))
        finally:
            join_threads(threads, errors)
        # Anything repeated right after the last expected row would show up now.
        tail = stream.read_available(0.5)
        for line in tail.splitlines(keepends=True):
            obj = self.parse_line(line)
            if obj is not None:
                rows.append(obj)
        self.assertIsNone(stream.end, "a heartbeat feed must stay open")
        counts = collections.Counter(r.get("id") for r in rows)
        dupes = {k: v for k, v in counts.items() if v > 1}
        self.assertEqual(dupes, {}, "each write is delivered exactly once")
        self.assertEqual(set(counts), set(revs), f"missing: {sorted(set(revs) - set(counts))[:20]}")
        self.assertEqual(len(rows), writers * per)
        seqs = [seq_num(r["seq"]) for r in rows]
        self.assertTrue(all(a < b for a, b in zip(seqs, seqs[1:])), "rows in increasing seq order")
        self.assertEqual(seqs, list(range(base + 1, base + 1 + writers * per)),
                         "every committed update takes the next seq, and none is skipped")
        for r in rows:
            self.assertEqual(r["changes"], [{"rev": revs[r["id"]]}], r)
        self.assertEqual(self.update_seq(self.db), base + writers * per)


class EventSourceTest(FeedTestCase):

    def next_event(self, stream, timeout=5.0, skip_heartbeats=True):
        """The next event block as {field: value} (data lines joined by \\n)."""
        deadline = time.monotonic() + timeout
        fields = {}
        while True:
            line = stream.readline(max(0.0, deadline - time.monotonic()))
            if line is None:
                self.fail(f"no complete event within {timeout}s (partial {fields})")
            if line == b"":
                self.fail(f"event stream ended ({stream.end}) while an event was expected")
            self.assertTrue(line.endswith(b"\n"))
            text = line.decode("utf-8").rstrip("\n").rstrip("\r")
            if text == "":
                if not fields:
                    continue
                if skip_heartbeats and fields.get("event") == "heartbeat":
                    fields = {}
                    continue
                return fields
            name, _, value = text.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data" and "data" in fields:
                fields["data"] += "\n" + value
            else:
                self.assertNotIn(name, fields, f"field {name!r} twice in one event")
                fields[name] = value

    def assertRowEvent(self, event, docid, rev=None):
        self.assertIn("data", event, event)
        self.assertIn("id", event, event)
        row = json.loads(event["data"])
        self.assertRow(row, docid, rev)
        self.assertEqual(json.loads(event["id"]), row["seq"], "id: is the row's seq as JSON")
        return row

    def test_framing_and_live_events(self):
        ra, _ = self.put_doc("a")
        rb, _ = self.put_doc("b")
        stream = self.open_feed("feed=eventsource&since=0&timeout=10000")
        self.assertEqual(stream.read_head(), 200)
        self.assertTrue(stream.header("content-type", "").startswith("text/event-stream"),
                        stream.headers)
        self.assertIn("no-cache", stream.header("cache-control", ""), stream.headers)
        e1, e2 = self.next_event(stream), self.next_event(stream)
        self.assertRowEvent(e1, "a", ra)
        self.assertRowEvent(e2, "b", rb)
        self.assertEqual(set(e1), {"data", "id"}, e1)
        rc, seq = self.put_doc("c")
        row = self.assertRowEvent(self.next_event(stream, timeout=3), "c", rc)
        self.assertEqual(seq_num(row["seq"]), seq)

    def test_last_event_id_header_resumes(self):
        revs = [self.put_doc(f"d{i}")[0] for i in range(3)]
        first = self.open_feed("feed=eventsource&since=0&timeout=10000")
        events = [self.next_event(first) for _ in range(3)]
        first.close()
        # The header overrides since (http-api.md §13.1).
        expected = [("d1", revs[1]), ("d2", revs[2])]
        for since in ("0", "now"):
            with self.subTest(since=since):
                resumed = self.open_feed(f"feed=eventsource&since={since}&timeout=10000",
                                         headers={"Last-Event-ID": events[0]["id"]})
                for docid, rev in expected:
                    self.assertRowEvent(self.next_event(resumed), docid, rev)
                rx, _ = self.put_doc(f"x{since}")
                self.assertRowEvent(self.next_event(resumed, timeout=3), f"x{since}", rx)
                expected.append((f"x{since}", rx))
                resumed.close()

    def test_last_event_id_query_param(self):
        self.put_doc("a")
        rb, _ = self.put_doc("b")
        first = self.open_feed("feed=eventsource&since=0&timeout=10000")
        e = self.next_event(first)
        first.close()
        stream = self.open_feed(f"feed=eventsource&last-event-id={seq_param(json.loads(e['id']))}"
                                f"&timeout=10000")
        self.assertRowEvent(self.next_event(stream), "b", rb)

    def test_heartbeat_events(self):
        since = self.update_seq(self.db)
        stream = self.open_feed(f"feed=eventsource&since={since}&heartbeat=100")
        self.assertEqual(stream.read_head(), 200)
        beats = 0
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            ev = self.next_event(stream, timeout=max(0.0, deadline - time.monotonic()) + 0.5,
                                 skip_heartbeats=False)
            self.assertEqual(ev.get("event"), "heartbeat", ev)
            self.assertEqual(ev.get("data"), "", ev)
            beats += 1
        self.assertGreaterEqual(beats, 4, "heartbeat events every 100 ms")
        rev, _ = self.put_doc("x")
        self.assertRowEvent(self.next_event(stream, timeout=3), "x", rev)

    def test_timeout_ends_without_a_final_line(self):
        rev, _ = self.put_doc("a")
        stream = self.open_feed("feed=eventsource&since=0&timeout=300")
        body = stream.read_to_end(timeout=5)
        self.assertCleanEnd(stream)
        blocks = [b for b in body.decode("utf-8").split("\n\n") if b.strip()]
        self.assertEqual(len(blocks), 1, f"one row event and no final line: {body!r}")
        self.assertIn('"id":"a"', blocks[0].replace(" ", ""))


class ResumeTest(FeedTestCase):
    """A feed resumed from a since taken mid-stream misses nothing and repeats nothing."""

    def background_writes(self, n, updates=0, pause=0.0):
        """Starts a thread creating docs r000… (and then updating the first `updates` of them);
        returns (thread, revs dict updated as writes complete, errors)."""
        revs, errors = {}, []

        def run():
            try:
                for i in range(n):
                    docid = f"r{i:03d}"
                    r = self.node.put(doc_path(self.db, docid), {"i": i})
                    if r.status != 201:
                        raise AssertionError(f"PUT {docid}: {r!r}")
                    revs[docid] = r.body["rev"]
                    if pause:
                        time.sleep(pause)
                for i in range(updates):
                    docid = f"r{i:03d}"
                    r = self.node.put(doc_path(self.db, docid), {"i": i, "_rev": revs[docid]})
                    if r.status != 201:
                        raise AssertionError(f"update {docid}: {r!r}")
                    revs[docid] = r.body["rev"]
            except BaseException as e:  # reported by the test
                errors.append(e)

        t = threading.Thread(target=run, daemon=True)
        self._writer, self._writer_done_at = t, None
        t.start()
        return t, revs, errors

    def grace_deadline(self):
        """Once the writer is done, anything still missing gets 5 s more, not the whole budget."""
        if self._writer.is_alive():
            return float("inf")
        if self._writer_done_at is None:
            self._writer_done_at = time.monotonic()
        return self._writer_done_at + 5.0

    def finish(self, thread, errors):
        thread.join(JOIN_TIMEOUT)
        self.assertFalse(thread.is_alive(), "writer did not finish")
        if errors:
            raise errors[0]

    def assertNoGapsNoRepeats(self, rows, revs):
        """rows: the concatenated rows of every segment, in the order received."""
        seqs = [seq_num(r["seq"]) for r in rows]
        self.assertTrue(all(a < b for a, b in zip(seqs, seqs[1:])),
                        "across segments, seqs strictly increase (nothing repeated)")
        pairs = collections.Counter((r["id"], r["changes"][0]["rev"]) for r in rows)
        self.assertEqual([p for p, c in pairs.items() if c > 1], [])
        latest = {r["id"]: r["changes"][0]["rev"] for r in rows}
        self.assertEqual(latest, revs, "every doc reaches its final rev (nothing missed)")

    def collect_continuous(self, stream, rows, stop, timeout):
        deadline = time.monotonic() + timeout
        while not stop() and time.monotonic() < deadline:
            deadline = min(deadline, self.grace_deadline())
            line = stream.readline(max(0.0, deadline - time.monotonic()))
            if line is None or line == b"":
                break
            obj = self.parse_line(line)
            if obj is not None:
                self.assertNotIn("last_seq", obj)
                rows.append(obj)

    def test_continuous_resumed_from_a_mid_stream_seq(self):
        base = self.update_seq(self.db)
        stream = self.open_feed(f"feed=continuous&since={base}&heartbeat=500")
        self.assertEqual(stream.read_head(), 200)
        thread, revs, errors = self.background_writes(300, updates=60)
        first = []
        self.collect_continuous(stream, first, lambda: len(first) >= 100, 60)
        self.assertEqual(len(first), 100)
        cut = first[-1]["seq"]
        stream.close()
        resumed = self.open_feed(f"feed=continuous&since={seq_param(cut)}&heartbeat=500")
        second = []
        self.collect_continuous(resumed, second, lambda: not thread.is_alive() and
                                {r["id"]: r["changes"][0]["rev"] for r in first + second} == revs,
                                90)
        self.finish(thread, errors)
        tail = resumed.read_available(0.3)
        for line in tail.splitlines(keepends=True):
            obj = self.parse_line(line)
            if obj is not None:
                second.append(obj)
        self.assertTrue(second, "writes continued after the cut")
        self.assertGreater(seq_num(second[0]["seq"]), seq_num(cut))
        self.assertNoGapsNoRepeats(first + second, revs)

    def test_normal_feed_paged_while_writing(self):
        thread, revs, errors = self.background_writes(150, updates=30)
        rows, since = [], "0"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            writer_done = not thread.is_alive()
            body = self.get(self.url(f"since={since}&limit=7")).body
            self.assertLessEqual(len(body["results"]), 7)
            rows.extend(body["results"])
            since = seq_param(body["last_seq"])
            if writer_done and not body["results"]:
                break
            if not body["results"]:
                time.sleep(0.005)
        self.finish(thread, errors)
        self.assertEqual(body["results"], [], "paging did not reach the end")
        self.assertEqual(seq_num(body["last_seq"]), self.update_seq(self.db))
        self.assertNoGapsNoRepeats(rows, revs)

    def test_longpoll_loop_like_pouchdb(self):
        thread, revs, errors = self.background_writes(150, updates=30, pause=0.002)
        rows, since = [], "0"
        deadline = time.monotonic() + 90
        while time.monotonic() < min(deadline, self.grace_deadline()):
            if not thread.is_alive() and \
                    {r["id"]: r["changes"][0]["rev"] for r in rows} == revs:
                break
            r = self.get(self.url(f"feed=longpoll&style=all_docs&since={since}&limit=10"
                                  f"&timeout=3000"), timeout=15)
            self.assertStatus(r, 200)
            self.assertLessEqual(len(r.body["results"]), 10)
            rows.extend(r.body["results"])
            since = seq_param(r.body["last_seq"])
        self.finish(thread, errors)
        self.assertNoGapsNoRepeats(rows, revs)


class LifecycleTest(FeedTestCase):

    def test_missing_db_is_404_for_every_feed(self):
        for feed in ("longpoll", "continuous", "eventsource", "live"):
            with self.subTest(feed=feed):
                stream = self.open_feed(f"feed={feed}&timeout=10000", db="no_such_db")
                body = stream.read_to_end(timeout=5)
                self.assertEqual(stream.status, 404, body)
                self.assertEqual(json.loads(body), {"error": "not_found", "reason": NO_DB})

    def test_db_deletion_ends_open_feeds_cleanly(self):
        rev, _ = self.put_doc("a")
        conts = [self.open_feed("feed=continuous&since=0&heartbeat=200") for _ in range(5)]
        lps = [self.open_feed("feed=longpoll&since=now&timeout=30000") for _ in range(3)]
        evs = [self.open_feed("feed=eventsource&since=0&heartbeat=200") for _ in range(2)]
        for s in conts:
            self.assertEqual(s.read_head(), 200)
            self.assertRow(self.next_object(s), "a", rev)
        for s in evs:
            self.assertEqual(s.read_head(), 200)
            self.assertIn(b"data", s.readline(5) or b"")
        time.sleep(0.2)
        for s in lps:
            self.assertIsNone(s.poll(), "longpoll waits")
        r = self.delete(db_path(self.db))
        self.assertStatus(r, 200)
        t_del = time.monotonic()
        for kind, streams in (("continuous", conts), ("longpoll", lps), ("eventsource", evs)):
            for s in streams:
                left = max(0.0, t_del + 1.0 - time.monotonic())
                self.assertTrue(s.wait_end(left), f"{kind} feed still open 1 s after DELETE /db")
                self.assertNotEqual(s.end, "reset", f"{kind} feed was reset, not ended")
                rest = s.read_to_end(0)
                if kind == "continuous":
                    self.assertCleanEnd(s)
                    for line in rest.splitlines(keepends=True):
                        obj = self.parse_line(line)
                        if obj is not None:
                            self.assertEqual(set(obj) - {"last_seq", "pending"}, set(), obj)
                elif kind == "longpoll":
                    if s.status == 200:
                        self.assertCleanEnd(s)
                        body = json.loads(rest)
                        self.assertEqual(body["results"], [])
                    else:
                        self.assertEqual(s.status, 404, rest)
                        self.assertEqual(json.loads(rest)["error"], "not_found")
                else:
                    self.assertCleanEnd(s)
        self.assertError(self.get(self.url("")), 404, "not_found", NO_DB)
        # A new database of the same name starts a fresh feed.
        self.assertStatus(self.put(db_path(self.db)), 201)
        r = self.get(self.url(""))
        self.assertEqual((r.body["results"], seq_num(r.body["last_seq"])), ([], 0))

    def fd_count(self):
        return len(os.listdir(f"/proc/{self.node.proc.pid}/fd"))

    def wait_fds_at_most(self, limit, timeout):
        deadline = time.monotonic() + timeout
        n = self.fd_count()
        while n > limit and time.monotonic() < deadline:
            time.sleep(0.1)
            n = self.fd_count()
        return n

    def cpu_seconds(self):
        """utime + stime of the node process (/proc/<pid>/stat fields 14 and 15)."""
        with open(f"/proc/{self.node.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def settle_baseline(self):
        """The node's fd count with no client connection open (after a warm-up feed)."""
        self.get(self.url("feed=longpoll&since=0&timeout=10"))
        self.node.close_connections()
        time.sleep(0.2)
        return self.fd_count()

    def test_abandoned_feeds_free_their_resources(self):
        for i in range(5):
            self.put_doc(f"d{i}")
        baseline = self.settle_baseline()
        # Clients that vanish mid-feed, no write afterwards: 100 with heartbeats (the next
        # heartbeat finds them gone), 100 idle without (the server must notice the close itself),
        # half of each closed normally, half reset.
        with_hb = [FeedStream(self.node, "GET", self.url("feed=continuous&since=0&heartbeat=100"))
                   for _ in range(100)]
        without = [FeedStream(self.node, "GET", self.url("feed=continuous&since=0"))
                   for _ in range(100)]
        streams = with_hb + without
        try:
            for s in streams:
                self.assertEqual(s.read_head(), 200)
                for i in range(5):
                    self.assertRow(self.next_object(s), f"d{i}")
            peak = self.fd_count()
            self.assertGreaterEqual(peak, baseline + 190, "200 open feeds hold 200 sockets")
        finally:
            for i, s in enumerate(streams):
                if i % 2:
                    s.abort()
                else:
                    s.close()
        n = self.wait_fds_at_most(baseline + 25, timeout=3)
        self.assertLessEqual(n, baseline + 25,
                             f"fds: baseline {baseline}, with 200 feeds {peak}, 3 s after the "
                             f"clients vanished {n}")
        # A write now wakes nothing that is gone; the node is unharmed.
        self.put_doc("wake")
        self.node.assert_alive()
        self.assertStatus(self.get("/_up"), 200)
        rev, seq = self.put_doc("after")
        body = self.get(self.url(f"since={seq - 1}")).body
        self.assertEqual([(x["id"], x["changes"]) for x in body["results"]],
                         [("after", [{"rev": rev}])])
        stream = self.open_feed(f"feed=continuous&since={seq}&timeout=5000")
        rev2, _ = self.put_doc("after2")
        self.assertRow(self.next_object(stream, timeout=3), "after2", rev2)

    def test_abandoned_longpolls_free_their_resources(self):
        since = self.update_seq(self.db)
        baseline = self.settle_baseline()
        streams = [FeedStream(self.node, "GET", self.url(f"feed=longpoll&since={since}"))
                   for _ in range(50)]
        try:
            deadline = time.monotonic() + 5
            while self.fd_count() < baseline + 50 and time.monotonic() < deadline:
                time.sleep(0.05)
            peak = self.fd_count()
            self.assertGreaterEqual(peak, baseline + 50, "50 waiting longpolls hold 50 sockets")
            for s in streams:
                self.assertIsNone(s.poll(), "nothing changed: the longpolls wait")
        finally:
            for i, s in enumerate(streams):
                if i % 2:
                    s.abort()
                else:
                    s.close()
        n = self.wait_fds_at_most(baseline + 10, timeout=3)
        self.assertLessEqual(n, baseline + 10,
                             f"fds: baseline {baseline}, with 50 longpolls {peak}, 3 s after the "
                             f"clients vanished {n}")
        t0 = time.monotonic()
        for i in range(20):
            self.put_doc(f"x{i}")
        self.assertLess(time.monotonic() - t0, 10.0)
        body = self.get(self.url(f"since={since}")).body
        self.assertEqual(len(body["results"]), 20)
        self.assertStatus(self.get("/_up"), 200)

    def test_idle_feeds_cost_no_cpu(self):
        """An idle feed is a session and a timer: no thread, no polling (STYLE.md, Wake-up)."""
        self.put_doc("a")
        since = self.update_seq(self.db)
        streams = [self.open_feed(f"feed=continuous&since={since}&timeout=30000")
                   for _ in range(100)]
        streams += [self.open_feed(f"feed=longpoll&since={since}&timeout=30000")
                    for _ in range(100)]
        for s in streams[:100]:
            self.assertEqual(s.read_head(), 200)
        time.sleep(0.3)
        cpu0, t0 = self.cpu_seconds(), time.monotonic()
        time.sleep(2.0)
        used, wall = self.cpu_seconds() - cpu0, time.monotonic() - t0
        self.assertLess(used, 0.2, f"200 idle feeds used {used:.2f} s CPU in {wall:.1f} s")
        for s in streams:
            self.assertIsNone(s.poll(), "idle feeds stay open")
        # And they all still wake.
        rev, _ = self.put_doc("b")
        for s in streams[:100]:
            self.assertRow(self.next_object(s, timeout=5), "b", rev)
        for s in streams[100:]:
            body = json.loads(s.read_to_end(timeout=5))
            self.assertEqual([x["id"] for x in body["results"]], ["b"])


if __name__ == "__main__":
    unittest.main()
