#include "store/mongo/mongo_store.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <limits>
#include <mutex>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "log/log.h"
#include "log/redact.h"
#include "core/performance_book.h"
#include "store/mongo/bson_codec.h"
#include "text/ascii.h"

namespace qc {

namespace mongo {
void ensure_driver() {
  static std::once_flag once;
  std::call_once(once, [] {
    mongoc_init();
    std::atexit(mongoc_cleanup);
    // The driver's own log lines would bypass ours (and could name hosts
    // with credentials in odd setups): route warnings and errors through ours.
    mongoc_log_set_handler(
        [](mongoc_log_level_t level, const char* domain, const char* message, void*) {
          if (level > MONGOC_LOG_LEVEL_WARNING) return;
          qc::log::warn("mongodb", std::string(domain) + ": " + message);
        },
        nullptr);
  });
}
}  // namespace mongo

using namespace mongo;

namespace {

// redact_uri() masks the user's password and the usual secret query
// parameters; a MongoDB URI may also carry the client key's password.
std::string redact_mongo(std::string_view text) {
  std::string out = redact_uri(text);
  std::string lower = ascii_lower(out);
  for (std::string name : {"tlscertificatekeyfilepassword=", "sslclientcertificatekeypassword="}) {
    for (std::size_t at = lower.find(name); at != std::string::npos;
         at = lower.find(name, at + 1)) {
      std::size_t start = at + name.size();
      std::size_t end = std::min(lower.find('&', start), lower.size());
      out.replace(start, end - start, "***");
      lower.replace(start, end - start, "***");
    }
  }
  return out;
}

std::string message_of(const bson_error_t& e) { return e.message; }

constexpr std::int32_t kHealthTimeoutMs = 2000;
// How long the TLS diagnosis after a failed start may take, at most.
constexpr std::int32_t kTlsProbeMs = 5000;

[[noreturn]] void fail(const std::string& what, const bson_error_t& e) {
  throw StoreError("mongodb: " + what + ": " + message_of(e));
}

std::string fnv1a_hex(const std::string& text) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// True when `filter` matches at least one document (honouring the session).
bool exists(mongoc_collection_t* coll, const bson_t* filter, mongoc_client_session_t* session,
            bson_error_t* error, bool& ok, bson_t** reply_out) {
  Doc opts;
  BSON_APPEND_INT64(opts.get(), "limit", 1);
  ok = true;
  if (session && !mongoc_client_session_append(session, opts.get(), error)) {
    ok = false;
    return false;
  }
  Cursor cursor(mongoc_collection_find_with_opts(coll, filter, opts.get(), nullptr));
  const bson_t* doc;
  bool found = mongoc_cursor_next(cursor.get(), &doc);
  const bson_t* error_reply = nullptr;
  if (!found && mongoc_cursor_error_document(cursor.get(), error, &error_reply)) {
    ok = false;
    if (reply_out && !*reply_out && error_reply) *reply_out = bson_copy(error_reply);
  }
  return found;
}

void identity_filter(bson_t* out, const std::string& symbol, std::int64_t open_timestamp) {
  BSON_APPEND_UTF8(out, "symbol", symbol.c_str());
  BSON_APPEND_INT64(out, "open_timestamp", open_timestamp);
}

// {positions: {$elemMatch: {symbol, open_timestamp}}}
void closed_identity_filter(bson_t* out, const std::string& symbol, std::int64_t open_timestamp) {
  bson_t positions, match;
  BSON_APPEND_DOCUMENT_BEGIN(out, "positions", &positions);
  BSON_APPEND_DOCUMENT_BEGIN(&positions, "$elemMatch", &match);
  identity_filter(&match, symbol, open_timestamp);
  bson_append_document_end(&positions, &match);
  bson_append_document_end(out, &positions);
}

// The largest int64 value of `field` in `collection` (0 when empty), read
// through `client`. A value of another type throws StoreError.
std::int64_t largest(mongoc_client_t* client, const std::string& database, const char* collection,
                     const char* field) {
  Collection coll(mongoc_client_get_collection(client, database.c_str(), collection));
  Doc filter, opts, sort;
  BSON_APPEND_INT32(sort.get(), field, -1);
  BSON_APPEND_DOCUMENT(opts.get(), "sort", sort.get());
  BSON_APPEND_INT64(opts.get(), "limit", 1);
  Cursor cursor(mongoc_collection_find_with_opts(coll.get(), filter.get(), opts.get(), nullptr));
  const bson_t* doc;
  std::int64_t value = 0;
  if (mongoc_cursor_next(cursor.get(), &doc)) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, field) || !BSON_ITER_HOLDS_INT64(&it))
      throw StoreError(std::string("mongodb: ") + collection + " document " + describe_id(doc) +
                       ": field `" + field + "` must be an int64");
    value = bson_iter_int64(&it);
  }
  bson_error_t error;
  if (mongoc_cursor_error(cursor.get(), &error)) fail(std::string("reading ") + collection, error);
  return value;
}

// The highest event id ever stored: the newest outbox event, or the furthest
// delivery progress (the outbox may have been pruned).
std::int64_t last_event_id_of(mongoc_client_t* client, const std::string& database) {
  return std::max(largest(client, database, "qc_outbox", "_id"),
                  largest(client, database, "qc_webhook_progress", "delivered"));
}

struct TxnContext {
  MongoStore* store;
  mongoc_client_t* client;
  const ChangeSet* changes;
  std::vector<std::int64_t>* seqs;
  bool (MongoStore::*write)(mongoc_client_t*, mongoc_client_session_t*, const ChangeSet&,
                            std::vector<std::int64_t>&, bson_t**, bson_error_t*);
};

}  // namespace

MongoStore::MongoStore(const std::string& uri, std::string database)
    : database_(std::move(database)), location_(redact_mongo(uri)) {
  ensure_driver();
  bson_error_t error;
  uri_.reset(mongoc_uri_new_with_error(uri.c_str(), &error));
  if (!uri_)
    throw StoreError("MONGO_ATLAS_URI is not a valid MongoDB URI (" + location_ +
                     "): " + redact_mongo(message_of(error)));
  // libmongoc applies the URI's TLS options itself, to the pool and to the
  // health client below; these are only read to check and describe them.
  tls_ = tls_settings(uri_.get());
  if (!tls_.certificate_key_password.empty()) log::add_secret(tls_.certificate_key_password);
  transport_ = describe_transport(tls_);
  if (auto problem = tls_files_problem(tls_); !problem.empty())
    throw StoreError("mongodb: cannot connect to " + location_ + ": " + problem);
  if (!mongoc_uri_has_option(uri_.get(), MONGOC_URI_SERVERSELECTIONTIMEOUTMS))
    mongoc_uri_set_option_as_int32(uri_.get(), MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 10000);
  if (!mongoc_uri_has_option(uri_.get(), MONGOC_URI_CONNECTTIMEOUTMS))
    mongoc_uri_set_option_as_int32(uri_.get(), MONGOC_URI_CONNECTTIMEOUTMS, 10000);
  // With mongodb+srv:// this looks up the SRV and TXT records: a failed
  // lookup is an error here.
  pool_.reset(mongoc_client_pool_new_with_error(uri_.get(), &error));
  if (!pool_)
    throw StoreError("mongodb: cannot create a client pool for " + location_ + ": " +
                     message_of(error));
  mongoc_client_pool_set_error_api(pool_.get(), MONGOC_ERROR_API_VERSION_2);
  mongoc_client_pool_set_appname(pool_.get(), "quantcrunch");

  Lease client(pool_.get());
  Doc hello, reply;
  BSON_APPEND_INT32(hello.get(), "isMaster", 1);
  if (!mongoc_client_command_simple(client.get(), "admin", hello.get(), nullptr, reply.get(), &error))
    throw StoreError("mongodb: cannot reach " + location_ + ": " +
                     explain_unreachable(client.get(), error));
  bson_iter_t it;
  bool replica_set = bson_iter_init_find(&it, reply.get(), "setName");
  auto msg = string_field(reply.get(), "msg");
  transactions_ = replica_set || (msg && *msg == "isdbgrid");
  create_indexes();

  // The readiness client: a single-threaded client tries the servers once
  // (no waiting for one to appear) within these bounds.
  health_uri_.reset(mongoc_uri_copy(uri_.get()));
  for (const char* option : {MONGOC_URI_SERVERSELECTIONTIMEOUTMS, MONGOC_URI_CONNECTTIMEOUTMS,
                             MONGOC_URI_SOCKETTIMEOUTMS}) {
    std::int32_t ms = mongoc_uri_get_option_as_int32(health_uri_.get(), option, kHealthTimeoutMs);
    mongoc_uri_set_option_as_int32(health_uri_.get(), option,
                                   ms > 0 && ms < kHealthTimeoutMs ? ms : kHealthTimeoutMs);
  }
  health_client_.reset(mongoc_client_new_from_uri(health_uri_.get()));
  if (!health_client_) throw StoreError("mongodb: cannot create a client for " + location_);
  mongoc_client_set_error_api(health_client_.get(), MONGOC_ERROR_API_VERSION_2);
  mongoc_client_set_appname(health_client_.get(), "quantcrunch");
}

MongoStore::~MongoStore() = default;

std::string MongoStore::explain_unreachable(mongoc_client_t* client,
                                            const bson_error_t& error) const {
  std::string driver = message_of(error);
  if (error.domain != MONGOC_ERROR_SERVER_SELECTION) return driver;  // e.g. authentication
  // The hosts the driver tried: the URI's seeds, or what a mongodb+srv://
  // lookup found (the topology's servers; mongoc_client_get_server_descriptions
  // leaves out those of unknown type, i.e. every one that could not be
  // reached, so they are asked for by id, which the topology gives out from 1).
  std::vector<std::pair<std::string, std::uint16_t>> hosts;
  constexpr std::size_t kMaxHosts = 3;
  for (const mongoc_host_list_t* h = mongoc_uri_get_hosts(uri_.get());
       h && hosts.size() < kMaxHosts; h = h->next)
    hosts.emplace_back(h->host, h->port);
  const bool seeds_in_uri = !hosts.empty();
  for (std::uint32_t id = 1; !seeds_in_uri && hosts.size() < kMaxHosts && id <= 16; ++id) {
    mongoc_server_description_t* server = mongoc_client_get_server_description(client, id);
    if (!server) continue;
    const mongoc_host_list_t* h = mongoc_server_description_host(server);
    hosts.emplace_back(h->host, h->port);
    mongoc_server_description_destroy(server);
  }

  std::int32_t connect_ms =
      mongoc_uri_get_option_as_int32(uri_.get(), MONGOC_URI_CONNECTTIMEOUTMS, 10000);
  auto budget =
      std::chrono::milliseconds(connect_ms > 0 ? std::min(connect_ms, kTlsProbeMs) : kTlsProbeMs);
  auto deadline = std::chrono::steady_clock::now() + budget;
  for (const auto& [host, port] : hosts) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    std::string where = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                        std::to_string(port);
    if (tls_.enabled) {
      auto problem = tls_handshake_problem(host, port, tls_, left);
      if (!problem.empty()) return "TLS handshake with " + where + " failed: " + problem;
    } else if (answers_tls(host, port, left)) {
      return where +
             " closed the connection: it expects TLS (add tls=true to the URI; "
             "mongodb+srv:// URIs imply it) [" +
             driver + "]";
    }
  }
  return driver;
}

void MongoStore::create_indexes() {
  struct Index {
    const char* collection;
    const char* name;
    const char* fields[2];
    bool sparse;
  };
  static const Index indexes[] = {
      {"open_positions", "qc_identity", {"symbol", "open_timestamp"}, false},
      {"performance", "qc_month", {"month", nullptr}, false},
      {"recommendations", "qc_digest", {"qc_digest", nullptr}, true},
  };
  Lease client(pool_.get());
  for (const auto& index : indexes) {
    Doc cmd, reply;
    BSON_APPEND_UTF8(cmd.get(), "createIndexes", index.collection);
    bson_t list, spec, key;
    BSON_APPEND_ARRAY_BEGIN(cmd.get(), "indexes", &list);
    BSON_APPEND_DOCUMENT_BEGIN(&list, "0", &spec);
    BSON_APPEND_DOCUMENT_BEGIN(&spec, "key", &key);
    for (const char* f : index.fields)
      if (f) BSON_APPEND_INT32(&key, f, 1);
    bson_append_document_end(&spec, &key);
    BSON_APPEND_UTF8(&spec, "name", index.name);
    BSON_APPEND_BOOL(&spec, "unique", true);
    if (index.sparse) BSON_APPEND_BOOL(&spec, "sparse", true);
    bson_append_document_end(&list, &spec);
    bson_append_array_end(cmd.get(), &list);
    bson_error_t error;
    if (!mongoc_client_command_simple(client.get(), database_.c_str(), cmd.get(), nullptr,
                                      reply.get(), &error))
      log::warn("mongodb", std::string("cannot create unique index ") + index.name + " on " +
                               index.collection + " (" + error.message +
                               "); duplicates written by other tools are tolerated");
  }
}

StoredState MongoStore::load() {
  Lease client(pool_.get());
  StoredState state;
  bson_error_t error;
  const bson_t* doc;
  // Every document of a collection; a cursor error (also one in a later
  // batch's getMore) throws: a partial read is never taken for the whole.
  auto read_all = [&](const char* name, const bson_t* sort, auto&& each) {
    auto coll = client.collection(database_.c_str(), name);
    Doc filter, opts;
    if (sort) BSON_APPEND_DOCUMENT(opts.get(), "sort", sort);
    Cursor cursor(mongoc_collection_find_with_opts(coll.get(), filter.get(), opts.get(), nullptr));
    while (mongoc_cursor_next(cursor.get(), &doc)) {
      try {
        each(doc);
      } catch (const DecodeError& e) {
        throw StoreError("mongodb: " + std::string(name) + " document " + describe_id(doc) + ": " +
                         e.what() +
                         "; the server does not start on a record it cannot read: correct or "
                         "remove that document");
      }
    }
    if (mongoc_cursor_error(cursor.get(), &error)) fail(std::string("reading ") + name, error);
  };
  Doc by_id;
  BSON_APPEND_INT32(by_id.get(), "_id", 1);

  read_all("tickers", by_id.get(),
           [&](const bson_t* d) { state.tickers.push_back(read_ticker(d)); });
  if (state.tickers.empty()) {
    auto coll = client.collection(database_.c_str(), "tickers");
    for (const auto& t : default_tickers()) {
      Doc d;
      BSON_APPEND_UTF8(d.get(), "symbol", t.symbol.c_str());
      BSON_APPEND_UTF8(d.get(), "exchange", t.exchange.c_str());
      BSON_APPEND_UTF8(d.get(), "name", t.name.c_str());
      if (!mongoc_collection_insert_one(coll.get(), d.get(), nullptr, nullptr, &error))
        fail("seeding tickers", error);
    }
    state.tickers = default_tickers();
    log::info("mongodb", "seeded the tickers collection with the " +
                             std::to_string(state.tickers.size()) + " default tickers");
  }

  std::int64_t fallback_seq = 0;
  read_all("recommendations", by_id.get(), [&](const bson_t* d) {
    auto parsed = read_recommendation(d);
    bson_iter_t it;
    std::int64_t seq = ++fallback_seq;
    if (bson_iter_init_find(&it, d, "_id") && BSON_ITER_HOLDS_OID(&it))
      seq = object_id_order(*bson_iter_oid(&it));
    for (const auto& p : parsed.problems)
      if (p.item < 0) {
        log::warn("mongodb",
                  "recommendation document " + describe_id(d) + " skipped: " + describe(p));
        return;
      }
    state.documents.push_back({seq, std::move(parsed.document)});
  });

  read_all("open_positions", nullptr,
           [&](const bson_t* d) { state.open_positions.push_back(read_open_position(d)); });

  Doc by_month;
  BSON_APPEND_INT32(by_month.get(), "month", 1);
  read_all("performance", by_month.get(), [&](const bson_t* d) {
    bson_iter_t it, positions;
    if (!bson_iter_init_find(&it, d, "positions"))
      throw DecodeError("field `positions` is missing");
    if (!BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &positions))
      throw DecodeError("field `positions` must be an array");
    while (bson_iter_next(&positions)) {
      std::string where = std::string("positions[") + bson_iter_key(&positions) + "]";
      uint32_t len;
      const uint8_t* data;
      bson_t position;
      if (!BSON_ITER_HOLDS_DOCUMENT(&positions))
        throw DecodeError("field `" + where + "` must be an object");
      bson_iter_document(&positions, &len, &data);
      if (!bson_init_static(&position, data, len))
        throw DecodeError("field `" + where + "` is not valid BSON");
      try {
        state.closed_positions.push_back(read_closed_position(&position));
      } catch (const DecodeError& e) {
        throw DecodeError(where + ": " + e.what());
      }
    }
  });

  // A position both open and closed is closed: a crash of a standalone
  // server between a close's two writes. Finish that close now.
  {
    std::set<std::pair<std::string, std::int64_t>> closed;
    for (const auto& c : state.closed_positions)
      closed.emplace(c.position.symbol, c.position.open_timestamp);
    auto coll = client.collection(database_.c_str(), "open_positions");
    std::erase_if(state.open_positions, [&](const OpenPosition& p) {
      if (!closed.count({p.symbol, p.open_timestamp})) return false;
      Doc filter;
      identity_filter(filter.get(), p.symbol, p.open_timestamp);
      bson_error_t e;
      if (!mongoc_collection_delete_one(coll.get(), filter.get(), nullptr, nullptr, &e))
        log::warn("mongodb", "cannot remove the stale open position " + p.symbol + ": " + e.message);
      else
        log::info("mongodb", "finished an interrupted close: " + p.symbol + " opened " +
                                 std::to_string(p.open_timestamp));
      return true;
    });
  }

  read_all("qc_last_bars", nullptr, [&](const bson_t* d) {
    LastBar bar;
    bar.symbol = required_string(d, "_id");
    bar.start_ms = static_cast<std::int64_t>(required_number(d, "start_ms"));
    // close and end_ms come together; documents written before prices were
    // kept have neither (no price until the symbol's next bar).
    if ((bar.close = optional_number(d, "close")))
      bar.end_ms = static_cast<std::int64_t>(required_number(d, "end_ms"));
    state.last_bars.push_back(std::move(bar));
  });
  state.last_event_id = last_event_id_of(client.get(), database_);
  return state;
}

bool MongoStore::write_changes(mongoc_client_t* client, mongoc_client_session_t* session,
                               const ChangeSet& changes, std::vector<std::int64_t>& seqs,
                               bson_t** reply_out, bson_error_t* error) {
  seqs.clear();
  // Runs one write; on failure its server reply (which carries errorLabels
  // such as TransientTransactionError) goes back to the transaction helper.
  auto step = [&](auto&& write) {
    bson_t reply;
    bool done = write(&reply);
    if (!done && reply_out && !*reply_out) *reply_out = bson_copy(&reply);
    bson_destroy(&reply);
    return done;
  };
  auto collection = [&](const char* name) {
    return Collection(mongoc_client_get_collection(client, database_.c_str(), name));
  };
  auto recommendations = collection("recommendations");
  auto open_positions = collection("open_positions");
  auto performance = collection("performance");
  auto last_bars = collection("qc_last_bars");
  auto with_session = [&](bson_t* opts) {
    return !session || mongoc_client_session_append(session, opts, error);
  };
  bool ok = true;

  for (const auto& document : changes.new_documents) {
    std::string digest = fnv1a_hex(canonical_json(document));
    Doc filter;
    BSON_APPEND_UTF8(filter.get(), "qc_digest", digest.c_str());
    if (exists(recommendations.get(), filter.get(), session, error, ok, reply_out) || !ok) {
      if (!ok) return false;
      seqs.push_back(0);
      continue;
    }
    Doc d, opts;
    bson_oid_t oid;
    bson_oid_init(&oid, nullptr);
    BSON_APPEND_OID(d.get(), "_id", &oid);
    append_recommendation(d.get(), document);
    BSON_APPEND_UTF8(d.get(), "qc_digest", digest.c_str());
    if (!with_session(opts.get()) || !step([&](bson_t* r) {
          return mongoc_collection_insert_one(recommendations.get(), d.get(), opts.get(), r, error);
        }))
      return false;
    seqs.push_back(object_id_order(oid));
  }

  for (const auto& p : changes.opened) {
    Doc closed;
    closed_identity_filter(closed.get(), p.symbol, p.open_timestamp);
    if (exists(performance.get(), closed.get(), session, error, ok, reply_out) || !ok) {
      if (!ok) return false;
      continue;  // closed already: never reopened
    }
    Doc filter, update, opts;
    identity_filter(filter.get(), p.symbol, p.open_timestamp);
    bson_t set;
    BSON_APPEND_DOCUMENT_BEGIN(update.get(), "$setOnInsert", &set);
    append_open_position(&set, p);
    bson_append_document_end(update.get(), &set);
    BSON_APPEND_BOOL(opts.get(), "upsert", true);
    if (!with_session(opts.get()) || !step([&](bson_t* r) {
          return mongoc_collection_update_one(open_positions.get(), filter.get(), update.get(),
                                              opts.get(), r, error);
        }))
      return false;
  }

  for (const auto& c : changes.closed) {
    const auto& p = c.position;
    std::int64_t month = month_start_utc(c.close_timestamp);
    Doc already;
    BSON_APPEND_INT64(already.get(), "month", month);
    closed_identity_filter(already.get(), p.symbol, p.open_timestamp);
    bool present = exists(performance.get(), already.get(), session, error, ok, reply_out);
    if (!ok) return false;
    if (!present) {
      Doc filter, update, opts;
      BSON_APPEND_INT64(filter.get(), "month", month);
      bson_t push, position, inc;
      BSON_APPEND_DOCUMENT_BEGIN(update.get(), "$push", &push);
      BSON_APPEND_DOCUMENT_BEGIN(&push, "positions", &position);
      append_closed_position(&position, c);
      bson_append_document_end(&push, &position);
      bson_append_document_end(update.get(), &push);
      BSON_APPEND_DOCUMENT_BEGIN(update.get(), "$inc", &inc);
      BSON_APPEND_DOUBLE(&inc, "realized_pnl", c.pnl);
      bson_append_document_end(update.get(), &inc);
      BSON_APPEND_BOOL(opts.get(), "upsert", true);
      if (!with_session(opts.get()) || !step([&](bson_t* r) {
            return mongoc_collection_update_one(performance.get(), filter.get(), update.get(),
                                                opts.get(), r, error);
          }))
        return false;
    }
    Doc filter, opts;
    identity_filter(filter.get(), p.symbol, p.open_timestamp);
    if (!with_session(opts.get()) || !step([&](bson_t* r) {
          return mongoc_collection_delete_one(open_positions.get(), filter.get(), opts.get(), r, error);
        }))
      return false;
  }

  // Only a newer start replaces a symbol's row: first the update of an older
  // row, then the insert of a missing one ($setOnInsert; no effect on a row
  // that exists, newer or just updated).
  auto append_bar = [](bson_t* doc, const char* op, const LastBar& bar) {
    bson_t fields;
    BSON_APPEND_DOCUMENT_BEGIN(doc, op, &fields);
    BSON_APPEND_INT64(&fields, "start_ms", bar.start_ms);
    if (bar.close) {
      BSON_APPEND_DOUBLE(&fields, "close", *bar.close);
      BSON_APPEND_INT64(&fields, "end_ms", bar.end_ms);
    }
    bson_append_document_end(doc, &fields);
  };
  for (const auto& bar : changes.last_bars) {
    Doc older, set, update_opts;
    BSON_APPEND_UTF8(older.get(), "_id", bar.symbol.c_str());
    bson_t lt;
    BSON_APPEND_DOCUMENT_BEGIN(older.get(), "start_ms", &lt);
    BSON_APPEND_INT64(&lt, "$lt", bar.start_ms);
    bson_append_document_end(older.get(), &lt);
    append_bar(set.get(), "$set", bar);
    if (!bar.close) {
      bson_t unset;
      BSON_APPEND_DOCUMENT_BEGIN(set.get(), "$unset", &unset);
      BSON_APPEND_UTF8(&unset, "close", "");
      BSON_APPEND_UTF8(&unset, "end_ms", "");
      bson_append_document_end(set.get(), &unset);
    }
    if (!with_session(update_opts.get()) || !step([&](bson_t* r) {
          return mongoc_collection_update_one(last_bars.get(), older.get(), set.get(),
                                              update_opts.get(), r, error);
        }))
      return false;
    Doc same, insert, upsert_opts;
    BSON_APPEND_UTF8(same.get(), "_id", bar.symbol.c_str());
    append_bar(insert.get(), "$setOnInsert", bar);
    BSON_APPEND_BOOL(upsert_opts.get(), "upsert", true);
    if (!with_session(upsert_opts.get()) || !step([&](bson_t* r) {
          return mongoc_collection_update_one(last_bars.get(), same.get(), insert.get(),
                                              upsert_opts.get(), r, error);
        }))
      return false;
  }

  // The webhook outbox, last: on a standalone server an event is never
  // visible before its change (a crash just before this loses the events of
  // that one batch instead). Keyed by event id: a retry adds nothing.
  auto outbox = collection("qc_outbox");
  for (const auto& event : changes.events) {
    if (!event.durable()) continue;
    Doc filter, update, opts;
    BSON_APPEND_INT64(filter.get(), "_id", event.id);
    bson_t set;
    BSON_APPEND_DOCUMENT_BEGIN(update.get(), "$setOnInsert", &set);
    BSON_APPEND_UTF8(&set, "type", event.type.c_str());
    bson_append_utf8(&set, "data", 4, event.data.data(), static_cast<int>(event.data.size()));
    bson_append_document_end(update.get(), &set);
    BSON_APPEND_BOOL(opts.get(), "upsert", true);
    if (!with_session(opts.get()) || !step([&](bson_t* r) {
          return mongoc_collection_update_one(outbox.get(), filter.get(), update.get(), opts.get(), r,
                                              error);
        }))
      return false;
  }
  return true;
}

std::vector<std::int64_t> MongoStore::commit(const ChangeSet& changes) {
  std::vector<std::int64_t> seqs;
  if (changes.empty()) return seqs;
  bson_error_t error;
  Lease client(pool_.get());
  if (!transactions_) {
    if (!write_changes(client.get(), nullptr, changes, seqs, nullptr, &error)) fail("commit", error);
    return seqs;
  }
  Session session(mongoc_client_start_session(client.get(), nullptr, &error));
  if (!session) fail("starting a session", error);
  TxnContext ctx{this, client.get(), &changes, &seqs, &MongoStore::write_changes};
  auto callback = [](mongoc_client_session_t* s, void* raw, bson_t** reply,
                     bson_error_t* e) -> bool {
    auto* c = static_cast<TxnContext*>(raw);
    return (c->store->*(c->write))(c->client, s, *c->changes, *c->seqs, reply, e);
  };
  Doc reply;
  if (!mongoc_client_session_with_transaction(session.get(), callback, nullptr, &ctx, reply.get(),
                                              &error))
    fail("commit (transaction)", error);
  return seqs;
}

StoreHealth MongoStore::health() {
  std::unique_lock lock(health_mutex_);
  if (health_pinging_) {
    // Another caller is pinging: its answer is this one's too.
    auto seen = health_pings_;
    if (health_done_.wait_for(lock, std::chrono::milliseconds(4 * kHealthTimeoutMs),
                              [&] { return health_pings_ != seen; }))
      return health_last_;
    return {false,
            "no answer to a ping within " + std::to_string(4 * kHealthTimeoutMs / 1000) + " s"};
  }
  health_pinging_ = true;
  lock.unlock();
  StoreHealth h = ping();
  lock.lock();
  health_pinging_ = false;
  ++health_pings_;
  health_last_ = h;
  health_done_.notify_all();
  return h;
}

StoreHealth MongoStore::ping() {
  Doc ping, reply;
  BSON_APPEND_INT32(ping.get(), "ping", 1);
  bson_error_t error;
  if (!mongoc_client_command_simple(health_client_.get(), "admin", ping.get(), nullptr, reply.get(),
                                    &error))
    return {false, message_of(error)};
  return {true, "ok"};
}

void MongoStore::probe_write() {
  Lease client(pool_.get());
  auto coll = client.collection(database_.c_str(), "qc_watcher");
  Doc filter, update, opts;
  BSON_APPEND_UTF8(filter.get(), "_id", "write_probe");
  bson_t set;
  BSON_APPEND_DOCUMENT_BEGIN(update.get(), "$set", &set);
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  BSON_APPEND_DATE_TIME(&set, "written_at", now.count());
  bson_append_document_end(update.get(), &set);
  BSON_APPEND_BOOL(opts.get(), "upsert", true);
  bson_error_t error;
  if (!mongoc_collection_update_one(coll.get(), filter.get(), update.get(), opts.get(), nullptr,
                                    &error))
    throw StoreError("mongodb: write probe failed: " + message_of(error));
}

namespace {

// The outbox through the store's pool: each call leases a client, so calls
// run alongside the ledger's commits (different documents: no write
// conflicts with its transactions).
class MongoOutbox final : public Outbox {
 public:
  MongoOutbox(mongoc_client_pool_t* pool, std::string database)
      : pool_(pool), database_(std::move(database)) {}

  std::vector<LiveEvent> events_after(std::int64_t after, std::size_t limit) override {
    Lease client(pool_);
    auto coll = client.collection(database_.c_str(), "qc_outbox");
    Doc filter, opts, sort;
    after_filter(filter.get(), after);
    BSON_APPEND_INT32(sort.get(), "_id", 1);
    BSON_APPEND_DOCUMENT(opts.get(), "sort", sort.get());
    BSON_APPEND_INT64(opts.get(), "limit", static_cast<std::int64_t>(limit));
    Cursor cursor(mongoc_collection_find_with_opts(coll.get(), filter.get(), opts.get(), nullptr));
    std::vector<LiveEvent> out;
    const bson_t* doc;
    while (mongoc_cursor_next(cursor.get(), &doc)) {
      bson_iter_t it;
      if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_INT64(&it))
        throw StoreError("mongodb: qc_outbox document " + describe_id(doc) + ": _id must be an int64");
      LiveEvent e;
      e.id = bson_iter_int64(&it);
      try {
        e.type = required_string(doc, "type");
        e.data = required_string(doc, "data");
      } catch (const DecodeError& error) {
        throw StoreError("mongodb: qc_outbox document " + describe_id(doc) + ": " + error.what());
      }
      out.push_back(std::move(e));
    }
    bson_error_t error;
    if (mongoc_cursor_error(cursor.get(), &error)) fail("reading qc_outbox", error);
    return out;
  }

  std::int64_t count_after(std::int64_t after) override {
    Lease client(pool_);
    auto coll = client.collection(database_.c_str(), "qc_outbox");
    Doc filter;
    after_filter(filter.get(), after);
    bson_error_t error;
    std::int64_t n = mongoc_collection_count_documents(coll.get(), filter.get(), nullptr, nullptr,
                                                       nullptr, &error);
    if (n < 0) fail("counting qc_outbox", error);
    return n;
  }

  std::int64_t last_event_id() override {
    Lease client(pool_);
    return last_event_id_of(client.get(), database_);
  }

  std::optional<std::int64_t> delivered(const std::string& endpoint) override {
    Lease client(pool_);
    auto coll = client.collection(database_.c_str(), "qc_webhook_progress");
    Doc filter, opts;
    BSON_APPEND_UTF8(filter.get(), "_id", endpoint.c_str());
    BSON_APPEND_INT64(opts.get(), "limit", 1);
    Cursor cursor(mongoc_collection_find_with_opts(coll.get(), filter.get(), opts.get(), nullptr));
    const bson_t* doc;
    std::optional<std::int64_t> out;
    if (mongoc_cursor_next(cursor.get(), &doc)) {
      bson_iter_t it;
      if (!bson_iter_init_find(&it, doc, "delivered") || !BSON_ITER_HOLDS_INT64(&it))
        throw StoreError("mongodb: qc_webhook_progress document " + describe_id(doc) +
                         ": field `delivered` must be an int64");
      out = bson_iter_int64(&it);
    }
    bson_error_t error;
    if (mongoc_cursor_error(cursor.get(), &error)) fail("reading qc_webhook_progress", error);
    return out;
  }

  void set_delivered(const std::string& endpoint, const std::string& origin, std::int64_t id) override {
    Lease client(pool_);
    auto coll = client.collection(database_.c_str(), "qc_webhook_progress");
    Doc filter, update, opts;
    BSON_APPEND_UTF8(filter.get(), "_id", endpoint.c_str());
    bson_t max, set;
    BSON_APPEND_DOCUMENT_BEGIN(update.get(), "$max", &max);
    BSON_APPEND_INT64(&max, "delivered", id);
    bson_append_document_end(update.get(), &max);
    BSON_APPEND_DOCUMENT_BEGIN(update.get(), "$set", &set);
    BSON_APPEND_UTF8(&set, "origin", origin.c_str());
    bson_append_document_end(update.get(), &set);
    BSON_APPEND_BOOL(opts.get(), "upsert", true);
    bson_error_t error;
    if (!mongoc_collection_update_one(coll.get(), filter.get(), update.get(), opts.get(), nullptr,
                                      &error))
      fail("recording webhook progress", error);
  }

  std::int64_t prune(const std::vector<std::string>& endpoints) override {
    std::int64_t floor = std::numeric_limits<std::int64_t>::max();
    for (const auto& e : endpoints) floor = std::min(floor, delivered(e).value_or(0));
    Lease client(pool_);
    bson_error_t error;
    {
      auto progress = client.collection(database_.c_str(), "qc_webhook_progress");
      Doc filter;
      bson_t id, nin;
      BSON_APPEND_DOCUMENT_BEGIN(filter.get(), "_id", &id);
      BSON_APPEND_ARRAY_BEGIN(&id, "$nin", &nin);
      for (std::size_t i = 0; i < endpoints.size(); ++i)
        BSON_APPEND_UTF8(&nin, std::to_string(i).c_str(), endpoints[i].c_str());
      bson_append_array_end(&id, &nin);
      bson_append_document_end(filter.get(), &id);
      if (!mongoc_collection_delete_many(progress.get(), filter.get(), nullptr, nullptr, &error))
        fail("pruning qc_webhook_progress", error);
    }
    // The newest event stays: it keeps last_event_id.
    std::int64_t newest = largest(client.get(), database_, "qc_outbox", "_id");
    std::int64_t upto = std::min(floor, newest - 1);
    if (upto <= 0) return 0;
    auto outbox = client.collection(database_.c_str(), "qc_outbox");
    Doc filter, reply;
    bson_t id;
    BSON_APPEND_DOCUMENT_BEGIN(filter.get(), "_id", &id);
    BSON_APPEND_INT64(&id, "$lte", upto);
    bson_append_document_end(filter.get(), &id);
    if (!mongoc_collection_delete_many(outbox.get(), filter.get(), nullptr, reply.get(), &error))
      fail("pruning qc_outbox", error);
    bson_iter_t it;
    return bson_iter_init_find(&it, reply.get(), "deletedCount") ? bson_iter_as_int64(&it) : 0;
  }

 private:
  static void after_filter(bson_t* out, std::int64_t after) {
    bson_t id;
    BSON_APPEND_DOCUMENT_BEGIN(out, "_id", &id);
    BSON_APPEND_INT64(&id, "$gt", after);
    bson_append_document_end(out, &id);
  }

  mongoc_client_pool_t* pool_;
  std::string database_;
};

}  // namespace

std::unique_ptr<Outbox> MongoStore::open_outbox() { return std::make_unique<MongoOutbox>(pool_.get(), database_); }

}  // namespace qc
