"""A Server-Sent Events client for the integration tests (standard library only).

`EventStream` opens GET /api/events on a raw socket, decodes the chunked (or
close-delimited) body and parses it as an EventSource does: `id:` sets the
last event id (also for a block without data), a block with data is an
event, `retry:` is remembered, comment lines are skipped. A test can also
open the socket and never read (`read=False`) to play a slow client.
"""

import json
import socket
import time


class StreamClosed(AssertionError):
    pass


class EventStream:
    def __init__(self, port, path="/api/events", headers=None, timeout=10.0, rcvbuf=None,
                 host="127.0.0.1", version="1.1"):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        lines = [f"GET {path} HTTP/{version}", f"Host: {host}:{port}"]
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self._raw = b""
        self._text = ""
        self.closed = False
        self.ended_cleanly = False  # the last chunk arrived
        self.status = None
        self.headers = {}
        self.body = b""  # a non-stream answer (error)
        self.last_event_id = ""
        self.retry = None
        self._block = {}
        self._pending = []
        self.chunked = False

    # -- header -------------------------------------------------------------

    def read_header(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self._raw:
            if not self._recv(deadline):
                raise StreamClosed(f"connection closed before the header: {self._raw!r}")
        head, _, rest = self._raw.partition(b"\r\n\r\n")
        self._raw = rest
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split(" ")[1])
        for line in header_lines:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"
        if self.status != 200:
            length = int(self.headers.get("content-length", "0"))
            while len(self._raw) < length:
                if not self._recv(deadline):
                    break
            self.body = self._raw[:length]
        return self

    def json_body(self):
        return json.loads(self.body)

    # -- events -------------------------------------------------------------

    def next_event(self, timeout=10.0):
        """The next dispatched event as a dict (id, event, data, raw_data,
        last_event_id); raises StreamClosed at the end of the stream and
        AssertionError after `timeout` s."""
        deadline = time.monotonic() + timeout
        while not self._pending:
            self._parse()
            if self._pending:
                break
            if self.closed:
                raise StreamClosed("the stream ended")
            if not self._recv(deadline):
                self._parse()
                if not self._pending:
                    raise StreamClosed("the stream ended")
        return self._pending.pop(0)

    def events(self, n, timeout=10.0, types=None):
        """The next `n` events (of `types` if given, others skipped)."""
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            e = self.next_event(max(0.01, deadline - time.monotonic()))
            if types is None or e["event"] in types:
                out.append(e)
        return out

    def wait_for(self, predicate, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            e = self.next_event(max(0.01, deadline - time.monotonic()))
            if predicate(e):
                return e

    def read_to_end(self, timeout=20.0):
        """Reads until the server closes; the events still parsed are kept."""
        deadline = time.monotonic() + timeout
        while self._recv(deadline):
            pass
        self._parse()
        return self

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- internals ----------------------------------------------------------

    def _recv(self, deadline):
        """One read into the body; False at EOF. AssertionError past deadline."""
        if self.closed:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("timed out waiting for data from the event stream")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise AssertionError("timed out waiting for data from the event stream") from None
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.closed = True
            return False
        self._raw += data
        if self.status is not None:
            self._decode()
        return True

    def _decode(self):
        if not self.chunked:
            self._text += self._raw.decode("utf-8")
            self._raw = b""
            return
        while True:
            eol = self._raw.find(b"\r\n")
            if eol < 0:
                return
            size = int(self._raw[:eol], 16)
            if len(self._raw) < eol + 2 + size + 2:
                return
            if size == 0:
                self.ended_cleanly = True
            self._text += self._raw[eol + 2:eol + 2 + size].decode("utf-8")
            self._raw = self._raw[eol + 2 + size + 2:]

    def _parse(self):
        if self._raw and self.status is not None:
            self._decode()
        while True:
            cut = min((i for i in (self._text.find("\r"), self._text.find("\n")) if i >= 0), default=-1)
            if cut < 0:
                return
            line = self._text[:cut]
            skip = 2 if self._text[cut:cut + 2] == "\r\n" else 1
            self._text = self._text[cut + skip:]
            if line == "":
                self._dispatch()
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if field == "data":
                self._block.setdefault("data", []).append(value)
            elif field == "id":
                self._block["id"] = value
            elif field == "event":
                self._block["event"] = value
            elif field == "retry" and value.isdigit():
                self.retry = int(value)

    def _dispatch(self):
        block, self._block = self._block, {}
        if "id" in block:
            self.last_event_id = block["id"]
        if "data" not in block:
            return
        raw = "\n".join(block["data"])
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        self._pending.append({"id": block.get("id"), "event": block.get("event", "message"),
                              "data": data, "raw_data": raw, "last_event_id": self.last_event_id})


def open_stream(port, **kw):
    """An EventStream whose header has been read."""
    return EventStream(port, **kw).read_header()
