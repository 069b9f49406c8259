#include "store/mongo/recommendation_watcher.h"

#include "log/log.h"
#include "store/mongo/bson_codec.h"

namespace qc {
using namespace mongo;

namespace {
constexpr const char* kStateCollection = "qc_watcher";
constexpr const char* kStateId = "recommendations";
}  // namespace

RecommendationWatcher::RecommendationWatcher(MongoStore& store, Submit submit,
                                             std::chrono::milliseconds poll_interval)
    : store_(store), submit_(std::move(submit)), poll_interval_(poll_interval) {}

RecommendationWatcher::~RecommendationWatcher() { stop(); }

std::string RecommendationWatcher::mode() const {
  return store_.change_streams() ? "change stream" : "polling";
}

void RecommendationWatcher::start() {
  log::info("watcher", "recommendations: watching the collection by " + mode() +
                           (store_.change_streams() ? "" : " (standalone server: no change streams)"));
  thread_ = std::thread([this] { run(); });
}

void RecommendationWatcher::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool RecommendationWatcher::wait(std::chrono::milliseconds d) {
  std::unique_lock lock(mutex_);
  return !wake_.wait_for(lock, d, [&] { return stopping_; });
}

void RecommendationWatcher::write_status(JsonWriter& w) const {
  w.key("mode").value(mode());
  w.key("documents").value(static_cast<std::int64_t>(documents_.load()));
  w.key("skipped").value(static_cast<std::int64_t>(skipped_.load()));
  w.key("errors").value(static_cast<std::int64_t>(errors_.load()));
  std::lock_guard lock(mutex_);
  if (!last_error_.empty()) w.key("last_error").value(last_error_);
}

bool RecommendationWatcher::load_state(Bson& resume_token, bson_oid_t& last_id, bool& has_last_id) {
  Lease client(store_.pool());
  auto coll = client.collection(store_.database().c_str(), kStateCollection);
  Doc filter;
  BSON_APPEND_UTF8(filter.get(), "_id", kStateId);
  Cursor cursor(mongoc_collection_find_with_opts(coll.get(), filter.get(), nullptr, nullptr));
  const bson_t* doc;
  has_last_id = false;
  if (mongoc_cursor_next(cursor.get(), &doc)) {
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, "resume_token") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
      uint32_t len;
      const uint8_t* data;
      bson_iter_document(&it, &len, &data);
      resume_token.reset(bson_new_from_data(data, len));
    }
    if (bson_iter_init_find(&it, doc, "last_id") && BSON_ITER_HOLDS_OID(&it)) {
      bson_oid_copy(bson_iter_oid(&it), &last_id);
      has_last_id = true;
    }
  }
  bson_error_t error;
  if (mongoc_cursor_error(cursor.get(), &error)) {
    log::warn("watcher", std::string("cannot read the watcher state: ") + error.message);
    return false;
  }
  return true;
}

bool RecommendationWatcher::update_state(const bson_t* update) {
  Lease client(store_.pool());
  auto coll = client.collection(store_.database().c_str(), kStateCollection);
  Doc filter, opts;
  BSON_APPEND_UTF8(filter.get(), "_id", kStateId);
  BSON_APPEND_BOOL(opts.get(), "upsert", true);
  bson_error_t error;
  if (!mongoc_collection_update_one(coll.get(), filter.get(), update, opts.get(), nullptr, &error)) {
    log::warn("watcher", std::string("cannot save the watcher state: ") + error.message);
    return false;
  }
  return true;
}

bool RecommendationWatcher::save_state(const bson_t* resume_token, const bson_oid_t* last_id) {
  Doc update;
  bson_t set;
  BSON_APPEND_DOCUMENT_BEGIN(update.get(), "$set", &set);
  if (resume_token) BSON_APPEND_DOCUMENT(&set, "resume_token", resume_token);
  if (last_id) BSON_APPEND_OID(&set, "last_id", last_id);
  bson_append_document_end(update.get(), &set);
  return update_state(update.get());
}

bool RecommendationWatcher::forget_resume_token() {
  Doc update;
  bson_t unset;
  BSON_APPEND_DOCUMENT_BEGIN(update.get(), "$unset", &unset);
  BSON_APPEND_UTF8(&unset, "resume_token", "");
  bson_append_document_end(update.get(), &unset);
  return update_state(update.get());
}

// Hands one `recommendations` document to the ledger; false when it could not
// be made durable (the caller retries it later).
bool RecommendationWatcher::handle(const bson_t* document) {
  auto parsed = read_recommendation(document);
  bson_iter_t it;
  std::int64_t seq = 0;
  if (bson_iter_init_find(&it, document, "_id") && BSON_ITER_HOLDS_OID(&it))
    seq = object_id_order(*bson_iter_oid(&it));
  for (const auto& p : parsed.problems) {
    if (p.item >= 0) {
      log::warn("watcher", "document " + parsed.document.us_date + ": " + describe(p) + " (item skipped)");
      continue;
    }
    log::warn("watcher", "document skipped: " + describe(p));
    ++skipped_;
    return true;
  }
  switch (submit_({seq, std::move(parsed.document)})) {
    case Outcome::Durable: ++documents_; return true;
    case Outcome::Rejected: ++skipped_; return true;
    case Outcome::Unavailable: ++errors_; return false;
  }
  return false;
}

// Hands over every document with _id after `after` (all when null), in order.
bool RecommendationWatcher::catch_up(const bson_t* after) {
  Lease client(store_.pool());
  auto coll = client.collection(store_.database().c_str(), "recommendations");
  Doc filter, opts, sort;
  if (after) bson_concat(filter.get(), after);
  BSON_APPEND_INT32(sort.get(), "_id", 1);
  BSON_APPEND_DOCUMENT(opts.get(), "sort", sort.get());
  Cursor cursor(mongoc_collection_find_with_opts(coll.get(), filter.get(), opts.get(), nullptr));
  const bson_t* doc;
  std::uint64_t n = 0;
  while (mongoc_cursor_next(cursor.get(), &doc)) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return false;
    }
    if (!handle(doc)) return false;
    ++n;
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_OID(&it) && !store_.change_streams())
      save_state(nullptr, bson_iter_oid(&it));
  }
  bson_error_t error;
  if (mongoc_cursor_error(cursor.get(), &error)) {
    std::lock_guard lock(mutex_);
    last_error_ = error.message;
    ++errors_;
    log::warn("watcher", std::string("reading recommendations failed: ") + error.message);
    return false;
  }
  if (n) log::info("watcher", "handed over " + std::to_string(n) + " stored recommendation documents");
  return true;
}

void RecommendationWatcher::run() {
  if (store_.change_streams()) run_change_stream();
  else run_polling();
}

void RecommendationWatcher::run_polling() {
  bool caught_up = false;
  while (wait(caught_up ? poll_interval_ : std::chrono::milliseconds(0))) {
    Bson token;
    bson_oid_t last_id;
    bool has_last_id = false;
    if (!load_state(token, last_id, has_last_id)) continue;
    Doc after;
    if (has_last_id) {
      bson_t gt;
      BSON_APPEND_DOCUMENT_BEGIN(after.get(), "_id", &gt);
      BSON_APPEND_OID(&gt, "$gt", &last_id);
      bson_append_document_end(after.get(), &gt);
    }
    caught_up = catch_up(has_last_id ? after.get() : nullptr) || caught_up;
  }
}

void RecommendationWatcher::run_change_stream() {
  auto backoff = std::chrono::milliseconds(500);
  while (wait(std::chrono::milliseconds(0))) {
    Bson token;
    bson_oid_t unused;
    bool has_last_id = false;
    if (!load_state(token, unused, has_last_id)) {
      if (!wait(backoff)) return;
      continue;
    }
    Lease client(store_.pool());
    auto coll = client.collection(store_.database().c_str(), "recommendations");
    Doc pipeline, opts;
    {
      bson_t stages, match, stage;
      BSON_APPEND_ARRAY_BEGIN(pipeline.get(), "pipeline", &stages);
      BSON_APPEND_DOCUMENT_BEGIN(&stages, "0", &stage);
      BSON_APPEND_DOCUMENT_BEGIN(&stage, "$match", &match);
      BSON_APPEND_UTF8(&match, "operationType", "insert");
      bson_append_document_end(&stage, &match);
      bson_append_document_end(&stages, &stage);
      bson_append_array_end(pipeline.get(), &stages);
    }
    BSON_APPEND_INT64(opts.get(), "maxAwaitTimeMS", 1000);
    if (token) BSON_APPEND_DOCUMENT(opts.get(), "resumeAfter", token.get());
    ChangeStream stream(mongoc_collection_watch(coll.get(), pipeline.get(), opts.get()));
    bson_error_t error;
    const bson_t* reply = nullptr;
    const bson_t* event;
    // Opening the stream happens lazily on the first next(): do it now so a
    // bad token is seen before the catch-up.
    bool got = mongoc_change_stream_next(stream.get(), &event);
    if (!got && mongoc_change_stream_error_document(stream.get(), &error, &reply)) {
      if (token) {
        log::warn("watcher", std::string("cannot resume the change stream (") + error.message +
                                 "); handing over every stored document again");
        forget_resume_token();
        continue;
      }
      {
        std::lock_guard lock(mutex_);
        last_error_ = error.message;
      }
      ++errors_;
      log::warn("watcher", std::string("change stream failed: ") + error.message + "; retrying");
      if (!wait(backoff)) return;
      backoff = std::min(backoff * 2, std::chrono::milliseconds(30'000));
      continue;
    }
    if (!token) {
      // First start (or lost resume point): the stream is open, so nothing
      // inserted from now on is missed; hand over what is already stored.
      if (!catch_up(nullptr)) {
        if (!wait(backoff)) return;
        continue;
      }
      if (auto t = mongoc_change_stream_get_resume_token(stream.get())) save_state(t, nullptr);
    }
    backoff = std::chrono::milliseconds(500);
    bool healthy = true;
    while (healthy && wait(std::chrono::milliseconds(0))) {
      if (got) {
        bson_iter_t it;
        if (bson_iter_init_find(&it, event, "fullDocument") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
          uint32_t len;
          const uint8_t* data;
          bson_iter_document(&it, &len, &data);
          bson_t full;
          if (bson_init_static(&full, data, len) && !handle(&full)) {
            healthy = false;  // not durable: reopen from the last saved token
            break;
          }
        }
        if (auto t = mongoc_change_stream_get_resume_token(stream.get())) save_state(t, nullptr);
      }
      got = mongoc_change_stream_next(stream.get(), &event);
      if (!got && mongoc_change_stream_error_document(stream.get(), &error, &reply)) {
        {
          std::lock_guard lock(mutex_);
          last_error_ = error.message;
        }
        ++errors_;
        log::warn("watcher", std::string("change stream interrupted: ") + error.message +
                                 "; resuming from the last saved token");
        healthy = false;
      }
    }
    if (!wait(backoff)) return;
  }
}

}  // namespace qc
