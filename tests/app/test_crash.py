"""SPEC §6.3 crash test: a SIGKILL at any instant, followed by a restart, leaves
the same state as a run without the crash.

Run A replays the bars once, undisturbed. Run B replays the same bars into a
fresh data dir holding the same documents, is SIGKILLed while the replay is
between 20% and 80% done, restarted (the replay starts again from the top of
the file), SIGKILLed again further on, and finally restarted and run to the
end. /api/performance of B must equal A's byte for byte.
"""

import json
import os
import sys
import time
import unittest

import qc_harness as h

TOKEN = "crash-token"
SEED = 20210712
N_BARS = 60_000
N_DOCS = 40
RATE = 20_000  # bars per second: a replay takes about 3 s


class CrashTest(h.ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.market = h.SyntheticMarket(seed=SEED, n_bars=N_BARS, n_docs=N_DOCS)

    def setUp(self):
        self.tmp = self.make_temp_dir("qc-crash-")
        self.bars = h.write_text(os.path.join(self.tmp, "bars.jsonl"), self.market.bars_jsonl())
        self.feed = "replay:" + self.bars

    def load_documents(self, data_dir):
        s = self.start_server(data_dir, token=TOKEN, feed="none")
        h.post_all(self, s, self.market.docs)
        self.assertEqual(s.readyz()["documents"], len(self.market.docs))
        code = s.stop()
        self.assertEqual(code, 0, s.stderr_text())

    def kill_when(self, server, progress, low, high, what):
        """Polls /readyz; SIGKILLs the server once progress(readyz) >= low.
        Returns the progress seen at the kill (None if the replay ended first)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not server.alive():
                self.fail(f"server died during {what}\n{server.stderr_text()}")
            ready = server.readyz()
            if ready["feed"].get("exhausted"):
                return None
            p = progress(ready)
            if p >= low:
                server.kill()
                self.assertEqual(server.returncode, -9)
                if p > high:
                    self.fail(f"{what}: the first progress seen at or above {low:.0%} was "
                              f"{p:.0%}, past {high:.0%} (machine too slow to poll?)")
                return p
            time.sleep(0.005)
        self.fail(f"{what}: the replay did not reach {low:.0%} within 60 s")

    def test_sigkill_mid_replay_then_restart_gives_the_same_performance(self):
        # Run A: no crash.
        dir_a = os.path.join(self.tmp, "a")
        self.load_documents(dir_a)
        a = self.start_server(dir_a, token=TOKEN, feed=self.feed, replay_rate=RATE)
        ready_a = a.wait_exhausted(120)
        status, _, perf_a = a.get_raw("/api/performance")
        self.assertEqual(status, 200)
        self.assertEqual(a.stop(), 0, a.stderr_text())
        self.assertEqual(ready_a["feed"]["bars_read"], N_BARS)

        parsed_a = json.loads(perf_a)
        closed_a = sum(len(m["positions"]) for m in parsed_a["performance"])
        self.assertGreater(closed_a, 10, "run A closed too few positions to test anything")
        self.assertGreater(ready_a["positions"]["open"], 0,
                           "run A left no position open; the data should leave some open")

        # Run B: same documents, SIGKILL mid-replay, twice.
        dir_b = os.path.join(self.tmp, "b")
        self.load_documents(dir_b)

        b1 = self.start_server(dir_b, token=TOKEN, feed=self.feed, replay_rate=RATE)
        first = self.kill_when(
            b1, lambda r: r["feed"]["bars_applied"] / N_BARS, 0.30, 0.80, "first crash")
        self.assertIsNotNone(first, "the replay ended before the first kill")

        b2 = self.start_server(dir_b, token=TOKEN, feed=self.feed, replay_rate=RATE)
        # The replay starts from the top; bars applied before the crash are ignored.
        second_at = min(0.95, first + (1 - first) / 2)
        applied_before_second = {}

        def progress(r):
            applied_before_second["n"] = r["feed"]["bars_applied"]
            return r["feed"]["bars_read"] / N_BARS

        second = self.kill_when(b2, progress, second_at, 1.0, "second crash")
        if second is None:
            b2.stop()  # the replay ended first (slow polling): one crash only
        else:
            self.assertGreater(applied_before_second.get("n", 0), 0,
                               "the restarted replay applied nothing before the second kill")
        sys.stderr.write(f"\n  first SIGKILL at {first:.0%} of the bars applied; second "
                         f"{'at %.0f%% read' % (second * 100) if second else 'skipped'}; "
                         f"{closed_a} positions closed, {ready_a['positions']['open']} open\n")

        b3 = self.start_server(dir_b, token=TOKEN, feed=self.feed, replay_rate=RATE)
        ready_b = b3.wait_exhausted(120)
        status, _, perf_b = b3.get_raw("/api/performance")
        self.assertEqual(status, 200)
        self.assertEqual(b3.stop(), 0, b3.stderr_text())

        parsed_b = json.loads(perf_b)
        self.assertTrue(parsed_b["performance"], "run B closed nothing")
        self.assertEqual(parsed_b, parsed_a)
        self.assertEqual(perf_b, perf_a, "same JSON value, different bytes")
        self.assertEqual(ready_b["positions"], ready_a["positions"])
        self.assertEqual(ready_b["documents"], len(self.market.docs))


if __name__ == "__main__":
    unittest.main()
