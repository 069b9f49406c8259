"""Self-test of mongo_standin.

Run: cd tests/support && /usr/bin/python3 -m unittest -v mongo_standin_selftest

Clients: Debian's pymongo 3.11 (OP_QUERY handshake + OP_MSG), a few raw
sockets for the wire format (kind-1 sequences, checksum, moreToCome, OP_REPLY)
and, when gcc, pkg-config and libmongoc-dev are installed, a small C program
built in a temporary directory (never in the repository) with the real
libmongoc 1.23 (LIBMONGOC_CHECK_SOURCE below), over plain TCP and over TLS.
The TLS mode is also tried with Python's own ``ssl`` client (trusted and
untrusted CA, host names, client certificates, plain clients, a TLS hello to
the plain stand-in). Every wait is bounded.
"""

import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bson  # noqa: E402
import pymongo  # noqa: E402
from bson.codec_options import CodecOptions  # noqa: E402
from bson.timestamp import Timestamp  # noqa: E402
from pymongo import ReturnDocument  # noqa: E402
from pymongo.errors import (AutoReconnect, DuplicateKeyError, NetworkTimeout,  # noqa: E402
                            OperationFailure, BulkWriteError)

from mongo_standin import (CLIENT_KEY_PASSWORD, MongoStandIn, make_client_cert,  # noqa: E402
                           make_server_cert)
import tls_certs  # noqa: E402

TIMEOUT = 5.0
DB = "quantcrunch"


def connect(standin, **kwargs):
    opts = dict(serverSelectionTimeoutMS=3000, connectTimeoutMS=2000, socketTimeoutMS=5000)
    opts.update(kwargs)
    return pymongo.MongoClient(standin.uri, **opts)


class StandInCase(unittest.TestCase):
    REPLICA_SET = None

    def setUp(self):
        self.mongo = MongoStandIn(replica_set=self.REPLICA_SET).start()
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()
        self.mongo.stop()
        self.assertEqual(self.mongo.internal_errors, [])

    def client(self, **kwargs):
        c = connect(self.mongo, **kwargs)
        self.clients.append(c)
        return c


# ---------------------------------------------------------------------------
# raw wire protocol


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return buf


def _read_message(sock):
    header = _recv_exact(sock, 16)
    length, request_id, response_to, opcode = struct.unpack("<iiii", header)
    return request_id, response_to, opcode, _recv_exact(sock, length - 16)


def _op_msg(request_id, body, sequences=(), flags=0, checksum=False):
    payload = struct.pack("<I", flags | (1 if checksum else 0)) + b"\x00" + bson.encode(body)
    for ident, docs in sequences:
        data = ident.encode() + b"\x00" + b"".join(bson.encode(d) for d in docs)
        payload += b"\x01" + struct.pack("<i", 4 + len(data)) + data
    if checksum:
        payload += b"\x00\x00\x00\x00"      # the stand-in does not verify CRC-32C
    return struct.pack("<iiii", 16 + len(payload), request_id, 0, 2013) + payload


def _parse_op_msg_reply(payload):
    flags = struct.unpack_from("<I", payload, 0)[0]
    assert payload[4] == 0
    return flags, bson.decode(payload[5:], codec_options=CodecOptions(tz_aware=False))


class WireProtocol(StandInCase):
    def sock(self):
        s = socket.create_connection(("127.0.0.1", self.mongo.port), timeout=TIMEOUT)
        self.addCleanup(s.close)
        return s

    def test_op_query_ismaster_gets_op_reply(self):
        s = self.sock()
        query = bson.encode({"isMaster": 1, "helloOk": True, "client": {"driver": {"name": "t"}}})
        payload = struct.pack("<i", 0) + b"admin.$cmd\x00" + struct.pack("<ii", 0, -1) + query
        s.sendall(struct.pack("<iiii", 16 + len(payload), 7, 0, 2004) + payload)
        _rid, response_to, opcode, body = _read_message(s)
        self.assertEqual((response_to, opcode), (7, 1))
        flags, cursor_id, start, n = struct.unpack_from("<iqii", body, 0)
        self.assertEqual((flags, cursor_id, start, n), (0, 0, 0, 1))
        doc = bson.decode(body[20:])
        self.assertTrue(doc["ismaster"])
        self.assertTrue(doc["helloOk"])
        self.assertEqual(doc["maxWireVersion"], 13)
        self.assertNotIn("setName", doc)
        self.assertEqual(doc["ok"], 1.0)

    def test_op_msg_kind1_sequence_and_checksum_flag(self):
        s = self.sock()
        s.sendall(_op_msg(1, {"insert": "w", "$db": DB, "ordered": True},
                          [("documents", [{"_id": 1, "x": "a"}, {"_id": 2, "x": "b"}])],
                          checksum=True))
        _rid, response_to, opcode, payload = _read_message(s)
        self.assertEqual((response_to, opcode), (1, 2013))
        flags, reply = _parse_op_msg_reply(payload)
        self.assertEqual(flags, 0)
        self.assertEqual((reply["ok"], reply["n"]), (1.0, 2))
        self.assertEqual(len(self.mongo.find(DB, "w")), 2)
        # updates as a kind-1 sequence too
        s.sendall(_op_msg(2, {"update": "w", "$db": DB},
                          [("updates", [{"q": {"_id": 1}, "u": {"$set": {"y": 1}}},
                                        {"q": {"_id": 9}, "u": {"$set": {"y": 2}},
                                         "upsert": True}])]))
        reply = _parse_op_msg_reply(_read_message(s)[3])[1]
        self.assertEqual((reply["n"], reply["nModified"]), (2, 1))
        self.assertEqual(reply["upserted"], [{"index": 1, "_id": 9}])

    def test_more_to_come_gets_no_reply(self):
        s = self.sock()
        s.sendall(_op_msg(1, {"insert": "w", "$db": DB, "writeConcern": {"w": 0}},
                          [("documents", [{"_id": 1}])], flags=2))
        s.sendall(_op_msg(2, {"ping": 1, "$db": "admin"}))
        _rid, response_to, _opcode, payload = _read_message(s)
        self.assertEqual(response_to, 2)          # the first message got no reply
        self.assertEqual(_parse_op_msg_reply(payload)[1]["ok"], 1.0)
        self.assertEqual(self.mongo.find(DB, "w"), [{"_id": 1}])

    def test_unknown_command(self):
        s = self.sock()
        s.sendall(_op_msg(3, {"frobnicate": 1, "$db": "admin"}))
        reply = _parse_op_msg_reply(_read_message(s)[3])[1]
        self.assertEqual((reply["ok"], reply["code"], reply["codeName"]),
                         (0.0, 59, "CommandNotFound"))
        self.assertIn("frobnicate", reply["errmsg"])

    def test_garbage_closes_only_that_connection(self):
        s = self.sock()
        s.sendall(struct.pack("<iiii", 20, 1, 0, 9999) + b"\x00" * 4)
        s.settimeout(TIMEOUT)
        self.assertEqual(s.recv(10), b"")
        self.assertEqual(self.client().admin.command("ping")["ok"], 1.0)


# ---------------------------------------------------------------------------
# standalone, through pymongo


class StandaloneCrud(StandInCase):
    def test_uri_and_hello(self):
        self.assertEqual(self.mongo.uri,
                         "mongodb://127.0.0.1:%d/?directConnection=true" % self.mongo.port)
        self.assertEqual(self.mongo.uri_for(DB, appname="qc"),
                         "mongodb://127.0.0.1:%d/quantcrunch?directConnection=true&appname=qc"
                         % self.mongo.port)
        c = self.client()
        hello = c.admin.command("hello")
        self.assertTrue(hello["isWritablePrimary"])
        self.assertNotIn("setName", hello)
        self.assertEqual(hello["logicalSessionTimeoutMinutes"], 30)
        self.assertEqual(c.server_info()["version"], "5.0.0")

    def test_insert_find_update_delete(self):
        coll = self.client()[DB]["open_positions"]
        coll.insert_many([{"symbol": s, "open_timestamp": t, "entry_price": p}
                          for s, t, p in [("AAPL", 3, 1.0), ("NVDA", 1, 2.0), ("BX", 2, 3.0)]])
        docs = list(coll.find({}, {"_id": 0, "symbol": 1}).sort("open_timestamp", -1))
        self.assertEqual(docs, [{"symbol": "AAPL"}, {"symbol": "BX"}, {"symbol": "NVDA"}])
        self.assertEqual([d["symbol"] for d in coll.find().sort("symbol", 1).skip(1).limit(1)],
                         ["BX"])
        res = coll.update_one({"symbol": "TLT", "open_timestamp": 9},
                              {"$set": {"entry_price": 5.0}}, upsert=True)
        self.assertEqual((res.matched_count, res.modified_count), (0, 0))
        self.assertIsNotNone(res.upserted_id)
        self.assertEqual(coll.find_one({"_id": res.upserted_id})["symbol"], "TLT")
        res = coll.update_many({"entry_price": {"$lt": 3}}, {"$inc": {"entry_price": 10}})
        self.assertEqual((res.matched_count, res.modified_count), (2, 2))
        res = coll.update_one({"symbol": "AAPL"}, {"$set": {"entry_price": 11.0}})
        self.assertEqual((res.matched_count, res.modified_count), (1, 0))
        res = coll.replace_one({"symbol": "BX"}, {"symbol": "BX", "open_timestamp": 2})
        self.assertEqual(res.modified_count, 1)
        self.assertNotIn("entry_price", coll.find_one({"symbol": "BX"}))
        doc = coll.find_one_and_update({"symbol": "NVDA"}, {"$set": {"closed": True}},
                                       return_document=ReturnDocument.AFTER)
        self.assertTrue(doc["closed"])
        doc = coll.find_one_and_update({"symbol": "SHOP"}, {"$set": {"x": 1}}, upsert=True,
                                       return_document=ReturnDocument.AFTER)
        self.assertEqual((doc["symbol"], doc["x"]), ("SHOP", 1))
        self.assertEqual(coll.find_one_and_delete({"symbol": "SHOP"})["x"], 1)
        self.assertEqual(coll.count_documents({}), 4)
        self.assertEqual(coll.count_documents({"entry_price": {"$gt": 10}}), 2)
        self.assertEqual(coll.estimated_document_count(), 4)
        self.assertEqual(sorted(coll.distinct("symbol")), ["AAPL", "BX", "NVDA", "TLT"])
        self.assertEqual(coll.delete_one({"symbol": "TLT"}).deleted_count, 1)
        self.assertEqual(coll.delete_many({}).deleted_count, 3)
        self.assertEqual(coll.count_documents({}), 0)

    def test_find_batches_getmore_and_kill_cursors(self):
        coll = self.client()[DB]["bars"]
        coll.insert_many([{"i": i} for i in range(450)])
        self.assertEqual([d["i"] for d in coll.find().sort("i", 1).batch_size(40)],
                         list(range(450)))
        self.assertGreaterEqual(len(self.mongo.commands_named("getMore")), 10)
        cur = coll.find().batch_size(5)
        next(cur)
        cur.close()
        self.assertTrue(self.mongo.wait_for_command("killCursors", timeout=TIMEOUT))
        self.assertEqual(len(list(coll.find().limit(150))), 150)

    def test_aggregate(self):
        coll = self.client()[DB]["performance"]
        coll.insert_many([{"month": "2021-07", "pnl": 1.5}, {"month": "2021-07", "pnl": 2.5},
                          {"month": "2021-08", "pnl": -1.0}])
        out = list(coll.aggregate([{"$group": {"_id": "$month", "total": {"$sum": "$pnl"}}},
                                   {"$sort": {"_id": 1}}]))
        self.assertEqual(out, [{"_id": "2021-07", "total": 4.0},
                               {"_id": "2021-08", "total": -1.0}])
        out = list(coll.aggregate([{"$match": {"pnl": {"$gt": 0}}}, {"$unset": "_id"},
                                   {"$sort": {"pnl": -1}}]))
        self.assertEqual(out, [{"month": "2021-07", "pnl": 2.5}, {"month": "2021-07", "pnl": 1.5}])

    def test_bson_types_round_trip(self):
        import datetime
        import uuid
        from bson.decimal128 import Decimal128
        from bson.int64 import Int64
        from bson.objectid import ObjectId
        coll = self.client(uuidRepresentation="standard")[DB]["types"]
        doc = {"_id": ObjectId(), "i64": Int64(1 << 40), "i32": 7, "f": 1.25, "s": "é",
               "dt": datetime.datetime(2021, 7, 12, 14, 59, 0, 123000), "b": True, "n": None,
               "arr": [1, [2, {"x": "y"}]], "sub": {"a": {"b": 1}}, "u": uuid.uuid4(),
               "dec": Decimal128("1.10")}
        coll.insert_one(dict(doc))
        back = coll.find_one({"_id": doc["_id"]})
        self.assertEqual(back, doc)
        self.assertIsInstance(back["i64"], Int64)
        self.assertEqual(coll.find_one({"dt": {"$gte": datetime.datetime(2021, 7, 12)}})["s"],
                         "é")
        self.assertEqual(coll.find_one({"sub.a.b": 1})["_id"], doc["_id"])

    def test_pipeline_update(self):
        coll = self.client()[DB]["last_bar"]
        coll.insert_one({"_id": "AAPL", "s": 5})
        coll.update_one({"_id": "AAPL"}, [{"$set": {"s": {"$max": ["$s", 9]}}}])
        coll.update_one({"_id": "AAPL"}, [{"$set": {"s": {"$max": ["$s", 7]}}}])
        self.assertEqual(coll.find_one({"_id": "AAPL"})["s"], 9)
        coll.update_one({"_id": "NVDA"}, [{"$set": {"s": 3}}], upsert=True)
        self.assertEqual(coll.find_one({"_id": "NVDA"}), {"_id": "NVDA", "s": 3})

    def test_unique_index_enforced(self):
        coll = self.client()[DB]["open_positions"]
        name = coll.create_index([("symbol", 1), ("open_timestamp", 1)], unique=True)
        self.assertEqual(name, "symbol_1_open_timestamp_1")
        coll.create_index([("symbol", 1), ("open_timestamp", 1)], unique=True)   # idempotent
        coll.insert_one({"symbol": "AAPL", "open_timestamp": 1})
        with self.assertRaises(DuplicateKeyError) as cm:
            coll.insert_one({"symbol": "AAPL", "open_timestamp": 1})
        self.assertEqual(cm.exception.code, 11000)
        self.assertIn("E11000 duplicate key error collection: quantcrunch.open_positions "
                      "index: symbol_1_open_timestamp_1 dup key:", str(cm.exception))
        self.assertEqual(cm.exception.details["keyValue"],
                         {"symbol": "AAPL", "open_timestamp": 1})
        with self.assertRaises(BulkWriteError) as cm:
            coll.insert_many([{"symbol": "C", "open_timestamp": 1},
                              {"symbol": "AAPL", "open_timestamp": 1},
                              {"symbol": "BX", "open_timestamp": 1}])
        self.assertEqual(cm.exception.details["nInserted"], 1)
        self.assertEqual(cm.exception.details["writeErrors"][0]["index"], 1)
        with self.assertRaises(BulkWriteError) as cm:
            coll.insert_many([{"symbol": "AAPL", "open_timestamp": 1},
                              {"symbol": "BX", "open_timestamp": 1}], ordered=False)
        self.assertEqual(cm.exception.details["nInserted"], 1)
        coll.insert_one({"symbol": "NVDA", "open_timestamp": 2})
        with self.assertRaises(DuplicateKeyError):
            coll.update_one({"symbol": "NVDA"}, {"$set": {"symbol": "AAPL",
                                                          "open_timestamp": 1}})
        self.assertEqual(coll.count_documents({"symbol": "NVDA"}), 1)
        with self.assertRaises(DuplicateKeyError):
            coll.find_one_and_update({"symbol": "NVDA"}, {"$set": {"symbol": "AAPL",
                                                                   "open_timestamp": 1}})
        with self.assertRaises(DuplicateKeyError):
            coll.insert_one({"_id": coll.find_one()["_id"], "symbol": "Z"})
        with self.assertRaises(DuplicateKeyError):
            self.mongo.insert(DB, "open_positions", {"symbol": "AAPL", "open_timestamp": 1})
        indexes = {i["name"]: i for i in coll.list_indexes()}
        self.assertEqual(set(indexes), {"_id_", "symbol_1_open_timestamp_1"})
        self.assertTrue(indexes["symbol_1_open_timestamp_1"]["unique"])
        with self.assertRaises(OperationFailure) as cm:
            coll.create_index([("symbol", 1)], name="symbol_1_open_timestamp_1")
        self.assertEqual(cm.exception.code, 86)
        coll.drop_index("symbol_1_open_timestamp_1")
        coll.insert_one({"symbol": "AAPL", "open_timestamp": 1})
        with self.assertRaises(OperationFailure) as cm:     # existing duplicates
            coll.create_index([("symbol", 1), ("open_timestamp", 1)], unique=True)
        self.assertEqual(cm.exception.code, 11000)

    def test_collections_and_databases(self):
        c = self.client()
        db = c[DB]
        db.create_collection("tickers")
        with self.assertRaises(OperationFailure) as cm:
            db.command("create", "tickers")
        self.assertEqual(cm.exception.code, 48)
        db["recommendations"].insert_one({"x": 1})
        self.assertEqual(sorted(db.list_collection_names()), ["recommendations", "tickers"])
        self.assertIn(DB, c.list_database_names())
        db.drop_collection("tickers")                      # pymongo ignores "ns not found"
        with self.assertRaises(OperationFailure) as cm:
            db.command("drop", "tickers")
        self.assertEqual(cm.exception.code, 26)
        db["recommendations"].rename("recs")
        self.assertEqual(db.list_collection_names(), ["recs"])
        c.drop_database(DB)
        self.assertNotIn(DB, c.list_database_names())

    def test_helpers_and_command_log(self):
        _id = self.mongo.insert(DB, "tickers", {"symbol": "AAPL", "exchange": "NASDAQ"})
        coll = self.client()[DB]["tickers"]
        self.assertEqual(coll.find_one({"_id": _id})["symbol"], "AAPL")
        self.mongo.update(DB, "tickers", {"symbol": "AAPL"}, {"$set": {"name": "Apple Inc."}})
        self.assertEqual(self.mongo.find(DB, "tickers")[0]["name"], "Apple Inc.")
        with self.mongo.lock:
            self.assertEqual(self.mongo.client[DB]["tickers"].count_documents({}), 1)
        self.assertEqual(self.mongo.delete(DB, "tickers", {}), 1)
        self.assertIn(("find", DB, "tickers"), self.mongo.commands)
        self.mongo.clear_commands()
        self.assertEqual(self.mongo.commands, [])

    def test_standalone_refuses_change_streams_and_transactions(self):
        c = self.client()
        with self.assertRaises(OperationFailure) as cm:
            c[DB]["recommendations"].watch()
        self.assertEqual(cm.exception.code, 40573)
        self.assertIn("only supported on replica sets", str(cm.exception))
        with c.start_session() as s:
            s.start_transaction()
            with self.assertRaises(OperationFailure) as cm:
                c[DB]["t"].insert_one({"a": 1}, session=s)
            self.assertEqual(cm.exception.code, 20)
            self.assertIn("Transaction numbers are only allowed on a replica set member or "
                          "mongos", str(cm.exception))
        self.assertEqual(c[DB]["t"].count_documents({}), 0)


class StandaloneFaults(StandInCase):
    def test_fail_next_error(self):
        coll = self.client(retryWrites=False)[DB]["t"]
        self.mongo.fail_next("insert", n=2, code=2, errmsg="boom",
                             error_labels=["SomeLabel"])
        for _ in range(2):
            with self.assertRaises(OperationFailure) as cm:
                coll.insert_one({"a": 1})
            self.assertEqual((cm.exception.code, str(cm.exception).split(",")[0]), (2, "boom"))
            self.assertTrue(cm.exception.has_error_label("SomeLabel"))
        coll.insert_one({"a": 1})
        self.assertEqual(coll.count_documents({}), 1)

    def test_fail_next_close_connection_and_after_apply(self):
        coll = self.client(retryWrites=False, retryReads=False)[DB]["t"]
        coll.insert_one({"a": 0})
        self.mongo.fail_next("find", close_connection=True)
        with self.assertRaises(AutoReconnect):
            coll.find_one()
        self.assertEqual(coll.find_one()["a"], 0)
        self.mongo.fail_next("insert", close_connection=True, after_apply=True)
        with self.assertRaises(AutoReconnect):
            coll.insert_one({"a": 1})
        self.assertEqual(coll.count_documents({"a": 1}), 1)     # applied, reply lost

    def test_configure_fail_point_command(self):
        c = self.client(retryWrites=False)
        c.admin.command("configureFailPoint", "failCommand", mode={"times": 1},
                        data={"failCommands": ["update"], "errorCode": 8})
        with self.assertRaises(OperationFailure) as cm:
            c[DB]["t"].update_one({}, {"$set": {"a": 1}})
        self.assertEqual(cm.exception.code, 8)
        c[DB]["t"].update_one({}, {"$set": {"a": 1}})

    def test_freeze_and_drop_connections(self):
        c = self.client(socketTimeoutMS=400, retryReads=False)
        coll = c[DB]["t"]
        coll.insert_one({"a": 1})
        self.assertGreaterEqual(self.mongo.connection_count, 1)
        self.mongo.freeze(1.5)
        t0 = time.monotonic()
        with self.assertRaises(NetworkTimeout):
            coll.find_one()
        self.assertLess(time.monotonic() - t0, 1.4)
        self.mongo.unfreeze()
        self.assertEqual(self.mongo.wait_for(lambda: self._try_find(coll), TIMEOUT)["a"], 1)
        self.assertGreaterEqual(self.mongo.drop_connections(), 1)
        self.assertTrue(self.mongo.wait_for(lambda: self.mongo.connection_count == 0, TIMEOUT))
        self.assertEqual(self.mongo.wait_for(lambda: self._try_find(coll), TIMEOUT)["a"], 1)

    @staticmethod
    def _try_find(coll):
        try:
            return coll.find_one()
        except AutoReconnect:
            return None

    def test_stop_start_keeps_data_and_port(self):
        c = self.client()
        c[DB]["t"].insert_one({"a": 1})
        port = self.mongo.port
        self.mongo.stop()
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        self.mongo.start()
        self.assertEqual(self.mongo.port, port)
        self.assertEqual(self.mongo.wait_for(lambda: self._try_find(c[DB]["t"]), TIMEOUT)["a"], 1)


# ---------------------------------------------------------------------------
# replica set, through pymongo


class ReplicaSetCase(StandInCase):
    REPLICA_SET = "rs0"


class ReplicaSetBasics(ReplicaSetCase):
    def test_discovery(self):
        self.assertEqual(self.mongo.uri,
                         "mongodb://127.0.0.1:%d/?replicaSet=rs0" % self.mongo.port)
        c = self.client()
        hello = c.admin.command("hello")
        self.assertEqual(hello["setName"], "rs0")
        self.assertEqual(hello["hosts"], ["127.0.0.1:%d" % self.mongo.port])
        self.assertTrue(hello["isWritablePrimary"])
        self.assertFalse(hello["secondary"])
        self.assertEqual(hello["logicalSessionTimeoutMinutes"], 30)
        self.assertIsInstance(hello["operationTime"], Timestamp)
        c[DB]["t"].insert_one({"a": 1})
        self.assertEqual(c.primary, ("127.0.0.1", self.mongo.port))

    def test_retryable_write_is_applied_once(self):
        coll = self.client()[DB]["open_positions"]
        self.mongo.fail_next("insert", close_connection=True, after_apply=True)
        coll.insert_one({"symbol": "AAPL", "open_timestamp": 1})     # pymongo retries once
        self.assertEqual(coll.count_documents({}), 1)
        inserts = [d for n, _db, d in self.mongo.command_docs if n == "insert"]
        self.assertEqual(len(inserts), 2)
        self.assertEqual(inserts[0]["txnNumber"], inserts[1]["txnNumber"])
        self.mongo.fail_next("update", close_connection=True, after_apply=True)
        coll.update_one({"symbol": "AAPL"}, {"$inc": {"n": 1}})
        self.assertEqual(coll.find_one()["n"], 1)
        self.mongo.fail_next("findAndModify", close_connection=True, after_apply=True)
        coll.find_one_and_update({"symbol": "AAPL"}, {"$inc": {"n": 1}})
        self.assertEqual(coll.find_one()["n"], 2)

    def test_retryable_error_codes_get_the_label(self):
        coll = self.client()[DB]["t"]
        self.mongo.fail_next("insert", code=91, errmsg="shutting down")
        coll.insert_one({"a": 1})                        # retried thanks to the label
        self.assertEqual(coll.count_documents({}), 1)
        self.mongo.fail_next("insert", code=91, after_apply=True)
        coll.insert_one({"a": 2})                        # applied, retried, not re-applied
        self.assertEqual(coll.count_documents({}), 2)
        self.mongo.fail_next("insert", code=2)           # not retryable
        with self.assertRaises(OperationFailure):
            coll.insert_one({"a": 3})


class Transactions(ReplicaSetCase):
    def test_commit_visible_only_after_commit(self):
        c = self.client()
        coll = c[DB]["open_positions"]
        coll.insert_one({"symbol": "AAPL", "open_timestamp": 1})
        with c.start_session() as s:
            s.start_transaction()
            coll.insert_one({"symbol": "NVDA", "open_timestamp": 2}, session=s)
            coll.update_one({"symbol": "AAPL"}, {"$set": {"closed": True}}, session=s)
            # read-your-own-writes inside, nothing visible outside
            self.assertEqual(coll.count_documents({}, session=s), 2)
            self.assertTrue(coll.find_one({"symbol": "AAPL"}, session=s)["closed"])
            self.assertEqual(coll.count_documents({}), 1)
            self.assertNotIn("closed", coll.find_one({"symbol": "AAPL"}))
            s.commit_transaction()
        self.assertEqual(coll.count_documents({}), 2)
        self.assertTrue(coll.find_one({"symbol": "AAPL"})["closed"])

    def test_abort_invisible(self):
        c = self.client()
        coll = c[DB]["open_positions"]
        with c.start_session() as s:
            s.start_transaction()
            coll.insert_one({"symbol": "NVDA"}, session=s)
            coll.delete_many({}, session=s)
            s.abort_transaction()
            self.assertEqual(coll.count_documents({}), 0)
            s.start_transaction()                  # the next one on the same session works
            coll.insert_one({"symbol": "BX"}, session=s)
            s.commit_transaction()
        self.assertEqual([d["symbol"] for d in coll.find()], ["BX"])

    def test_move_between_collections_atomically(self):
        c = self.client()
        db = c[DB]
        db["open_positions"].insert_one({"_id": "AAPL-1", "symbol": "AAPL"})

        def close_position(s):
            pos = db["open_positions"].find_one_and_delete({"_id": "AAPL-1"}, session=s)
            db["performance"].update_one({"month": "2021-07"},
                                         {"$push": {"positions": pos}, "$inc": {"pnl": 2.0}},
                                         upsert=True, session=s)

        with c.start_session() as s:
            s.with_transaction(close_position)
        self.assertEqual(db["open_positions"].count_documents({}), 0)
        perf = db["performance"].find_one()
        self.assertEqual((perf["pnl"], perf["positions"][0]["_id"]), (2.0, "AAPL-1"))

    def test_write_conflicts(self):
        c = self.client()
        coll = c[DB]["t"]
        coll.insert_one({"_id": 1, "n": 0})
        s1, s2 = c.start_session(), c.start_session()
        self.addCleanup(s1.end_session)
        self.addCleanup(s2.end_session)
        s1.start_transaction()
        coll.update_one({"_id": 1}, {"$inc": {"n": 1}}, session=s1)
        s2.start_transaction()
        with self.assertRaises(OperationFailure) as cm:
            coll.update_one({"_id": 1}, {"$inc": {"n": 10}}, session=s2)
        self.assertEqual(cm.exception.code, 112)
        self.assertTrue(cm.exception.has_error_label("TransientTransactionError"))
        s2.abort_transaction()
        s1.commit_transaction()
        self.assertEqual(coll.find_one()["n"], 1)
        # a write outside the transaction after its snapshot fails the commit
        s1.start_transaction()
        coll.update_one({"_id": 1}, {"$inc": {"n": 1}}, session=s1)
        coll.update_one({"_id": 1}, {"$inc": {"n": 100}})
        with self.assertRaises(OperationFailure) as cm:
            s1.commit_transaction()
        self.assertEqual(cm.exception.code, 112)
        self.assertTrue(cm.exception.has_error_label("TransientTransactionError"))
        self.assertEqual(coll.find_one()["n"], 101)

    def test_with_transaction_retries_transient_errors(self):
        c = self.client()
        coll = c[DB]["t"]
        calls = []

        def cb(s):
            calls.append(1)
            coll.insert_one({"k": len(calls)}, session=s)

        self.mongo.fail_next("commitTransaction", code=112, errmsg="injected conflict",
                             error_labels=["TransientTransactionError"])
        with c.start_session() as s:
            s.with_transaction(cb)
        self.assertEqual(len(calls), 2)
        self.assertEqual([d["k"] for d in coll.find()], [2])

    def test_duplicate_key_inside_transaction_aborts_it(self):
        c = self.client()
        coll = c[DB]["t"]
        coll.create_index("k", unique=True)
        coll.insert_one({"k": 1})
        with c.start_session() as s:
            s.start_transaction()
            coll.insert_one({"k": 2}, session=s)
            with self.assertRaises(DuplicateKeyError):
                coll.insert_one({"k": 1}, session=s)
            with self.assertRaises(OperationFailure) as cm:
                s.commit_transaction()
            self.assertEqual(cm.exception.code, 251)
        self.assertEqual(coll.count_documents({}), 1)

    def test_transaction_lifetime_limit(self):
        self.mongo.transaction_lifetime = 0.3
        c = self.client()
        with c.start_session() as s:
            s.start_transaction()
            c[DB]["t"].insert_one({"a": 1}, session=s)
            time.sleep(0.5)
            with self.assertRaises(OperationFailure) as cm:
                s.commit_transaction()
            self.assertEqual(cm.exception.code, 251)
        self.assertEqual(c[DB]["t"].count_documents({}), 0)

    def test_stop_aborts_open_transactions(self):
        c = self.client()
        s = c.start_session()
        self.addCleanup(s.end_session)
        s.start_transaction()
        c[DB]["t"].insert_one({"a": 1}, session=s)
        self.mongo.stop()
        self.mongo.start()
        with self.assertRaises((OperationFailure, AutoReconnect)):
            s.commit_transaction()
        self.assertEqual(self.mongo.find(DB, "t"), [])


class ChangeStreams(ReplicaSetCase):
    def watch(self, coll, **kwargs):
        kwargs.setdefault("max_await_time_ms", 200)
        stream = coll.watch(**kwargs)
        self.addCleanup(stream.close)
        return stream

    def next_events(self, stream, n, timeout=TIMEOUT):
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n and time.monotonic() < deadline:
            ev = stream.try_next()
            if ev is not None:
                out.append(ev)
        return out

    def test_inserts_after_start(self):
        c = self.client()
        coll = c[DB]["recommendations"]
        coll.insert_one({"before": True})
        stream = self.watch(coll)
        self.assertIsNone(stream.try_next())
        c[DB]["other"].insert_one({"x": 1})                     # other namespace: ignored
        doc = {"us-date": "2021-07-12 10:59:00",
               "recommendations": [{"symbol": "AAPL", "targetPrice": 150.2,
                                    "currentPrice": 145.1}]}
        _id = coll.insert_one(dict(doc)).inserted_id
        self.mongo.insert(DB, "recommendations", {"via": "helper"})
        events = self.next_events(stream, 2)
        self.assertEqual(len(events), 2)
        ev = events[0]
        self.assertEqual(ev["operationType"], "insert")
        self.assertEqual(ev["ns"], {"db": DB, "coll": "recommendations"})
        self.assertEqual(ev["documentKey"], {"_id": _id})
        self.assertEqual(ev["fullDocument"], dict(doc, _id=_id))
        self.assertIsInstance(ev["clusterTime"], Timestamp)
        self.assertIsInstance(ev["_id"]["_data"], str)
        self.assertEqual(events[1]["fullDocument"]["via"], "helper")
        self.assertEqual(stream.resume_token, events[1]["_id"])

    def test_resume_after_and_start_after(self):
        c = self.client()
        coll = c[DB]["recommendations"]
        stream = self.watch(coll)
        coll.insert_many([{"i": 1}, {"i": 2}, {"i": 3}])
        first = self.next_events(stream, 1)[0]
        self.assertEqual(first["fullDocument"]["i"], 1)
        stream.close()
        for option in ("resume_after", "start_after"):
            resumed = self.watch(coll, **{option: first["_id"]})
            self.assertEqual([e["fullDocument"]["i"] for e in self.next_events(resumed, 2)],
                             [2, 3], option)

    def test_start_at_operation_time(self):
        c = self.client()
        coll = c[DB]["recommendations"]
        coll.insert_one({"i": 1})
        op_time = c.admin.command("ping")["operationTime"]
        coll.insert_one({"i": 2})
        stream = self.watch(coll, start_at_operation_time=op_time)
        self.assertEqual([e["fullDocument"]["i"] for e in self.next_events(stream, 2)], [1, 2])

    def test_await_is_bounded_and_post_batch_resume_token(self):
        c = self.client()
        coll = c[DB]["recommendations"]
        stream = self.watch(coll, max_await_time_ms=300)
        token0 = stream.resume_token
        self.assertIsNotNone(token0)                             # postBatchResumeToken
        t0 = time.monotonic()
        self.assertIsNone(stream.try_next())
        self.assertLess(time.monotonic() - t0, 2.0)
        c[DB]["other"].insert_one({"x": 1})                      # advances the high-water mark
        self.assertIsNone(stream.try_next())
        self.assertNotEqual(stream.resume_token, token0)
        # a getMore waits for a late insert (not just polls)
        threading.Timer(0.1, lambda: self.mongo.insert(DB, "recommendations", {"i": 9})).start()
        stream2 = self.watch(coll, max_await_time_ms=2000, resume_after=stream.resume_token)
        t0 = time.monotonic()
        ev = stream2.try_next() or stream2.try_next()
        self.assertEqual(ev["fullDocument"]["i"], 9)
        self.assertLess(time.monotonic() - t0, 3.0)

    def test_update_replace_delete_and_pipeline(self):
        c = self.client()
        coll = c[DB]["open_positions"]
        stream = self.watch(coll, full_document="updateLookup")
        only_updates = self.watch(coll, pipeline=[{"$match": {"operationType": "update"}},
                                                  {"$project": {"updateDescription": 1}}])
        coll.insert_one({"_id": 1, "a": 1, "b": 2})
        coll.update_one({"_id": 1}, {"$set": {"a": 5}, "$unset": {"b": ""}})
        coll.replace_one({"_id": 1}, {"z": 1})
        coll.delete_one({"_id": 1})
        events = self.next_events(stream, 4)
        self.assertEqual([e["operationType"] for e in events],
                         ["insert", "update", "replace", "delete"])
        self.assertEqual(events[1]["updateDescription"],
                         {"updatedFields": {"a": 5}, "removedFields": ["b"],
                          "truncatedArrays": []})
        self.assertIn("fullDocument", events[1])            # updateLookup (doc now gone: None)
        self.assertEqual(events[2]["fullDocument"], {"_id": 1, "z": 1})
        self.assertEqual(events[3]["documentKey"], {"_id": 1})
        upd = self.next_events(only_updates, 1)
        self.assertEqual(set(upd[0]), {"_id", "updateDescription"})

    def test_transaction_events_appear_at_commit(self):
        c = self.client()
        coll = c[DB]["recommendations"]
        stream = self.watch(coll)
        with c.start_session() as s:
            s.start_transaction()
            coll.insert_one({"i": 1}, session=s)
            coll.insert_one({"i": 2}, session=s)
            self.assertIsNone(stream.try_next())
            s.commit_transaction()
        events = self.next_events(stream, 2)
        self.assertEqual([e["fullDocument"]["i"] for e in events], [1, 2])
        self.assertIn("txnNumber", events[0])
        with c.start_session() as s:
            s.start_transaction()
            coll.insert_one({"i": 3}, session=s)
            s.abort_transaction()
        self.assertEqual(self.next_events(stream, 1, timeout=0.5), [])

    def test_cluster_watch(self):
        c = self.client()
        stream = c.watch(max_await_time_ms=200)
        self.addCleanup(stream.close)
        c["a"]["x"].insert_one({"i": 1})
        c["b"]["y"].insert_one({"i": 2})
        events = self.next_events(stream, 2)
        self.assertEqual([(e["ns"]["db"], e["ns"]["coll"]) for e in events],
                         [("a", "x"), ("b", "y")])

    def test_drop_invalidates_and_database_watch(self):
        c = self.client()
        coll = c[DB]["t"]
        coll.insert_one({"a": 1})
        stream = self.watch(coll)
        dbstream = c[DB].watch(max_await_time_ms=200)
        self.addCleanup(dbstream.close)
        c[DB]["u"].insert_one({"b": 1})
        coll.drop()
        events = self.next_events(stream, 2)
        self.assertEqual([e["operationType"] for e in events], ["drop", "invalidate"])
        self.assertFalse(stream.alive)
        db_events = self.next_events(dbstream, 2)
        self.assertEqual([(e["operationType"], e["ns"]["coll"]) for e in db_events],
                         [("insert", "u"), ("drop", "t")])

    def test_resume_across_restart_and_dropped_connections(self):
        c = self.client()
        coll = c[DB]["recommendations"]
        stream = self.watch(coll)
        coll.insert_one({"i": 1})
        self.assertEqual(self.next_events(stream, 1)[0]["fullDocument"]["i"], 1)
        self.mongo.drop_connections()
        self.mongo.insert(DB, "recommendations", {"i": 2})
        self.assertEqual(self.next_events(stream, 1)[0]["fullDocument"]["i"], 2)
        self.mongo.stop()
        self.mongo.start()
        self.mongo.insert(DB, "recommendations", {"i": 3})
        self.assertEqual(self.next_events(stream, 1)[0]["fullDocument"]["i"], 3)
        self.mongo.fail_next("getMore", code=43, errmsg="cursor id 1 not found")
        self.mongo.insert(DB, "recommendations", {"i": 4})
        self.assertEqual(self.next_events(stream, 1)[0]["fullDocument"]["i"], 4)

    def test_history_lost_and_foreign_tokens(self):
        c = self.client()
        coll = c[DB]["recommendations"]
        stream = self.watch(coll)
        coll.insert_one({"i": 1})
        token = self.next_events(stream, 1)[0]["_id"]
        stream.close()
        coll.insert_one({"i": 2})
        self.mongo.truncate_oplog()
        with self.assertRaises(OperationFailure) as cm:
            self.watch(coll, resume_after=token)
        self.assertEqual(cm.exception.code, 286)
        other = MongoStandIn(replica_set="rs0").start()
        self.addCleanup(other.stop)
        oc = connect(other)
        self.addCleanup(oc.close)
        with self.assertRaises(OperationFailure) as cm:
            oc[DB]["recommendations"].watch(resume_after=token)
        self.assertIn(cm.exception.code, (260, 286))
        with self.assertRaises(OperationFailure) as cm:
            oc[DB]["recommendations"].watch(resume_after={"_data": "zz"})
        self.assertEqual(cm.exception.code, 260)


# ---------------------------------------------------------------------------
# TLS mode


class TlsCase(unittest.TestCase):
    """Stand-ins serving TLS with certificates from tls_certs.make_certs."""

    REPLICA_SET = None
    certs = None
    tmp = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="standin-tls-")
        cls.certs = tls_certs.make_certs(cls.tmp)
        cls.certs.update(make_client_cert(cls.tmp))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def standin(self, stem="server", client_ca=False, tls=True, **kwargs):
        config = None
        if tls:
            config = {"cert": self.certs[stem + ".pem"], "key": self.certs[stem + ".key"],
                      "ca": self.certs["ca.pem"]}
            if client_ca:
                config["client_ca"] = self.certs["ca.pem"]
        mongo = MongoStandIn(replica_set=self.REPLICA_SET, tls=config, **kwargs).start()
        self.addCleanup(self._check_stop, mongo)
        return mongo

    def _check_stop(self, mongo):
        mongo.stop()
        self.assertEqual(mongo.internal_errors, [])

    def client(self, uri, **kwargs):
        opts = dict(serverSelectionTimeoutMS=3000, connectTimeoutMS=2000, socketTimeoutMS=5000)
        opts.update(kwargs)
        c = pymongo.MongoClient(uri, **opts)
        self.addCleanup(c.close)
        return c

    def tls_socket(self, port, ca=None, certfile=None, password=None, host="localhost"):
        """A TLS connection made with Python's ssl module (certificate and host checked)."""
        ctx = ssl.create_default_context(cafile=ca or self.certs["ca.pem"])
        if certfile:
            ctx.load_cert_chain(certfile, password=password)
        raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.addCleanup(raw.close)
        tls = ctx.wrap_socket(raw, server_hostname=host)
        self.addCleanup(tls.close)
        return tls

    @staticmethod
    def ping(sock, request_id=1):
        sock.sendall(_op_msg(request_id, {"ping": 1, "$db": "admin"}))
        _rid, response_to, _opcode, payload = _read_message(sock)
        assert response_to == request_id
        return _parse_op_msg_reply(payload)[1]


class TlsStandalone(TlsCase):
    def test_uri_names_tls_and_the_ca_and_pymongo_works_over_it(self):
        mongo = self.standin()
        self.assertEqual(mongo.uri, "mongodb://127.0.0.1:%d/?directConnection=true&tls=true"
                                    "&tlsCAFile=%s" % (mongo.port, self.certs["ca.pem"]))
        c = self.client(mongo.uri)
        c[DB]["t"].insert_one({"a": 1})
        self.assertEqual([d["a"] for d in c[DB]["t"].find()], [1])
        self.assertEqual(mongo.find(DB, "t")[0]["a"], 1)
        self.assertTrue(mongo.tls_clients)
        self.assertEqual(set(mongo.tls_clients), {None})      # no client certificate
        self.assertEqual(mongo.tls_errors, [])
        # uri_for: tls options can be replaced or left out
        self.assertIn("tlsCAFile=/x/ca.pem", mongo.uri_for(DB, tlsCAFile="/x/ca.pem"))
        self.assertNotIn("tlsCAFile", mongo.uri_for(DB, tlsCAFile=None))

    def test_certificate_valid_for_localhost_and_127_0_0_1(self):
        mongo = self.standin()
        for host in ("localhost", "127.0.0.1"):
            with self.subTest(host=host):
                self.assertEqual(self.ping(self.tls_socket(mongo.port, host=host))["ok"], 1.0)

    def test_untrusted_or_wrong_host_certificate_is_refused_by_the_client(self):
        mongo = self.standin()
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.tls_socket(mongo.port, ca=self.certs["other_ca.pem"])
        wrong = self.standin("wrong_host")
        with self.assertRaises(ssl.SSLCertVerificationError) as cm:
            self.tls_socket(wrong.port)
        self.assertIn("mismatch", str(cm.exception).lower())
        self_signed = self.standin("self_signed")
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.tls_socket(self_signed.port)
        # the server saw the client's refusal, and still serves others
        self.assertTrue(mongo.wait_for(lambda: mongo.tls_errors, TIMEOUT))
        self.assertIn("unknown ca", mongo.tls_errors[0].lower())
        self.assertEqual(self.ping(self.tls_socket(mongo.port))["ok"], 1.0)

    def test_plain_client_is_disconnected(self):
        mongo = self.standin()
        s = socket.create_connection(("127.0.0.1", mongo.port), timeout=TIMEOUT)
        self.addCleanup(s.close)
        s.sendall(_op_msg(1, {"ping": 1, "$db": "admin"}))
        try:
            data = s.recv(100)
        except ConnectionResetError:
            data = b""
        self.assertEqual(data, b"")
        self.assertTrue(mongo.wait_for(lambda: mongo.tls_errors, TIMEOUT))
        self.assertEqual(self.ping(self.tls_socket(mongo.port))["ok"], 1.0)

    def test_plain_standin_closes_a_tls_hello_like_mongod(self):
        mongo = self.standin(tls=False)
        with self.assertRaises((ssl.SSLError, ConnectionResetError, ConnectionAbortedError,
                                BrokenPipeError)):
            self.tls_socket(mongo.port)
        self.assertEqual(mongo.tls_hellos_refused, 1)
        self.assertEqual(self.client(mongo.uri).admin.command("ping")["ok"], 1.0)
        self.assertEqual(mongo.tls_hellos_refused, 1)

    def test_client_certificate_required(self):
        mongo = self.standin(client_ca=True)
        # TLS 1.3: the server judges the (missing) client certificate after the
        # client's side of the handshake: the refusal comes with the first read.
        with self.assertRaises((ssl.SSLError, ConnectionResetError, EOFError, BrokenPipeError)):
            self.ping(self.tls_socket(mongo.port))
        self.assertTrue(mongo.wait_for(lambda: mongo.tls_errors, TIMEOUT))
        self.assertIn("certificate", mongo.tls_errors[0].lower())
        self.assertEqual(self.ping(self.tls_socket(mongo.port, certfile=self.certs["client.pem"]))
                         ["ok"], 1.0)
        encrypted = self.tls_socket(mongo.port, certfile=self.certs["client_encrypted.pem"],
                                    password=CLIENT_KEY_PASSWORD)
        self.assertEqual(self.ping(encrypted)["ok"], 1.0)
        self.assertEqual(mongo.tls_clients, ["commonName=qc-client"] * 2)

    def test_server_cert_for_other_names(self):
        pem, key = make_server_cert(self.tmp, "node", ["node1.qc.test", "node2.qc.test"])
        mongo = MongoStandIn(tls={"cert": pem, "key": key}).start()
        self.addCleanup(self._check_stop, mongo)
        self.assertEqual(self.ping(self.tls_socket(mongo.port, host="node2.qc.test"))["ok"], 1.0)
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.tls_socket(mongo.port, host="localhost")

    def test_restart_keeps_tls(self):
        mongo = self.standin()
        port = mongo.port
        mongo.insert(DB, "t", {"a": 1})
        mongo.stop()
        mongo.start()
        self.assertEqual(mongo.port, port)
        self.assertEqual(self.client(mongo.uri)[DB]["t"].count_documents({}), 1)


class TlsReplicaSet(TlsCase):
    REPLICA_SET = "rs0"

    def test_discovery_transactions_and_change_stream_over_tls(self):
        mongo = self.standin()
        c = self.client(mongo.uri)
        self.assertEqual(c.admin.command("hello")["hosts"], ["127.0.0.1:%d" % mongo.port])
        coll = c[DB]["recommendations"]
        coll.insert_one({"i": 0})
        with coll.watch([{"$match": {"operationType": "insert"}}], max_await_time_ms=300) as stream:
            with c.start_session() as session:
                with session.start_transaction():
                    coll.insert_one({"i": 1}, session=session)
                    coll.insert_one({"i": 2}, session=session)
            got = []
            deadline = time.monotonic() + TIMEOUT
            while len(got) < 2 and time.monotonic() < deadline:
                event = stream.try_next()
                if event:
                    got.append(event["fullDocument"]["i"])
        self.assertEqual(got, [1, 2])
        self.assertEqual(mongo.tls_errors, [])

    def test_advertised_host_is_the_address_in_hello_and_uri(self):
        mongo = self.standin(advertised_host="localhost")
        self.assertEqual(mongo.address, "localhost:%d" % mongo.port)
        self.assertTrue(mongo.uri.startswith("mongodb://localhost:%d/?replicaSet=rs0&tls=true"
                                             % mongo.port), mongo.uri)
        c = self.client(mongo.uri)
        hello = c.admin.command("hello")
        self.assertEqual((hello["hosts"], hello["me"], hello["primary"]),
                         (["localhost:%d" % mongo.port], "localhost:%d" % mongo.port,
                          "localhost:%d" % mongo.port))
        self.assertEqual(c.primary, ("localhost", mongo.port))


# ---------------------------------------------------------------------------
# the real C driver


def _build_libmongoc_check():
    """Compiles LIBMONGOC_CHECK_SOURCE in a temp dir; returns (path, None) or (None, why)."""
    if not shutil.which("gcc") or not shutil.which("pkg-config"):
        return None, "gcc/pkg-config not installed"
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libmongoc-1.0"],
                           capture_output=True, text=True, timeout=30)
    if flags.returncode != 0:
        return None, "libmongoc-dev not installed"
    tmp = tempfile.mkdtemp(prefix="mongoc-check-")
    src = os.path.join(tmp, "check.c")
    exe = os.path.join(tmp, "check")
    with open(src, "w") as f:
        f.write(LIBMONGOC_CHECK_SOURCE)
    res = subprocess.run(["gcc", "-Wall", "-O0", "-o", exe, src] + flags.stdout.split(),
                         capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        return None, "compile failed: " + res.stderr[-2000:]
    return exe, None


class LibmongocDriver(unittest.TestCase):
    """The real target: libmongoc 1.23 (pooled client, as a server would use it)."""

    exe = None

    @classmethod
    def setUpClass(cls):
        cls.exe, why = _build_libmongoc_check()
        if cls.exe is None:
            raise unittest.SkipTest(why)

    @classmethod
    def tearDownClass(cls):
        if cls.exe:
            shutil.rmtree(os.path.dirname(cls.exe), ignore_errors=True)

    def run_check(self, replica_set, tls=None):
        mongo = MongoStandIn(replica_set=replica_set, tls=tls).start()
        self.addCleanup(mongo.stop)
        mode = "rs" if replica_set else "standalone"
        proc = subprocess.Popen([self.exe, mongo.uri, mode, "restart"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        timer = threading.Timer(90, proc.kill)
        timer.start()
        lines = []
        try:
            for line in proc.stdout:
                lines.append(line.rstrip("\n"))
                if line.startswith("RESTART"):
                    mongo.stop()
                    mongo.start()
                    mongo.insert("qc", "recommendations", {"i": 5})
                    proc.stdin.write("\n")
                    proc.stdin.flush()
            proc.wait(10)
        finally:
            timer.cancel()
            proc.stdout.close()
            proc.stdin.close()
        output = "\n".join(lines)
        self.assertEqual(mongo.internal_errors, [])
        self.assertEqual(proc.returncode, 0, output)
        self.assertNotIn("FAIL ", output)
        self.assertIn("PASSED", output)
        return mongo, output

    def test_standalone(self):
        mongo, output = self.run_check(None)
        self.assertIn("standalone watch -> 40573", output)
        names = {c[0] for c in mongo.commands}
        self.assertTrue({"isMaster", "ping", "insert", "find", "getMore", "killCursors",
                         "update", "delete", "findAndModify", "aggregate", "createIndexes",
                         "listIndexes", "listCollections", "count"} <= names, names)

    def tls(self):
        tmp = tempfile.mkdtemp(prefix="mongoc-check-tls-")
        self.addCleanup(shutil.rmtree, tmp, True)
        certs = tls_certs.make_certs(tmp)
        return {"cert": certs["server.pem"], "key": certs["server.key"], "ca": certs["ca.pem"]}

    def test_standalone_over_tls(self):
        mongo, output = self.run_check(None, self.tls())
        self.assertIn("standalone watch -> 40573", output)
        self.assertEqual(mongo.tls_errors, [])
        self.assertTrue(mongo.tls_clients)

    def test_replica_set_over_tls(self):
        # Everything test_replica_set checks, over TLS: transactions, change
        # streams, retryable writes after a dropped TLS connection, and the
        # automatic resume across a restart of the TLS stand-in.
        mongo, output = self.run_check("rs0", self.tls())
        self.assertIn("automatic resume across a stand-in restart: got i=5", output)
        self.assertIn("commit reply lost, retried commit", output)
        self.assertEqual(mongo.tls_errors, [])

    def test_replica_set(self):
        mongo, output = self.run_check("rs0")
        self.assertIn("automatic resume across a stand-in restart: got i=5", output)
        names = {c[0] for c in mongo.commands}
        self.assertTrue({"commitTransaction", "abortTransaction", "getMore",
                         "killCursors"} <= names, names)
        # the lost-reply insert was retried with the same txnNumber and applied once
        retried = [d for n, _db, d in mongo.command_docs
                   if n == "insert" and d["insert"] == "positions"
                   and d["documents"][0].get("symbol") == "C"]
        self.assertEqual(len(retried), 2)
        self.assertEqual(retried[0]["txnNumber"], retried[1]["txnNumber"])
        self.assertEqual(len(mongo.find("qc", "positions", {"symbol": "C"})), 1)


# ---------------------------------------------------------------------------
# C source of the libmongoc check (compiled into a temporary directory).
# argv: URI rs|standalone [restart]; prints "ok   ..." / "FAIL ..." lines, and
# "RESTART" when it waits (on stdin) for the harness to restart the stand-in.

LIBMONGOC_CHECK_SOURCE = r'''/* libmongoc 1.23 check against tests/support/mongo_standin.py.
 * usage: check URI rs|standalone */
#include <mongoc/mongoc.h>
#include <stdio.h>
#include <string.h>

static int failures = 0;
#define CHECK(cond, ...)                                   \
  do {                                                     \
    if (cond) {                                            \
      printf ("ok   ");                                    \
    } else {                                               \
      printf ("FAIL ");                                    \
      failures++;                                          \
    }                                                      \
    printf (__VA_ARGS__);                                  \
    printf ("\n");                                         \
    fflush (stdout);                                       \
  } while (0)

static int64_t
count (mongoc_collection_t *c, const bson_t *filter)
{
  bson_error_t e;
  int64_t n = mongoc_collection_count_documents (c, filter, NULL, NULL, NULL, &e);
  if (n < 0) printf ("  count error: %s\n", e.message);
  return n;
}

typedef struct {
  int n;
} txn_ctx_t;

static bool
txn_cb (mongoc_client_session_t *cs, void *ctx, bson_t **reply, bson_error_t *error)
{
  mongoc_client_t *client = mongoc_client_session_get_client (cs);
  mongoc_collection_t *c = mongoc_client_get_collection (client, "qc", "txn");
  bson_t opts = BSON_INITIALIZER;
  bool ok = mongoc_client_session_append (cs, &opts, error);
  bson_t *d1 = BCON_NEW ("k", BCON_INT32 (1), "src", "with_transaction");
  bson_t *d2 = BCON_NEW ("k", BCON_INT32 (2), "src", "with_transaction");
  ok = ok && mongoc_collection_insert_one (c, d1, &opts, NULL, error);
  ok = ok && mongoc_collection_insert_one (c, d2, &opts, NULL, error);
  /* read your own write inside the transaction */
  if (ok) {
    bson_t *f = BCON_NEW ("src", "with_transaction");
    int64_t n = mongoc_collection_count_documents (c, f, &opts, NULL, NULL, error);
    ((txn_ctx_t *) ctx)->n = (int) n;
    bson_destroy (f);
  }
  bson_destroy (d1);
  bson_destroy (d2);
  bson_destroy (&opts);
  mongoc_collection_destroy (c);
  return ok;
}

int
main (int argc, char **argv)
{
  bson_error_t err;
  bool rs = argc > 2 && strcmp (argv[2], "rs") == 0;
  mongoc_init ();
  mongoc_uri_t *uri = mongoc_uri_new_with_error (argv[1], &err);
  if (!uri) {
    printf ("bad uri %s\n", err.message);
    return 2;
  }
  mongoc_uri_set_option_as_int32 (uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 3000);
  mongoc_uri_set_option_as_int32 (uri, MONGOC_URI_SOCKETTIMEOUTMS, 5000);
  mongoc_client_pool_t *pool = mongoc_client_pool_new (uri);
  mongoc_client_pool_set_error_api (pool, MONGOC_ERROR_API_VERSION_2);
  mongoc_client_t *client = mongoc_client_pool_pop (pool);

  /* ping */
  bson_t *ping = BCON_NEW ("ping", BCON_INT32 (1));
  bson_t reply;
  bool ok = mongoc_client_command_simple (client, "admin", ping, NULL, &reply, &err);
  CHECK (ok, "ping (%s)", ok ? "" : err.message);
  bson_destroy (&reply);

  mongoc_collection_t *c = mongoc_client_get_collection (client, "qc", "positions");
  mongoc_collection_drop (c, NULL);

  /* unique index through the createIndexes command */
  bson_t *ci = BCON_NEW ("createIndexes", "positions", "indexes", "[", "{", "key", "{",
                         "symbol", BCON_INT32 (1), "open_timestamp", BCON_INT32 (1), "}",
                         "name", "pos_identity", "unique", BCON_BOOL (true), "}", "]");
  ok = mongoc_collection_write_command_with_opts (c, ci, NULL, &reply, &err);
  CHECK (ok, "createIndexes unique (%s)", ok ? "" : err.message);
  bson_destroy (&reply);
  bson_destroy (ci);

  bson_t *doc = BCON_NEW ("symbol", "AAPL", "open_timestamp", BCON_INT64 (1626101940),
                          "entry_price", BCON_DOUBLE (145.1));
  ok = mongoc_collection_insert_one (c, doc, NULL, &reply, &err);
  CHECK (ok, "insert_one (%s)", ok ? "" : err.message);
  bson_destroy (&reply);
  ok = mongoc_collection_insert_one (c, doc, NULL, &reply, &err);
  CHECK (!ok && err.code == 11000, "duplicate insert -> 11000 (got %u: %s)", err.code,
         err.message);
  bson_destroy (&reply);
  bson_destroy (doc);

  /* bulk insert (kind-1 document sequence), find with sort/limit/batchSize (getMore) */
  mongoc_bulk_operation_t *bulk = mongoc_collection_create_bulk_operation_with_opts (c, NULL);
  for (int i = 0; i < 250; i++) {
    bson_t *d = BCON_NEW ("symbol", "NVDA", "open_timestamp", BCON_INT64 (1000 + i));
    mongoc_bulk_operation_insert (bulk, d);
    bson_destroy (d);
  }
  ok = mongoc_bulk_operation_execute (bulk, &reply, &err) != 0;
  CHECK (ok, "bulk insert 250 (%s)", ok ? "" : err.message);
  bson_destroy (&reply);
  mongoc_bulk_operation_destroy (bulk);

  bson_t *filter = BCON_NEW ("symbol", "NVDA");
  bson_t *fopts = BCON_NEW ("sort", "{", "open_timestamp", BCON_INT32 (-1), "}", "batchSize",
                            BCON_INT32 (20), "limit", BCON_INT64 (100));
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts (c, filter, fopts, NULL);
  const bson_t *d;
  int n = 0;
  int64_t first_ts = 0;
  while (mongoc_cursor_next (cur, &d)) {
    bson_iter_t it;
    if (n == 0 && bson_iter_init_find (&it, d, "open_timestamp")) first_ts = bson_iter_as_int64 (&it);
    n++;
  }
  ok = !mongoc_cursor_error (cur, &err);
  CHECK (ok && n == 100 && first_ts == 1249, "find sort/limit/batchSize: %d docs, first %lld (%s)", n,
         (long long) first_ts, ok ? "" : err.message);
  mongoc_cursor_destroy (cur);
  bson_destroy (fopts);

  CHECK (count (c, filter) == 250, "count_documents == 250");
  bson_error_t e2;
  int64_t est = mongoc_collection_estimated_document_count (c, NULL, NULL, NULL, &e2);
  CHECK (est == 251, "estimated_document_count == 251 (%lld %s)", (long long) est,
         est < 0 ? e2.message : "");

  /* early-destroyed cursor -> killCursors */
  fopts = BCON_NEW ("batchSize", BCON_INT32 (5));
  cur = mongoc_collection_find_with_opts (c, filter, fopts, NULL);
  mongoc_cursor_next (cur, &d);
  mongoc_cursor_destroy (cur);
  bson_destroy (fopts);

  /* update upsert, update many, delete */
  bson_t *q = BCON_NEW ("symbol", "BX", "open_timestamp", BCON_INT64 (5));
  bson_t *u = BCON_NEW ("$set", "{", "stop_loss", BCON_DOUBLE (9.0), "}");
  bson_t *uopts = BCON_NEW ("upsert", BCON_BOOL (true));
  ok = mongoc_collection_update_one (c, q, u, uopts, &reply, &err);
  bson_iter_t it;
  bool has_upserted = bson_iter_init_find (&it, &reply, "upsertedId");
  CHECK (ok && has_upserted, "update_one upsert -> upsertedId (%s)", ok ? "" : err.message);
  bson_destroy (&reply);
  ok = mongoc_collection_update_one (c, q, u, uopts, &reply, &err);
  int32_t matched = -1, modified = -1;
  if (bson_iter_init_find (&it, &reply, "matchedCount")) matched = bson_iter_int32 (&it);
  if (bson_iter_init_find (&it, &reply, "modifiedCount")) modified = bson_iter_int32 (&it);
  CHECK (ok && matched == 1 && modified == 0, "update_one again: matched %d modified %d", matched,
         modified);
  bson_destroy (&reply);
  bson_t *um = BCON_NEW ("$inc", "{", "open_timestamp", BCON_INT64 (1000000), "}");
  ok = mongoc_collection_update_many (c, filter, um, NULL, &reply, &err);
  modified = -1;
  if (bson_iter_init_find (&it, &reply, "modifiedCount")) modified = bson_iter_int32 (&it);
  CHECK (ok && modified == 250, "update_many modified %d (%s)", modified, ok ? "" : err.message);
  bson_destroy (&reply);
  ok = mongoc_collection_delete_many (c, filter, NULL, &reply, &err);
  int32_t deleted = -1;
  if (bson_iter_init_find (&it, &reply, "deletedCount")) deleted = bson_iter_int32 (&it);
  CHECK (ok && deleted == 250, "delete_many deleted %d", deleted);
  bson_destroy (&reply);

  /* findAndModify */
  mongoc_find_and_modify_opts_t *fam = mongoc_find_and_modify_opts_new ();
  bson_t *famu = BCON_NEW ("$set", "{", "closed", BCON_BOOL (true), "}");
  mongoc_find_and_modify_opts_set_update (fam, famu);
  mongoc_find_and_modify_opts_set_flags (fam, MONGOC_FIND_AND_MODIFY_RETURN_NEW);
  ok = mongoc_collection_find_and_modify_with_opts (c, q, fam, &reply, &err);
  bson_iter_t child;
  bool closed = bson_iter_init_find (&it, &reply, "value") && BSON_ITER_HOLDS_DOCUMENT (&it) &&
                bson_iter_recurse (&it, &child) && bson_iter_find (&child, "closed");
  CHECK (ok && closed, "findAndModify returnNew (%s)", ok ? "" : err.message);
  bson_destroy (&reply);
  mongoc_find_and_modify_opts_destroy (fam);
  bson_destroy (famu);

  /* aggregate */
  bson_t *pipe = BCON_NEW ("pipeline", "[", "{", "$group", "{", "_id", "$symbol", "n", "{",
                           "$sum", BCON_INT32 (1), "}", "}", "}", "]");
  cur = mongoc_collection_aggregate (c, MONGOC_QUERY_NONE, pipe, NULL, NULL);
  n = 0;
  while (mongoc_cursor_next (cur, &d)) n++;
  ok = !mongoc_cursor_error (cur, &err);
  CHECK (ok && n == 2, "aggregate $group -> %d groups (%s)", n, ok ? "" : err.message);
  mongoc_cursor_destroy (cur);
  bson_destroy (pipe);

  /* listCollections / listIndexes */
  mongoc_database_t *db = mongoc_client_get_database (client, "qc");
  char **names = mongoc_database_get_collection_names_with_opts (db, NULL, &err);
  CHECK (names && names[0], "listCollections (%s)", names ? names[0] : err.message);
  bson_strfreev (names);
  cur = mongoc_collection_find_indexes_with_opts (c, NULL);
  n = 0;
  while (mongoc_cursor_next (cur, &d)) n++;
  CHECK (n == 2, "listIndexes -> %d", n);
  mongoc_cursor_destroy (cur);

  /* retryable write through configureFailPoint (closeConnection after apply) */
  bson_t *fp = BCON_NEW ("configureFailPoint", "failCommand", "mode", "{", "times", BCON_INT32 (1),
                         "}", "data", "{", "failCommands", "[", "insert", "]", "closeConnection",
                         BCON_BOOL (true), "standinAfterApply", BCON_BOOL (true), "}");
  ok = mongoc_client_command_simple (client, "admin", fp, NULL, NULL, &err);
  CHECK (ok, "configureFailPoint (%s)", ok ? "" : err.message);
  bson_destroy (fp);
  doc = BCON_NEW ("symbol", "C", "open_timestamp", BCON_INT64 (77));
  ok = mongoc_collection_insert_one (c, doc, NULL, &reply, &err);
  bson_destroy (&reply);
  bson_t *fc = BCON_NEW ("symbol", "C");
  int64_t nc = count (c, fc);
  if (rs)
    CHECK (ok && nc == 1, "retryable insert after lost reply: ok=%d, %lld doc(s) (%s)", ok,
           (long long) nc, ok ? "" : err.message);
  else
    CHECK (!ok && nc == 1, "standalone: no retry, insert reports network error, %lld doc(s) (%s)",
           (long long) nc, err.message);
  bson_destroy (fc);
  bson_destroy (doc);

  mongoc_collection_t *tc = mongoc_client_get_collection (client, "qc", "txn");
  mongoc_collection_drop (tc, NULL);
  if (rs) {
    /* with_transaction commit */
    mongoc_client_session_t *cs = mongoc_client_start_session (client, NULL, &err);
    CHECK (cs != NULL, "start_session (%s)", cs ? "" : err.message);
    txn_ctx_t tctx = {0};
    ok = mongoc_client_session_with_transaction (cs, txn_cb, NULL, &tctx, NULL, &err);
    bson_t *ft = BCON_NEW ("src", "with_transaction");
    CHECK (ok && tctx.n == 2 && count (tc, ft) == 2,
           "with_transaction commit: in-txn count %d, after %lld (%s)", tctx.n,
           (long long) count (tc, ft), ok ? "" : err.message);
    bson_destroy (ft);

    /* manual transaction then abort; invisible outside before and after */
    ok = mongoc_client_session_start_transaction (cs, NULL, &err);
    CHECK (ok, "start_transaction (%s)", ok ? "" : err.message);
    bson_t sopts = BSON_INITIALIZER;
    mongoc_client_session_append (cs, &sopts, &err);
    doc = BCON_NEW ("src", "aborted");
    ok = mongoc_collection_insert_one (tc, doc, &sopts, NULL, &err);
    bson_t *fa = BCON_NEW ("src", "aborted");
    int64_t outside = count (tc, fa);
    ok = ok && mongoc_client_session_abort_transaction (cs, &err);
    CHECK (ok && outside == 0 && count (tc, fa) == 0,
           "abort_transaction: invisible during (%lld) and after (%lld) (%s)",
           (long long) outside, (long long) count (tc, fa), ok ? "" : err.message);

    /* manual commit */
    ok = mongoc_client_session_start_transaction (cs, NULL, &err);
    bson_destroy (&sopts);
    bson_init (&sopts);
    mongoc_client_session_append (cs, &sopts, &err);
    bson_t *dd = BCON_NEW ("src", "committed");
    ok = ok && mongoc_collection_insert_one (tc, dd, &sopts, NULL, &err);
    bson_t *fcm = BCON_NEW ("src", "committed");
    outside = count (tc, fcm);
    bson_t creply;
    ok = ok && mongoc_client_session_commit_transaction (cs, &creply, &err);
    bson_destroy (&creply);
    CHECK (ok && outside == 0 && count (tc, fcm) == 1,
           "commit_transaction: invisible before commit (%lld), visible after (%lld) (%s)",
           (long long) outside, (long long) count (tc, fcm), ok ? "" : err.message);
    bson_destroy (&sopts);
    bson_destroy (dd);
    bson_destroy (fcm);
    bson_destroy (fa);
    bson_destroy (doc);
    mongoc_client_session_destroy (cs);

    /* change stream */
    mongoc_collection_t *rc = mongoc_client_get_collection (client, "qc", "recommendations");
    bson_t *wopts = BCON_NEW ("maxAwaitTimeMS", BCON_INT64 (300), "fullDocument", "default");
    bson_t *wpipe = BCON_NEW ("pipeline", "[", "{", "$match", "{", "operationType", "insert", "}",
                              "}", "]");
    mongoc_change_stream_t *cs1 = mongoc_collection_watch (rc, wpipe, wopts);
    const bson_t *eerr = NULL;
    ok = !mongoc_change_stream_error_document (cs1, &err, &eerr);
    CHECK (ok, "watch (%s)", ok ? "" : err.message);
    mongoc_client_t *other = mongoc_client_pool_pop (pool);
    mongoc_collection_t *orc = mongoc_client_get_collection (other, "qc", "recommendations");
    for (int i = 0; i < 3; i++) {
      bson_t *r = BCON_NEW ("us-date", "2021-07-12 10:59:00", "i", BCON_INT32 (i));
      mongoc_collection_insert_one (orc, r, NULL, NULL, NULL);
      bson_destroy (r);
    }
    int got = 0;
    bson_t *token = NULL;
    for (int tries = 0; tries < 20 && got < 2; tries++) {
      const bson_t *ev;
      if (mongoc_change_stream_next (cs1, &ev)) {
        got++;
        bson_iter_t fi;
        if (got == 1)
          CHECK (bson_iter_init_find (&fi, ev, "fullDocument") && bson_iter_init_find (&fi, ev, "documentKey"),
                 "event has fullDocument and documentKey");
      }
    }
    CHECK (got == 2, "change stream got %d of first 2 inserts", got);
    token = bson_copy (mongoc_change_stream_get_resume_token (cs1));
    char *tj = bson_as_relaxed_extended_json (token, NULL);
    printf ("     resume token %s\n", tj);
    bson_free (tj);
    mongoc_change_stream_destroy (cs1);

    /* resume after the token: should see i=2 then a new one i=3 */
    bson_t *r3 = BCON_NEW ("us-date", "2021-07-12 11:00:00", "i", BCON_INT32 (3));
    mongoc_collection_insert_one (orc, r3, NULL, NULL, NULL);
    bson_destroy (r3);
    bson_t ropts = BSON_INITIALIZER;
    BSON_APPEND_DOCUMENT (&ropts, "resumeAfter", token);
    BSON_APPEND_INT64 (&ropts, "maxAwaitTimeMS", 300);
    mongoc_change_stream_t *cs2 = mongoc_collection_watch (rc, wpipe, &ropts);
    int seen[2] = {-1, -1};
    got = 0;
    for (int tries = 0; tries < 20 && got < 2; tries++) {
      const bson_t *ev;
      if (mongoc_change_stream_next (cs2, &ev)) {
        bson_iter_t fi;
        if (bson_iter_init (&fi, ev) && bson_iter_find_descendant (&fi, "fullDocument.i", &child))
          seen[got] = bson_iter_int32 (&child);
        got++;
      }
    }
    CHECK (got == 2 && seen[0] == 2 && seen[1] == 3, "resumeAfter: got i=%d,%d", seen[0], seen[1]);

    /* resume across a dropped connection (driver-level automatic resume) */
    bson_t *fp2 = BCON_NEW ("configureFailPoint", "failCommand", "mode", "{", "times",
                            BCON_INT32 (1), "}", "data", "{", "failCommands", "[", "getMore", "]",
                            "closeConnection", BCON_BOOL (true), "}");
    mongoc_client_command_simple (other, "admin", fp2, NULL, NULL, &err);
    bson_destroy (fp2);
    bson_t *r4 = BCON_NEW ("i", BCON_INT32 (4));
    mongoc_collection_insert_one (orc, r4, NULL, NULL, NULL);
    bson_destroy (r4);
    int i4 = -1;
    for (int tries = 0; tries < 20 && i4 < 0; tries++) {
      const bson_t *ev;
      if (mongoc_change_stream_next (cs2, &ev)) {
        bson_iter_t fi;
        if (bson_iter_init (&fi, ev) && bson_iter_find_descendant (&fi, "fullDocument.i", &child))
          i4 = bson_iter_int32 (&child);
      } else if (mongoc_change_stream_error_document (cs2, &err, &eerr)) {
        printf ("     stream error: %s\n", err.message);
        break;
      }
    }
    CHECK (i4 == 4, "automatic resume after connection loss: got i=%d", i4);

    if (argc > 3 && strcmp (argv[3], "restart") == 0) {
      /* the harness restarts the stand-in (same port, data kept) and inserts i=5 */
      char line[64];
      printf ("RESTART\n");
      fflush (stdout);
      if (!fgets (line, sizeof line, stdin)) return 3;
      int i5 = -1;
      for (int tries = 0; tries < 40 && i5 < 0; tries++) {
        const bson_t *ev;
        if (mongoc_change_stream_next (cs2, &ev)) {
          bson_iter_t fi;
          if (bson_iter_init (&fi, ev) && bson_iter_find_descendant (&fi, "fullDocument.i", &child))
            i5 = bson_iter_int32 (&child);
        } else if (mongoc_change_stream_error_document (cs2, &err, &eerr)) {
          printf ("     stream error after restart: %s\n", err.message);
          break;
        }
      }
      CHECK (i5 == 5, "automatic resume across a stand-in restart: got i=%d", i5);
    }

    /* commitTransaction applied but its reply lost: with_transaction retries the commit */
    bson_t *fp3 = BCON_NEW ("configureFailPoint", "failCommand", "mode", "{", "times",
                            BCON_INT32 (1), "}", "data", "{", "failCommands", "[",
                            "commitTransaction", "]", "closeConnection", BCON_BOOL (true),
                            "standinAfterApply", BCON_BOOL (true), "}");
    ok = mongoc_client_command_simple (other, "admin", fp3, NULL, NULL, &err);
    bson_destroy (fp3);
    mongoc_collection_drop (tc, NULL);
    mongoc_client_session_t *cs3 = mongoc_client_start_session (client, NULL, &err);
    txn_ctx_t t3 = {0};
    ok = ok && cs3 && mongoc_client_session_with_transaction (cs3, txn_cb, NULL, &t3, NULL, &err);
    bson_t *ft3 = BCON_NEW ("src", "with_transaction");
    int64_t n3 = count (tc, ft3);
    CHECK (ok && n3 == 2, "commit reply lost, retried commit: ok=%d, %lld doc(s) (%s)", ok,
           (long long) n3, ok ? "" : err.message);
    bson_destroy (ft3);
    if (cs3) mongoc_client_session_destroy (cs3);
    mongoc_change_stream_destroy (cs2);
    bson_destroy (&ropts);
    bson_destroy (token);
    bson_destroy (wopts);
    bson_destroy (wpipe);
    mongoc_collection_destroy (orc);
    mongoc_client_pool_push (pool, other);
    mongoc_collection_destroy (rc);
  } else {
    bson_t *empty = BCON_NEW ("pipeline", "[", "]");
    mongoc_change_stream_t *cs1 = mongoc_collection_watch (tc, empty, NULL);
    bson_destroy (empty);
    const bson_t *eerr = NULL;
    bool has_err = mongoc_change_stream_error_document (cs1, &err, &eerr);
    CHECK (has_err && err.code == 40573, "standalone watch -> %u %s", err.code, err.message);
    mongoc_change_stream_destroy (cs1);
    mongoc_client_session_t *cs = mongoc_client_start_session (client, NULL, &err);
    ok = cs && mongoc_client_session_start_transaction (cs, NULL, &err);
    if (ok) {
      bson_t sopts = BSON_INITIALIZER;
      mongoc_client_session_append (cs, &sopts, &err);
      doc = BCON_NEW ("src", "x");
      ok = mongoc_collection_insert_one (tc, doc, &sopts, NULL, &err);
      bson_destroy (doc);
      bson_destroy (&sopts);
    }
    CHECK (!ok, "standalone transaction refused: %u %s", err.code, err.message);
    if (cs) mongoc_client_session_destroy (cs);
  }
  mongoc_collection_destroy (tc);

  mongoc_database_destroy (db);
  bson_destroy (q);
  bson_destroy (u);
  bson_destroy (um);
  bson_destroy (uopts);
  bson_destroy (filter);
  bson_destroy (ping);
  mongoc_collection_destroy (c);
  mongoc_client_pool_push (pool, client);
  mongoc_client_pool_destroy (pool);
  mongoc_uri_destroy (uri);
  mongoc_cleanup ();
  printf ("%s: %d failure(s)\n", failures ? "FAILED" : "PASSED", failures);
  return failures ? 1 : 0;
}
'''


if __name__ == "__main__":
    unittest.main()
