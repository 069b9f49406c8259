"""Command line and configuration (SPEC §3, docs/decisions.md "Command line")."""

import os
import subprocess
import unittest

import qc_harness as h


class CliTest(h.ServerTestCase):
    def run_qc(self, args, env=None, cwd=None, timeout=15):
        cwd = cwd or self.make_temp_dir("qc-cli-")
        try:
            return subprocess.run([h.qc_bin(), *args], capture_output=True, text=True,
                                  timeout=timeout, cwd=cwd, env=h.clean_env(env),
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            self.fail(f"quantcrunch {' '.join(args)} still running after {timeout} s "
                      f"(it should have refused the configuration); stderr: {e.stderr!r}")

    def assert_config_error(self, args, env=None, words=(), secrets=(), pass_host=True):
        """Runs quantcrunch expecting a refused configuration: exit status 2 and
        exactly one stderr line `quantcrunch: error: ...` holding `words` and
        none of `secrets` (nor do they appear on stdout); nothing started."""
        cwd = self.make_temp_dir("qc-cli-")
        data_dir = os.path.join(cwd, "data")
        if args and args[0] == "serve":
            args = [*args, *(["--host", "127.0.0.1"] if pass_host else []),
                    "--data-dir", data_dir]
        r = self.run_qc(args, env=env, cwd=cwd)
        self.assertEqual(r.returncode, 2, f"exit status {r.returncode}; stderr: {r.stderr!r}")
        err = r.stderr.strip("\n")
        self.assertNotIn("\n", err, f"more than one line on stderr: {r.stderr!r}")
        self.assertTrue(err.startswith("quantcrunch: error: "), f"stderr: {r.stderr!r}")
        for w in words:
            self.assertIn(w, err)
        for secret in secrets:
            self.assertNotIn(secret, r.stderr + r.stdout, "a secret was printed")
        self.assertFalse(os.path.exists(data_dir), "the data dir was created for a bad config")
        return err

    def test_port_not_a_number_is_exit_2(self):
        self.assert_config_error(["serve", "--port", "abc", "--feed", "none"], words=["abc"])

    def test_port_out_of_range_is_exit_2(self):
        self.assert_config_error(["serve", "--port", "70000", "--feed", "none"], words=["70000"])
        self.assert_config_error(["serve", "--port", "0", "--feed", "none"])

    def test_port_from_environment_not_a_number_is_exit_2(self):
        self.assert_config_error(["serve", "--feed", "none"], env={"PORT": "abc"},
                                 words=["PORT", "abc"])

    def test_unknown_feed_is_exit_2(self):
        self.assert_config_error(["serve", "--port", str(h.free_port()), "--feed", "bogus"],
                                 words=["bogus"])

    def test_missing_replay_file_is_exit_2(self):
        self.assert_config_error(["serve", "--port", str(h.free_port()),
                                  "--feed", "replay:/nonexistent/bars.jsonl"],
                                 words=["/nonexistent/bars.jsonl"])

    def test_unknown_flag_is_exit_2(self):
        self.assert_config_error(["serve", "--port", str(h.free_port()), "--feed", "none",
                                  "--bogus-flag", "1"], words=["--bogus-flag"])

    def test_flag_without_value_is_exit_2(self):
        # "--port" is followed by "--host" (added by assert_config_error).
        self.assert_config_error(["serve", "--feed", "none", "--port"],
                                 words=["--port", "needs a value"])

    def test_flag_value_not_an_integer_is_exit_2(self):
        self.assert_config_error(["serve", "--feed", "none", "--threads", "two"],
                                 words=["--threads", "two"])

    # -- values the server used to fail on later (issue #8) -------------------

    def test_bad_host_is_exit_2(self):
        for host in ("example.invalid", "[::1]", "127.0.0.1:5050"):
            with self.subTest(host=host):
                self.assert_config_error(["serve", "--port", str(h.free_port()), "--feed", "none"],
                                         env={"HOST": host}, pass_host=False,
                                         words=["HOST", host, "0.0.0.0", "::"])
        self.assert_config_error(["serve", "--port", str(h.free_port()), "--feed", "none",
                                  "--host", "example.invalid"], pass_host=False,
                                 words=["--host", "example.invalid"])

    def test_localhost_listens_on_the_ipv4_loopback(self):
        cwd = self.make_temp_dir("qc-cli-")
        s = self.start_server(os.path.join(cwd, "data"), cwd=cwd, pass_host=False,
                              env={"HOST": "localhost"})
        self.assertIn(f"listening on 127.0.0.1:{s.port}", s.stderr_text())

    def test_bad_redis_url_is_exit_2_without_the_password(self):
        password = "Pa55wordNeverShown"
        for url in (f"redis://:{password}@cache.internal:99999",
                    f"redis://:{password}@cache.internal:6379/zero",
                    f"redis//:{password}@cache.internal"):
            with self.subTest(url=url.replace(password, "***")):
                self.assert_config_error(["serve", "--port", str(h.free_port()), "--feed", "none"],
                                         env={"REDIS_URL": url}, words=["REDIS_URL"],
                                         secrets=[password])

    def test_mongodb_password_with_slash_at_or_colon_is_never_printed(self):
        # Reproduced before: the redactor split at the first '@' or stopped at
        # the '/', and "mongodb://u:pa/ss@host" was logged whole.
        for password in ("pa/ss0rdX", "p@ss0rdX", "pa:ss0rdX", "p%40ss%2F0rdX"):
            with self.subTest(password=password.replace("ss0rd", "...")):
                cwd = self.make_temp_dir("qc-cli-")
                r = self.run_qc(["serve", "--host", "127.0.0.1", "--port", str(h.free_port()),
                                 "--feed", "none", "--data-dir", os.path.join(cwd, "data")],
                                env={"MONGO_ATLAS_URI": f"mongodb://u:{password}@127.0.0.1:1/"
                                                        "?serverSelectionTimeoutMS=500"}, cwd=cwd)
                self.assertNotEqual(r.returncode, 0)
                out = r.stderr + r.stdout
                self.assertIn("database", out)
                self.assertNotIn("ss0rd", out.lower(), "a part of the password was printed")

    def test_bad_redis_host_is_exit_2(self):
        self.assert_config_error(["serve", "--port", str(h.free_port()), "--feed", "none"],
                                 env={"REDIS_HOST": "cache.internal:6380"},
                                 words=["REDIS_HOST", "REDIS_URL"])

    def test_rediss_url_is_used_without_showing_its_password(self):
        # Redis over TLS; unreachable here, so an unhealthy Redis cache (never
        # the in-process one in its place).
        password = "Pa55wordNeverShown"
        s = self.start_server(env={"REDIS_URL": f"rediss://:{password}@cache.internal:6380"})
        log = s.stderr_text()
        self.assertIn("cache: Redis at rediss://:***@cache.internal:6380 over TLS", log)
        self.assertNotIn("cache: in-process memory", log)
        self.assertNotIn(password, log + s.stdout_text())

    def test_bad_cors_origins_is_exit_2(self):
        for value, words in (
                ("https://app.example/", ["'https://app.example/'", "trailing slash"]),
                ("https://ok.example,https://app.example/dashboard", ["/dashboard"]),
                ("*,https://app.example", ["'*'"]),
                ("app.example", ["'app.example'"])):
            with self.subTest(value=value):
                self.assert_config_error(["serve", "--port", str(h.free_port()), "--feed", "none"],
                                         env={"QC_CORS_ORIGINS": value},
                                         words=["QC_CORS_ORIGINS", *words])

    def test_cors_origin_with_password_is_exit_2_without_it(self):
        self.assert_config_error(["serve", "--port", str(h.free_port()), "--feed", "none"],
                                 env={"QC_CORS_ORIGINS": "https://admin:Hunter2pw@app.example"},
                                 words=["QC_CORS_ORIGINS"], secrets=["Hunter2pw"])

    def test_bad_max_connections_is_exit_2(self):
        self.assert_config_error(["serve", "--port", str(h.free_port()), "--feed", "none"],
                                 env={"QC_MAX_CONNECTIONS": "-1"},
                                 words=["QC_MAX_CONNECTIONS", "-1"])
        self.assert_config_error(["serve", "--port", str(h.free_port()), "--feed", "none",
                                  "--max-connections", "lots"], words=["--max-connections"])

    def test_bad_value_in_dotenv_is_exit_2(self):
        cwd = self.make_temp_dir("qc-cli-")
        h.write_text(os.path.join(cwd, ".env"), "QC_CORS_ORIGINS=https://app.example/\n")
        r = self.run_qc(["serve", "--port", str(h.free_port()), "--feed", "none",
                         "--host", "127.0.0.1", "--data-dir", os.path.join(cwd, "data")], cwd=cwd)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        self.assertTrue(r.stderr.startswith("quantcrunch: error: QC_CORS_ORIGINS"), r.stderr)

    def test_value_with_a_newline_stays_on_one_line(self):
        self.assert_config_error(["serve", "--port", str(h.free_port()), "--feed", "none"],
                                 env={"HOST": "127.0.0.1\nexample"}, pass_host=False,
                                 words=["HOST"])

    def test_backtest_without_bars_is_exit_2(self):
        recs = h.write_text(os.path.join(self.make_temp_dir(), "r.jsonl"), "")
        self.assert_config_error(["backtest", "--recommendations", recs], words=["--bars"])

    def test_serve_help_exits_0(self):
        r = self.run_qc(["serve", "--help"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("usage: quantcrunch serve", r.stdout)
        for text in ("--port", "[PORT]", "--max-connections", "[QC_MAX_CONNECTIONS]",
                     "QC_CORS_ORIGINS", "(default 5050)"):
            self.assertIn(text, r.stdout)
        self.assertEqual(r.stderr, "")

    def test_backtest_help_exits_0(self):
        r = self.run_qc(["backtest", "--help"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("usage: quantcrunch backtest"), r.stdout)
        for flag in ("--recommendations", "--bars", "--out", "--quiet"):
            self.assertIn(flag, r.stdout)

    # -- precedence: flags > environment > .env ---------------------------------

    def server_in(self, cwd, port, pass_port, env=None, extra_args=(), feed="none"):
        return self.start_server(os.path.join(cwd, "data"), cwd=cwd, port=port, feed=feed,
                                 pass_port=pass_port, env=env, extra_args=extra_args)

    def assert_listening_on(self, server, port):
        self.assertEqual(server.port, port)
        self.assertEqual(h.http_request(port, "GET", "/healthz")[0], 200)
        self.assertIn(f"listening on 127.0.0.1:{port}", server.stderr_text())

    def test_dotenv_in_working_directory_is_read(self):
        cwd = self.make_temp_dir("qc-cli-")
        port = h.free_port()
        h.write_text(os.path.join(cwd, ".env"),
                     f"# settings\nPORT={port}\nQC_FEED=none\nexport QC_API_TOKEN='from-dotenv'\n")
        s = self.server_in(cwd, port, pass_port=False, feed=None)  # QC_FEED from .env
        self.assert_listening_on(s, port)
        self.assertEqual(s.readyz()["feed"]["kind"], "none")
        doc = h.make_document(h.ny_unix("2021-07-12 10:59:00"), [("AAPL", 150.2, 145.1)])
        self.assertEqual(s.post_document(doc, token="from-dotenv")[0], 201)

    def test_environment_wins_over_dotenv(self):
        cwd = self.make_temp_dir("qc-cli-")
        dotenv_port, env_port = h.free_port(), h.free_port()
        while env_port == dotenv_port:
            env_port = h.free_port()
        h.write_text(os.path.join(cwd, ".env"), f"PORT={dotenv_port}\n")
        s = self.server_in(cwd, env_port, pass_port=False, env={"PORT": env_port})
        self.assert_listening_on(s, env_port)

    def test_flags_win_over_environment(self):
        cwd = self.make_temp_dir("qc-cli-")
        env_port, flag_port = h.free_port(), h.free_port()
        while env_port == flag_port:
            flag_port = h.free_port()
        h.write_text(os.path.join(cwd, ".env"), "PORT=abc\n")  # would be an error if used
        s = self.server_in(cwd, flag_port, pass_port=True,
                           env={"PORT": env_port, "QC_FEED": "sim"})
        self.assert_listening_on(s, flag_port)
        self.assertEqual(s.readyz()["feed"]["kind"], "none")  # --feed none beats QC_FEED=sim


if __name__ == "__main__":
    unittest.main()
