"""`quantcrunch backtest --report FILE.html` (SPEC §4.10): one self-contained
page holding the §4.8 statistics of the run (the same document `--stats`
prints), the chart library, the page's scripts and styles; nothing is
loaded from anywhere. tests/browser/test_dashboard_browser.py opens such a
file in Chromium and reads its figures."""

import html.parser
import json
import os
import subprocess
import unittest

import qc_harness as h


class _Scan(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.external = []   # src/href attributes of elements that load something
        self.scripts = {}    # id -> text of <script type="application/json">
        self._in = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "img", "iframe", "link", "source", "audio", "video") and (a.get("src") or a.get("href")):
            if tag != "link" or a.get("rel") != "icon" or not a.get("href", "").startswith("data:"):
                self.external.append((tag, a.get("src") or a.get("href")))
        if tag == "script" and a.get("type") == "application/json":
            self._in = a.get("id")
            self.scripts[self._in] = ""

    def handle_endtag(self, tag):
        if tag == "script":
            self._in = None

    def handle_data(self, data):
        if self._in:
            self.scripts[self._in] += data


class BacktestReportTest(h.ServerTestCase):
    def inputs(self, seed=5, n_bars=3000, n_docs=25):
        m = h.SyntheticMarket(seed=seed, n_bars=n_bars, n_docs=n_docs)
        d = self.make_temp_dir()
        recs = h.write_text(os.path.join(d, "recs.jsonl"), m.docs_jsonl())
        bars = h.write_text(os.path.join(d, "bars.jsonl"), m.bars_jsonl())
        return d, recs, bars

    def test_report_inlines_the_stats_document_and_loads_nothing(self):
        d, recs, bars = self.inputs()
        stats = h.run_backtest(recs, bars, extra_args=["--stats", "--quiet"])
        self.assertEqual(stats.returncode, 0, stats.stderr)
        report = os.path.join(d, "report.html")
        r = h.run_backtest(recs, bars, extra_args=["--report", report])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"backtest: report written to {report}", r.stderr)
        # stdout is unchanged: the performance document.
        self.assertIn("performance", json.loads(r.stdout))
        with open(report, encoding="utf-8") as f:
            page = f.read()
        scan = _Scan()
        scan.feed(page)
        self.assertEqual(scan.external, [], "the report loads files: it must be self-contained")
        self.assertEqual(json.loads(scan.scripts["qc-stats"]), json.loads(stats.stdout))
        meta = json.loads(scan.scripts["qc-meta"])
        self.assertEqual(meta["recommendations"], "recs.jsonl")
        self.assertEqual(meta["bars"], 3000)
        self.assertEqual(meta["closed"], json.loads(stats.stdout)["closed"]["count"])
        self.assertGreater(meta["closed"], 0)
        # The chart library and the page scripts are inside.
        self.assertIn("Lightweight Charts", page)
        self.assertIn("QC.renderPerformance", page)
        self.assertIn("Content-Security-Policy", page)

    def test_report_and_stats_together(self):
        d, recs, bars = self.inputs(n_bars=600, n_docs=5)
        report = os.path.join(d, "r.html")
        r = h.run_backtest(recs, bars, extra_args=["--stats", "--quiet", "--report", report])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")  # --quiet: no progress lines
        self.assertIn("closed", json.loads(r.stdout))
        self.assertTrue(os.path.getsize(report) > 100_000)

    def test_an_unwritable_report_path_is_refused_before_the_work(self):
        d, recs, bars = self.inputs(n_bars=100, n_docs=2)
        target = os.path.join(d, "no-such-dir", "r.html")
        r = h.run_backtest(recs, bars, extra_args=["--report", target])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("cannot write the report", r.stderr)
        self.assertIn(target, r.stderr)
        self.assertEqual(r.stdout, "", "nothing is printed when the report cannot be written")


if __name__ == "__main__":
    unittest.main()
