// Turns recommendation documents that the algorithm inserts into MongoDB into
// positions. With change streams (replica set / Atlas): a stream on
// `recommendations` (insert events, full document), resumed after a restart
// from the token stored in `qc_watcher`. Without them (standalone server):
// polling for `_id` greater than the last one handled. On first start, or
// when the stored token is no longer resumable, every stored document is
// handed over once more; identity dedupe in the engine makes that harmless.
//
// Invariant: the resume point is saved only after the ledger reports the
// document's positions durable, so a crash never skips a document.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "core/json_writer.h"
#include "store/mongo/mongo_store.h"

namespace qc {

class RecommendationWatcher {
 public:
  enum class Outcome { Durable, Rejected, Unavailable };
  // Hands one stored document to the ledger and blocks until it is durable.
  using Submit = std::function<Outcome(StoredDocument)>;

  RecommendationWatcher(MongoStore& store, Submit submit,
                        std::chrono::milliseconds poll_interval = std::chrono::milliseconds(2000));
  ~RecommendationWatcher();
  void start();
  void stop();
  std::string mode() const;  // "change stream" or "polling"
  void write_status(JsonWriter& w) const;

 private:
  void run();
  void run_change_stream();
  void run_polling();
  bool catch_up(const bson_t* after_id_filter);
  bool handle(const bson_t* document);
  bool update_state(const bson_t* update);  // upserts the qc_watcher document
  bool save_state(const bson_t* resume_token, const bson_oid_t* last_id);
  bool forget_resume_token();
  bool load_state(mongo::Bson& resume_token, bson_oid_t& last_id, bool& has_last_id);
  bool wait(std::chrono::milliseconds d);

  MongoStore& store_;
  Submit submit_;
  std::chrono::milliseconds poll_interval_;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::atomic<std::uint64_t> documents_{0}, skipped_{0}, errors_{0};
  std::string last_error_;
};

}  // namespace qc
