"""`quantcrunch serve` on MongoDB over TLS: the stand-in of
tests/support/mongo_standin.py in its TLS mode (Python's ssl module, server
side; certificates of tests/support/tls_certs.py, trusted through
tlsCAFile=), driven by the real binary and libmongoc.

- StartupTlsTest, WatcherTlsTest: test_mongo_server.py's startup and watcher
  cases (change stream on the replica set, polling on the standalone server)
  with every connection over TLS;
- TlsStartTest: what the startup line says for TLS settings, and the single
  error line (exit status 1) naming the host and the reason when a TLS start
  fails: untrusted certificate, system CAs, host name mismatch, server
  without TLS, TLS server reached without TLS, unreadable CA file; the client
  key's password never shown;
- SrvTest: MONGO_ATLAS_URI=mongodb+srv://cluster0.qc.test/... as Atlas gives
  it, its SRV and TXT records served by a DNS stand-in (Debian's dnsmasq) and
  seen by the server through a resolv.conf of its own (a mount namespace),
  reaching the TLS stand-in as node1.qc.test. Needs root, dnsmasq and
  unshare; skipped, with the reason, without them.

Runs under Debian's /usr/bin/python3 (python3-pymongo, python3-mongomock),
like test_mongo_server.py, which it imports.
"""

import os
import random
import shutil
import subprocess
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import test_mongo_server as base  # noqa: E402  (re-executes under /usr/bin/python3 if needed)
from test_mongo_server import (D1, D2, DB, POLL_WAIT, RS, STANDALONE, T1, T2,  # noqa: E402
                               TOKEN, MongoServerCase, h, tls_certs, tls_config)

if base._SKIP_REASON is None:
    from mongo_standin import CLIENT_KEY_PASSWORD, make_server_cert  # noqa: E402


class StartupTlsTest(base.StartupTest):
    """StartupTest with the stand-in and the URI over TLS (tls=true&tlsCAFile=)."""

    TLS = True


class WatcherTlsTest(base.WatcherTest):
    """Every watcher case over TLS, change stream and polling."""

    TLS = True


@unittest.skipIf(base._SKIP_REASON is not None, base._SKIP_REASON or "")
class TlsStartTest(MongoServerCase):
    """The startup line for TLS settings, and the one error line of a start
    that fails on TLS (exit status 1, the host and the reason named)."""

    def test_untrusted_certificate(self):
        mongo = self.standin(RS, tls_config())
        other_ca = tls_certs()["other_ca.pem"]
        self.refused(mongo.uri_for(None, tlsCAFile=other_ca, serverSelectionTimeoutMS=1000),
                     f"cannot reach mongodb://{mongo.address}/",
                     f"TLS handshake with {mongo.address} failed: certificate verify failed: "
                     f"unable to get local issuer certificate",
                     f"not among the CAs in {other_ca}")
        self.refused(mongo.uri_for(None, tlsCAFile=None, serverSelectionTimeoutMS=1000),
                     f"TLS handshake with {mongo.address} failed: certificate verify failed",
                     "not among the system CAs")

    def test_host_name_mismatch(self):
        mongo = self.standin(STANDALONE, tls_config("wrong_host"))
        self.refused(mongo.uri_for(None, serverSelectionTimeoutMS=1000),
                     f"TLS handshake with {mongo.address} failed: host name mismatch: the "
                     f"certificate is for DNS:not-this-host.invalid, not for 127.0.0.1")

    def test_server_without_tls(self):
        mongo = self.standin(RS, tls=False)
        self.refused(mongo.uri_for(None, tls=True, tlsCAFile=tls_certs()["ca.pem"],
                                   serverSelectionTimeoutMS=1000),
                     f"TLS handshake with {mongo.address} failed: not a TLS server")
        self.assertGreaterEqual(mongo.tls_hellos_refused, 1)

    def test_tls_server_reached_without_tls(self):
        mongo = self.standin(RS, tls_config())
        self.refused(mongo.uri_for(None, tls=None, tlsCAFile=None, serverSelectionTimeoutMS=1000),
                     f"{mongo.address} closed the connection: it expects TLS (add tls=true")

    def test_unreadable_ca_file(self):
        mongo = self.standin(RS, tls_config())
        self.refused(mongo.uri_for(None, tlsCAFile="/nonexistent/ca.pem"),
                     "tlsCAFile /nonexistent/ca.pem cannot be read")
        self.assertEqual(mongo.tls_clients + mongo.tls_errors, [], "a connection was tried")

    def test_certificate_not_verified_is_said(self):
        mongo = self.standin(RS, tls_config("self_signed"))
        s = self.start_server(env={"MONGO_ATLAS_URI": mongo.uri_for(
            None, tlsAllowInvalidCertificates=True, tlsCAFile=None)}, feed="none")
        self.assertIn("database quantcrunch (0 open, 0 closed positions, 0 recommendation "
                      "documents), over TLS (certificate NOT verified: "
                      "tlsAllowInvalidCertificates); closes are multi-document transactions",
                      s.stderr_text())
        self.assertEqual(s.readyz()["status"], "ready")

    def test_client_certificate_password_is_never_shown(self):
        mongo = self.standin(RS, tls_config(client_ca=tls_certs()["ca.pem"]))
        certificate = tls_certs()["client_encrypted.pem"]
        uri = mongo.uri_for(None, tlsCertificateKeyFile=certificate,
                            tlsCertificateKeyFilePassword=CLIENT_KEY_PASSWORD)
        s = self.start_server(env={"MONGO_ATLAS_URI": uri}, feed="none", token=TOKEN)
        status, _, body = s.post_document(D1)
        self.assertEqual(status, 201, body)
        log = s.stderr_text()
        self.assertIn(f"over TLS (certificate verified against {tls_certs()['ca.pem']}; client "
                      f"certificate {certificate})", log)
        self.assertIn("tlsCertificateKeyFilePassword=***", log)
        _, _, raw = s.get_raw("/readyz")
        self.assertEqual(s.stop(), 0)
        self.assertNotIn(CLIENT_KEY_PASSWORD, s.stderr_text() + s.stdout_text())
        self.assertNotIn(CLIENT_KEY_PASSWORD.encode(), raw)
        self.assertEqual(mongo.tls_clients[-1], "commonName=qc-client")


# ---------------------------------------------------------------------------
# mongodb+srv:// through a DNS stand-in

SRV_DOMAIN = "qc.test"                  # RFC 6761: never a real name
SRV_NAME = "cluster0." + SRV_DOMAIN     # what the URI names
SRV_NODE = "node1." + SRV_DOMAIN        # what the SRV record points at


def srv_unavailable():
    """Why the mongodb+srv:// test cannot run here (None when it can).

    libmongoc looks SRV and TXT records up with res_nsearch, i.e. through
    /etc/resolv.conf, and the SRV target's address through NSS. The test
    serves them with dnsmasq on a 127.x.y.z address (port 53: resolv.conf
    names no port) and starts the server in a mount namespace of its own
    (unshare --mount) where a resolv.conf naming that address is
    bind-mounted over /etc/resolv.conf, as `ip netns exec` does with
    /etc/netns/NAME/resolv.conf, but in the host's network namespace, so
    the stand-in, the server and the test share loopback. Nothing outside
    that namespace changes."""
    if os.geteuid() != 0:
        return "needs root (a mount namespace, and port 53 for the DNS stand-in)"
    if not shutil.which("dnsmasq"):
        return "dnsmasq is not installed (Debian package dnsmasq-base; scripts/setup.sh --test)"
    if not shutil.which("unshare"):
        return "unshare (util-linux) is not installed"
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
                            "mount --bind /etc/hostname /etc/hostname"],
                           capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return ("cannot bind-mount in a mount namespace of its own (unshare --mount: "
                f"{probe.stderr.strip()})")
    try:
        with open("/etc/nsswitch.conf") as f:
            hosts = next((line.split(":", 1)[1].split() for line in f
                          if line.startswith("hosts:")), ["files", "dns"])
    except OSError:
        hosts = ["files", "dns"]
    sources = [x for x in hosts if not x.startswith("[")]
    if "dns" not in sources or any(x not in ("files", "myhostname", "mymachines")
                                   for x in sources[:sources.index("dns")]):
        return (f"host names are not looked up through /etc/resolv.conf here (nsswitch.conf "
                f"hosts: {' '.join(hosts)})")
    return None


class DnsStandIn:
    """dnsmasq serving the Atlas-style records of a mongodb+srv:// URI on
    ADDRESS:53 (a random 127.x.y.z address), nothing else (no upstream)."""

    def __init__(self, records):
        self.address = "127.%d.%d.%d" % (random.randint(1, 254), random.randint(0, 254),
                                         random.randint(1, 254))
        self.lines = []
        self._started = threading.Event()
        self.proc = subprocess.Popen(
            ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
             "--no-hosts", "--no-poll", "--bind-interfaces", f"--listen-address={self.address}",
             "--port=53", "--pid-file=", f"--local=/{SRV_DOMAIN}/", "--log-queries",
             "--log-facility=-", *records],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))
            if "started, version" in line:
                self._started.set()

    def wait_started(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            if self._started.wait(0.05):
                return True
        return False

    def log(self):
        return "\n".join(self.lines)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc.stderr.close()


def with_resolv_conf(resolv_conf):
    """A command prefix that runs the command seeing `resolv_conf` as its
    /etc/resolv.conf (see srv_unavailable). unshare and sh exec the command:
    same pid, so SIGTERM and SIGKILL reach it."""
    return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
            'mount --bind "$0" /etc/resolv.conf && exec "$@"', resolv_conf]


class ResolvServer(h.Server):
    """`quantcrunch serve` under with_resolv_conf(resolv_conf)."""

    def __init__(self, resolv_conf, *args, **kwargs):
        self.resolv_conf = resolv_conf
        super().__init__(*args, **kwargs)

    def command(self):
        return with_resolv_conf(self.resolv_conf) + super().command()


@unittest.skipIf(base._SKIP_REASON is not None, base._SKIP_REASON or "")
class SrvTest(MongoServerCase):
    """MONGO_ATLAS_URI=mongodb+srv://cluster0.qc.test/ as Atlas gives it:
    the SRV record names node1.qc.test:PORT, the TXT record replicaSet=rs0;
    TLS is implied; the stand-in's certificate is for node1.qc.test, signed
    by the test CA (tlsCAFile, as the system CAs would be for Atlas)."""

    def setUp(self):
        why = srv_unavailable()
        if why:
            self.skipTest(why)
        directory = tls_certs()["dir"]
        self.node_cert, self.node_key = make_server_cert(directory, "srv_node", [SRV_NODE])

    def dns(self, mongo):
        dns = DnsStandIn([f"--srv-host=_mongodb._tcp.{SRV_NAME},{SRV_NODE},{mongo.port}",
                          f"--txt-record={SRV_NAME},replicaSet=rs0",
                          f"--host-record={SRV_NODE},127.0.0.1"])
        self.addCleanup(dns.stop)
        if not dns.wait_started():
            dns.stop()
            self.skipTest(f"the DNS stand-in (dnsmasq) did not start on {dns.address}:53: "
                          f"{dns.log()[-500:]}")
        resolv = os.path.join(self.make_temp_dir(), "resolv.conf")
        h.write_text(resolv, f"nameserver {dns.address}\noptions timeout:2 attempts:2\n")
        return dns, resolv

    def serve_with(self, resolv, uri, **kw):
        server = ResolvServer(resolv, os.path.join(self.make_temp_dir(), "data"), feed="none",
                              token=TOKEN, env={"MONGO_ATLAS_URI": uri}, **kw)
        self.addCleanup(server.cleanup)
        return server.start()

    def test_mongodb_srv_uri_reaches_the_tls_standin(self):
        # hello names node1.qc.test:PORT, as Atlas names its hosts
        mongo = self.standin(RS, {"cert": self.node_cert, "key": self.node_key},
                             advertised_host=SRV_NODE)
        dns, resolv = self.dns(mongo)
        ca = tls_certs()["ca.pem"]
        uri = f"mongodb+srv://{SRV_NAME}/?retryWrites=true&w=majority&tlsCAFile={ca}"
        s = self.serve_with(resolv, uri)
        log = s.stderr_text()
        self.assertIn(f"database: MongoDB at {uri}, database quantcrunch (0 open, 0 closed "
                      f"positions, 0 recommendation documents), over TLS (certificate verified "
                      f"against {ca}); closes are multi-document transactions (replica set)", log)
        self.wait_log(s, "recommendations: watching the collection by change stream")
        self.assertIn(f"query[SRV] _mongodb._tcp.{SRV_NAME}", dns.log())
        self.assertIn(f"query[TXT] {SRV_NAME}", dns.log())
        self.assertIn(f"query[A] {SRV_NODE}", dns.log())
        # Every connection was TLS, with the host name checked against node1.qc.test.
        self.assertTrue(mongo.tls_clients)
        self.assertEqual(mongo.tls_errors, [])
        # Writes and the watcher's change stream go through it.
        status, _, body = s.post_document(D1)
        self.assertEqual(status, 201, body)
        mongo.insert(DB, "recommendations", dict(D2))
        self.wait_open(mongo, s, [("AAPL", T1), ("NVDA", T1), ("C", T2)], POLL_WAIT,
                       "document inserted into the database opened through mongodb+srv://")
        self.assertEqual(s.readyz()["database"]["ok"], True)
        self.assertEqual(s.stop(), 0, s.stderr_text())

    def test_unknown_srv_name_is_one_error(self):
        mongo = self.standin(RS, {"cert": self.node_cert, "key": self.node_key})
        dns, resolv = self.dns(mongo)
        uri = f"mongodb+srv://nowhere.{SRV_DOMAIN}/?serverSelectionTimeoutMS=1000"
        self.refused(uri, f"cannot create a client pool for {uri}: Failed to look up SRV record "
                          f"\"_mongodb._tcp.nowhere.{SRV_DOMAIN}\"", wrap=with_resolv_conf(resolv))
        self.assertIn(f"query[SRV] _mongodb._tcp.nowhere.{SRV_DOMAIN}", dns.log())

    def test_certificate_for_another_name_is_refused(self):
        # The SRV record's target is what the certificate must name.
        mongo = self.standin(RS, tls_config(), advertised_host=SRV_NODE)  # for localhost only
        dns, resolv = self.dns(mongo)
        uri = f"mongodb+srv://{SRV_NAME}/?tlsCAFile={tls_certs()['ca.pem']}" \
              f"&serverSelectionTimeoutMS=1000"
        self.refused(uri, f"TLS handshake with {SRV_NODE}:{mongo.port} failed: host name mismatch: "
                          f"the certificate is for DNS:localhost, IP:127.0.0.1, IP:::1, not for "
                          f"{SRV_NODE}", wrap=with_resolv_conf(resolv))


if __name__ == "__main__":
    unittest.main()
