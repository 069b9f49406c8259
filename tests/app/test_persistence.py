"""State survives a clean restart (SPEC §2 embedded SQLite, §6.3)."""

import json
import os
import unittest

import qc_harness as h

TOKEN = "persistence-token"


class PersistenceTest(h.ServerTestCase):
    def test_sigterm_exits_0(self):
        s = self.start_server(token=TOKEN)
        code = s.stop()
        self.assertEqual(code, 0, f"exit status {code} after SIGTERM\n{s.stderr_text()}")

    def test_sigterm_exits_0_during_a_replay(self):
        market = h.SyntheticMarket(seed=5, n_bars=20_000, n_docs=5)
        bars = h.write_text(os.path.join(self.make_temp_dir(), "bars.jsonl"), market.bars_jsonl())
        s = self.start_server(token=TOKEN, feed="replay:" + bars, replay_rate=5000)
        code = s.stop()
        self.assertEqual(code, 0, f"exit status {code} after SIGTERM\n{s.stderr_text()}")

    def test_recommendations_and_open_positions_survive_restart(self):
        sc = h.ClosingScenario()
        s = self.start_server(token=TOKEN)
        h.post_all(self, s, sc.docs)
        status, _, recs_before = s.get_raw("/api/recommendations")
        self.assertEqual(status, 200)
        ready_before = s.readyz()
        self.assertEqual(ready_before["positions"]["open"], 4)
        self.assertEqual(ready_before["documents"], 2)

        s = self.restart(s)
        status, _, recs_after = s.get_raw("/api/recommendations")
        self.assertEqual(status, 200)
        self.assertEqual(recs_after, recs_before)
        ready_after = s.readyz()
        self.assertEqual(ready_after["positions"], ready_before["positions"])
        self.assertEqual(ready_after["documents"], 2)
        # The same documents again open nothing: identities were persisted.
        for d in sc.docs:
            status, _, body = s.post_document(d)
            self.assertEqual(status, 200, body)
            self.assertEqual(body["opened"], 0)
        self.assertEqual(s.readyz()["positions"]["open"], 4)

    def test_open_positions_survive_restart_and_close_later(self):
        # Positions opened in one run are closed by bars replayed in the next.
        sc = h.ClosingScenario()
        s = self.start_server(token=TOKEN)
        h.post_all(self, s, sc.docs)
        bars = h.write_bars_jsonl(os.path.join(self.make_temp_dir(), "bars.jsonl"), sc.bars)
        s = self.restart(s, feed="replay:" + bars)
        s.wait_exhausted(30)
        perf = s.get("/api/performance")[2]
        self.assertEqual(sum(len(m["positions"]) for m in perf["performance"]), 3, perf)

    def test_closed_positions_survive_restart(self):
        sc = h.ClosingScenario()
        s = self.start_server(token=TOKEN)
        h.post_all(self, s, sc.docs)
        bars = h.write_bars_jsonl(os.path.join(self.make_temp_dir(), "bars.jsonl"), sc.bars)
        s = self.restart(s, feed="replay:" + bars)
        s.wait_exhausted(30)
        status, _, perf_before = s.get_raw("/api/performance")
        self.assertEqual(status, 200)
        self.assertTrue(json.loads(perf_before)["performance"], "nothing closed")
        positions_before = s.readyz()["positions"]
        self.assertEqual(positions_before, {"open": sc.open_after, "closed": 3})

        s = self.restart(s, feed="none")
        status, _, perf_after = s.get_raw("/api/performance")
        self.assertEqual(status, 200)
        self.assertEqual(perf_after, perf_before)
        self.assertEqual(s.readyz()["positions"], positions_before)

        # Replaying the same bars again after a restart changes nothing (§6.3).
        s = self.restart(s, feed="replay:" + bars)
        ready = s.wait_exhausted(30)
        self.assertEqual(ready["feed"]["bars_applied"], 0, ready)
        self.assertEqual(ready["feed"]["bars_ignored"], len(sc.bars), ready)
        self.assertEqual(s.get_raw("/api/performance")[2], perf_before)
        self.assertEqual(s.readyz()["positions"], positions_before)


if __name__ == "__main__":
    unittest.main()
