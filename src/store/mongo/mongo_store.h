// MongoDB adapter of the store port (SPEC §5 layout, database `quantcrunch`):
// tickers, recommendations, open_positions, performance — the earlier
// service's collections and field names — plus `qc_last_bars` (last bar
// applied per symbol), `qc_watcher` (server state documents by _id: the
// watcher's resume state, "recommendations", and probe_write's heartbeat,
// "write_probe"), and the webhook outbox (SPEC §4.9): `qc_outbox` ({_id:
// event id (int64), type, data: the event's JSON text}) and
// `qc_webhook_progress` ({_id: endpoint key, origin, delivered: last event id
// delivered (int64)}).
//
// load() refuses what it cannot read: a cursor error, or a tickers,
// open_positions, performance or qc_last_bars document with a required field
// missing or of the wrong type, throws StoreError naming the collection and
// the _id. Recommendation documents are the algorithm's input, validated as
// SPEC §6.1 says: an invalid one is skipped with a warning naming its _id.
//
// health() pings on a client of its own (server selection, connect and
// socket timeouts of at most 2 s), never waiting for the pool; concurrent
// callers share one ping. That client is made from a copy of the same URI,
// so it connects with the same TLS settings as the pool.
//
// TLS (tls_check.h): libmongoc applies the URI's TLS options (tls/ssl,
// tlsCAFile, tlsCertificateKeyFile, tlsAllowInvalidCertificates,
// tlsAllowInvalidHostnames, tlsInsecure; mongodb+srv:// implies tls) to the
// pool and to the health client. The constructor refuses TLS files libmongoc
// could not use, and when the server cannot be reached it repeats one TLS
// handshake with the first hosts (at most 5 s in all) to say why and with
// which host: certificate not trusted, host name mismatch, not a TLS server,
// protocol, client certificate required or refused; or, for a URI without
// TLS, that the server expects TLS.
// transport() says in words how the connection is made, for the startup log.
//
// Exactly once (SPEC §6.3):
//  - on a replica set or sharded cluster (Atlas) every ChangeSet is one
//    multi-document transaction (retried by the driver on transient errors);
//  - on a standalone server the writes of a ChangeSet are ordered and each is
//    idempotent, so a crash between any two leaves a state that the next
//    load() reads as a prefix: documents carry `qc_digest` (unique), opens are
//    upserts, a close is first $push-ed into its month (guarded against a
//    second push) and only then deleted from open_positions, the last bar is
//    written last with $max, and the outbox events after it (upserts keyed
//    by event id). load() treats a position found both open and closed as
//    closed. A crash between the change and its outbox events loses those
//    events (never the reverse: an event never names a change not stored).
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>

#include "store/mongo/mongo_handles.h"
#include "store/mongo/tls_check.h"
#include "store/store.h"

namespace qc {

class MongoStore final : public Store {
 public:
  // Connects, checks the server answers, creates indexes. Throws StoreError.
  // The error names the (redacted) URI and, for an unreachable server, why.
  explicit MongoStore(const std::string& uri, std::string database = "quantcrunch");
  ~MongoStore() override;

  std::string kind() const override { return "mongodb"; }
  std::string location() const override { return location_; }
  StoredState load() override;
  std::vector<std::int64_t> commit(const ChangeSet& changes) override;
  StoreHealth health() override;
  // Upserts {_id: "write_probe", written_at: <now>} in qc_watcher through the
  // pool, as commits write.
  void probe_write() override;
  // On the pool: every call leases a client of its own.
  std::unique_ptr<Outbox> open_outbox() override;

  bool transactions() const { return transactions_; }
  bool change_streams() const { return transactions_; }  // both need a replica set
  mongoc_client_pool_t* pool() const { return pool_.get(); }
  const std::string& database() const { return database_; }
  // "over TLS (certificate verified against the system CAs)", "over plain
  // TCP", ... (mongo::describe_transport). Never a password.
  const std::string& transport() const { return transport_; }

 private:
  void create_indexes();
  bool write_changes(mongoc_client_t* client, mongoc_client_session_t* session,
                     const ChangeSet& changes, std::vector<std::int64_t>& seqs,
                     bson_t** reply, bson_error_t* error);

  StoreHealth ping();
  // Why the first hello failed, in words: a TLS handshake problem with a
  // named host when the probe finds one, else libmongoc's message.
  std::string explain_unreachable(mongoc_client_t* client, const bson_error_t& error) const;

  std::string database_;
  std::string location_;
  mongo::Uri uri_;
  mongo::TlsSettings tls_;
  std::string transport_;
  mongo::Pool pool_;
  bool transactions_ = false;

  mongo::Uri health_uri_;
  mongo::Client health_client_;  // used by the one health() that pings
  std::mutex health_mutex_;
  std::condition_variable health_done_;
  bool health_pinging_ = false;
  std::uint64_t health_pings_ = 0;  // completed pings
  StoreHealth health_last_;
};

}  // namespace qc
