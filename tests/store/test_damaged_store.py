"""SPEC §9 end to end: the real `quantcrunch serve` never starts on a damaged
or empty SQLite database. It exits non-zero within a bound, having written
exactly one error line that names the file, and /readyz never answers 200
meanwhile.

The damaged files are made by the server itself (documents POSTed, then a
clean stop); then one page in the middle of a table or index is overwritten
with random bytes, behind SQLite's back. For the table page, the test first
shows what a reader that stops at the first non-row makes of the file: part
of the table and no error, i.e. a server that would have started with
documents missing.
"""

import os
import random
import re
import sqlite3
import time
import unittest

import qc_harness as h

TOKEN = "damaged-store-token"
DB_NAME = "quantcrunch.sqlite3"  # under the data dir
EXIT_BOUND = 20.0  # seconds from spawn to exit
N_DOCUMENTS = 300
BASE = h.ny_unix("2021-06-01 10:00:00")

LOG_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (debug|info|warn|error) +"
                    r"\[([^\]]+)\] (.*)$")


def pages_of(path, name, page_type="leaf"):
    """(page size, [page numbers of `name`'s b-tree pages of that type])."""
    con = sqlite3.connect(path)
    try:
        page_size = con.execute("PRAGMA page_size").fetchone()[0]
        pages = [row[0] for row in con.execute(
            "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = ? ORDER BY pageno",
            (name, page_type))]
    finally:
        con.close()
    return page_size, pages


def overwrite_page(path, page, page_size, seed=8):
    noise = random.Random(seed).randbytes(page_size)
    with open(path, "r+b") as f:
        f.seek((page - 1) * page_size)
        f.write(noise)


def rows_until_error(path, sql):
    """(rows read, the error that ended the read or None)."""
    con = sqlite3.connect(path)
    rows, error = 0, None
    try:
        for _ in con.execute(sql):
            rows += 1
    except sqlite3.DatabaseError as e:
        error = e
    finally:
        con.close()
    return rows, error


class DamagedStoreTest(h.ServerTestCase):
    def data_dir(self):
        return os.path.join(self.make_temp_dir(), "data")

    def build_database(self, data_dir):
        """A database with N_DOCUMENTS documents (and as many open positions),
        written by the server; returns its path after a clean stop."""
        server = self.start_server(data_dir, token=TOKEN)
        docs = [h.make_document(BASE + i * 60, [("AAPL", 110.0 + i / 100, 100.0)])
                for i in range(N_DOCUMENTS)]
        h.post_all(self, server, docs)
        self.assertEqual(server.stop(), 0, server.stderr_text())
        path = os.path.join(data_dir, DB_NAME)
        self.assertTrue(os.path.isfile(path))
        return path

    def assert_refused(self, data_dir, path):
        """Starts the server on `data_dir` and asserts it exits non-zero within
        EXIT_BOUND with one error line naming `path`, /readyz never 200.
        Returns that error line's message."""
        server = h.Server(data_dir, token=TOKEN)
        self.addCleanup(server.cleanup)
        started = time.monotonic()
        with self.assertRaises(h.ServerExited,
                               msg="the server started (/readyz answered 200) on a damaged or "
                                   "empty database"):
            server.start(timeout=EXIT_BOUND)
        self.assertLess(time.monotonic() - started, EXIT_BOUND + 1)
        self.assertNotEqual(server.proc.returncode, 0, server.stderr_text())
        stderr = server.stderr_text()
        errors = [m.group(3) for m in map(LOG_RE.match, stderr.splitlines())
                  if m and m.group(1) == "error"]
        self.assertEqual(len(errors), 1, f"expected one error line\n{stderr}")
        self.assertIn(path, errors[0])
        return errors[0]

    def test_damaged_table_page_stops_startup_with_one_error_line(self):
        data_dir = self.data_dir()
        path = self.build_database(data_dir)
        page_size, leaves = pages_of(path, "recommendations")
        self.assertGreaterEqual(len(leaves), 5)
        overwrite_page(path, leaves[len(leaves) // 2], page_size)
        rows, error = rows_until_error(path, "SELECT seq FROM recommendations ORDER BY seq")
        self.assertIsNotNone(error, "the damaged page was not noticed")
        self.assertGreater(rows, 0)
        self.assertLess(rows, N_DOCUMENTS)

        message = self.assert_refused(data_dir, path)
        self.assertIn("damaged", message)

    def test_damaged_index_page_stops_startup_with_one_error_line(self):
        # An index the startup never reads: only the integrity check sees it.
        data_dir = self.data_dir()
        path = self.build_database(data_dir)
        page_size, leaves = pages_of(path, "sqlite_autoindex_recommendations_1")
        self.assertGreaterEqual(len(leaves), 3)
        overwrite_page(path, leaves[len(leaves) // 2], page_size)
        rows, error = rows_until_error(path, "SELECT seq FROM recommendations ORDER BY seq")
        self.assertIsNone(error)
        self.assertEqual(rows, N_DOCUMENTS)

        message = self.assert_refused(data_dir, path)
        self.assertIn("damaged", message)

    def test_empty_file_stops_startup_and_stays_empty(self):
        data_dir = self.data_dir()
        os.makedirs(data_dir)
        path = os.path.join(data_dir, DB_NAME)
        open(path, "wb").close()

        message = self.assert_refused(data_dir, path)
        self.assertIn("empty (0 bytes)", message)
        self.assertIn("delete it", message)
        self.assertIn("backup", message)
        self.assertEqual(os.path.getsize(path), 0)
        self.assertEqual(sorted(os.listdir(data_dir)), [DB_NAME])


if __name__ == "__main__":
    unittest.main()
