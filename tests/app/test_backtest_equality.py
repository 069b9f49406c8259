"""SPEC §6.4: `quantcrunch backtest` and a live replay give identical
performance; CSV and JSON Lines bars give the same result; malformed bar lines
are reported with their line numbers and skipped."""

import json
import os
import re
import unittest

import qc_harness as h

TOKEN = "backtest-token"
SEED = 424242


class BacktestEqualityTest(h.ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.market = h.SyntheticMarket(seed=SEED, n_bars=20_000, n_docs=20)

    def setUp(self):
        self.tmp = self.make_temp_dir("qc-backtest-")
        self.recs = h.write_text(os.path.join(self.tmp, "recs.jsonl"), self.market.docs_jsonl())
        self.bars = h.write_text(os.path.join(self.tmp, "bars.jsonl"), self.market.bars_jsonl())

    def backtest(self, bars, recs=None):
        r = h.run_backtest(recs or self.recs, bars)
        self.assertEqual(r.returncode, 0, f"backtest failed:\n{r.stderr}")
        self.assertTrue(r.stdout.endswith("\n"), "backtest output does not end with a newline")
        return r

    def test_backtest_equals_live_replay(self):
        out = self.backtest(self.bars).stdout
        self.assertEqual(out.count("\n"), 1, "backtest printed more than one line on stdout")
        expected = out.rstrip("\n")
        parsed_backtest = json.loads(expected)
        closed = sum(len(m["positions"]) for m in parsed_backtest["performance"])
        self.assertGreater(closed, 5, "the backtest closed too few positions to compare")

        s = self.start_server(token=TOKEN, feed="none")
        h.post_all(self, s, self.market.docs)
        s = self.restart(s, feed="replay:" + self.bars)
        s.wait_exhausted(60)
        status, _, live = s.get_raw("/api/performance")
        self.assertEqual(status, 200)
        live = live.decode()
        self.assertEqual(json.loads(live), parsed_backtest)
        self.assertEqual(live, expected, "same JSON value, different bytes")

    def test_backtest_stats_equal_live_stats_byte_for_byte(self):
        # SPEC §4.8: `backtest --stats` prints exactly the /api/stats document
        # of a live replay of the same inputs, with every point of the curve
        # (equity=full; the default curve is reduced above 10,000 closes).
        r = h.run_backtest(self.recs, self.bars, extra_args=["--stats"])
        self.assertEqual(r.returncode, 0, r.stderr)
        expected = r.stdout.rstrip("\n")
        stats = json.loads(expected)
        self.assertGreater(stats["closed"]["count"], 5, "too few closes to compare")
        self.assertGreater(stats["closed"]["wins"], 0)
        self.assertGreater(stats["closed"]["losses"], 0)
        s = self.start_server(token=TOKEN, feed="none")
        h.post_all(self, s, self.market.docs)
        s = self.restart(s, feed="replay:" + self.bars)
        s.wait_exhausted(60)
        status, _, live = s.get_raw("/api/stats?equity=full")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(live), stats)
        self.assertEqual(live.decode(), expected, "same JSON value, different bytes")
        # So few closes: the default curve is the full one.
        self.assertLess(stats["closed"]["count"], 10_000)
        self.assertEqual(s.get_raw("/api/stats")[2].decode(), expected)
        # And after a restart (statistics rebuilt from the store).
        s = self.restart(s, feed="none")
        self.assertEqual(s.get_raw("/api/stats?equity=full")[2].decode(), expected)

    def test_stats_equal_when_closes_of_one_batch_arrive_out_of_order(self):
        # Edge case: these inputs make the ledger take, in one batch, a close
        # that sorts before closes of the same batch. The live statistics once
        # counted those later closes twice (58 closed against the backtest's 57).
        market = h.SyntheticMarket(seed=11, n_bars=2400, n_docs=60)
        recs = h.write_text(os.path.join(self.tmp, "recs11.jsonl"), market.docs_jsonl())
        bars = h.write_text(os.path.join(self.tmp, "bars11.jsonl"), market.bars_jsonl())
        r = h.run_backtest(recs, bars, extra_args=["--stats"])
        self.assertEqual(r.returncode, 0, r.stderr)
        expected = r.stdout.rstrip("\n")
        s = self.start_server(token=TOKEN, feed="none")
        h.post_all(self, s, market.docs)
        s = self.restart(s, feed="replay:" + bars)
        s.wait_exhausted(60)
        live = s.get_raw("/api/stats?equity=full")[2].decode()
        self.assertEqual(json.loads(live)["closed"]["count"], json.loads(expected)["closed"]["count"])
        self.assertEqual(live, expected)

    def test_a_document_given_twice_counts_once_as_in_the_live_server(self):
        once = self.backtest(self.bars)
        lines = self.market.docs_jsonl().splitlines(keepends=True)
        twice = h.write_text(os.path.join(self.tmp, "twice.jsonl"), "".join(lines + lines[:3]))
        again = self.backtest(self.bars, recs=twice)
        self.assertEqual(again.stdout, once.stdout)
        self.assertIn(f"{len(lines)} documents (0 rejected, 3 duplicates", again.stderr)

    def test_backtest_out_flag_writes_the_same_document(self):
        out_path = os.path.join(self.tmp, "perf.json")
        r = h.run_backtest(self.recs, self.bars, extra_args=["--out", out_path])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "")
        with open(out_path) as f:
            self.assertEqual(f.read(), self.backtest(self.bars).stdout)

    def test_csv_bars_give_the_same_result_as_json_lines(self):
        expected = self.backtest(self.bars).stdout
        self.assertTrue(json.loads(expected)["performance"])
        for name, text in (("bars.csv", self.market.bars_csv(header=True)),
                           ("bars-noheader.csv", self.market.bars_csv(header=False)),
                           ("bars-ms.csv", self.market.bars_csv(header=True, time_unit="ms"))):
            with self.subTest(csv=name):
                path = h.write_text(os.path.join(self.tmp, name), text)
                self.assertEqual(self.backtest(path).stdout, expected)

    def test_malformed_bar_lines_are_reported_with_line_numbers_and_skipped(self):
        valid = self.market.bars_jsonl().splitlines(keepends=True)
        expected = self.backtest(self.bars).stdout
        good = dict(self.market.bars[0])
        missing = {k: v for k, v in good.items() if k != "h"}
        bad_lines = [
            "this is not json\n",
            '{"ev":"AM","sym":"AAPL","o":1.5,"h":2,\n',               # truncated JSON
            json.dumps(missing) + "\n",                                 # missing field h
            json.dumps({**good, "o": "NaN"}) + "\n",                    # NaN as a string
            json.dumps({**good, "c": "nan"}) + "\n",
            json.dumps(good).replace('"l": %r' % good["l"], '"l": NaN') + "\n",  # bare NaN
            json.dumps({**good, "h": "Infinity"}) + "\n",
            "[1, 2, 3]\n",
        ]
        # Spread the bad lines through the file; remember their 1-based numbers.
        lines, bad_numbers = [], []
        step = len(valid) // (len(bad_lines) + 1)
        for i, line in enumerate(valid):
            lines.append(line)
            k = (i + 1) // step - 1
            if (i + 1) % step == 0 and k < len(bad_lines):
                lines.append(bad_lines[k])
                bad_numbers.append(len(lines))
        self.assertEqual(len(bad_numbers), len(bad_lines))
        path = h.write_text(os.path.join(self.tmp, "bars-bad.jsonl"), "".join(lines))
        r = self.backtest(path)
        self.assertEqual(r.stdout, expected,
                         "the malformed lines changed the result of the valid ones")
        for n in bad_numbers:
            self.assertRegex(r.stderr, re.escape(f"{path}:{n}:"),
                             f"line {n} ({lines[n - 1].strip()[:60]!r}) is not reported")
        reported = sorted(int(m) for m in re.findall(re.escape(path) + r":(\d+):", r.stderr))
        self.assertEqual(reported, bad_numbers, "lines reported that are not malformed")

    def test_malformed_csv_lines_are_reported_with_line_numbers_and_skipped(self):
        expected = self.backtest(self.bars).stdout
        valid = self.market.bars_csv(header=True).splitlines(keepends=True)
        bad_lines = ["AAPL,notatime,1,2,0.5,1.5,100\n", "AAPL,1626096600,NaN,2,0.5,1.5,100\n",
                     "AAPL,1626096600,1,2\n", "garbage\n"]
        lines, bad_numbers = [], []
        step = len(valid) // (len(bad_lines) + 1)
        for i, line in enumerate(valid):
            lines.append(line)
            k = (i + 1) // step - 1
            if (i + 1) % step == 0 and k < len(bad_lines):
                lines.append(bad_lines[k])
                bad_numbers.append(len(lines))
        path = h.write_text(os.path.join(self.tmp, "bars-bad.csv"), "".join(lines))
        r = self.backtest(path)
        self.assertEqual(r.stdout, expected)
        reported = sorted(int(m) for m in re.findall(re.escape(path) + r":(\d+):", r.stderr))
        self.assertEqual(reported, bad_numbers)


if __name__ == "__main__":
    unittest.main()
