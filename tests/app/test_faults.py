"""The server on a bad day (SPEC §9; README "What happens when things fail").

A full disk is simulated without root by lowering the server's file-size
limit (RLIMIT_FSIZE, through prlimit on its pid): every write that would grow
a file past it fails with EFBIG, as on a full disk; raising it again is the
disk getting space back. A stuck database is another process holding
SQLite's write lock.
"""

import os
import resource
import sqlite3
import time
import unittest

import qc_harness as h

TOKEN = "fault-token"
DOC = {"us-date": "2021-07-12 10:59:00", "sg-date": "2021-07-12 22:59:00",
       "recommendations": [{"symbol": "AAPL", "targetPrice": 150.2, "currentPrice": 145.1}]}


def set_file_size_limit(pid, limit):
    _, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, hard))


class DiskFullTest(h.ServerTestCase):
    def full_disk_server(self):
        s = self.start_server(feed="sim", token=TOKEN)
        self.addCleanup(lambda: s.alive() and set_file_size_limit(s.proc.pid, resource.RLIM_INFINITY))
        set_file_size_limit(s.proc.pid, 4096)
        return s

    def wait_unready(self, s, timeout=20):
        def check():
            status, _, body = s.get("/readyz")
            return body if status == 503 else None
        return h.wait_until(check, timeout, "/readyz did not turn 503 while the disk is full")

    def test_readyz_is_503_while_writes_fail_and_says_why(self):
        s = self.full_disk_server()
        body = self.wait_unready(s)
        self.assertEqual(body["status"], "unavailable")
        self.assertIs(body["database"]["writable"], False)
        self.assertIn("commit", body["database"]["detail"])

    def test_readyz_names_no_file_path(self):
        s = self.full_disk_server()
        body = self.wait_unready(s)
        self.assertNotIn(s.data_dir, str(body))
        self.assertNotIn(".sqlite3", str(body))
        set_file_size_limit(s.proc.pid, resource.RLIM_INFINITY)
        body = s.wait_ready()
        self.assertNotIn(s.data_dir, str(body))
        self.assertNotIn(".sqlite3", str(body))

    def test_readyz_is_200_again_once_a_commit_succeeds(self):
        s = self.full_disk_server()
        self.wait_unready(s)
        set_file_size_limit(s.proc.pid, resource.RLIM_INFINITY)
        body = s.wait_ready(20)
        self.assertIs(body["database"]["writable"], True)

    def test_write_while_the_disk_is_full_is_503_nothing_stored(self):
        s = self.full_disk_server()
        self.wait_unready(s)
        started = time.monotonic()
        status, _, body = s.post_document(DOC)
        self.assertEqual(status, 503, body)
        self.assertIn("nothing was stored", body["detail"])
        self.assertLess(time.monotonic() - started, 35, "the write was not answered within its bound")
        _, _, recs = s.get("/api/recommendations")
        self.assertNotIn(1626101940, [r["open_timestamp"] for r in recs["results"]])

    def test_the_same_write_succeeds_once_the_disk_has_room(self):
        s = self.full_disk_server()
        self.wait_unready(s)
        status, _, _ = s.post_document(DOC)
        self.assertEqual(status, 503)
        set_file_size_limit(s.proc.pid, resource.RLIM_INFINITY)
        s.wait_ready(20)
        status, _, body = s.post_document(DOC)
        self.assertEqual(status, 201, body)
        self.assertEqual(body["opened"], 1)

    def test_sigterm_while_writes_fail_ends_within_15_s_saying_work_was_not_stored(self):
        # Reproduced before: "drained" was logged and the process never exited
        # (the sim feed's flush waited on bars that could not become durable).
        s = self.full_disk_server()
        self.wait_unready(s)
        started = time.monotonic()
        code = s.stop(timeout=20)
        self.assertLess(time.monotonic() - started, 16.0, "shutdown took longer than 15 s")
        self.assertEqual(code, 75, s.stderr_text())
        self.assertIn("not stored", s.stderr_text())


class HealthyShutdownTest(h.ServerTestCase):
    def test_sigterm_on_a_healthy_server_exits_0_and_says_everything_is_stored(self):
        s = self.start_server(feed="sim")
        h.wait_until(lambda: s.status()["feed"]["bars_applied"] > 50, 20, "sim bars applied")
        self.assertEqual(s.stop(), 0, s.stderr_text())
        self.assertIn("everything accepted is stored", s.stderr_text())


class StuckDatabaseTest(h.ServerTestCase):
    def test_readyz_answers_while_another_process_holds_the_write_lock(self):
        # Before: /readyz called the store on the HTTP thread and waited
        # behind the commit that waited for the lock.
        s = self.start_server(feed="sim")
        path = os.path.join(s.data_dir, "quantcrunch.sqlite3")
        locker = sqlite3.connect(path, timeout=30, isolation_level=None)
        self.addCleanup(locker.close)
        locker.execute("BEGIN IMMEDIATE")
        try:
            time.sleep(1.0)  # the server's commits now wait for the lock
            for _ in range(5):
                started = time.monotonic()
                status, _, _ = h.http_request(s.port, "GET", "/readyz", timeout=3)
                self.assertIn(status, (200, 503))
                self.assertLess(time.monotonic() - started, 2.5)
                time.sleep(0.3)
        finally:
            locker.execute("ROLLBACK")
        s.wait_ready(30)


class TokenlessClientTest(h.ServerTestCase):
    """What a client without a token can cost (SPEC §9)."""

    def raw_exchange(self, port, head, timeout=5):
        return h.raw_http(port, head, timeout=timeout, until=b"\r\n\r\n")

    def test_bad_token_is_401_before_a_byte_of_the_body(self):
        s = self.start_server(token=TOKEN)
        head = (b"POST /api/recommendations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n"
                b"Content-Type: application/json\r\nContent-Length: 900000\r\n\r\n")
        data = self.raw_exchange(s.port, head)  # no body is ever sent
        self.assertTrue(data.startswith(b"HTTP/1.1 401"), data[:200])

    def test_writes_disabled_is_403_before_a_byte_of_the_body(self):
        s = self.start_server()
        head = (b"POST /api/recommendations HTTP/1.1\r\nHost: x\r\n"
                b"Content-Length: 900000\r\n\r\n")
        data = self.raw_exchange(s.port, head)
        self.assertTrue(data.startswith(b"HTTP/1.1 403"), data[:200])

    def test_body_sent_to_a_route_that_takes_none_is_refused_unread(self):
        s = self.start_server(token=TOKEN)
        head = (b"POST /api/tickerlist HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode() +
                b"\r\nContent-Length: 900000\r\n\r\n")
        data = self.raw_exchange(s.port, head)
        self.assertTrue(data.startswith(b"HTTP/1.1 405"), data[:200])

    def test_bodies_in_flight_are_capped_and_the_rest_answered_503(self):
        # 64 MiB of bodies in flight at most (1 MiB each): the 65th and later
        # announced bodies are refused before they are read.
        import socket
        s = self.start_server(token=TOKEN)
        head = (b"POST /api/recommendations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode() +
                b"\r\nContent-Length: 1048576\r\n\r\n")
        socks = []
        self.addCleanup(lambda: [x.close() for x in socks])
        for _ in range(70):
            sock = socket.create_connection(("127.0.0.1", s.port), timeout=5)
            sock.sendall(head)
            socks.append(sock)
        refused = 0
        for sock in socks:
            sock.settimeout(0.5)
            try:
                data = sock.recv(4096)
            except socket.timeout:
                continue
            if data.startswith(b"HTTP/1.1 503"):
                refused += 1
        self.assertEqual(refused, 6, "expected exactly the bodies over the 64 MiB budget to be refused")
        for sock in socks:
            sock.close()
        socks.clear()
        # The budget is given back when those connections end.
        status, _, body = h.wait_until(lambda: (lambda r: r if r[0] == 201 else None)(s.post_document(DOC)),
                                       10, "a normal POST after the flood")
        self.assertEqual(status, 201, body)

    def test_connections_over_the_limit_get_503_and_are_closed(self):
        import socket
        s = self.start_server(env={"QC_MAX_CONNECTIONS": "4"})
        idle = []
        self.addCleanup(lambda: [x.close() for x in idle])

        def turned_away(sock):
            sock.settimeout(0.05)
            try:
                sock.recv(1)  # 503 bytes, or the end of the connection
                return True
            except socket.timeout:
                return False  # accepted and waiting for a request

        # Four accepted idle connections. The readiness probe's connection may
        # still count for a moment after start (the server sees its end
        # asynchronously), so one of ours can be turned away: replace it.
        deadline = time.monotonic() + 10
        while True:
            while len(idle) < 4:
                idle.append(socket.create_connection(("127.0.0.1", s.port), timeout=5))
            time.sleep(0.2)
            gone = [x for x in idle if turned_away(x)]
            if not gone:
                break
            for x in gone:
                idle.remove(x)
                x.close()
            self.assertLess(time.monotonic(), deadline, "idle connections keep being turned away")
        data = self.raw_exchange(s.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(data.startswith(b"HTTP/1.1 503"), data[:200])
        self.assertIn(b"too many connections", data)

    def test_a_connection_freed_under_the_limit_is_served_again(self):
        import socket
        s = self.start_server(env={"QC_MAX_CONNECTIONS": "4"})
        idle = [socket.create_connection(("127.0.0.1", s.port), timeout=5) for _ in range(4)]
        self.addCleanup(lambda: [x.close() for x in idle])
        time.sleep(0.2)
        idle.pop().close()
        status, _, _ = h.wait_until(
            lambda: (lambda r: r if r[0] == 200 else None)(h.http_request(s.port, "GET", "/healthz", timeout=2)),
            10, "served once a connection was freed")
        self.assertEqual(status, 200)

    def test_failing_accept_backs_off_instead_of_spinning(self):
        # Reproduced before: with no file descriptors left, accept failed in a
        # tight loop: 95 % of a core and ~20 MB/s of log lines.
        import socket
        s = self.start_server()
        pid = s.proc.pid
        soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        used = len(os.listdir(f"/proc/{pid}/fd"))
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (used + 1, hard))
        socks = []
        self.addCleanup(lambda: [x.close() for x in socks])
        try:
            for _ in range(8):
                socks.append(socket.create_connection(("127.0.0.1", s.port), timeout=5))
            time.sleep(0.3)
            cpu_before = self.cpu_seconds(pid)
            log_before = len(s.stderr_text())
            time.sleep(3.0)
            cpu = self.cpu_seconds(pid) - cpu_before
            logged = s.stderr_text()[log_before:]
        finally:
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
        self.assertLess(cpu, 0.9, f"{cpu:.2f} s of CPU in 3 s with accept failing: it spins")
        self.assertLess(len(logged), 2000, f"{len(logged)} bytes of log in 3 s:\n{logged[:500]}")
        for x in socks:
            x.close()
        socks.clear()
        # Once descriptors are free again, new connections are served.
        status, _, _ = h.wait_until(lambda: h.http_request(s.port, "GET", "/healthz", timeout=2), 10,
                                    "served again after the descriptors came back")
        self.assertEqual(status, 200)
        _, _, metrics = h.http_request_raw(s.port, "GET", "/metrics")
        failures = [line for line in metrics.decode().splitlines()
                    if line.startswith("qc_http_accept_failures_total ")]
        self.assertTrue(failures)
        self.assertLess(float(failures[0].split()[1]), 200)

    @staticmethod
    def cpu_seconds(pid):
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    unittest.main()
