#!/usr/bin/env python3
"""Local MongoDB wire-protocol stand-in, for integration tests.

Debian 12 ships no MongoDB server, so this module plays one over real loopback
sockets (127.0.0.1 only) for the real MongoDB C driver (libmongoc 1.23) and for
pymongo 3.11. Query and update semantics come from ``mongomock`` (Debian's
python3-mongomock 4.1.2); BSON coding from Debian's python3-pymongo (``bson``).
Nothing else outside the standard library is used.

What it speaks:

* OP_MSG (opcode 2013): kind-0 body and kind-1 document sequences, the
  ``checksumPresent`` and ``moreToCome`` flags (no reply is sent for
  ``moreToCome``, i.e. w:0 writes); replies are OP_MSG with a kind-0 body;
* legacy OP_QUERY (2004) on ``<db>.$cmd`` (the drivers' first
  ``isMaster``/``hello``), answered with OP_REPLY (opcode 1).

Transport: plain TCP (default) or, with ``tls=...``, TLS through Python's
``ssl`` module (server side, certificates e.g. from ``tls_certs.make_certs``),
optionally requiring a client certificate. Like a ``mongod`` without TLS, the
plain stand-in closes a connection whose first bytes are a TLS ClientHello;
the TLS stand-in closes one whose handshake fails (and records why in
``tls_errors``).

Topologies: a standalone ``mongod`` (default) or, with ``replica_set="rs0"``,
a one-member replica set whose primary is this server: sessions, retryable
writes (a retried ``txnNumber`` gets the recorded reply, the write is not
applied twice), multi-document transactions (snapshot copy per transaction,
writes become visible atomically at ``commitTransaction``; write conflicts
answer 112 WriteConflict with the TransientTransactionError label) and change
streams (an in-memory oplog with resume tokens; ``resumeAfter``,
``startAfter``, ``startAtOperationTime``, ``postBatchResumeToken``, awaitData
``getMore`` bounded by ``maxTimeMS``).

Use from unittest::

    from mongo_standin import MongoStandIn
    with MongoStandIn(replica_set="rs0") as mongo:
        ... start the server with MONGO_ATLAS_URI=mongo.uri_for("quantcrunch")
        mongo.insert("quantcrunch", "recommendations", {...})   # feeds change streams
        assert mongo.wait_for(lambda: mongo.find("quantcrunch", "open_positions"), timeout=5)

Every method is thread-safe and every wait is bounded. Data, the oplog and
the retryable-write records survive ``stop()``/``start()`` on the same object
(a "restart" on the same port); cursors, transactions in progress and
connections do not, as with a real ``mongod`` restart.

Control API (``MongoStandIn(replica_set=None|"rs0", port=0, transaction_lifetime=60,
tls=None, advertised_host=None)``):
``start()``/``stop()`` (or ``with``), ``uri``, ``uri_for(db, **opts)``, ``port``,
``address``, ``tls_errors``, ``tls_clients``, ``tls_hellos_refused``, ``client``
(the backing ``mongomock.MongoClient``; hold ``lock`` while using it; its
writes do not reach change streams), ``insert``/``update``/
``delete``/``find`` helpers (oplog-fed), ``commands`` ((name, db, coll) list),
``command_docs``, ``commands_named``, ``wait_for_command``, ``wait_for``,
``clear_commands``, ``fail_next``, ``clear_fail_points``, ``drop_connections``,
``connection_count``, ``freeze``/``unfreeze``, ``truncate_oplog``, ``oplog``,
``internal_errors`` (commands the stand-in could not handle: a test should
assert it stays empty). The ``configureFailPoint``/``failCommand`` command is
also understood.

TLS (``tls={"cert": PEM, "key": KEY, "ca": CA_PEM, "client_ca": CA_PEM}``):
``cert``/``key`` are what the server presents; ``ca`` (optional) is only
written into ``uri``/``uri_for`` as ``tlsCAFile``; with ``client_ca`` a client
must present a certificate signed by it. ``uri`` then carries ``tls=true``.
``advertised_host`` (default ``127.0.0.1``) is the host name the stand-in
gives as its own address in ``hello`` (``hosts``, ``me``, ``primary``) and in
``uri``; it still listens on 127.0.0.1 only (the name must resolve there, e.g.
through a DNS stand-in). ``tls_errors`` lists why handshakes failed (the
server's view, e.g. "tlsv1 alert unknown ca" when the client did not trust
the certificate), ``tls_clients`` the subject of each client certificate
accepted (None: the client sent none), ``tls_hellos_refused`` how many TLS
ClientHellos a plain stand-in closed. ``make_client_cert(DIR)`` and
``make_server_cert(DIR, STEM, names)`` write more certificates signed by
the test CA of ``tls_certs.make_certs(DIR)``.

Not covered (differences from a real MongoDB): no ``mongodb+srv``/DNS seed
lists of its own (a test may serve the SRV/TXT records with a DNS stand-in),
no OCSP stapling, no authentication (SCRAM ``saslStart`` answers CommandNotFound),
no OP_COMPRESSED, no exhaust cursors, no streaming (awaitable) ``hello``; one
member only (no secondaries, elections, read preferences, write-concern
waits: ``writeConcern``/``readConcern``/``maxTimeMS`` on non-change-stream
commands are accepted and ignored); query/update/aggregation semantics are
mongomock's (no ``arrayFilters``, collation, ``hint``, ``$out``/``$merge``, views,
text/geo indexes; TTL indexes expire without change events); no cursor
timeouts; transactions copy a whole collection at first touch (snapshot per
collection, not per transaction), detect write conflicts per document by
``_id`` (a non-transactional write to a document a transaction wrote makes the
commit fail with WriteConflict instead of blocking) and cannot run DDL;
change events carry top-level ``updateDescription`` diffs only, no
``rename``/``invalidate`` for renames, no pre-images/``fullDocumentBeforeChange``,
and resume tokens are only valid on the same ``MongoStandIn`` object.

Standalone (manual testing)::

    python3 tests/support/mongo_standin.py [--replica-set rs0] [--port 0]
        [--tls-dir DIR [--tls-cert STEM] [--tls-client-ca]]

prints ``MONGO_ATLAS_URI=...`` and runs until SIGINT/SIGTERM. With
``--tls-dir`` it serves TLS with ``DIR/STEM.pem``/``DIR/STEM.key`` (STEM
``server`` by default), writing the test certificates of ``tls_certs.py``
into DIR first when ``DIR/ca.pem`` is missing; the URI names ``DIR/ca.pem``
as ``tlsCAFile``. ``--tls-client-ca`` requires a client certificate signed by
``DIR/ca.pem`` (the certificates it writes include that client certificate,
``make_client_cert``).
"""

from __future__ import annotations

import argparse
import collections
import copy
import datetime as _dt
import itertools
import os
import random
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
import uuid

import bson
from bson.binary import Binary, STANDARD
from bson.codec_options import CodecOptions
from bson.int64 import Int64
from bson.objectid import ObjectId
from bson.timestamp import Timestamp

import mongomock
from mongomock import filtering as _mm_filtering
from mongomock import helpers as _mm_helpers
from mongomock.store import CollectionStore as _MMCollectionStore
from pymongo.errors import DuplicateKeyError, OperationFailure, WriteError

__all__ = ["MongoStandIn", "CommandError", "make_client_cert", "make_server_cert", "main"]

HOST = "127.0.0.1"

OP_REPLY = 1
OP_QUERY = 2004
OP_COMPRESSED = 2012
OP_MSG = 2013

MSG_CHECKSUM_PRESENT = 1 << 0
MSG_MORE_TO_COME = 1 << 1

MAX_BSON_OBJECT_SIZE = 16 * 1024 * 1024
MAX_MESSAGE_SIZE = 48_000_000
MAX_WRITE_BATCH_SIZE = 100_000
BATCH_BYTES = MAX_BSON_OBJECT_SIZE - 64 * 1024
DEFAULT_FIRST_BATCH = 101
MAX_AWAIT_SECONDS = 60.0        # cap on a getMore's awaitData wait (maxTimeMS)
DEFAULT_AWAIT_SECONDS = 1.0     # awaitData wait when getMore has no maxTimeMS (as mongod)

SERVER_VERSION = "5.0.0"
MAX_WIRE_VERSION = 13          # MongoDB 5.0
SESSION_TIMEOUT_MINUTES = 30

CODEC = CodecOptions(document_class=dict, tz_aware=False, uuid_representation=STANDARD)

CODE_NAMES = {
    1: "InternalError", 2: "BadValue", 8: "UnknownError", 9: "FailedToParse",
    13: "Unauthorized", 20: "IllegalOperation", 26: "NamespaceNotFound",
    27: "IndexNotFound", 43: "CursorNotFound", 48: "NamespaceExists",
    50: "MaxTimeMSExpired", 59: "CommandNotFound", 72: "InvalidOptions",
    73: "InvalidNamespace", 85: "IndexOptionsConflict", 86: "IndexKeySpecsConflict",
    89: "NetworkTimeout", 91: "ShutdownInProgress", 112: "WriteConflict",
    189: "PrimarySteppedDown", 225: "TransactionTooOld", 238: "NotImplemented",
    251: "NoSuchTransaction", 256: "TransactionCommitted", 260: "InvalidResumeToken",
    262: "ExceededTimeLimit", 263: "OperationNotSupportedInTransaction",
    280: "ChangeStreamFatalError", 286: "ChangeStreamHistoryLost",
    10107: "NotWritablePrimary", 11000: "DuplicateKey", 11600: "InterruptedAtShutdown",
    11602: "InterruptedDueToReplStateChange", 13435: "NotPrimaryNoSecondaryOk",
    40573: "Location40573",
}

TXN_ERROR_LABEL = "TransientTransactionError"
RETRYABLE_WRITE_LABEL = "RetryableWriteError"
# Codes mongod 4.4+ labels RetryableWriteError on retryable writes / commit / abort.
RETRYABLE_WRITE_CODES = {6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436}

# Commands allowed inside a multi-document transaction (others: 263).
_TXN_COMMANDS = {"find", "getMore", "killCursors", "insert", "update", "delete",
                 "findAndModify", "aggregate", "distinct", "commitTransaction",
                 "abortTransaction"}
_WRITE_COMMANDS = {"insert", "update", "delete", "findAndModify"}
_HELLO_NAMES = {"hello", "isMaster", "ismaster"}


class CommandError(Exception):
    """A command failure, sent as ``{ok: 0, errmsg, code, codeName, ...}``."""

    def __init__(self, code, errmsg, labels=None, **extra):
        super().__init__(errmsg)
        self.code = int(code)
        self.errmsg = errmsg
        self.labels = list(labels or [])
        self.extra = extra

    def to_doc(self):
        doc = {"ok": 0.0, "errmsg": self.errmsg, "code": self.code,
               "codeName": CODE_NAMES.get(self.code, "Location%d" % self.code)}
        doc.update(self.extra)
        if self.labels:
            doc["errorLabels"] = list(self.labels)
        return doc


class _CloseConnection(Exception):
    """Raised by fault injection: close the connection without replying."""


# ----------------------------------------------------------------------------
# small helpers


def _now_utc():
    now = _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _id_key(db, coll, _id):
    return (db, coll, bson.encode({"_id": _id}, codec_options=CODEC))


def _first_key(doc):
    for key in doc:
        return key
    return None


def _as_bool(value, default=False):
    if value is None:
        return default
    return bool(value)


def _sort_list(sort):
    if not sort:
        return None
    if isinstance(sort, dict):
        return [(k, int(v) if isinstance(v, (int, float)) else v) for k, v in sort.items()]
    return list(sort)


def _fmt_value(value):
    if isinstance(value, str):
        return '"%s"' % value
    if isinstance(value, ObjectId):
        return "ObjectId('%s')" % value
    if isinstance(value, dict):
        return "{ " + ", ".join("%s: %s" % (k, _fmt_value(v)) for k, v in value.items()) + " }"
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def _rewrite_pipeline(pipeline):
    """Map stages mongomock lacks onto equivalent ones it has."""
    out = []
    for stage in pipeline:
        if not isinstance(stage, dict) or len(stage) != 1:
            raise CommandError(40323, "A pipeline stage specification object must contain "
                                      "exactly one field.")
        name, spec = next(iter(stage.items()))
        if name == "$unset":
            fields = [spec] if isinstance(spec, str) else list(spec)
            out.append({"$project": {f: 0 for f in fields}})
        elif name == "$replaceWith":
            out.append({"$replaceRoot": {"newRoot": spec}})
        elif name == "$sortByCount":
            out.append({"$group": {"_id": spec, "count": {"$sum": 1}}})
            out.append({"$sort": {"count": -1}})
        elif name in ("$out", "$merge"):
            raise CommandError(238, "%s is not supported by the mongo stand-in" % name)
        elif name == "$changeStream":
            raise CommandError(40602, "$changeStream is only valid as the first stage "
                                      "in a pipeline")
        elif name == "$facet":
            out.append({"$facet": {k: _rewrite_pipeline(v) for k, v in spec.items()}})
        else:
            out.append(stage)
    return out


def _lookup_sources(pipeline):
    """Collections a pipeline reads besides its own ($lookup/$graphLookup/$unionWith)."""
    found = set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("$lookup", "$graphLookup") and isinstance(value, dict):
                    if isinstance(value.get("from"), str):
                        found.add(value["from"])
                if key == "$unionWith":
                    if isinstance(value, str):
                        found.add(value)
                    elif isinstance(value, dict) and isinstance(value.get("coll"), str):
                        found.add(value["coll"])
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(pipeline)
    return found


def _update_description(pre, post):
    updated = {k: v for k, v in post.items() if k not in pre or pre[k] != v}
    removed = [k for k in pre if k not in post]
    return {"updatedFields": updated, "removedFields": removed, "truncatedArrays": []}


def _mm_error_code(exc, default=2):
    code = getattr(exc, "code", None)
    return int(code) if isinstance(code, int) and code else default


# ----------------------------------------------------------------------------
# server-side state objects


class _Txn:
    def __init__(self, session, number, lsid):
        self.session = session
        self.number = int(number)
        self.lsid = lsid
        self.state = "in_progress"          # in_progress | committed | aborted
        self.client = mongomock.MongoClient()
        self.snap = {}                      # (db, coll) -> oplog seq of the copy
        self.written = collections.OrderedDict()   # doc key -> (db, coll, _id)
        self.events = []                    # (op, db, coll, _id, pre, post)
        self.started = time.monotonic()


class _Session:
    def __init__(self, key):
        self.key = key
        self.highest = -1                   # highest txnNumber seen
        self.txn = None                     # current/last _Txn
        self.retry_number = None            # last retryable write txnNumber
        self.retry_reply = None
        self.last_used = time.monotonic()


class _Cursor:
    def __init__(self, cid, db, coll, ns, docs=None):
        self.id = cid
        self.db = db
        self.coll = coll
        self.ns = ns
        self.docs = collections.deque(docs or [])
        self.change = None                  # dict for change-stream cursors


class _Conn:
    def __init__(self, sock, conn_id, peer):
        self.sock = sock
        self.id = conn_id
        self.peer = peer
        self.thread = None
        self.closed = False
        self.send_lock = threading.Lock()

    def close(self):
        if self.closed:
            return
        self.closed = True
        try:
            # The plain socket's shutdown also for a TLS socket: no close_notify
            # from this thread while the connection's own thread may be reading.
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass


class _Ctx:
    """Where a command reads and writes: the live store or a transaction's copy."""

    def __init__(self, standin, txn=None):
        self.s = standin
        self.txn = txn

    def coll(self, db, name):
        if self.txn is None:
            return self.s.client[db][name]
        return self.s._txn_coll(self.txn, db, name)

    def record(self, op, db, coll, _id, pre, post):
        if self.txn is None:
            self.s._append_oplog(op, db, coll, _id, pre, post)
        else:
            self.s._txn_record(self.txn, op, db, coll, _id, pre, post)


# ----------------------------------------------------------------------------


class MongoStandIn:
    """A MongoDB server stand-in on 127.0.0.1 (see the module docstring)."""

    def __init__(self, replica_set=None, port=0, transaction_lifetime=60.0, max_log=100_000,
                 tls=None, advertised_host=None):
        self.replica_set = replica_set
        self.tls = dict(tls) if tls else None
        self.advertised_host = advertised_host or HOST
        self.tls_errors = []                # why TLS handshakes failed (server's view)
        self.tls_clients = []               # subject of each client certificate (None: none)
        self.tls_hellos_refused = 0         # TLS ClientHellos closed by a plain stand-in
        self._ssl_context = self._make_ssl_context() if self.tls else None
        self.max_log = int(max_log)         # commands/command_docs keep the newest entries
        self.port = int(port)
        self.transaction_lifetime = float(transaction_lifetime)
        self.client = mongomock.MongoClient()
        self.commands = []                  # (name, db, collection or None)
        self.command_docs = []              # (name, db, full command body)
        self.internal_errors = []           # (name, traceback): stand-in bugs/gaps, not user errors
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._epoch = int(time.time())
        self._instance = random.getrandbits(32)     # tokens of another stand-in are foreign
        self._seq = 0
        self._oplog = []                    # entry dicts; seq == index + 1 + _oplog_base
        self._oplog_base = 0                # seqs <= this were truncated away
        self._doc_versions = {}             # doc key -> seq of last committed write
        self._doc_owner = {}                # doc key -> _Txn holding it
        self._sessions = {}
        self._cursors = {}
        self._fail_points = []
        self._frozen_until = 0.0
        self._conns = {}
        self._conn_ids = itertools.count(1)
        self._request_ids = itertools.count(1)
        self._listener = None
        self._accept_thread = None
        self._running = False
        self._election_id = ObjectId()
        self._started_at = time.monotonic()

    # ------------------------------------------------------------------ control

    @property
    def address(self):
        return "%s:%d" % (self.advertised_host, self.port)

    @property
    def uri(self):
        return self.uri_for()

    def _tls_uri_options(self):
        if not self.tls:
            return []
        params = ["tls=true"]
        if self.tls.get("ca"):
            params.append("tlsCAFile=%s" % self.tls["ca"])
        return params

    def uri_for(self, database=None, **options):
        """``uri`` with a default database path and extra URI options (k=v).

        An option given as None is left out (e.g. ``tlsCAFile=None``)."""
        params = []
        if self.replica_set:
            params.append("replicaSet=%s" % self.replica_set)
        else:
            params.append("directConnection=true")
        for param in self._tls_uri_options():
            if param.split("=", 1)[0] not in options:
                params.append(param)
        for key, value in options.items():
            if value is None:
                continue
            if isinstance(value, bool):
                value = "true" if value else "false"
            params.append("%s=%s" % (key, value))
        return "mongodb://%s/%s?%s" % (self.address, database or "", "&".join(params))

    def _make_ssl_context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.tls["cert"], self.tls["key"])
        if self.tls.get("client_ca"):
            ctx.load_verify_locations(self.tls["client_ca"])
            ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx

    def start(self):
        with self._lock:
            if self._running:
                return self
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            deadline = time.monotonic() + 5.0
            while True:
                try:
                    sock.bind((HOST, self.port))
                    break
                except OSError:
                    if self.port == 0 or time.monotonic() > deadline:
                        sock.close()
                        raise
                    time.sleep(0.05)
            sock.listen(128)
            sock.settimeout(0.2)
            self.port = sock.getsockname()[1]
            self._listener = sock
            self._running = True
            self._frozen_until = 0.0
            self._accept_thread = threading.Thread(target=self._accept_loop, args=(sock,),
                                                   name="mongo-standin-accept", daemon=True)
            self._accept_thread.start()
        return self

    def stop(self, timeout=5.0):
        """Close the listener and every connection; keep data, oplog and sessions.

        Like a mongod restart: open cursors are gone (CursorNotFound) and
        transactions in progress are aborted.
        """
        with self._lock:
            if not self._running:
                return
            self._running = False
            listener, self._listener = self._listener, None
            conns = list(self._conns.values())
            self._frozen_until = 0.0
            self._cond.notify_all()
        try:
            listener.close()
        except OSError:
            pass
        for conn in conns:
            conn.close()
        deadline = time.monotonic() + timeout
        if self._accept_thread is not None:
            self._accept_thread.join(max(0.0, deadline - time.monotonic()))
        for conn in conns:
            if conn.thread is not None and conn.thread is not threading.current_thread():
                conn.thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            self._cursors.clear()
            for session in self._sessions.values():
                if session.txn is not None and session.txn.state == "in_progress":
                    self._abort_txn(session.txn)
            self._cond.notify_all()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def running(self):
        return self._running

    @property
    def connection_count(self):
        with self._lock:
            return len(self._conns)

    def drop_connections(self):
        """Close every client connection now (the listener stays up)."""
        with self._lock:
            conns = list(self._conns.values())
        for conn in conns:
            conn.close()
        return len(conns)

    def freeze(self, seconds):
        """Stop answering (every request waits) for ``seconds``; connects still succeed."""
        with self._lock:
            self._frozen_until = time.monotonic() + max(0.0, float(seconds))
            self._cond.notify_all()

    def unfreeze(self):
        with self._lock:
            self._frozen_until = 0.0
            self._cond.notify_all()

    def fail_next(self, command_name, n=1, code=8, errmsg=None, error_labels=None,
                  close_connection=False, after_apply=False, delay=0.0):
        """Fail the next ``n`` commands named ``command_name``.

        The command answers ``{ok:0, code, errmsg, errorLabels}``, or with
        ``close_connection`` the connection is closed without a reply. With
        ``after_apply`` the command is executed first (its writes happen) and
        the failure replaces its reply: "applied, acknowledgement lost".
        ``delay`` (seconds, bounded by 60) is waited before answering.
        """
        with self._lock:
            self._fail_points.append({
                "name": command_name, "remaining": int(n), "code": int(code),
                "errmsg": errmsg or "Failing command %s via mongo stand-in fail_next"
                % command_name,
                "labels": list(error_labels or []), "close": bool(close_connection),
                "after_apply": bool(after_apply), "delay": min(60.0, max(0.0, float(delay)))})

    def clear_fail_points(self):
        with self._lock:
            self._fail_points = []

    def clear_commands(self):
        with self._lock:
            self.commands.clear()
            self.command_docs.clear()

    def commands_named(self, name):
        with self._lock:
            return [c for c in self.commands if c[0] == name]

    def wait_for(self, predicate, timeout=5.0, interval=0.02):
        """Poll ``predicate()`` until truthy or ``timeout``; returns its last value."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value or time.monotonic() >= deadline:
                return value
            time.sleep(interval)

    def wait_for_command(self, name, count=1, timeout=5.0):
        return self.wait_for(lambda: len(self.commands_named(name)) >= count, timeout)

    # data helpers: all feed the change-stream oplog, unlike writes through .client

    def insert(self, db, coll, doc):
        """Insert one document (or a list); returns the _id (or list of _ids)."""
        docs = doc if isinstance(doc, list) else [doc]
        with self._lock:
            res = self._do_insert(_Ctx(self), db, coll, [dict(d) for d in docs], True)
            self._cond.notify_all()
        if res.get("writeErrors"):
            err = res["writeErrors"][0]
            raise DuplicateKeyError(err["errmsg"], err["code"]) if err["code"] == 11000 \
                else WriteError(err["errmsg"], err["code"])
        ids = res["_ids"]
        return ids if isinstance(doc, list) else ids[0]

    def update(self, db, coll, filter, update, upsert=False, multi=False):
        with self._lock:
            res = self._do_update(_Ctx(self), db, coll, [
                {"q": filter, "u": update, "upsert": upsert, "multi": multi}], True)
            self._cond.notify_all()
        if res.get("writeErrors"):
            raise WriteError(res["writeErrors"][0]["errmsg"], res["writeErrors"][0]["code"])
        return res

    def delete(self, db, coll, filter, multi=True):
        with self._lock:
            res = self._do_delete(_Ctx(self), db, coll, [{"q": filter, "limit": 0 if multi else 1}],
                                  True)
            self._cond.notify_all()
        return res["n"]

    def find(self, db, coll, filter=None, sort=None):
        with self._lock:
            cur = self.client[db][coll].find(filter or {})
            if sort:
                cur = cur.sort(_sort_list(sort))
            return list(cur)

    def truncate_oplog(self):
        """Forget all change events so far (like an oplog that rolled over).

        Resuming from an older token, or a change stream cursor still
        positioned before this point, then fails with 286
        ChangeStreamHistoryLost.
        """
        with self._lock:
            self._oplog_base = self._seq
            self._oplog = []
            self._cond.notify_all()

    @property
    def lock(self):
        """The global data lock: hold it while touching ``.client`` directly."""
        return self._lock

    def oplog(self):
        """Copies of the recorded change events' raw entries (op, ns, _id, images)."""
        with self._lock:
            return [dict(e) for e in self._oplog]

    # ------------------------------------------------------------------ network

    def _accept_loop(self, listener):
        while self._running:
            try:
                sock, peer = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if not self._running:
                    sock.close()
                    break
                conn = _Conn(sock, next(self._conn_ids), peer)
                self._conns[conn.id] = conn
            conn.thread = threading.Thread(target=self._serve_conn, args=(conn,),
                                           name="mongo-standin-conn-%d" % conn.id, daemon=True)
            conn.thread.start()

    @staticmethod
    def _recv_exact(sock, n):
        buf = bytearray()
        while len(buf) < n:
            try:
                chunk = sock.recv(n - len(buf))
            except OSError:
                return None
            if not chunk:
                return None
            buf += chunk
        return bytes(buf)

    def _tls_handshake(self, conn):
        """Wraps the connection's socket in TLS (bounded); False when it failed."""
        raw = conn.sock
        try:
            raw.settimeout(10.0)
            tls = self._ssl_context.wrap_socket(raw, server_side=True,
                                                do_handshake_on_connect=False)
            conn.sock = tls
            tls.do_handshake()
            tls.settimeout(None)
        except (OSError, ValueError) as exc:
            with self._lock:
                self.tls_errors.append("%s: %s" % (type(exc).__name__, exc))
            return False
        peer = tls.getpeercert()
        subject = None
        if peer:
            subject = ",".join("%s=%s" % kv for rdn in peer.get("subject", ()) for kv in rdn)
        with self._lock:
            self.tls_clients.append(subject)
        return True

    def _serve_conn(self, conn):
        try:
            if self._ssl_context is not None and not self._tls_handshake(conn):
                return
            first = True
            while self._running and not conn.closed:
                header = self._recv_exact(conn.sock, 16)
                if header is None:
                    break
                if first and self._ssl_context is None and header[0] == 0x16 and \
                        header[1] == 0x03 and header[2] in (1, 2, 3, 4):
                    # A TLS ClientHello (record type 22, version 3.x), which as
                    # a message length would be over 64 KiB: a mongod without
                    # TLS closes the connection ("SSL handshake received but
                    # server is started without SSL support").
                    with self._lock:
                        self.tls_hellos_refused += 1
                    break
                first = False
                length, request_id, _response_to, opcode = struct.unpack("<iiii", header)
                if length < 16 or length > MAX_MESSAGE_SIZE:
                    break
                payload = self._recv_exact(conn.sock, length - 16)
                if payload is None:
                    break
                if not self._wait_unfrozen():
                    break
                try:
                    if opcode == OP_MSG:
                        reply = self._handle_op_msg(conn, request_id, payload)
                    elif opcode == OP_QUERY:
                        reply = self._handle_op_query(conn, request_id, payload)
                    else:   # OP_COMPRESSED is never negotiated; legacy opcodes are gone
                        break
                except _CloseConnection:
                    break
                except Exception:   # noqa: BLE001 - malformed message: drop the connection
                    break
                if reply is not None and not conn.closed:
                    try:
                        with conn.send_lock:
                            conn.sock.sendall(reply)
                    except OSError:
                        break
        finally:
            conn.close()
            with self._lock:
                self._conns.pop(conn.id, None)

    def _wait_unfrozen(self):
        with self._cond:
            while self._running:
                remaining = self._frozen_until - time.monotonic()
                if remaining <= 0:
                    return True
                self._cond.wait(min(remaining, 1.0))
            return False

    def _pack(self, opcode, response_to, payload):
        return struct.pack("<iiii", 16 + len(payload), next(self._request_ids) & 0x7FFFFFFF,
                           response_to, opcode) + payload

    def _handle_op_msg(self, conn, request_id, payload):
        flags = struct.unpack_from("<I", payload, 0)[0]
        end = len(payload) - (4 if flags & MSG_CHECKSUM_PRESENT else 0)
        pos = 4
        body = None
        sequences = []
        while pos < end:
            kind = payload[pos]
            pos += 1
            if kind == 0:
                size = struct.unpack_from("<i", payload, pos)[0]
                body = bson.decode(payload[pos:pos + size], codec_options=CODEC)
                pos += size
            elif kind == 1:
                size = struct.unpack_from("<i", payload, pos)[0]
                seq_end = pos + size
                name_end = payload.index(b"\x00", pos + 4)
                ident = payload[pos + 4:name_end].decode("utf-8")
                docs = bson.decode_all(payload[name_end + 1:seq_end], CODEC)
                sequences.append((ident, docs))
                pos = seq_end
            else:
                raise _CloseConnection()
        if body is None:
            raise _CloseConnection()
        for ident, docs in sequences:
            body.setdefault(ident, [])
            body[ident] = list(body[ident]) + docs
        db = body.get("$db", "admin")
        reply = self._run_command(conn, db, body)
        if flags & MSG_MORE_TO_COME:
            return None
        data = struct.pack("<I", 0) + b"\x00" + bson.encode(reply, codec_options=CODEC)
        return self._pack(OP_MSG, request_id, data)

    def _handle_op_query(self, conn, request_id, payload):
        pos = 4
        name_end = payload.index(b"\x00", pos)
        full_name = payload[pos:name_end].decode("utf-8")
        pos = name_end + 1 + 8
        size = struct.unpack_from("<i", payload, pos)[0]
        query = bson.decode(payload[pos:pos + size], codec_options=CODEC)
        if "$query" in query:
            query = query["$query"]
        elif "query" in query and isinstance(query.get("query"), dict) and \
                _first_key(query) == "query":
            query = query["query"]
        db, _, coll = full_name.partition(".")
        if coll != "$cmd":
            reply, flags = {"$err": "OP_QUERY is no longer supported for queries",
                            "code": 5739101, "ok": 0.0}, 2   # QueryFailure
        else:
            reply, flags = self._run_command(conn, db, query), 0
        data = struct.pack("<iqii", flags, 0, 0, 1) + bson.encode(reply, codec_options=CODEC)
        return self._pack(OP_REPLY, request_id, data)

    # ------------------------------------------------------------------ dispatch

    def _take_fail_point(self, name):
        with self._lock:
            for fp in self._fail_points:
                if fp["name"] == name and fp["remaining"] > 0:
                    fp["remaining"] -= 1
                    if fp["remaining"] <= 0:
                        self._fail_points.remove(fp)
                    return fp
        return None

    def _run_command(self, conn, db, cmd):
        name = _first_key(cmd)
        target = cmd.get(name)
        if name in ("getMore",):
            coll_name = cmd.get("collection")
        elif isinstance(target, str):
            coll_name = target
        else:
            coll_name = None
        with self._lock:
            self.commands.append((name, db, coll_name))
            self.command_docs.append((name, db, cmd))
            if len(self.commands) > self.max_log:
                del self.commands[:len(self.commands) - self.max_log]
                del self.command_docs[:len(self.command_docs) - self.max_log]
        fp = self._take_fail_point(name)
        if fp is not None and fp["delay"]:
            time.sleep(fp["delay"])
        if fp is not None and not fp["after_apply"]:
            if fp["close"]:
                raise _CloseConnection()
            return self._decorate(self._injected_error(fp, cmd))
        try:
            reply = self._dispatch(conn, db, name, cmd)
            if "ok" not in reply:
                reply["ok"] = 1.0
        except CommandError as exc:
            reply = exc.to_doc()
        except _CloseConnection:
            raise
        except Exception as exc:   # noqa: BLE001 - a server never dies on a bad command
            with self._lock:
                self.internal_errors.append((name, traceback.format_exc()))
            reply = CommandError(1, "mongo stand-in internal error in %s: %s: %s"
                                 % (name, type(exc).__name__, exc)).to_doc()
        if fp is not None:         # after_apply: the work is done, the answer is lost
            if fp["close"]:
                raise _CloseConnection()
            return self._decorate(self._injected_error(fp, cmd))
        return self._decorate(reply)

    def _injected_error(self, fp, cmd):
        labels = list(fp["labels"])
        name = _first_key(cmd)
        retryable = "txnNumber" in cmd and (
            "autocommit" not in cmd or name in ("commitTransaction", "abortTransaction"))
        if self.replica_set and retryable and fp["code"] in RETRYABLE_WRITE_CODES and \
                RETRYABLE_WRITE_LABEL not in labels:
            labels.append(RETRYABLE_WRITE_LABEL)   # as mongod >= 4.4 does
        return CommandError(fp["code"], fp["errmsg"], labels).to_doc()

    def _decorate(self, reply):
        if self.replica_set:
            with self._lock:
                ts = reply.pop("_operationTime", None) or Timestamp(self._epoch, self._seq)
                cluster = Timestamp(self._epoch, self._seq)
            reply["operationTime"] = ts
            reply["$clusterTime"] = {
                "clusterTime": cluster,
                "signature": {"hash": Binary(b"\x00" * 20, 0), "keyId": Int64(0)}}
        else:
            reply.pop("_operationTime", None)
        return reply

    def _dispatch(self, conn, db, name, cmd):
        if name is None:
            raise CommandError(59, "no such command: ''")
        # handshake / stateless commands
        if name in _HELLO_NAMES:
            return self._cmd_hello(conn, name, cmd)
        simple = {
            "ping": lambda: {},
            "buildInfo": self._cmd_build_info, "buildinfo": self._cmd_build_info,
            "endSessions": lambda: {}, "refreshSessions": lambda: {},
            "killSessions": lambda: {}, "killAllSessions": lambda: {},
            "startSession": self._cmd_start_session,
            "whatsmyuri": lambda: {"you": "%s:%d" % (conn.peer[0], conn.peer[1])},
            "connectionStatus": lambda: {"authInfo": {"authenticatedUsers": [],
                                                      "authenticatedUserRoles": []}},
            "serverStatus": lambda: self._cmd_server_status(),
            "getCmdLineOpts": lambda: {"argv": ["mongo_standin"], "parsed": {}},
        }
        if name in simple:
            self._check_no_txn_fields(cmd, name)
            return simple[name]()
        if name == "configureFailPoint":
            return self._cmd_configure_fail_point(cmd)
        handler = getattr(self, "_cmd_" + name, None)
        if handler is None or name.startswith("_"):
            raise CommandError(59, "no such command: '%s'" % name)
        if name == "getMore":
            return handler(conn, db, cmd)   # may wait without holding the lock
        with self._lock:
            ctx, session, retry = self._session_context(name, cmd)
            if retry is not None:
                return copy.deepcopy(retry)
            try:
                reply = handler(ctx, db, cmd)
            except CommandError as exc:
                if ctx.txn is not None and ctx.txn.state == "in_progress" and \
                        name not in ("commitTransaction", "abortTransaction"):
                    self._abort_txn(ctx.txn)
                    if exc.code == 112 and TXN_ERROR_LABEL not in exc.labels:
                        exc.labels.append(TXN_ERROR_LABEL)
                raise
            if ctx.txn is not None and ctx.txn.state == "in_progress" and \
                    reply.get("writeErrors"):
                self._abort_txn(ctx.txn)       # a write error aborts the transaction
            if session is not None and name in _WRITE_COMMANDS and "txnNumber" in cmd and \
                    "autocommit" not in cmd:
                session.retry_number = int(cmd["txnNumber"])
                reply.setdefault("ok", 1.0)
                session.retry_reply = copy.deepcopy(reply)
            self._cond.notify_all()
            return reply

    def _check_no_txn_fields(self, cmd, name):
        if "txnNumber" in cmd and not self.replica_set:
            raise CommandError(20, "Transaction numbers are only allowed on a replica set "
                                   "member or mongos")

    # ------------------------------------------------------------------ sessions

    def _session_context(self, name, cmd):
        """Returns (ctx, session, cached retry reply) for a command; lock held."""
        lsid = cmd.get("lsid")
        txn_number = cmd.get("txnNumber")
        autocommit = cmd.get("autocommit")
        start = cmd.get("startTransaction")
        if txn_number is None:
            if autocommit is not None or start is not None:
                raise CommandError(50768 if autocommit is not None else 72,
                                   "txnNumber must be provided for multi-document "
                                   "transactions")
            if name in ("commitTransaction", "abortTransaction"):
                raise CommandError(50768, "txnNumber must be provided for multi-document "
                                          "transactions")
            return _Ctx(self), None, None
        if not self.replica_set:
            raise CommandError(20, "Transaction numbers are only allowed on a replica set "
                                   "member or mongos")
        if not isinstance(lsid, dict) or "id" not in lsid:
            raise CommandError(72, "Transaction number requires a session ID to also be "
                                   "specified")
        txn_number = int(txn_number)
        key = bson.encode({"id": lsid["id"]}, codec_options=CODEC)
        session = self._sessions.get(key)
        if session is None:
            session = self._sessions[key] = _Session(key)
        session.last_used = time.monotonic()
        if autocommit is None:
            # retryable write
            if name not in _WRITE_COMMANDS:
                raise CommandError(50768, "txnNumber may only be provided for multi-document "
                                          "transactions and retryable write commands. "
                                          "autocommit:false was not provided, and %s is not "
                                          "a retryable write command." % name)
            if txn_number < session.highest:
                raise CommandError(225, "Retryable write with txnNumber %d is prohibited on "
                                        "session because a newer retryable write with "
                                        "txnNumber %d has already started on this session."
                                   % (txn_number, session.highest))
            if txn_number == session.retry_number and session.retry_reply is not None:
                return _Ctx(self), session, session.retry_reply
            if session.txn is not None and session.txn.state == "in_progress":
                self._abort_txn(session.txn)
            session.highest = txn_number
            return _Ctx(self), session, None
        if autocommit is not False:
            raise CommandError(72, "autocommit field can only be specified as false")
        if name not in _TXN_COMMANDS:
            raise CommandError(263, "Cannot run '%s' in a multi-document transaction." % name)
        txn = session.txn
        if start:
            if txn_number < session.highest or (txn_number == session.highest and txn
                                                is not None and txn.number == txn_number):
                raise CommandError(225, "Cannot start transaction %d on session because a "
                                        "newer transaction %d has already started."
                                   % (txn_number, session.highest))
            if name in ("commitTransaction", "abortTransaction"):
                raise CommandError(251, "Transaction %d has not been started" % txn_number,
                                   [TXN_ERROR_LABEL])
            if txn is not None and txn.state == "in_progress":
                self._abort_txn(txn)
            session.highest = txn_number
            txn = session.txn = _Txn(session, txn_number, lsid)
            return _Ctx(self, txn), session, None
        if txn is not None and txn.state == "in_progress" and \
                time.monotonic() - txn.started > self.transaction_lifetime:
            self._abort_txn(txn)
        if txn is None or txn.number != txn_number:
            raise CommandError(251, "Given transaction number %d does not match any "
                                    "in-progress transactions." % txn_number,
                               [TXN_ERROR_LABEL])
        if txn.state == "aborted":
            if name == "abortTransaction":
                raise CommandError(251, "Transaction %d has been aborted." % txn_number)
            raise CommandError(251, "Transaction %d has been aborted." % txn_number,
                               [TXN_ERROR_LABEL])
        if txn.state == "committed" and name not in ("commitTransaction",):
            raise CommandError(256, "Transaction %d has been committed." % txn_number)
        return _Ctx(self, txn), session, None

    def _txn_coll(self, txn, db, name):
        key = (db, name)
        if key not in txn.snap:
            src = self.client._store[db]._collections.get(name)
            if src is not None:
                dst = _MMCollectionStore(name)
                dst._documents = copy.deepcopy(src._documents)
                dst.indexes = copy.deepcopy(src.indexes)
                dst._ttl_indexes = {n: dst.indexes[n] for n in src._ttl_indexes
                                    if n in dst.indexes}
                dst._is_force_created = src._is_force_created
                txn.client._store[db]._collections[name] = dst
            txn.snap[key] = self._seq
        return txn.client[db][name]

    def _conflict_holder(self, key, txn):
        owner = self._doc_owner.get(key)
        if owner is None or owner is txn:
            return None
        if owner.state != "in_progress":
            self._doc_owner.pop(key, None)
            return None
        if time.monotonic() - owner.started > self.transaction_lifetime:
            self._abort_txn(owner)
            return None
        return owner

    def _txn_record(self, txn, op, db, coll, _id, pre, post):
        key = _id_key(db, coll, _id)
        if self._doc_versions.get(key, 0) > txn.snap.get((db, coll), 0) or \
                self._conflict_holder(key, txn) is not None:
            raise CommandError(112, "WriteConflict error: this operation conflicted with "
                                    "another operation. Please retry your operation or "
                                    "multi-document transaction.", [TXN_ERROR_LABEL])
        self._doc_owner[key] = txn
        txn.written.setdefault(key, (db, coll, _id))
        txn.events.append((op, db, coll, _id, copy.deepcopy(pre), copy.deepcopy(post)))

    def _release_txn(self, txn):
        for key in txn.written:
            if self._doc_owner.get(key) is txn:
                del self._doc_owner[key]
        txn.client = None

    def _abort_txn(self, txn):
        if txn.state == "in_progress":
            txn.state = "aborted"
            self._release_txn(txn)

    def _commit_txn(self, txn):
        """Apply a transaction's final document states atomically (lock held)."""
        for key, (db, coll, _id) in txn.written.items():
            if self._doc_versions.get(key, 0) > txn.snap.get((db, coll), 0):
                self._abort_txn(txn)
                raise CommandError(112, "WriteConflict error: a document written by this "
                                        "transaction was changed after its snapshot.",
                                   [TXN_ERROR_LABEL])
        applied = []
        try:
            for key, (db, coll, _id) in txn.written.items():
                main = self.client[db][coll]
                final = txn.client[db][coll].find_one({"_id": _id})
                current = main.find_one({"_id": _id})
                applied.append((db, coll, _id, current))
                if final is None:
                    if current is not None:
                        main.delete_one({"_id": _id})
                elif current is None:
                    main.insert_one(final)
                else:
                    main.replace_one({"_id": _id}, final)
        except (DuplicateKeyError, WriteError, OperationFailure) as exc:
            for db, coll, _id, current in reversed(applied):
                main = self.client[db][coll]
                main.delete_one({"_id": _id})
                if current is not None:
                    main.insert_one(current)
            self._abort_txn(txn)
            raise CommandError(112, "WriteConflict error at commit: %s" % exc,
                               [TXN_ERROR_LABEL])
        for op, db, coll, _id, pre, post in txn.events:
            self._append_oplog(op, db, coll, _id, pre, post,
                               txn=(txn.lsid, txn.number))
        txn.state = "committed"
        self._release_txn(txn)

    def _append_oplog(self, op, db, coll, _id, pre, post, txn=None):
        self._seq += 1
        entry = {"seq": self._seq, "op": op, "db": db, "coll": coll, "_id": _id,
                 "pre": pre, "post": post, "wall": _now_utc(), "txn": txn}
        self._oplog.append(entry)
        if op in ("insert", "update", "replace", "delete"):
            self._doc_versions[_id_key(db, coll, _id)] = self._seq
        self._cond.notify_all()

    # ------------------------------------------------------------------ admin commands

    def _cmd_hello(self, conn, name, cmd):
        doc = {}
        if cmd.get("helloOk"):
            doc["helloOk"] = True
        doc["ismaster" if name != "hello" else "isWritablePrimary"] = True
        if self.replica_set:
            doc.update({
                "hosts": [self.address], "setName": self.replica_set, "setVersion": 1,
                "secondary": False, "primary": self.address, "me": self.address,
                "electionId": self._election_id,
                "lastWrite": self._last_write(),
            })
        doc.update({
            "maxBsonObjectSize": MAX_BSON_OBJECT_SIZE,
            "maxMessageSizeBytes": MAX_MESSAGE_SIZE,
            "maxWriteBatchSize": MAX_WRITE_BATCH_SIZE,
            "localTime": _now_utc(),
            "logicalSessionTimeoutMinutes": SESSION_TIMEOUT_MINUTES,
            "connectionId": conn.id,
            "minWireVersion": 0,
            "maxWireVersion": MAX_WIRE_VERSION,
            "readOnly": False,
        })
        return doc

    def _last_write(self):
        with self._lock:
            ts = Timestamp(self._epoch, self._seq)
            when = self._oplog[-1]["wall"] if self._oplog else _now_utc()
        op_time = {"ts": ts, "t": Int64(1)}
        return {"opTime": op_time, "lastWriteDate": when,
                "majorityOpTime": op_time, "majorityWriteDate": when}

    def _cmd_build_info(self):
        return {"version": SERVER_VERSION, "gitVersion": "mongo-standin",
                "versionArray": [int(x) for x in SERVER_VERSION.split(".")] + [0],
                "bits": 64, "debug": False, "maxBsonObjectSize": MAX_BSON_OBJECT_SIZE,
                "storageEngines": ["ephemeralForTest"], "modules": [],
                "javascriptEngine": "none", "sysInfo": "deprecated",
                "openssl": {"running": "disabled", "compiled": "disabled"}}

    def _cmd_start_session(self):
        return {"id": {"id": uuid.uuid4()}, "timeoutMinutes": SESSION_TIMEOUT_MINUTES}

    def _cmd_server_status(self):
        with self._lock:
            current = len(self._conns)
        return {"host": self.address, "version": SERVER_VERSION, "process": "mongod",
                "pid": Int64(os.getpid()),
                "uptime": float(int(time.monotonic() - self._started_at)),
                "localTime": _now_utc(), "connections": {"current": current},
                "storageEngine": {"name": "ephemeralForTest"}}

    def _cmd_configure_fail_point(self, cmd):
        """Minimal ``failCommand`` fail point (what driver test suites use).

        ``data`` keys: failCommands, errorCode, errorLabels, closeConnection,
        blockConnection/blockTimeMS, and the stand-in extension
        ``standinAfterApply`` (see ``fail_next(after_apply=True)``).
        """
        if cmd.get("configureFailPoint") != "failCommand":
            raise CommandError(2, "stand-in only supports the failCommand fail point")
        mode = cmd.get("mode")
        data = cmd.get("data") or {}
        names = data.get("failCommands") or []
        with self._lock:
            self._fail_points = [fp for fp in self._fail_points if fp["name"] not in names]
        if mode == "off":
            return {}
        if mode == "alwaysOn":
            times = 1 << 30
        elif isinstance(mode, dict) and "times" in mode:
            times = int(mode["times"])
        else:
            raise CommandError(2, "unsupported fail point mode %r" % (mode,))
        for name in names:
            self.fail_next(name, times, data.get("errorCode", 8),
                           error_labels=data.get("errorLabels"),
                           close_connection=data.get("closeConnection", False),
                           after_apply=data.get("standinAfterApply", False),
                           delay=(data.get("blockTimeMS", 0) / 1000.0)
                           if data.get("blockConnection") else 0.0)
        return {"count": 0}

    def _cmd_listDatabases(self, ctx, db, cmd):
        self._no_txn(ctx, "listDatabases")
        out = []
        for name in sorted(self.client.list_database_names()):
            size = sum(len(bson.encode(d, codec_options=CODEC))
                       for c in self.client[name].list_collection_names()
                       for d in self.client[name][c].find())
            entry = {"name": name, "sizeOnDisk": float(size), "empty": size == 0}
            if cmd.get("filter") and not _mm_filtering.filter_applies(cmd["filter"], entry):
                continue
            out.append({"name": name} if cmd.get("nameOnly") else entry)
        return {"databases": out,
                "totalSize": float(sum(d.get("sizeOnDisk", 0) for d in out))}

    def _no_txn(self, ctx, name):
        if ctx.txn is not None:
            raise CommandError(263, "Cannot run '%s' in a multi-document transaction." % name)

    def _cmd_listCollections(self, ctx, db, cmd):
        out = []
        for name in sorted(self.client[db].list_collection_names()):
            entry = {"name": name, "type": "collection", "options": {},
                     "info": {"readOnly": False},
                     "idIndex": {"v": 2, "key": {"_id": 1}, "name": "_id_"}}
            if cmd.get("filter") and not _mm_filtering.filter_applies(cmd["filter"], entry):
                continue
            out.append({"name": name, "type": "collection"} if cmd.get("nameOnly") else entry)
        return self._cursor_reply(db, None, "%s.$cmd.listCollections" % db, out,
                                  (cmd.get("cursor") or {}).get("batchSize"))

    def _cmd_create(self, ctx, db, cmd):
        self._no_txn(ctx, "create")
        name = cmd["create"]
        if cmd.get("viewOn"):
            raise CommandError(238, "views are not supported by the mongo stand-in")
        if name in self.client[db].list_collection_names():
            raise CommandError(48, "Collection already exists. NS: %s.%s" % (db, name))
        self.client[db].create_collection(name)
        return {}

    def _cmd_drop(self, ctx, db, cmd):
        self._no_txn(ctx, "drop")
        name = cmd["drop"]
        if name not in self.client[db].list_collection_names():
            raise CommandError(26, "ns not found")
        n_indexes = len(self.client[db][name].index_information())
        self._drop_collection(db, name)
        return {"nIndexesWas": n_indexes, "ns": "%s.%s" % (db, name)}

    def _drop_collection(self, db, name):
        ids = [d["_id"] for d in self.client[db][name].find({}, {"_id": 1})]
        self.client[db].drop_collection(name)
        self._append_oplog("drop", db, name, None, None, None)
        for _id in ids:     # transactions that copied these documents now conflict
            self._doc_versions[_id_key(db, name, _id)] = self._seq

    def _cmd_dropDatabase(self, ctx, db, cmd):
        self._no_txn(ctx, "dropDatabase")
        names = self.client[db].list_collection_names()
        for name in names:
            self._drop_collection(db, name)
        self.client.drop_database(db)
        self._append_oplog("dropDatabase", db, None, None, None, None)
        return {"dropped": db}

    def _cmd_renameCollection(self, ctx, db, cmd):
        self._no_txn(ctx, "renameCollection")
        src, dst = cmd["renameCollection"], cmd.get("to")
        sdb, _, scoll = src.partition(".")
        ddb, _, dcoll = (dst or "").partition(".")
        if not scoll or not dcoll:
            raise CommandError(73, "Invalid namespace specified")
        if sdb != ddb:
            raise CommandError(238, "renameCollection across databases is not supported by "
                                    "the mongo stand-in")
        if scoll not in self.client[sdb].list_collection_names():
            raise CommandError(26, "Source collection %s does not exist" % src)
        if dcoll in self.client[sdb].list_collection_names():
            if not cmd.get("dropTarget"):
                raise CommandError(48, "target namespace exists")
            self._drop_collection(sdb, dcoll)
        self.client[sdb].rename_collection(scoll, dcoll)
        self._append_oplog("rename", sdb, scoll, None, None, None)
        return {}

    # ------------------------------------------------------------------ indexes

    def _cmd_createIndexes(self, ctx, db, cmd):
        self._no_txn(ctx, "createIndexes")
        name = cmd["createIndexes"]
        coll = self.client[db][name]
        created = name not in self.client[db].list_collection_names()
        if created:
            self.client[db].create_collection(name)
        before = len(coll.index_information())
        existing = coll.index_information()
        for spec in cmd.get("indexes") or []:
            key = spec.get("key")
            if not isinstance(key, dict) or not key:
                raise CommandError(2, "index key pattern must be a non-empty object")
            key_list = [(k, v) for k, v in key.items()]
            iname = spec.get("name") or _mm_helpers.gen_index_name(key_list)
            if iname == "_id_" or key_list == [("_id", 1)]:
                continue
            same_key = [n for n, info in existing.items() if list(info["key"]) == key_list]
            if iname in existing:
                info = existing[iname]
                if list(info["key"]) != key_list:
                    raise CommandError(86, "An existing index has the same name as the "
                                           "requested index but a different key. Requested "
                                           "index: %s, existing index: %s"
                                       % (iname, iname))
                if bool(info.get("unique")) != bool(spec.get("unique")):
                    raise CommandError(85, "An existing index has the same name as the "
                                           "requested index but different options: %s" % iname)
                continue
            if same_key:
                raise CommandError(85, "Index already exists with a different name: %s"
                                   % same_key[0])
            kwargs = {"name": iname}
            for opt in ("unique", "sparse", "expireAfterSeconds", "partialFilterExpression"):
                if spec.get(opt) is not None:
                    kwargs[opt] = spec[opt]
            try:
                coll.create_index(key_list, **kwargs)
            except DuplicateKeyError:
                raise CommandError(11000, "Index build failed: E11000 duplicate key error "
                                          "collection: %s.%s index: %s" % (db, name, iname))
            existing = coll.index_information()
        return {"createdCollectionAutomatically": created, "numIndexesBefore": before,
                "numIndexesAfter": len(coll.index_information())}

    def _cmd_dropIndexes(self, ctx, db, cmd):
        self._no_txn(ctx, "dropIndexes")
        name = cmd["dropIndexes"]
        if name not in self.client[db].list_collection_names():
            raise CommandError(26, "ns not found %s.%s" % (db, name))
        coll = self.client[db][name]
        before = len(coll.index_information())
        which = cmd.get("index")
        names = which if isinstance(which, list) else [which]
        for iname in names:
            if iname == "*":
                coll.drop_indexes()
                continue
            if isinstance(iname, dict):
                matches = [n for n, info in coll.index_information().items()
                           if list(info["key"]) == list(iname.items())]
                if not matches:
                    raise CommandError(27, "can't find index with key: %s" % _fmt_value(iname))
                iname = matches[0]
            if iname == "_id_":
                raise CommandError(72, "cannot drop _id index")
            if iname not in coll.index_information():
                raise CommandError(27, "index not found with name [%s]" % iname)
            coll.drop_index(iname)
        return {"nIndexesWas": before}

    def _cmd_listIndexes(self, ctx, db, cmd):
        name = cmd["listIndexes"]
        if name not in self.client[db].list_collection_names():
            raise CommandError(26, "ns does not exist: %s.%s" % (db, name))
        out = []
        for iname, info in self.client[db][name].index_information().items():
            entry = {"v": 2, "key": dict(info["key"]), "name": iname}
            for opt in ("unique", "sparse", "expireAfterSeconds", "partialFilterExpression"):
                if opt in info:
                    entry[opt] = info[opt]
            out.append(entry)
        return self._cursor_reply(db, name, "%s.%s" % (db, name), out,
                                  (cmd.get("cursor") or {}).get("batchSize"))

    # ------------------------------------------------------------------ cursors

    def _new_cursor_id(self):
        while True:
            cid = random.randint(1, (1 << 62))
            if cid not in self._cursors:
                return cid

    @staticmethod
    def _take_batch(docs, batch_size):
        out, size = [], 0
        limit = batch_size if batch_size and batch_size > 0 else None
        while docs and (limit is None or len(out) < limit):
            n = len(bson.encode(docs[0], codec_options=CODEC))
            if out and size + n > BATCH_BYTES:
                break
            out.append(docs.popleft())
            size += n
        return out

    def _cursor_reply(self, db, coll, ns, docs, batch_size=None, single_batch=False):
        docs = collections.deque(docs)
        if batch_size is None:
            batch_size = DEFAULT_FIRST_BATCH
        first = self._take_batch(docs, batch_size) if batch_size != 0 else []
        cid = 0
        if docs and not single_batch:
            with self._lock:
                cid = self._new_cursor_id()
                self._cursors[cid] = _Cursor(cid, db, coll, ns, docs)
        return {"cursor": {"firstBatch": first, "id": Int64(cid), "ns": ns}}

    def _cmd_getMore(self, conn, db, cmd):
        cid = int(cmd["getMore"])
        with self._lock:
            cur = self._cursors.get(cid)
            if cur is None or cur.db != db:
                raise CommandError(43, "cursor id %d not found" % cid)
            if cmd.get("collection") not in (cur.coll, None) and cur.coll is not None:
                raise CommandError(13, "Requested getMore on namespace '%s.%s', but cursor "
                                       "belongs to a different namespace %s"
                                   % (db, cmd.get("collection"), cur.ns))
            self._check_no_txn_fields(cmd, "getMore")
            if cur.change is not None:
                return self._change_get_more(cur, cmd)
            batch = self._take_batch(cur.docs, cmd.get("batchSize") or 0)
            if not cur.docs:
                self._cursors.pop(cid, None)
                cid = 0
            return {"cursor": {"nextBatch": batch, "id": Int64(cid), "ns": cur.ns}}

    def _cmd_killCursors(self, ctx, db, cmd):
        killed, missing = [], []
        for cid in cmd.get("cursors") or []:
            if self._cursors.pop(int(cid), None) is not None:
                killed.append(Int64(cid))
            else:
                missing.append(Int64(cid))
        self._cond.notify_all()
        return {"cursorsKilled": killed, "cursorsNotFound": missing, "cursorsAlive": [],
                "cursorsUnknown": []}

    # ------------------------------------------------------------------ reads

    def _cmd_find(self, ctx, db, cmd):
        name = cmd["find"]
        coll = ctx.coll(db, name)
        flt = cmd.get("filter") or {}
        projection = cmd.get("projection")
        try:
            cur = coll.find(flt, projection if projection else None)
            sort = _sort_list(cmd.get("sort"))
            if sort and sort[0][0] == "$natural":
                docs = list(cur)
                if sort[0][1] == -1:
                    docs.reverse()
            else:
                docs = list(cur.sort(sort) if sort else cur)
        except (OperationFailure, ValueError, TypeError) as exc:
            raise CommandError(_mm_error_code(exc), str(exc))
        except NotImplementedError as exc:
            raise CommandError(238, "mongo stand-in (mongomock) cannot run this find: %s"
                               % exc)
        skip = int(cmd.get("skip") or 0)
        limit = int(cmd.get("limit") or 0)
        single = _as_bool(cmd.get("singleBatch"))
        if limit < 0:
            limit, single = -limit, True
        docs = docs[skip:]
        if limit:
            docs = docs[:limit]
        batch_size = cmd.get("batchSize")
        return self._cursor_reply(db, name, "%s.%s" % (db, name), docs, batch_size, single)

    def _cmd_count(self, ctx, db, cmd):
        self._no_txn(ctx, "count")
        coll = ctx.coll(db, cmd["count"])
        try:
            n = len(list(coll.find(cmd.get("query") or {})))
        except (OperationFailure, ValueError) as exc:
            raise CommandError(_mm_error_code(exc), str(exc))
        n = max(0, n - int(cmd.get("skip") or 0))
        limit = abs(int(cmd.get("limit") or 0))
        if limit:
            n = min(n, limit)
        return {"n": n}

    def _cmd_distinct(self, ctx, db, cmd):
        coll = ctx.coll(db, cmd["distinct"])
        try:
            values = coll.distinct(cmd["key"], cmd.get("query") or None)
        except (OperationFailure, ValueError) as exc:
            raise CommandError(_mm_error_code(exc), str(exc))
        return {"values": list(values)}

    def _cmd_aggregate(self, ctx, db, cmd):
        target = cmd["aggregate"]
        pipeline = list(cmd.get("pipeline") or [])
        cursor_opts = cmd.get("cursor")
        if cursor_opts is None and not cmd.get("explain"):
            raise CommandError(9, "The 'cursor' option is required, except for aggregate "
                                  "with the explain argument")
        if pipeline and isinstance(pipeline[0], dict) and "$changeStream" in pipeline[0]:
            return self._open_change_stream(ctx, db, target, pipeline, cursor_opts or {})
        if cmd.get("explain"):
            raise CommandError(238, "explain is not supported by the mongo stand-in")
        if not isinstance(target, str):
            raise CommandError(238, "collection-less aggregate is not supported by the "
                                    "mongo stand-in")
        pipeline = _rewrite_pipeline(pipeline)
        if ctx.txn is not None:
            for other in _lookup_sources(pipeline):
                ctx.coll(db, other)
        coll = ctx.coll(db, target)
        try:
            docs = list(coll.aggregate(pipeline))
        except (OperationFailure, ValueError, TypeError, KeyError) as exc:
            raise CommandError(_mm_error_code(exc), "aggregate failed: %s" % exc)
        except NotImplementedError as exc:
            raise CommandError(238, "mongo stand-in (mongomock) cannot run this pipeline: %s"
                               % exc)
        return self._cursor_reply(db, target, "%s.%s" % (db, target), docs,
                                  cursor_opts.get("batchSize"))

    # ------------------------------------------------------------------ writes

    def _dup_info(self, coll, db, cname, doc):
        """(index name, keyPattern, keyValue) of the unique index ``doc`` violates."""
        _id = doc.get("_id")
        other = coll.find_one({"_id": _id})
        if other is not None:
            return "_id_", {"_id": 1}, {"_id": _id}
        for iname, info in coll.index_information().items():
            if not info.get("unique") or iname == "_id_":
                continue
            values = {}
            for field, _direction in info["key"]:
                try:
                    values[field] = _mm_helpers.get_value_by_dot(doc, field)
                except (KeyError, IndexError, TypeError):
                    values[field] = None
            if info.get("sparse") and all(v is None for v in values.values()):
                continue
            query = {"$and": [dict(values), {"_id": {"$ne": _id}}]}
            if info.get("partialFilterExpression"):
                query["$and"].append(info["partialFilterExpression"])
            if coll.find_one(query) is not None:
                return iname, {f: d for f, d in info["key"]}, values
        return None, None, None

    def _dup_error(self, coll, db, cname, doc, index=None):
        iname, pattern, value = self._dup_info(coll, db, cname, doc) if doc is not None \
            else (None, None, None)
        msg = "E11000 duplicate key error collection: %s.%s" % (db, cname)
        err = {"code": 11000}
        if iname is not None:
            msg += " index: %s dup key: %s" % (iname, _fmt_value(value))
            err["keyPattern"] = pattern
            err["keyValue"] = value
        err["errmsg"] = msg
        if index is not None:
            err = dict({"index": index}, **err)
        return err

    def _do_insert(self, ctx, db, cname, docs, ordered):
        coll = ctx.coll(db, cname)
        errors, ids, n = [], [], 0
        for i, doc in enumerate(docs):
            if "_id" not in doc:
                doc = dict({"_id": ObjectId()}, **doc)
            try:
                coll.insert_one(copy.deepcopy(doc))
            except DuplicateKeyError:
                errors.append(self._dup_error(coll, db, cname, doc, i))
            except (WriteError, OperationFailure, ValueError, TypeError,
                    bson.errors.InvalidDocument) as exc:
                errors.append({"index": i, "code": _mm_error_code(exc), "errmsg": str(exc)})
            else:
                n += 1
                ids.append(doc["_id"])
                ctx.record("insert", db, cname, doc["_id"], None,
                           coll.find_one({"_id": doc["_id"]}))
                continue
            if ordered:
                break
        reply = {"n": n, "_ids": ids}
        if errors:
            reply["writeErrors"] = errors
        return reply

    def _cmd_insert(self, ctx, db, cmd):
        docs = cmd.get("documents") or []
        reply = self._do_insert(ctx, db, cmd["insert"], docs, _as_bool(cmd.get("ordered"), True))
        reply.pop("_ids", None)
        return reply

    def _pipeline_update(self, coll, doc, pipeline):
        tmp = mongomock.MongoClient()["t"]["t"]
        tmp.insert_one(copy.deepcopy(doc))
        try:
            out = list(tmp.aggregate(_rewrite_pipeline(pipeline)))
        except NotImplementedError as exc:
            raise CommandError(238, "mongo stand-in cannot run this update pipeline: %s" % exc)
        except (OperationFailure, ValueError, TypeError, KeyError) as exc:
            raise CommandError(_mm_error_code(exc), "update pipeline failed: %s" % exc)
        if len(out) != 1:
            raise CommandError(2, "an update pipeline must produce exactly one document")
        new = out[0]
        if "_id" not in new:
            new = dict({"_id": doc["_id"]}, **new)
        if new["_id"] != doc["_id"]:
            raise CommandError(66, "After applying the update, the (immutable) field '_id' "
                                   "was found to have been altered")
        return new

    def _apply_one_update(self, ctx, coll, db, cname, q, u, upsert, multi, array_filters):
        """Runs one update statement; returns (n, nModified, upserted_id or None)."""
        if array_filters:
            raise CommandError(238, "arrayFilters are not supported by the mongo stand-in "
                                    "(mongomock)")
        is_pipeline = isinstance(u, list)
        is_replace = not is_pipeline and not any(k.startswith("$") for k in u)
        if is_replace and multi:
            raise CommandError(9, "multi update is not supported for replacement-style "
                                  "update")
        if not is_pipeline and not is_replace and not all(k.startswith("$") for k in u):
            raise CommandError(9, "Unknown modifier / mixing of update operators and fields")
        matched = list(coll.find(q))
        if not multi:
            matched = matched[:1]
        op = "replace" if is_replace else "update"
        modified = 0
        upserted = None
        if is_pipeline:
            for pre in matched:
                new = self._pipeline_update(coll, pre, u)
                if new != pre:
                    try:
                        coll.replace_one({"_id": pre["_id"]}, new)
                    except DuplicateKeyError:
                        raise _DupKey(new)
                    modified += 1
                    ctx.record("update", db, cname, pre["_id"], pre,
                               coll.find_one({"_id": pre["_id"]}))
            if not matched and upsert:
                seed = {k: v for k, v in q.items()
                        if not k.startswith("$") and not isinstance(v, dict)}
                seed.setdefault("_id", ObjectId())
                seed = dict({"_id": seed.pop("_id")}, **seed)
                new = self._pipeline_update(coll, seed, u)
                try:
                    coll.insert_one(new)
                except DuplicateKeyError:
                    raise _DupKey(new)
                upserted = new["_id"]
                ctx.record("insert", db, cname, upserted, None, coll.find_one({"_id": upserted}))
            return len(matched) if matched else (1 if upserted is not None else 0), \
                modified, upserted
        ids = [pre["_id"] for pre in matched]
        try:
            if matched:
                if is_replace:
                    coll.replace_one({"_id": ids[0]}, u)
                elif multi:
                    coll.update_many(q, u)
                else:
                    coll.update_one(q, u)
            elif upsert:
                res = (coll.replace_one(q, u, upsert=True) if is_replace
                       else coll.update_one(q, u, upsert=True))
                upserted = res.upserted_id
        except DuplicateKeyError:
            raise _DupKey(self._would_be(coll, matched, q, u, is_replace))
        finally:
            for pre in matched:
                post = coll.find_one({"_id": pre["_id"]})
                if post != pre:
                    modified += 1
                    ctx.record(op, db, cname, pre["_id"], pre, post)
        if upserted is not None:
            ctx.record("insert", db, cname, upserted, None, coll.find_one({"_id": upserted}))
        n = len(matched) if matched else (1 if upserted is not None else 0)
        return n, modified, upserted

    def _would_be(self, coll, matched, q, u, is_replace):
        """The document an update tried to write (to name the violated index)."""
        tmp = mongomock.MongoClient()["t"]["t"]
        try:
            if matched:
                tmp.insert_one(copy.deepcopy(matched[0]))
                if is_replace:
                    tmp.replace_one({}, u)
                else:
                    tmp.update_one({}, u)
            elif is_replace:
                tmp.replace_one(q, u, upsert=True)
            else:
                tmp.update_one(q, u, upsert=True)
            return tmp.find_one()
        except Exception:   # noqa: BLE001 - best effort for an error message
            return None

    def _do_update(self, ctx, db, cname, updates, ordered):
        coll = ctx.coll(db, cname)
        n = n_modified = 0
        upserted, errors = [], []
        for i, stmt in enumerate(updates):
            try:
                q = stmt.get("q") or {}
                u = stmt.get("u")
                if u is None:
                    raise CommandError(9, "BSON field 'update.updates.u' is missing but a "
                                          "required field")
                if stmt.get("collation"):
                    raise CommandError(238, "collation is not supported by the mongo stand-in")
                sn, smod, sid = self._apply_one_update(
                    ctx, coll, db, cname, q, u, _as_bool(stmt.get("upsert")),
                    _as_bool(stmt.get("multi")), stmt.get("arrayFilters"))
                n += sn
                n_modified += smod
                if sid is not None:
                    upserted.append({"index": i, "_id": sid})
                continue
            except _DupKey as dup:
                errors.append(self._dup_error(coll, db, cname, dup.doc, i))
            except CommandError as exc:
                if exc.code == 112:
                    raise
                errors.append({"index": i, "code": exc.code, "errmsg": exc.errmsg})
            except NotImplementedError as exc:
                errors.append({"index": i, "code": 238,
                               "errmsg": "mongo stand-in (mongomock) cannot run this update: "
                                         "%s" % exc})
            except (WriteError, OperationFailure, ValueError, TypeError, KeyError,
                    bson.errors.InvalidDocument) as exc:
                errors.append({"index": i, "code": _mm_error_code(exc), "errmsg": str(exc)})
            if ordered:
                break
        reply = {"n": n, "nModified": n_modified}
        if upserted:
            reply["upserted"] = upserted
        if errors:
            reply["writeErrors"] = errors
        return reply

    def _cmd_update(self, ctx, db, cmd):
        return self._do_update(ctx, db, cmd["update"], cmd.get("updates") or [],
                               _as_bool(cmd.get("ordered"), True))

    def _do_delete(self, ctx, db, cname, deletes, ordered):
        coll = ctx.coll(db, cname)
        n = 0
        errors = []
        for i, stmt in enumerate(deletes):
            try:
                if stmt.get("collation"):
                    raise CommandError(238, "collation is not supported by the mongo stand-in")
                matched = list(coll.find(stmt.get("q") or {}))
                if int(stmt.get("limit") or 0) == 1:
                    matched = matched[:1]
                for pre in matched:
                    coll.delete_one({"_id": pre["_id"]})
                    n += 1
                    ctx.record("delete", db, cname, pre["_id"], pre, None)
                continue
            except CommandError as exc:
                if exc.code == 112:
                    raise
                errors.append({"index": i, "code": exc.code, "errmsg": exc.errmsg})
            except (OperationFailure, ValueError, TypeError) as exc:
                errors.append({"index": i, "code": _mm_error_code(exc), "errmsg": str(exc)})
            if ordered:
                break
        reply = {"n": n}
        if errors:
            reply["writeErrors"] = errors
        return reply

    def _cmd_delete(self, ctx, db, cmd):
        return self._do_delete(ctx, db, cmd["delete"], cmd.get("deletes") or [],
                               _as_bool(cmd.get("ordered"), True))

    def _project(self, doc, projection):
        if doc is None or not projection:
            return doc
        tmp = mongomock.MongoClient()["t"]["t"]
        tmp.insert_one(copy.deepcopy(doc))
        return tmp.find_one({}, projection)

    def _cmd_findAndModify(self, ctx, db, cmd):
        cname = cmd["findAndModify"]
        coll = ctx.coll(db, cname)
        query = cmd.get("query") or {}
        remove = _as_bool(cmd.get("remove"))
        update = cmd.get("update")
        new = _as_bool(cmd.get("new"))
        upsert = _as_bool(cmd.get("upsert"))
        fields = cmd.get("fields")
        if remove and update is not None:
            raise CommandError(9, "Cannot specify both an update and remove=true")
        if not remove and update is None:
            raise CommandError(9, "Either an update or remove=true must be specified")
        if remove and (new or upsert):
            raise CommandError(9, "Cannot specify both new=true and remove=true; 'remove' "
                                  "always returns the deleted document")
        try:
            cur = coll.find(query)
            sort = _sort_list(cmd.get("sort"))
            if sort:
                cur = cur.sort(sort)
            pre = next(iter(cur.limit(1)), None)
        except (OperationFailure, ValueError, TypeError) as exc:
            raise CommandError(_mm_error_code(exc), str(exc))
        if remove:
            if pre is not None:
                coll.delete_one({"_id": pre["_id"]})
                ctx.record("delete", db, cname, pre["_id"], pre, None)
            return {"lastErrorObject": {"n": 1 if pre is not None else 0},
                    "value": self._project(pre, fields)}
        if pre is not None:
            q = query if "_id" in query and not isinstance(query.get("_id"), dict) else \
                dict(query, _id=pre["_id"]) if "_id" not in query else \
                {"$and": [query, {"_id": pre["_id"]}]}
        else:
            q = query
        try:
            n, _mod, upserted = self._apply_one_update(
                ctx, coll, db, cname, q, update, upsert, False, cmd.get("arrayFilters"))
        except _DupKey as dup:
            err = self._dup_error(coll, db, cname, dup.doc)
            raise CommandError(11000, err["errmsg"], keyPattern=err.get("keyPattern"),
                               keyValue=err.get("keyValue"))
        except NotImplementedError as exc:
            raise CommandError(238, "mongo stand-in (mongomock) cannot run this update: %s"
                               % exc)
        except (WriteError, OperationFailure, ValueError, TypeError, KeyError) as exc:
            raise CommandError(_mm_error_code(exc), str(exc))
        leo = {"n": n, "updatedExisting": pre is not None}
        if upserted is not None:
            leo["upserted"] = upserted
        if new:
            target = pre["_id"] if pre is not None else upserted
            value = coll.find_one({"_id": target}) if target is not None else None
        else:
            value = pre
        return {"lastErrorObject": leo, "value": self._project(value, fields)}

    # ------------------------------------------------------------------ transactions

    def _cmd_commitTransaction(self, ctx, db, cmd):
        if db != "admin":
            raise CommandError(13, "commitTransaction may only be run against the admin "
                                   "database.")
        txn = ctx.txn
        if txn is None:
            raise CommandError(251, "no transaction", [TXN_ERROR_LABEL])
        if txn.state == "in_progress":
            self._commit_txn(txn)
        return {}

    def _cmd_abortTransaction(self, ctx, db, cmd):
        if db != "admin":
            raise CommandError(13, "abortTransaction may only be run against the admin "
                                   "database.")
        txn = ctx.txn
        if txn is None:
            raise CommandError(251, "no transaction")
        if txn.state == "committed":
            raise CommandError(256, "Transaction %d has been committed." % txn.number)
        self._abort_txn(txn)
        return {}

    # ------------------------------------------------------------------ change streams

    def _token(self, seq, invalidate=False):
        return {"_data": "82%08X%016X%s%08X" % (self._epoch, seq, "01" if invalidate else "00",
                                                self._instance)}

    def _parse_token(self, token, what):
        data = token.get("_data") if isinstance(token, dict) else None
        if not isinstance(data, str) or len(data) != 36 or not data.startswith("82"):
            raise CommandError(260, "Bad resume token: %s must be a resume token produced "
                                    "by this server" % what)
        try:
            epoch = int(data[2:10], 16)
            seq = int(data[10:26], 16)
            flag = data[26:28]
            instance = int(data[28:36], 16)
        except ValueError:
            raise CommandError(260, "Bad resume token: malformed _data")
        if epoch != self._epoch or instance != self._instance or seq < self._oplog_base:
            raise CommandError(286, "Resume of change stream was not possible, as the resume "
                                    "point may no longer be in the oplog.")
        return seq, flag == "01"

    def _open_change_stream(self, ctx, db, target, pipeline, cursor_opts):
        if not self.replica_set:
            raise CommandError(40573, "The $changeStream stage is only supported on replica "
                                      "sets")
        if ctx.txn is not None:
            raise CommandError(263, "Cannot run aggregate with $changeStream in a "
                                    "multi-document transaction.")
        spec = pipeline[0]["$changeStream"] or {}
        rest = pipeline[1:]
        for stage in rest:
            if not isinstance(stage, dict) or len(stage) != 1 or next(iter(stage)) not in (
                    "$match", "$project", "$addFields", "$set", "$unset", "$replaceRoot",
                    "$replaceWith", "$redact"):
                raise CommandError(2, "Stage not supported in a $changeStream pipeline: %s"
                                   % (next(iter(stage)) if isinstance(stage, dict) else stage))
        if isinstance(target, str):
            scope = ("coll", db, target)
        elif spec.get("allChangesForCluster"):
            if db != "admin":
                raise CommandError(73, "$changeStream may only be run on the admin database "
                                       "with allChangesForCluster")
            scope = ("cluster",)
        else:
            scope = ("db", db)
        starts = [k for k in ("resumeAfter", "startAfter", "startAtOperationTime")
                  if spec.get(k) is not None]
        if len(starts) > 1:
            raise CommandError(40674, "Only one type of resume option is allowed, but "
                                      "multiple were found.")
        after = self._seq
        if spec.get("resumeAfter") is not None:
            after, inval = self._parse_token(spec["resumeAfter"], "resumeAfter")
            if inval:
                raise CommandError(260, "Attempting to resume a change stream using "
                                        "'resumeAfter' is not allowed from an invalidate "
                                        "notification.")
        elif spec.get("startAfter") is not None:
            after, _inval = self._parse_token(spec["startAfter"], "startAfter")
        elif spec.get("startAtOperationTime") is not None:
            ts = spec["startAtOperationTime"]
            if not isinstance(ts, Timestamp):
                raise CommandError(14, "startAtOperationTime must be a timestamp")
            if ts.time < self._epoch:
                after = 0
                if self._oplog_base:
                    raise CommandError(286, "Resume of change stream was not possible, as "
                                            "the resume point may no longer be in the oplog.")
            elif ts.time > self._epoch:
                after = self._seq
            else:
                after = max(0, ts.inc - 1)
                if after < self._oplog_base:
                    raise CommandError(286, "Resume of change stream was not possible, as "
                                            "the resume point may no longer be in the oplog.")
        full_document = spec.get("fullDocument", "default")
        if full_document not in ("default", "updateLookup", "whenAvailable", "required"):
            raise CommandError(2, "unsupported fullDocument mode %r" % (full_document,))
        ns = "%s.%s" % (db, target) if isinstance(target, str) else "%s.$cmd.aggregate" % db
        cid = self._new_cursor_id()
        cur = _Cursor(cid, db, target if isinstance(target, str) else None, ns)
        cur.change = {"scope": scope, "rest": _rewrite_pipeline(rest) if rest else [],
                      "full": full_document, "after": after, "invalidated": False}
        self._cursors[cid] = cur
        start_after = after
        batch_size = cursor_opts.get("batchSize")
        batch = self._scan_changes(cur, DEFAULT_FIRST_BATCH if batch_size is None
                                   else batch_size) if batch_size != 0 else []
        reply_id = cid
        if cur.change["invalidated"]:
            self._cursors.pop(cid, None)
            reply_id = 0
        return {"cursor": {"firstBatch": batch, "postBatchResumeToken":
                           self._pbrt(cur, batch), "id": Int64(reply_id), "ns": ns},
                "_operationTime": Timestamp(self._epoch, start_after + 1)}

    def _pbrt(self, cur, batch):
        if batch and batch[-1]["_id"]["_data"][10:26] == "%016X" % cur.change["after"]:
            return batch[-1]["_id"]
        return self._token(cur.change["after"])

    def _matches_scope(self, scope, entry):
        if scope[0] == "cluster":
            return entry["db"] not in ("admin", "config", "local")
        if scope[0] == "db":
            return entry["db"] == scope[1]
        return entry["db"] == scope[1] and entry["coll"] in (scope[2], None)

    def _event(self, cur, entry):
        op = entry["op"]
        ev = {"_id": self._token(entry["seq"]), "operationType": op,
              "clusterTime": Timestamp(self._epoch, entry["seq"]), "wallTime": entry["wall"]}
        full = cur.change["full"]
        if op in ("insert", "replace"):
            ev["fullDocument"] = copy.deepcopy(entry["post"])
        elif op == "update" and full != "default":
            ev["fullDocument"] = self.client[entry["db"]][entry["coll"]].find_one(
                {"_id": entry["_id"]})
        ev["ns"] = {"db": entry["db"]}
        if entry["coll"] is not None:
            ev["ns"]["coll"] = entry["coll"]
        if op in ("insert", "update", "replace", "delete"):
            ev["documentKey"] = {"_id": entry["_id"]}
        if op == "update":
            ev["updateDescription"] = _update_description(entry["pre"], entry["post"])
        if entry["txn"] is not None:
            ev["lsid"] = entry["txn"][0]
            ev["txnNumber"] = Int64(entry["txn"][1])
        return ev

    def _apply_rest(self, cur, ev):
        rest = cur.change["rest"]
        if not rest:
            return ev
        tmp = mongomock.MongoClient()["t"]["t"]
        tmp.insert_one(copy.deepcopy(ev))
        try:
            out = list(tmp.aggregate(rest))
        except NotImplementedError as exc:
            raise CommandError(238, "mongo stand-in cannot run this change stream pipeline: %s"
                               % exc)
        except (OperationFailure, ValueError, TypeError, KeyError) as exc:
            raise CommandError(_mm_error_code(exc), "change stream pipeline failed: %s" % exc)
        if not out:
            return None
        if out[0].get("_id") != ev["_id"]:
            raise CommandError(280, "Encountered an event whose _id field, which contains the "
                                    "resume token, was modified by the pipeline. Modifying "
                                    "the _id field of an event makes it impossible to resume "
                                    "the stream from that point. Only transformations that "
                                    "retain the unmodified _id field are allowed.")
        return out[0]

    def _scan_changes(self, cur, batch_size):
        """Collects events after cur's position (lock held); advances the position."""
        batch = []
        limit = batch_size if batch_size and batch_size > 0 else None
        size = 0
        ch = cur.change
        while ch["after"] < self._seq and not ch["invalidated"]:
            if limit is not None and len(batch) >= limit:
                break
            if ch["after"] < self._oplog_base:
                raise CommandError(286, "Resume of change stream was not possible, as the "
                                        "resume point may no longer be in the oplog.")
            entry = self._oplog[ch["after"] - self._oplog_base]
            if self._matches_scope(ch["scope"], entry) and entry["op"] != "rename":
                ev = self._apply_rest(cur, self._event(cur, entry))
                if ev is not None:
                    n = len(bson.encode(ev, codec_options=CODEC))
                    if batch and size + n > BATCH_BYTES:
                        break
                    batch.append(ev)
                    size += n
                invalidate = (ch["scope"][0] == "coll" and entry["op"] == "drop") or \
                    (ch["scope"][0] == "db" and entry["op"] == "dropDatabase")
                if invalidate:
                    ch["after"] = entry["seq"]
                    batch.append({"_id": self._token(entry["seq"], invalidate=True),
                                  "operationType": "invalidate",
                                  "clusterTime": Timestamp(self._epoch, entry["seq"]),
                                  "wallTime": entry["wall"]})
                    ch["invalidated"] = True
                    break
            ch["after"] = entry["seq"]
        return batch

    def _change_get_more(self, cur, cmd):
        """getMore on a change stream (lock held): awaitData up to maxTimeMS."""
        max_ms = cmd.get("maxTimeMS")
        wait = DEFAULT_AWAIT_SECONDS if max_ms is None else min(MAX_AWAIT_SECONDS,
                                                                 max(0, int(max_ms)) / 1000.0)
        deadline = time.monotonic() + wait
        batch_size = cmd.get("batchSize") or 0
        while True:
            batch = self._scan_changes(cur, batch_size)
            remaining = deadline - time.monotonic()
            if batch or remaining <= 0 or not self._running or \
                    self._cursors.get(cur.id) is not cur:
                break
            self._cond.wait(min(remaining, 1.0))
        if self._cursors.get(cur.id) is not cur:
            raise CommandError(43, "cursor id %d not found" % cur.id)
        cid = cur.id
        if cur.change["invalidated"]:
            self._cursors.pop(cid, None)
            cid = 0
        return {"cursor": {"nextBatch": batch, "postBatchResumeToken": self._pbrt(cur, batch),
                           "id": Int64(cid), "ns": cur.ns}}


class _DupKey(Exception):
    def __init__(self, doc):
        super().__init__("duplicate key")
        self.doc = doc


# ----------------------------------------------------------------------------


CLIENT_KEY_PASSWORD = "qc-client-key-pw"


def _openssl(directory, *args):
    import subprocess
    subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True, timeout=60)


def _sign(directory, stem, subject, extensions):
    """DIR/STEM.crt and DIR/STEM.key: a new key, certified by DIR/ca.pem."""
    with open(os.path.join(directory, stem + ".ext"), "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n")
        f.write("".join(line + "\n" for line in extensions))
    _openssl(directory, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", stem + ".key",
             "-out", stem + ".csr", "-subj", subject)
    _openssl(directory, "x509", "-req", "-in", stem + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", stem + ".crt", "-days", "3650", "-extfile", stem + ".ext")


def _concat(directory, out, *parts):
    data = b""
    for part in parts:
        with open(os.path.join(directory, part), "rb") as f:
            data += f.read()
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, out)


def make_client_cert(directory, password=CLIENT_KEY_PASSWORD):
    """A client certificate (CN=qc-client, clientAuth) signed by DIR/ca.pem
    and DIR/ca.key (``tls_certs.make_certs(DIR)``), for a stand-in that
    requires one. Writes, if missing, ``client.pem`` (certificate then key, as
    ``tlsCertificateKeyFile`` wants it) and ``client_encrypted.pem`` (the same
    with the key encrypted by ``password``); returns
    ``{"client.pem": path, "client_encrypted.pem": path}``."""
    paths = {n: os.path.join(directory, n) for n in ("client.pem", "client_encrypted.pem")}
    if all(os.path.exists(p) for p in paths.values()):
        return paths
    _sign(directory, "client", "/CN=qc-client", ["extendedKeyUsage=clientAuth"])
    _openssl(directory, "pkey", "-in", "client.key", "-aes256", "-passout", "pass:" + password,
             "-out", "client_encrypted.key")
    _concat(directory, paths["client_encrypted.pem"], "client.crt", "client_encrypted.key")
    _concat(directory, paths["client.pem"], "client.crt", "client.key")
    return paths


def make_server_cert(directory, stem, names):
    """A server certificate for the DNS ``names`` signed by DIR/ca.pem (e.g.
    for an ``advertised_host`` that a DNS stand-in resolves to 127.0.0.1):
    writes DIR/STEM.pem and DIR/STEM.key; returns (pem path, key path)."""
    _sign(directory, stem, "/CN=" + names[0],
          ["extendedKeyUsage=serverAuth", "subjectAltName=" + ",".join("DNS:" + n for n in names)])
    _concat(directory, os.path.join(directory, stem + ".pem"), stem + ".crt")
    return os.path.join(directory, stem + ".pem"), os.path.join(directory, stem + ".key")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replica-set", default=None, help="e.g. rs0 (default: standalone)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls-dir", default=None,
                        help="serve TLS with certificates in this directory (made by "
                             "tls_certs.py when DIR/ca.pem is missing)")
    parser.add_argument("--tls-cert", default="server",
                        help="certificate stem in --tls-dir (server, wrong_host, self_signed)")
    parser.add_argument("--tls-client-ca", action="store_true",
                        help="require a client certificate signed by DIR/ca.pem")
    args = parser.parse_args(argv)
    tls = None
    if args.tls_dir:
        directory = os.path.abspath(args.tls_dir)
        if not os.path.exists(os.path.join(directory, "ca.pem")):
            sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
            import tls_certs
            tls_certs.make_certs(directory)
            make_client_cert(directory)
        tls = {"cert": os.path.join(directory, args.tls_cert + ".pem"),
               "key": os.path.join(directory, args.tls_cert + ".key"),
               "ca": os.path.join(directory, "ca.pem")}
        if args.tls_client_ca:
            tls["client_ca"] = os.path.join(directory, "ca.pem")
    standin = MongoStandIn(replica_set=args.replica_set, port=args.port, tls=tls).start()
    print("MONGO_ATLAS_URI=%s" % standin.uri, flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
