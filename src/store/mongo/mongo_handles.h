// RAII owners for libmongoc / libbson handles, and a pooled-client lease.
// Every C handle the MongoDB adapter touches is owned by one of these.
#pragma once
#include <mongoc/mongoc.h>

#include <memory>
#include <string>

namespace qc::mongo {

struct UriDeleter { void operator()(mongoc_uri_t* p) const { mongoc_uri_destroy(p); } };
struct PoolDeleter { void operator()(mongoc_client_pool_t* p) const { mongoc_client_pool_destroy(p); } };
struct ClientDeleter { void operator()(mongoc_client_t* p) const { mongoc_client_destroy(p); } };
struct CollectionDeleter { void operator()(mongoc_collection_t* p) const { mongoc_collection_destroy(p); } };
struct CursorDeleter { void operator()(mongoc_cursor_t* p) const { mongoc_cursor_destroy(p); } };
struct SessionDeleter { void operator()(mongoc_client_session_t* p) const { mongoc_client_session_destroy(p); } };
struct StreamDeleter { void operator()(mongoc_change_stream_t* p) const { mongoc_change_stream_destroy(p); } };
struct TxnOptsDeleter { void operator()(mongoc_transaction_opt_t* p) const { mongoc_transaction_opts_destroy(p); } };

using Uri = std::unique_ptr<mongoc_uri_t, UriDeleter>;
using Pool = std::unique_ptr<mongoc_client_pool_t, PoolDeleter>;
using Client = std::unique_ptr<mongoc_client_t, ClientDeleter>;  // a single-threaded client
using Collection = std::unique_ptr<mongoc_collection_t, CollectionDeleter>;
using Cursor = std::unique_ptr<mongoc_cursor_t, CursorDeleter>;
using Session = std::unique_ptr<mongoc_client_session_t, SessionDeleter>;
using ChangeStream = std::unique_ptr<mongoc_change_stream_t, StreamDeleter>;
// An owned heap bson_t (bson_new / bson_new_from_data), or none.
class Bson {
 public:
  Bson() = default;
  explicit Bson(bson_t* b) : b_(b) {}
  ~Bson() { reset(); }
  Bson(const Bson&) = delete;
  Bson& operator=(const Bson&) = delete;
  void reset(bson_t* b = nullptr) {
    if (b_) bson_destroy(b_);
    b_ = b;
  }
  bson_t* get() const { return b_; }
  explicit operator bool() const { return b_ != nullptr; }

 private:
  bson_t* b_ = nullptr;
};
using TxnOpts = std::unique_ptr<mongoc_transaction_opt_t, TxnOptsDeleter>;

// A stack-allocated bson_t that is always destroyed.
class Doc {
 public:
  Doc() { bson_init(&b_); }
  ~Doc() { bson_destroy(&b_); }
  Doc(const Doc&) = delete;
  Doc& operator=(const Doc&) = delete;
  bson_t* get() { return &b_; }
  const bson_t* get() const { return &b_; }

 private:
  bson_t b_;
};

// A client popped from the pool, pushed back when the lease ends.
class Lease {
 public:
  explicit Lease(mongoc_client_pool_t* pool) : pool_(pool), client_(mongoc_client_pool_pop(pool)) {}
  ~Lease() { mongoc_client_pool_push(pool_, client_); }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  mongoc_client_t* get() const { return client_; }
  Collection collection(const char* db, const char* name) const {
    return Collection(mongoc_client_get_collection(client_, db, name));
  }

 private:
  mongoc_client_pool_t* pool_;
  mongoc_client_t* client_;
};

// Initializes the driver once per process.
void ensure_driver();

}  // namespace qc::mongo
