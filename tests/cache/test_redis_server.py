"""The server with a real Redis (SPEC §2, issue: Redis cache): the earlier
service's keys are written, a Redis outage never fails a request, and the keys
come back when Redis does. Starts its own redis-server on a free loopback port."""

import json
import os
import shutil
import socket
import subprocess
import time
import unittest

import qc_harness as h

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
TOKEN = "redis-test-token"


def resp_command(port, *args, timeout=2.0):
    """One RESP command over a raw socket; returns the decoded reply."""
    payload = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        payload += b"$%d\r\n%s\r\n" % (len(a), a)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(payload)
        f = s.makefile("rb")
        return _read_reply(f)


def _read_reply(f):
    line = f.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode()
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise RuntimeError(f"unexpected RESP reply {line!r}")


class RedisProcess:
    def __init__(self, port, workdir):
        self.port = port
        self.workdir = workdir
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.workdir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        h.wait_until(self.ping, 10, "redis-server did not start")

    def ping(self):
        try:
            return resp_command(self.port, "PING") == "PONG"
        except OSError:
            return False

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@unittest.skipUnless(os.access(REDIS, os.X_OK), "redis-server is not installed (scripts/setup.sh installs it)")
class RedisServerTest(h.ServerTestCase):
    def setUp(self):
        self.redis = RedisProcess(h.free_port(), self.make_temp_dir("qc-redis-"))
        self.redis.start()
        self.addCleanup(self.redis.kill)

    def start_with_redis(self, **kw):
        env = {"REDIS_URL": f"redis://127.0.0.1:{self.redis.port}/0"}
        return self.start_server(token=TOKEN, env=env, **kw)

    def post(self, server, us_date, symbol="AAPL", target=150.0, current=145.0):
        doc = h.make_document(h.ny_unix(us_date), [(symbol, target, current)])
        status, _, body = server.post_document(doc, token=TOKEN)
        self.assertEqual(status, 201, body)

    def cached_open_positions(self):
        return [json.loads(x) for x in resp_command(self.redis.port, "LRANGE", "open_positions", "0", "-1")]

    def test_startup_log_names_redis(self):
        server = self.start_with_redis()
        self.assertRegex(server.stderr_text(),
                         r"cache: Redis at redis://127\.0\.0\.1:%d over plain TCP" % self.redis.port)

    def test_tickers_metadata_is_a_json_object_of_the_tracked_tickers(self):
        self.start_with_redis()
        raw = resp_command(self.redis.port, "GET", "tickers_metadata")
        meta = json.loads(raw)
        self.assertEqual(list(meta), h.DEFAULT_SYMBOLS)
        self.assertEqual(meta["AAPL"], {"symbol": "AAPL", "exchange": "NASDAQ", "name": "Apple Inc."})

    def test_open_positions_is_a_list_of_json_positions_kept_current(self):
        server = self.start_with_redis()
        self.post(server, "2021-07-12 10:59:00")
        positions = self.cached_open_positions()
        self.assertEqual(len(positions), 1)
        self.assertEqual(positions[0]["symbol"], "AAPL")
        self.assertEqual(positions[0]["entry_price"], 145.0)
        self.assertEqual(resp_command(self.redis.port, "TYPE", "open_positions"), "list")

    def test_requests_keep_succeeding_while_redis_is_down_and_keys_return_after(self):
        server = self.start_with_redis()
        self.post(server, "2021-07-12 10:59:00")
        self.redis.kill()
        # Reads and a write while Redis is gone: all succeed.
        for path in ("/api/tickerlist", "/api/recommendations", "/api/performance"):
            status, _, _ = server.get(path)
            self.assertEqual(status, 200, path)
        self.post(server, "2021-07-13 10:59:00", symbol="NVDA", target=200.0, current=190.0)
        h.wait_until(lambda: "unavailable" in server.stderr_text(), 10,
                     "no log line about Redis being unavailable")
        warnings = [l for l in server.stderr_text().splitlines() if "unavailable" in l and "cache" in l]
        self.assertEqual(len(warnings), 1, "the outage must be logged once:\n" + "\n".join(warnings))
        # Redis comes back empty: the server writes the keys again.
        self.redis.start()
        h.wait_until(lambda: len(self.safe_open_positions()) == 2, 20,
                     "open_positions was not re-synced after Redis came back")
        self.assertIsNotNone(resp_command(self.redis.port, "GET", "tickers_metadata"))
        status, _, ready = server.get("/readyz")
        self.assertEqual(ready["cache"], {"kind": "redis", "ok": True, "transport": "tcp"})

    def safe_open_positions(self):
        try:
            return self.cached_open_positions()
        except (OSError, RuntimeError):
            return []

    def test_server_starts_when_redis_is_down(self):
        self.redis.kill()
        server = self.start_with_redis()
        status, _, body = server.get("/api/tickerlist")
        self.assertEqual(status, 200)
        self.assertEqual(len(body["tickerlist"]), 11)
        status, _, ready = server.get("/readyz")
        self.assertEqual(ready["cache"]["ok"], False)

    def test_redis_password_never_reaches_the_log(self):
        secret = "topsecretpw"
        env = {"REDIS_URL": f"redis://:{secret}@127.0.0.1:{self.redis.port}/0"}
        server = self.start_server(token=TOKEN, env=env)
        time.sleep(0.3)
        self.assertNotIn(secret, server.stderr_text())
        self.assertIn("***", server.stderr_text())

    def test_unreachable_redis_is_explained_in_readyz(self):
        self.redis.kill()
        server = self.start_with_redis()
        status, _, ready = server.get("/readyz")
        self.assertEqual(ready["cache"]["ok"], False)
        self.assertEqual(ready["cache"]["transport"], "tcp")
        self.assertIn("cannot connect", ready["cache"]["detail"])
        self.assertNotIn("127.0.0.1", ready["cache"]["detail"])

    def test_a_rediss_url_is_never_a_silent_fallback_to_memory(self):
        server = self.start_server(token=TOKEN, env={"REDIS_URL": "rediss://:pw@127.0.0.1:1/0"})
        self.assertIn("cache: Redis at rediss://:***@127.0.0.1:1 over TLS", server.stderr_text())
        self.assertNotIn("in-process memory", server.stderr_text())
        status, _, ready = server.get("/readyz")
        self.assertEqual(ready["cache"]["kind"], "redis")
        self.assertEqual(ready["cache"]["transport"], "tls")
        self.assertFalse(ready["cache"]["ok"])

    def test_malformed_redis_url_is_a_configuration_error(self):
        d = self.make_temp_dir()
        proc = subprocess.run([h.qc_bin(), "serve", "--port", str(h.free_port()), "--data-dir", d],
                              env=h.clean_env({"REDIS_URL": "redis://:pw@"}), capture_output=True,
                              text=True, timeout=20)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("REDIS_URL", proc.stderr)


if __name__ == "__main__":
    unittest.main()
