"""The earlier React front end works against this server in a real browser
(SPEC §4: CORS headers on every response, preflight allowing whatever request
headers it asks for).

That front end's axios client sends `X-Custom-Header` on every call, which is
not a CORS-safelisted header, so the browser first sends a preflight `OPTIONS`
asking for it and makes the call only if the answer allows it. Here a page
served from another origin (another loopback port) makes the three calls the
front end makes, the way axios makes them (XMLHttpRequest, `Accept:
application/json, text/plain, */*`, `X-Custom-Header: foobar`), in Debian's
Chromium driven by npm playwright-core (tests/browser/cors_page.mjs).

Needs /usr/bin/chromium, `node` and node_modules/playwright-core: all three are
installed by `scripts/setup.sh --test`; without them the tests fail (they do
not skip), because a browser check that silently does not run proves nothing.
"""

import http.server
import json
import os
import shutil
import subprocess
import threading
import unittest

import qc_harness as h

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
NODE_SCRIPT = os.path.join(HERE, "cors_page.mjs")
CHROMIUM = "/usr/bin/chromium"
SETUP_HINT = ("run scripts/setup.sh --test, which installs Debian's chromium, node and the "
              "npm packages (playwright-core included)")
TOKEN = "browser-test-token"

# Path -> the key of its SPEC §4 document.
API_CALLS = {
    "/api/tickerlist": "tickerlist",
    "/api/recommendations": "results",
    "/api/performance": "performance",
}

PAGE = """<!doctype html>
<html>
<head>
<meta charset="utf-8">
<title>QuantCrunch CORS check</title>
<link rel="icon" href="data:,">
</head>
<body>
<script>
// As the earlier front end's axios client: XMLHttpRequest, axios's default
// Accept header, and the custom header it adds to every call.
const api = new URLSearchParams(location.search).get("api");
const paths = %(paths)s;
function call(path) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("GET", api + path, true);
    xhr.setRequestHeader("Accept", "application/json, text/plain, */*");
    xhr.setRequestHeader("X-Custom-Header", "foobar");
    xhr.onloadend = () => {
      const result = {path, status: xhr.status, parsed: false, keys: [], lengths: {},
                      error: null};
      try {
        const body = JSON.parse(xhr.responseText);
        result.parsed = true;
        result.keys = Object.keys(body);
        for (const k of result.keys)
          if (Array.isArray(body[k])) result.lengths[k] = body[k].length;
      } catch (e) {
        result.error = xhr.status === 0 ? "network error (status 0)" : String(e);
      }
      resolve(result);
    };
    xhr.send();
  });
}
Promise.all(paths.map(call)).then((results) => {
  window.__qcResults = results;
  window.__qcDone = true;
});
</script>
</body>
</html>
"""


class _PageHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        if self.path.split("?")[0] not in ("/", "/index.html"):
            self.send_error(404)
            return
        body = (PAGE % {"paths": json.dumps(list(API_CALLS))}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class CorsBrowserTest(h.ServerTestCase):
    def setUp(self):
        missing = []
        if not os.access(CHROMIUM, os.X_OK):
            missing.append(f"Chromium ({CHROMIUM})")
        if not shutil.which("node"):
            missing.append("node")
        if not os.path.isfile(os.path.join(REPO, "node_modules", "playwright-core",
                                           "package.json")):
            missing.append(f"playwright-core ({os.path.join(REPO, 'node_modules')})")
        if missing:
            self.fail(f"browser test cannot run: missing {', '.join(missing)}; {SETUP_HINT}")
        self.page_port = self.start_page_server()
        self.page_origin = f"http://127.0.0.1:{self.page_port}"

    def start_page_server(self):
        """A static page on another loopback port: another origin than the API."""
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PageHandler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 10)
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        return server.server_address[1]

    def start_api(self, env=None):
        server = self.start_server(token=TOKEN, env=env)
        doc = h.make_document(h.ny_unix("2021-07-12 10:59:00"), [("AAPL", 150.2, 145.1)])
        status, _, body = server.post_document(doc)
        self.assertEqual(status, 201, body)
        return server

    def open_page(self, api):
        """Runs the page in Chromium; returns cors_page.mjs's report."""
        url = f"{self.page_origin}/index.html?api=http://127.0.0.1:{api.port}"
        try:
            r = subprocess.run(["node", NODE_SCRIPT, url, CHROMIUM], cwd=REPO,
                               capture_output=True, text=True, timeout=150,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            self.fail(f"node {NODE_SCRIPT} did not finish in 150 s; stderr: {e.stderr!r}")
        self.assertEqual(r.returncode, 0,
                         f"node {NODE_SCRIPT} exited {r.returncode}\n--- stderr ---\n{r.stderr}")
        lines = r.stdout.strip().splitlines()
        self.assertTrue(lines, f"no report on stdout; stderr: {r.stderr}")
        report = json.loads(lines[-1])
        self.assertFalse(report["timed_out"], f"the page's calls never finished: {report}")
        self.assertIsNotNone(report["results"], report)
        self.assertEqual([c["path"] for c in report["results"]], list(API_CALLS), report)
        # The browser itself made every call, and nothing left the machine.
        for path in API_CALLS:
            self.assertIn(f"http://127.0.0.1:{api.port}{path}", report["requests"], report)
        self.assertEqual(report["off_loopback"], [], "requests left loopback")
        return report

    def assert_front_end_works(self, report):
        diagnosis = json.dumps(report, indent=1)
        for call in report["results"]:
            key = API_CALLS[call["path"]]
            self.assertEqual(call["status"], 200, f"{call['path']} failed:\n{diagnosis}")
            self.assertTrue(call["parsed"], f"{call['path']} body is not JSON:\n{diagnosis}")
            self.assertEqual(call["keys"], [key], diagnosis)
            self.assertIn(key, call["lengths"], f"{key} is not a list:\n{diagnosis}")
        lengths = {c["path"]: c["lengths"][API_CALLS[c["path"]]] for c in report["results"]}
        self.assertEqual(lengths["/api/tickerlist"], len(h.DEFAULT_TICKERS), diagnosis)
        self.assertEqual(lengths["/api/recommendations"], 1, diagnosis)  # the POSTed item
        self.assertEqual(lengths["/api/performance"], 0, diagnosis)  # nothing closed
        self.assertEqual(report["console_errors"], [], diagnosis)
        self.assertEqual(report["page_errors"], [], diagnosis)
        self.assertEqual(report["failed_requests"], [], diagnosis)

    def assert_preflights_answered(self, api):
        """The calls needed a preflight (X-Custom-Header is not safelisted) and
        the server answered one per path: the only OPTIONS requests come from
        the browser, counted by /metrics as 204s on each route."""
        status, _, raw = api.get_raw("/metrics")
        self.assertEqual(status, 200)
        text = raw.decode()
        for path in API_CALLS:
            sample = f'qc_http_requests_total{{route="{path}",status="204"}} '
            counts = [float(line[len(sample):]) for line in text.splitlines()
                      if line.startswith(sample)]
            self.assertTrue(counts and counts[0] >= 1,
                            f"no preflight answered for {path}: {sample!r} not >= 1 in /metrics")

    def test_any_origin_by_default(self):
        api = self.start_api()
        self.assert_front_end_works(self.open_page(api))
        self.assert_preflights_answered(api)

    def test_page_origin_listed_in_qc_cors_origins(self):
        api = self.start_api(env={"QC_CORS_ORIGINS": f"https://other.example,{self.page_origin}"})
        self.assert_front_end_works(self.open_page(api))
        self.assert_preflights_answered(api)

    def test_page_origin_not_listed_is_blocked_by_the_browser(self):
        # The negative control: the same page, an origin list without it. The
        # browser must refuse every call, which shows the checks above can fail.
        api = self.start_api(env={"QC_CORS_ORIGINS": "https://quantcrunch.example"})
        report = self.open_page(api)
        diagnosis = json.dumps(report, indent=1)
        for call in report["results"]:
            self.assertEqual(call["status"], 0, f"{call['path']} was not blocked:\n{diagnosis}")
            self.assertFalse(call["parsed"], diagnosis)
        self.assertTrue(any("CORS" in e for e in report["console_errors"]),
                        f"no CORS error in the console:\n{diagnosis}")


if __name__ == "__main__":
    unittest.main()
