"""The dashboard (GET /) and the backtest report in a real browser (SPEC §4.10).

Debian's Chromium, driven by npm playwright-core through
tests/browser/dashboard_page.mjs (no browser download), against real servers:

* a replay with known results (SyntheticMarket, POSTed then replayed): each
  view shows the API's figures, rounded for people (prices to cents, percents
  to 2 places), the filters and "load more" ask the API what they should, the
  keyboard reaches the views, the phone layout does not overflow;
* a Polygon stand-in (tests/support/polygon_standin.py) whose bars the test
  pushes: a position closed during the test leaves the open positions and
  shows among the latest closes without a reload; the symbol chart draws the
  provider's aggregates with the open and close marked; the "disconnected"
  state when the server goes away;
* the simulated feed: the "simulated data" badge and live events;
* `backtest --report` on the replay's files, opened from file://: the totals
  the server computed from the same replay.

Every page load checks that there was no console error and that no request
left the machine. Screenshots go to a temporary directory, or to
docs/screenshots/ with QC_UPDATE_SCREENSHOTS=1.

Needs /usr/bin/chromium, `node` and node_modules/playwright-core (installed by
`scripts/setup.sh --test`); without them the tests fail rather than skip.
"""

import datetime
import json
import os
import shutil
import subprocess
import threading
import time
import unittest
import urllib.parse
from decimal import ROUND_HALF_UP, Decimal

import qc_harness as h

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
NODE_SCRIPT = os.path.join(HERE, "dashboard_page.mjs")
CHROMIUM = "/usr/bin/chromium"
SETUP_HINT = ("run scripts/setup.sh --test, which installs Debian's chromium, node and the "
              "npm packages (playwright-core included)")
TOKEN = "dashboard-browser-token"
DASH = "\u2014"
FAST_POLYGON = {"QC_SNAPSHOT_SECONDS": "1", "QC_POLYGON_BACKOFF_MS": "100",
                "QC_POLYGON_MAX_BACKOFF_MS": "500"}
SCREENSHOTS = os.path.join(REPO, "docs", "screenshots")


# -- numbers as the page shows them (web/format.js) --------------------------------

def _fixed(x, places=2):
    # JavaScript's toFixed: the exact binary value, halves away from zero.
    q = Decimal(abs(x)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    whole, _, frac = f"{q:f}".partition(".")
    whole = f"{int(whole):,}"
    return whole + ("." + frac if frac else "")


def _sign(x):
    if _fixed(x) == "0.00":
        return ""
    return "+" if x > 0 else "-"


def price(x):
    return DASH if x is None else ("-" if x < 0 else "") + _fixed(x)


def signed(x):
    return DASH if x is None else _sign(x) + _fixed(x)


def pct(x):
    return DASH if x is None else _sign(x) + _fixed(x) + "%"


def ratio(x):
    return DASH if x is None else _fixed(x * 100) + "%"


def num(x):
    return DASH if x is None else ("-" if x < 0 else "") + _fixed(x)


def count(x):
    return _fixed(x, 0)


def ny_midnight(date_text):
    d = datetime.date.fromisoformat(date_text)
    return int(datetime.datetime(d.year, d.month, d.day, tzinfo=h.NEW_YORK).timestamp())


# -- what the page shows, read by expressions evaluated in it ------------------------

def rows_js(test):
    """The rows of the table data-test=`test`: their data-* and their cells by data-test."""
    return (f"[...document.querySelectorAll('[data-test={test}] tbody tr:not(.empty)')].map(tr => "
            "({data: {...tr.dataset}, cells: Object.fromEntries([...tr.querySelectorAll('td[data-test]')]"
            ".map(td => [td.dataset.test, td.textContent]))}))")


def tiles_js(scope):
    return (f"Object.fromEntries([...document.querySelectorAll('{scope} [data-test$=\"-value\"]')]"
            ".map(e => [e.dataset.test.slice(5, -6), e.textContent]))")


TICKERS_JS = ("[...document.querySelectorAll('[data-test=ticker]')].map(a => ({symbol: a.dataset.symbol, "
              "change: a.querySelector('[data-test=change]').textContent, "
              "perc: a.querySelector('[data-test=change-perc]').textContent}))")
READY_JS = ("document.documentElement.dataset.ready === 'true' && "
            "document.getElementById('connection').dataset.state === 'live'")


def view_ready_js(view):
    return f"document.documentElement.dataset.view === '{view}'"


def expected_tiles(stats):
    c = stats["closed"]
    dd = c["max_drawdown"]["pnl"]
    return {"count": count(c["count"]), "win-rate": ratio(c["win_rate"]), "total-pnl": pct(c["total_pnl"]),
            "profit-factor": num(c["profit_factor"]) if c["profit_factor"] is not None else (
                "\u221e" if c["wins"] else DASH),
            "expectancy": pct(c["avg_pnl"]), "max-drawdown": pct(-dd) if dd else pct(0)}


class DashboardBrowserTestCase(h.ServerTestCase):
    def setUp(self):
        missing = []
        if not os.access(CHROMIUM, os.X_OK):
            missing.append(f"Chromium ({CHROMIUM})")
        if not shutil.which("node"):
            missing.append("node")
        if not os.path.isfile(os.path.join(REPO, "node_modules", "playwright-core", "package.json")):
            missing.append(f"playwright-core ({os.path.join(REPO, 'node_modules')})")
        if missing:
            self.fail(f"browser test cannot run: missing {', '.join(missing)}; {SETUP_HINT}")
        if os.environ.get("QC_UPDATE_SCREENSHOTS") == "1":
            os.makedirs(SCREENSHOTS, exist_ok=True)
            self.shots = SCREENSHOTS
        else:
            self.shots = self.make_temp_dir("qc-shots-")

    def run_plan(self, steps, on_signal=None, timeout=150):
        """Runs dashboard_page.mjs over `steps`; `on_signal(name)` is called
        for each signal step (the page waits meanwhile). Returns the report."""
        plan = os.path.join(self.make_temp_dir(), "plan.json")
        with open(plan, "w", encoding="utf-8") as f:
            json.dump({"steps": steps}, f)
        last = None
        with subprocess.Popen(["node", NODE_SCRIPT, plan, CHROMIUM], cwd=REPO, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
            timer = threading.Timer(timeout, proc.kill)
            timer.start()
            try:
                # stderr is read on the side, so that a chatty node never blocks.
                errors = []
                reader = threading.Thread(target=lambda: errors.append(proc.stderr.read()), daemon=True)
                reader.start()
                for line in proc.stdout:
                    line = line.strip()
                    if not line:
                        continue
                    message = json.loads(line)
                    if "signal" in message:
                        if on_signal:
                            on_signal(message["signal"])
                        proc.stdin.write("go\n")
                        proc.stdin.flush()
                    else:
                        last = message
                proc.stdin.close()
                proc.wait()
                reader.join(10)
                stderr = "".join(errors)
            finally:
                timer.cancel()
                if proc.poll() is None:
                    proc.kill()
        self.assertEqual(proc.returncode, 0, f"node {NODE_SCRIPT} exited {proc.returncode} "
                                             f"(killed after {timeout} s?)\n--- stderr ---\n{stderr}")
        self.assertIsNotNone(last, f"no report on stdout; stderr: {stderr}")
        self.assertIsNone(last["failed_step"], "a step failed:\n" + json.dumps(last["failed_step"], indent=1))
        self.assertEqual(last["off_loopback"], [], "requests left the machine")
        self.assertEqual(last["page_errors"], [], "uncaught errors in the page")
        return last

    def assert_no_console_errors(self, report, before_mark=None):
        errors = report["console_errors"]
        if before_mark is not None:
            errors = errors[:report["marks"][before_mark]]
        self.assertEqual(errors, [], "console errors")
        failed = [r for r in report["failed_requests"] if "ERR_ABORTED" not in r["failure"]]
        if before_mark is None:
            self.assertEqual(failed, [], "failed requests")

    def url(self, server, hash_=""):
        return f"http://127.0.0.1:{server.port}/{hash_}"

    def api(self, server, path):
        status, _, body = server.get(path)
        self.assertEqual(status, 200, f"GET {path}: {body}")
        return body


class ReplayViewsTest(DashboardBrowserTestCase):
    """A replay with known results; then the backtest report of the same files."""

    @classmethod
    def setUpClass(cls):
        cls.market = h.SyntheticMarket(seed=11, n_bars=2400, n_docs=60)

    def replayed_server(self):
        d = self.make_temp_dir()
        s = self.start_server(token=TOKEN)
        h.post_all(self, s, self.market.docs)
        self.bars_path = h.write_text(os.path.join(d, "bars.jsonl"), self.market.bars_jsonl())
        self.docs_path = h.write_text(os.path.join(d, "recs.jsonl"), self.market.docs_jsonl())
        s = self.restart(s, feed="replay:" + self.bars_path)
        s.wait_exhausted(60)
        return s

    def test_each_view_shows_the_api_figures(self):
        s = self.replayed_server()
        stats = self.api(s, "/api/stats")
        self.assertGreater(stats["closed"]["count"], 50, "the scenario should close enough trades to page")
        self.assertGreater(stats["closed"]["losses"], 0)
        first_day = self.api(s, "/api/trades?limit=1000")["trades"][-1]["close_timestamp"]
        period_from = datetime.datetime.fromtimestamp(first_day, h.NEW_YORK).date().isoformat()
        period_to = (datetime.date.fromisoformat(period_from) + datetime.timedelta(days=0)).isoformat()
        shot = lambda name: os.path.join(self.shots, name)  # noqa: E731
        steps = [
            {"viewport": [1280, 800]},
            {"goto": self.url(s, "#/overview")},
            {"wait": READY_JS, "name": "overview ready"},
            {"eval": TICKERS_JS, "name": "tickers"},
            {"eval": rows_js("positions-table"), "name": "positions"},
            {"eval": rows_js("recommendations-table"), "name": "recommendations"},
            {"eval": rows_js("closes-table"), "name": "closes"},
            {"eval": tiles_js("[data-test=summary-tiles]"), "name": "summary"},
            {"eval": "!document.getElementById('sim-badge').hidden", "name": "sim_badge"},
            {"screenshot": shot("overview.png")},
            # Keyboard: skip link, Overview, Performance; Enter opens it.
            {"press": "Tab", "times": 3},
            {"eval": "document.activeElement.textContent", "name": "focused"},
            {"press": "Enter"},
            {"wait": view_ready_js("performance") + " && document.getElementById('perf-body').dataset.loaded === 'all'"},
            {"eval": tiles_js("[data-test=perf-tiles]"), "name": "perf_tiles"},
            {"eval": rows_js("by-symbol-table"), "name": "by_symbol"},
            {"eval": rows_js("by-exit-table"), "name": "by_exit"},
            {"eval": "['equity-chart','daily-chart','monthly-chart'].map(t => "
                     "document.querySelectorAll(`[data-test=${t}] canvas`).length)", "name": "canvases"},
            {"eval": "Number(document.querySelector('[data-test=equity-chart]').dataset.drawdownLow)",
             "name": "drawdown_low"},
            {"screenshot": shot("performance.png")},
            {"goto": self.url(s, "#/performance?symbol=AAPL")},
            {"wait": "document.getElementById('perf-body')?.dataset.loaded === '?symbol=AAPL'"},
            {"eval": tiles_js("[data-test=perf-tiles]"), "name": "perf_aapl"},
            {"goto": self.url(s, f"#/performance?period=custom&from={period_from}&to={period_to}")},
            {"wait": "(document.getElementById('perf-body')?.dataset.loaded || '').startsWith('?from=')"},
            {"eval": "document.getElementById('perf-body').dataset.loaded", "name": "period_query"},
            {"eval": tiles_js("[data-test=perf-tiles]"), "name": "perf_period"},
            {"goto": self.url(s, "#/trades")},
            {"wait": "document.getElementById('trades-list')?.dataset.loaded === '50'"},
            {"eval": rows_js("trades-table"), "name": "trades_page1"},
            {"screenshot": shot("trades.png")},
            {"eval": "document.querySelector('[data-test=load-more]').click()", "name": "clicked"},
            {"wait": "Number(document.getElementById('trades-list').dataset.loaded) > 50"},
            {"eval": rows_js("trades-table"), "name": "trades_more"},
            {"goto": self.url(s, "#/trades?notes=stop")},
            {"wait": "(document.getElementById('trades-list')?.dataset.query || '').includes('notes=stop')"},
            {"eval": rows_js("trades-table"), "name": "trades_stop"},
            {"goto": self.url(s, "#/symbol/AAPL")},
            {"wait": "document.querySelector('[data-test=symbol-chart]')?.dataset.bars !== undefined"},
            {"eval": "({bars: document.querySelector('[data-test=symbol-chart]').dataset.bars, "
                     "markers: document.querySelector('[data-test=symbol-chart]').dataset.markers, "
                     "canvas: document.querySelectorAll('[data-test=symbol-chart] canvas').length, "
                     "source: document.querySelector('[data-test=bars-source]').textContent})", "name": "symbol"},
            {"eval": rows_js("symbol-trades-table"), "name": "symbol_trades"},
            {"screenshot": shot("symbol.png")},
            {"viewport": [390, 844]},
            {"goto": self.url(s, "#/overview")},
            {"wait": READY_JS + " && " + view_ready_js("overview") + " && document.querySelector('[data-test=ticker]')"},
            {"eval": "document.documentElement.scrollWidth", "name": "phone_width"},
            {"screenshot": shot("overview-phone.png")},
        ]
        report = self.run_plan(steps)
        self.assert_no_console_errors(report)
        v = report["values"]

        # Overview
        self.assertFalse(v["sim_badge"], "a replay is not simulated data")
        tickers = self.api(s, "/api/tickerlist")["tickerlist"]
        self.assertEqual(v["tickers"], [{"symbol": t["symbol"], "change": signed(t["change"]),
                                         "perc": pct(t["change_perc"])} for t in tickers])
        positions = self.api(s, "/api/positions")["positions"]
        self.assertGreater(len(positions), 0)
        self.assertEqual([(r["data"]["symbol"], int(r["data"]["open"]), r["cells"]) for r in v["positions"]],
                         [(p["symbol"], p["open_timestamp"],
                           {"entry": price(p["entry_price"]), "target": price(p["target_price"]),
                            "stop": price(p["stop_loss"]), "last": price(p["last_price"]),
                            "unrealized": pct(p["unrealized_pnl"])}) for p in positions])
        recs = self.api(s, "/api/recommendations?limit=10")["results"]
        self.assertEqual([r["cells"] for r in v["recommendations"]],
                         [{"entry": price(r["entry_price"]), "target": price(r["target_price"]),
                           "stop": price(r["stop_loss"]), "expected": pct(r["expected_profit"])} for r in recs])
        latest = self.api(s, "/api/trades?limit=8")["trades"]
        self.assertEqual([(r["data"]["symbol"], r["cells"]["pnl"], r["cells"]["exit"]) for r in v["closes"]],
                         [(t["symbol"], pct(t["pnl"]), price(t["exit_price"])) for t in latest])
        c = stats["closed"]
        self.assertEqual(v["summary"], {"count": count(c["count"]), "win-rate": ratio(c["win_rate"]),
                                        "total-pnl": pct(c["total_pnl"]), "open-count": count(len(positions)),
                                        "unrealized": pct(stats["open"]["unrealized_pnl"])})
        self.assertEqual(v["focused"], "Performance", "Tab did not reach the navigation")

        # Performance
        tiles = v["perf_tiles"]
        for key, text in expected_tiles(stats).items():
            self.assertEqual(tiles[key], text, f"tile {key}")
        self.assertEqual([(r["data"]["symbol"], r["cells"]) for r in v["by_symbol"]],
                         [(b["symbol"], {"win-rate": ratio(b["win_rate"]), "total-pnl": pct(b["total_pnl"]),
                                         "avg-pnl": pct(b["avg_pnl"])}) for b in stats["by_symbol"]])
        self.assertEqual([(r["data"]["notes"], r["cells"]) for r in v["by_exit"]],
                         [(e["notes"], {"count": count(e["count"]), "total-pnl": pct(e["total_pnl"])})
                          for e in stats["by_exit"]])
        self.assertTrue(all(n > 0 for n in v["canvases"]), f"a chart did not draw: {v['canvases']}")
        # The drawdown pane reaches the max drawdown tile's figure (the replay
        # closes several trades in one second; the trough is one of them, not
        # the second's last).
        self.assertAlmostEqual(v["drawdown_low"], -c["max_drawdown"]["pnl"], places=9)
        aapl = self.api(s, "/api/stats?symbol=AAPL")
        for key, text in expected_tiles(aapl).items():
            self.assertEqual(v["perf_aapl"][key], text, f"AAPL tile {key}")
        period = urllib.parse.parse_qs(v["period_query"][1:])
        self.assertEqual(float(period["from"][0]), ny_midnight(period_from))
        self.assertAlmostEqual(float(period["to"][0]), ny_midnight(period_to) + 86400, delta=0.01)
        windowed = self.api(s, "/api/stats" + v["period_query"])
        self.assertLess(windowed["closed"]["count"], c["count"])
        for key, text in expected_tiles(windowed).items():
            self.assertEqual(v["perf_period"][key], text, f"period tile {key}")

        # Trades: the first page, then "load more" continues from next_cursor.
        page1 = self.api(s, "/api/trades?limit=50")
        page2 = self.api(s, "/api/trades?limit=50&cursor=" + urllib.parse.quote(page1["next_cursor"]))
        shown = lambda rows: [(r["data"]["symbol"], int(r["data"]["open"]), r["cells"]["pnl"])  # noqa: E731
                              for r in rows]
        want = lambda trades: [(t["symbol"], t["open_timestamp"], pct(t["pnl"])) for t in trades]  # noqa: E731
        self.assertEqual(shown(v["trades_page1"]), want(page1["trades"]))
        self.assertEqual(shown(v["trades_more"]), want(page1["trades"] + page2["trades"]))
        stops = self.api(s, "/api/trades?notes=stop&limit=50")["trades"]
        self.assertEqual(shown(v["trades_stop"]), want(stops))
        self.assertTrue(all(r["cells"]["notes"] == "Stop" for r in v["trades_stop"]))

        # Symbol: the bars the feed applied, with the opens and closes marked.
        bars = self.api(s, "/api/bars/AAPL")["bars"]
        self.assertEqual(int(v["symbol"]["bars"]), len(bars))
        self.assertGreater(len(bars), 100)
        self.assertGreater(v["symbol"]["canvas"], 0)
        self.assertIn("bars the feed applied", v["symbol"]["source"])
        aapl_trades = self.api(s, "/api/trades?symbol=AAPL&limit=200")["trades"]
        self.assertEqual(len(v["symbol_trades"]), len(aapl_trades))
        self.assertGreater(len(aapl_trades), 0)
        aapl_open = [p for p in positions if p["symbol"] == "AAPL"]
        # Each closed trade has an open and a close marker, each open position one.
        self.assertEqual(int(v["symbol"]["markers"]), 2 * len(aapl_trades) + len(aapl_open))

        # Phone: nothing wider than the screen.
        self.assertLessEqual(v["phone_width"], 390)

        self.check_report_of_the_same_files(stats)

    def check_report_of_the_same_files(self, live_stats):
        """backtest --report over the replayed files, opened from file://,
        shows the totals of the run: the statistics `backtest --stats`
        prints (the same run; SPEC §4.8 says they equal the live replay's,
        which tests/app/test_backtest_equality.py checks)."""
        report_path = os.path.join(self.make_temp_dir(), "report.html")
        r = h.run_backtest(self.docs_path, self.bars_path, extra_args=["--report", report_path, "--stats"])
        self.assertEqual(r.returncode, 0, r.stderr)
        stats = json.loads(r.stdout)
        self.assertEqual(stats["open"], live_stats["open"])
        self.assertEqual(stats["by_symbol"][0]["symbol"], live_stats["by_symbol"][0]["symbol"])
        steps = [
            {"viewport": [1280, 800]},
            {"goto": "file://" + report_path},
            {"wait": "document.documentElement.dataset.ready === 'true'"},
            {"eval": tiles_js("[data-test=perf-tiles]"), "name": "tiles"},
            {"eval": rows_js("by-symbol-table"), "name": "by_symbol"},
            {"eval": "['equity-chart','daily-chart','monthly-chart'].map(t => "
                     "document.querySelectorAll(`[data-test=${t}] canvas`).length)", "name": "canvases"},
            {"eval": "document.querySelector('[data-test=report-meta]').textContent", "name": "meta"},
            {"screenshot": os.path.join(self.shots, "report.png")},
        ]
        report = self.run_plan(steps)
        self.assert_no_console_errors(report)
        self.assertTrue(all(u.startswith("file://") or u.startswith("data:") for u in report["requests"]),
                        f"the report asked for something: {report['requests']}")
        v = report["values"]
        for key, text in expected_tiles(stats).items():
            self.assertEqual(v["tiles"][key], text, f"report tile {key}")
        self.assertEqual(v["tiles"]["open-count"], count(stats["open"]["count"]))
        self.assertEqual([r["data"]["symbol"] for r in v["by_symbol"]], [b["symbol"] for b in stats["by_symbol"]])
        self.assertTrue(all(n > 0 for n in v["canvases"]), v["canvases"])
        self.assertIn("recs.jsonl", v["meta"])


class LiveCloseTest(DashboardBrowserTestCase):
    """A Polygon stand-in whose bars the test pushes while the page is open."""

    def test_a_close_appears_without_reload_and_a_dropped_stream_shows(self):
        from polygon_standin import PolygonStandIn

        pg = PolygonStandIn(api_key="QCKEY-dashboard")
        pg.start()
        self.addCleanup(pg.stop)
        env = dict(pg.env())
        env.update(FAST_POLYGON)
        now = int(time.time())
        opened = now - now % 60 - 90 * 60
        # Bars the provider has (pushed live, and its aggregates for the
        # chart); none reaches the target 150.2 or the stop 130.59.
        history = [{"t": (opened + 60 * i) * 1000, "o": 146 + i * 0.1, "h": 146.5 + i * 0.1,
                    "l": 145.6 + i * 0.1, "c": 146.2 + i * 0.1, "v": 1000, "vw": 146, "n": 10} for i in range(10)]
        closing = {"t": (opened + 60 * 30) * 1000, "o": 147.0, "h": 151.0, "l": 146.8, "c": 150.5, "v": 2000,
                   "vw": 149, "n": 20}
        pg.add_bars("AAPL", history)
        s = self.start_server(feed=None, token=TOKEN, env=env)
        self.assertTrue(pg.wait_for_subscription(["AM." + t for t in h.DEFAULT_SYMBOLS], timeout=15),
                        "the server never subscribed")
        status, _, body = s.post_document(h.make_document(opened, [("AAPL", 150.2, 145.1)]))
        self.assertEqual(status, 201, body)
        pg.push_am([{"sym": "AAPL", "o": b["o"], "h": b["h"], "l": b["l"], "c": b["c"], "v": b["v"], "s": b["t"],
                     "e": b["t"] + 60_000} for b in history])
        h.wait_until(lambda: (self.api(s, "/api/positions")["positions"] or [{}])[0].get("last_price"), 20,
                     "the pushed bars never priced the position")

        def on_signal(name):
            if name == "close":
                pg.add_bars("AAPL", [closing])
                pg.push_am([{"sym": "AAPL", "o": closing["o"], "h": closing["h"], "l": closing["l"],
                             "c": closing["c"], "v": closing["v"], "s": closing["t"], "e": closing["t"] + 60_000}])
            elif name == "stop":
                s.stop()

        aapl_rows = "[...document.querySelectorAll('[data-test=positions-table] tbody tr[data-symbol=AAPL]')].length"
        steps = [
            {"goto": self.url(s, "#/overview")},
            {"wait": READY_JS + f" && {aapl_rows} === 1", "name": "position shown"},
            {"eval": "window.__samePage = 'yes'", "name": "tagged"},
            {"eval": tiles_js("[data-test=summary-tiles]"), "name": "before"},
            {"signal": "close"},
            {"wait": f"{aapl_rows} === 0 && document.querySelector('[data-test=closes-table] tr[data-live=true]')",
             "name": "close shown live", "timeout": 30_000},
            {"wait": "document.querySelector('[data-test=tile-count-value]').textContent === '1'",
             "name": "summary updated"},
            {"eval": rows_js("closes-table"), "name": "closes"},
            {"eval": "window.__samePage", "name": "same_page"},
            {"eval": "performance.getEntriesByType('navigation').length", "name": "navigations"},
            {"eval": "document.getElementById('feed-kind').textContent", "name": "feed"},
            {"eval": "!document.getElementById('sim-badge').hidden", "name": "sim_badge"},
            {"goto": self.url(s, "#/symbol/AAPL")},
            {"wait": "document.querySelector('[data-test=symbol-chart]')?.dataset.bars !== undefined"},
            {"eval": "({bars: document.querySelector('[data-test=symbol-chart]').dataset.bars, "
                     "markers: document.querySelector('[data-test=symbol-chart]').dataset.markers, "
                     "source: document.querySelector('[data-test=bars-source]').textContent})", "name": "symbol"},
            {"wait": READY_JS},
            {"mark": "before-stop"},
            {"signal": "stop"},
            {"wait": "document.getElementById('connection').dataset.state === 'disconnected'",
             "name": "disconnected shown", "timeout": 20_000},
            {"eval": "document.getElementById('connection').textContent", "name": "connection"},
        ]
        report = self.run_plan(steps, on_signal=on_signal)
        self.assert_no_console_errors(report, before_mark="before-stop")
        v = report["values"]
        self.assertEqual(v["before"]["count"], "0")
        [live] = [r for r in v["closes"] if r["data"].get("live") == "true"]
        want = (150.2 - 145.1) / 145.1 * 100
        self.assertEqual(live["data"]["symbol"], "AAPL")
        self.assertEqual(live["cells"], {"entry": "145.10", "exit": "150.20", "pnl": pct(want), "notes": "Target"})
        self.assertEqual(v["same_page"], "yes", "the page was reloaded")
        self.assertEqual(v["navigations"], 1)
        self.assertEqual(v["feed"], "feed: polygon")
        self.assertFalse(v["sim_badge"])
        # The provider's aggregates (through the server), with the open and the close marked.
        self.assertIn("provider minute aggregates", v["symbol"]["source"])
        self.assertEqual(int(v["symbol"]["bars"]), len(history) + 1)
        self.assertEqual(v["symbol"]["markers"], "2")
        self.assertEqual(v["connection"], "Disconnected")


class SimulatedFeedTest(DashboardBrowserTestCase):
    def test_simulated_data_is_labelled_and_live(self):
        s = self.start_server(feed="sim")
        steps = [
            {"goto": self.url(s, "#/overview")},
            {"wait": READY_JS},
            {"wait": "Number(document.documentElement.dataset.events || 0) >= 2", "name": "live events",
             "timeout": 30_000},
            {"eval": "({badge: !document.getElementById('sim-badge').hidden, "
                     "text: document.getElementById('sim-badge').textContent, "
                     "feed: document.getElementById('feed-kind').textContent, "
                     "tickers: document.querySelectorAll('[data-test=ticker]').length})", "name": "state"},
        ]
        report = self.run_plan(steps)
        self.assert_no_console_errors(report)
        v = report["values"]["state"]
        self.assertEqual(v, {"badge": True, "text": "Simulated data", "feed": "feed: sim",
                             "tickers": len(h.DEFAULT_TICKERS)})


if __name__ == "__main__":
    unittest.main()
