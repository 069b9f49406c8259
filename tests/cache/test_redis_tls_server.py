"""The server with a real Redis over TLS (issue 11: Heroku Key-Value Store hands
out rediss:// URLs with self-signed certificates). A TLS-only redis-server
(`--port 0 --tls-port N`) is started with throwaway certificates from
tests/support/tls_certs.py; what the server wrote is read back over TLS.

No silent fallback: with REDIS_URL=rediss://... the cache is Redis, reached
over TLS, or an unhealthy Redis cache that says why."""

import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

import qc_harness as h
import tls_certs
from test_redis_server import _read_reply

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
TOKEN = "redis-tls-test-token"
WARNING = "serving from memory, retrying with backoff"

CERTS = {}


def setUpModule():
    if not os.access(REDIS, os.X_OK) or not shutil.which("openssl"):
        return
    directory = tempfile.mkdtemp(prefix="qc-redis-tls-certs-")
    CERTS["dir"] = directory
    CERTS.update(tls_certs.make_certs(directory))


def tearDownModule():
    if "dir" in CERTS:
        shutil.rmtree(CERTS["dir"], ignore_errors=True)


def resp_tls(port, *args, password=None, timeout=2.0):
    """One RESP command over TLS (certificate not checked: this only reads what
    the server under test wrote); returns the decoded reply."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    commands = ([("AUTH", password)] if password else []) + [args]
    payload = b""
    for command in commands:
        payload += b"*%d\r\n" % len(command)
        for a in command:
            a = a.encode() if isinstance(a, str) else a
            payload += b"$%d\r\n%s\r\n" % (len(a), a)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(payload)
            f = s.makefile("rb")
            reply = None
            for _ in commands:
                reply = _read_reply(f)
            return reply


class TlsRedisProcess:
    """redis-server listening on one loopback TLS port only, with `stem`.pem/.key."""

    def __init__(self, workdir, stem="server", password=None, tls=True):
        self.port = h.free_port()
        self.workdir = workdir
        self.stem = stem
        self.password = password
        self.tls = tls
        self.proc = None

    def start(self):
        args = [REDIS, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", self.workdir]
        if self.tls:
            args += ["--port", "0", "--tls-port", str(self.port),
                     "--tls-cert-file", CERTS[self.stem + ".pem"],
                     "--tls-key-file", CERTS[self.stem + ".key"],
                     "--tls-ca-cert-file", CERTS["ca.pem"], "--tls-auth-clients", "no"]
        else:
            args += ["--port", str(self.port)]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        h.wait_until(self.ping, 10, "redis-server did not start")

    def ping(self):
        try:
            if self.tls:
                return resp_tls(self.port, "PING", password=self.password) == "PONG"
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"*1\r\n$4\r\nPING\r\n")
                return s.recv(64).startswith((b"+PONG", b"-NOAUTH"))
        except (OSError, RuntimeError):
            return False

    def command(self, *args):
        return resp_tls(self.port, *args, password=self.password)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@unittest.skipUnless(os.access(REDIS, os.X_OK), "redis-server is not installed (scripts/setup.sh installs it)")
@unittest.skipUnless(shutil.which("openssl"), "openssl is not installed (for the test certificates)")
class RedisTlsServerTest(h.ServerTestCase):
    def redis(self, stem="server", password=None, tls=True):
        r = TlsRedisProcess(self.make_temp_dir("qc-redis-tls-"), stem, password, tls)
        r.start()
        self.addCleanup(r.kill)
        return r

    def start_with(self, url, **env):
        return self.start_server(token=TOKEN, env={"REDIS_URL": url, **env})

    def startup_line(self, server):
        lines = [l for l in server.stderr_text().splitlines() if "[startup] cache:" in l]
        self.assertEqual(len(lines), 1, server.stderr_text())
        return lines[0]

    def cache_warnings(self, server):
        return [l for l in server.stderr_text().splitlines() if WARNING in l]

    def assert_refused_once(self, server, redis, reason):
        """The cache is Redis, unhealthy; one warning naming host and reason,
        also after several reconnection attempts; /readyz says why."""
        time.sleep(1.5)  # backoff from 200 ms: several failed attempts
        warnings = self.cache_warnings(server)
        self.assertEqual(len(warnings), 1, server.stderr_text())
        self.assertRegex(warnings[0], r"^\S+ warn  \[cache\] Redis at localhost:%d unavailable \(" % redis.port)
        self.assertIn(reason, warnings[0])
        status, _, ready = server.get("/readyz")
        self.assertEqual(status, 200, ready)  # the cache is not the source of truth
        self.assertEqual(ready["cache"]["kind"], "redis")
        self.assertFalse(ready["cache"]["ok"])
        self.assertIn(reason, ready["cache"]["detail"])
        self.assertNotIn("localhost", ready["cache"]["detail"])
        return warnings[0]

    def post(self, server, us_date, symbol="AAPL", target=150.0, current=145.0):
        doc = h.make_document(h.ny_unix(us_date), [(symbol, target, current)])
        status, _, body = server.post_document(doc, token=TOKEN)
        self.assertEqual(status, 201, body)

    def cached_open_positions(self, redis):
        return [json.loads(x) for x in redis.command("LRANGE", "open_positions", "0", "-1")]

    # -- verified -------------------------------------------------------------

    def test_rediss_url_with_the_test_ca_uses_redis_over_tls(self):
        redis = self.redis()
        server = self.start_with(f"rediss://localhost:{redis.port}/0",
                                 QC_REDIS_TLS_CA_FILE=CERTS["ca.pem"])
        self.assertRegex(self.startup_line(server),
                         r"info  \[startup\] cache: Redis at rediss://localhost:%d over TLS "
                         r"\(certificate verified against %s\) \(last run left: no earlier keys"
                         % (redis.port, re.escape(CERTS["ca.pem"])))
        self.assertNotIn("in-process", server.stderr_text())
        self.assertEqual(server.readyz()["cache"], {"kind": "redis", "ok": True, "transport": "tls"})
        meta = json.loads(redis.command("GET", "tickers_metadata"))
        self.assertEqual(list(meta), h.DEFAULT_SYMBOLS)
        self.post(server, "2021-07-12 10:59:00")
        positions = self.cached_open_positions(redis)
        self.assertEqual([p["symbol"] for p in positions], ["AAPL"])
        self.assertEqual(redis.command("TYPE", "open_positions"), "list")

    def test_ssl_ca_certs_in_the_url_trusts_that_ca(self):
        redis = self.redis()
        server = self.start_with(f"rediss://localhost:{redis.port}/0?ssl_ca_certs={CERTS['ca.pem']}")
        self.assertIn("over TLS (certificate verified against %s)" % CERTS["ca.pem"],
                      self.startup_line(server))
        self.assertTrue(server.readyz()["cache"]["ok"])
        self.assertIsNotNone(redis.command("GET", "tickers_metadata"))

    def test_password_in_a_rediss_url_is_never_printed(self):
        secret = "tlsTopSecretPw"
        redis = self.redis(password=secret)
        server = self.start_with(f"rediss://:{secret}@localhost:{redis.port}",
                                 QC_REDIS_TLS_CA_FILE=CERTS["ca.pem"], QC_LOG_LEVEL="debug")
        self.assertIn(f"cache: Redis at rediss://:***@localhost:{redis.port} over TLS",
                      self.startup_line(server))
        self.assertTrue(server.readyz()["cache"]["ok"])
        self.assertIsNotNone(redis.command("GET", "tickers_metadata"))
        # ... nor when it is refused.
        wrong = self.start_with(f"rediss://:wrong{secret}@localhost:{redis.port}",
                                QC_REDIS_TLS_CA_FILE=CERTS["ca.pem"], QC_LOG_LEVEL="debug")
        time.sleep(0.5)
        status, _, ready = wrong.get("/readyz")
        self.assertIn("AUTH refused", ready["cache"]["detail"])
        for s in (server, wrong):
            self.assertNotIn(secret, s.stderr_text() + s.stdout_text())
            self.assertNotIn(secret, json.dumps(s.get("/readyz")[2]))

    # -- refused --------------------------------------------------------------

    def test_a_self_signed_certificate_is_refused_by_default(self):
        redis = self.redis("self_signed")
        server = self.start_with(f"rediss://:pw@localhost:{redis.port}")
        warning = self.assert_refused_once(server, redis,
                                           "TLS handshake failed: certificate verify failed: self-signed certificate")
        self.assertIn("ssl_cert_reqs=none", warning)  # says how to accept it
        self.assertIn("over TLS (certificate must verify against the system CAs) "
                      "(last run left: Redis unreachable",
                      self.startup_line(server))

    def test_a_certificate_from_another_ca_is_refused(self):
        redis = self.redis()
        server = self.start_with(f"rediss://localhost:{redis.port}",
                                 QC_REDIS_TLS_CA_FILE=CERTS["other_ca.pem"])
        self.assert_refused_once(server, redis, "TLS handshake failed: certificate verify failed")

    def test_a_certificate_for_another_host_name_is_refused(self):
        redis = self.redis("wrong_host")
        server = self.start_with(f"rediss://localhost:{redis.port}",
                                 QC_REDIS_TLS_CA_FILE=CERTS["ca.pem"])
        self.assert_refused_once(server, redis,
                                 "TLS handshake failed: certificate verify failed: hostname mismatch")

    def test_rediss_to_a_plain_port_fails_with_a_clear_reason(self):
        redis = self.redis(tls=False)
        server = self.start_with(f"rediss://localhost:{redis.port}", QC_REDIS_TLS_CA_FILE=CERTS["ca.pem"])
        warning = self.assert_refused_once(server, redis, "TLS handshake")
        self.assertIn("not a TLS server", warning)

    def test_redis_to_a_tls_port_fails_with_a_clear_reason(self):
        redis = self.redis()
        server = self.start_with(f"redis://localhost:{redis.port}")
        self.assertIn("over plain TCP", self.startup_line(server))
        warning = self.assert_refused_once(server, redis, "closed the connection before answering")
        self.assertIn("use a rediss:// URL", warning)

    # -- Heroku: self-signed, accepted when asked -----------------------------

    def test_a_self_signed_certificate_is_accepted_with_ssl_cert_reqs_none(self):
        redis = self.redis("self_signed", password="herokuPw")
        for value in ("none", "CERT_NONE"):
            with self.subTest(ssl_cert_reqs=value):
                redis.command("FLUSHALL")
                server = self.start_with(f"rediss://:herokuPw@localhost:{redis.port}?ssl_cert_reqs={value}")
                self.assertIn(f"cache: Redis at rediss://:***@localhost:{redis.port} over TLS "
                              f"(certificate NOT verified: ssl_cert_reqs={value.lower()})",
                              self.startup_line(server))
                self.assertEqual(server.readyz()["cache"],
                                 {"kind": "redis", "ok": True, "transport": "tls-unverified"})
                self.assertIsNotNone(redis.command("GET", "tickers_metadata"))
                self.assertEqual(self.cache_warnings(server), [])
                server.stop()

    def test_a_self_signed_certificate_is_accepted_with_qc_redis_tls_verify_0(self):
        redis = self.redis("self_signed")
        server = self.start_with(f"rediss://localhost:{redis.port}", QC_REDIS_TLS_VERIFY="0")
        self.assertIn("over TLS (certificate NOT verified: QC_REDIS_TLS_VERIFY=0)", self.startup_line(server))
        self.assertEqual(server.readyz()["cache"]["transport"], "tls-unverified")
        self.post(server, "2021-07-12 10:59:00")
        self.assertEqual(len(self.cached_open_positions(redis)), 1)

    # -- outage ---------------------------------------------------------------

    def test_tls_redis_killed_and_restarted_is_warned_once_and_resynced(self):
        redis = self.redis()
        server = self.start_with(f"rediss://localhost:{redis.port}/0",
                                 QC_REDIS_TLS_CA_FILE=CERTS["ca.pem"])
        self.post(server, "2021-07-12 10:59:00")
        redis.kill()
        self.post(server, "2021-07-13 10:59:00", symbol="NVDA", target=200.0, current=190.0)
        h.wait_until(lambda: self.cache_warnings(server), 10, "no warning about Redis going away")
        time.sleep(1.0)  # several failed reconnection attempts
        self.assertEqual(len(self.cache_warnings(server)), 1, server.stderr_text())
        self.assertFalse(server.readyz()["cache"]["ok"])
        redis.start()  # empty: no persistence
        h.wait_until(lambda: len(self.safe_open_positions(redis)) == 2, 20,
                     "open_positions was not re-synced over TLS after Redis came back")
        self.assertIsNotNone(redis.command("GET", "tickers_metadata"))
        self.assertEqual(server.readyz()["cache"], {"kind": "redis", "ok": True, "transport": "tls"})
        self.assertIn("reachable again; re-synced", server.stderr_text())

    def safe_open_positions(self, redis):
        try:
            return self.cached_open_positions(redis)
        except (OSError, RuntimeError):
            return []

    # -- configuration --------------------------------------------------------

    def run_config(self, env):
        d = self.make_temp_dir()
        return subprocess.run([h.qc_bin(), "serve", "--port", str(h.free_port()), "--data-dir", d,
                               "--feed", "none"], env=h.clean_env(env), capture_output=True,
                              text=True, timeout=20)

    def test_bad_tls_settings_are_configuration_errors(self):
        junk = os.path.join(self.make_temp_dir(), "junk.pem")
        with open(junk, "w") as f:
            f.write("not a certificate\n")
        url = "rediss://:cfgSecretPw@localhost:6380"
        for env, words in (
                ({"REDIS_URL": url, "QC_REDIS_TLS_VERIFY": "maybe"}, ["QC_REDIS_TLS_VERIFY", "'maybe'"]),
                ({"REDIS_URL": url, "QC_REDIS_TLS_CA_FILE": "/nonexistent/ca.pem"},
                 ["QC_REDIS_TLS_CA_FILE", "does not exist"]),
                ({"REDIS_URL": url, "QC_REDIS_TLS_CA_FILE": junk}, [junk, "cannot be loaded"]),
                ({"REDIS_URL": url + "?ssl_cert_reqs=maybe"}, ["REDIS_URL", "ssl_cert_reqs"]),
                ({"REDIS_URL": url + "?verify=false"}, ["REDIS_URL", "unsupported query parameter 'verify'"]),
                ({"REDIS_URL": url + "?ssl_cert_reqs=none", "QC_REDIS_TLS_VERIFY": "1"},
                 ["ssl_cert_reqs=none", "QC_REDIS_TLS_VERIFY=1"])):
            with self.subTest(env=env):
                proc = self.run_config(env)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertTrue(proc.stderr.startswith("quantcrunch: error: "), proc.stderr)
                for w in words:
                    self.assertIn(w, proc.stderr)
                self.assertNotIn("cfgSecretPw", proc.stderr + proc.stdout)


if __name__ == "__main__":
    unittest.main()
