// The persistence port. One interface, one adapter per database (sqlite/,
// mongo/); every adapter passes the same contract tests.
//
// Contract:
//  - load() returns everything needed to rebuild the engine after a restart;
//  - commit() makes one ChangeSet durable atomically: after a crash at any
//    instant either all of it or none of it is visible to the next load();
//  - a ChangeSet is idempotent: committing one whose positions were already
//    committed changes nothing (identity (symbol, open_timestamp));
//  - load() never returns a partial state: a read error or a record it cannot
//    decode throws StoreError (SPEC §9: never serve a damaged store);
//  - health() is cheap and bounded: it never waits behind a commit in
//    progress, and its `detail` names no filesystem path or secret (it is
//    served to anyone by /readyz).
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/live_event.h"
#include "core/minute_bar.h"
#include "core/position.h"
#include "core/recommendation.h"
#include "core/ticker.h"

namespace qc {

struct StoredDocument {
  std::int64_t seq = 0;  // insertion order, assigned by the store
  RecommendationDocument document;
};

struct StoredState {
  std::vector<Ticker> tickers;          // in the order they were added
  std::vector<StoredDocument> documents;  // insertion order
  std::vector<OpenPosition> open_positions;
  std::vector<ClosedPosition> closed_positions;
  std::vector<LastBar> last_bars;        // one per symbol
  std::int64_t last_event_id = 0;        // the highest live event id in the outbox (0: none)
};

struct ChangeSet {
  std::vector<RecommendationDocument> new_documents;
  std::vector<OpenPosition> opened;
  std::vector<ClosedPosition> closed;
  std::vector<LastBar> last_bars;  // newest bar per symbol; an older start than stored changes nothing
  // opened/closed events of this change, for the webhook outbox (SPEC §4.9)
  std::vector<LiveEvent> events;
  bool empty() const {
    return new_documents.empty() && opened.empty() && closed.empty() && last_bars.empty() &&
           events.empty();
  }
};

struct StoreHealth {
  bool ok = false;
  std::string detail;
};

class Store {
 public:
  virtual ~Store() = default;
  // "sqlite", "mongodb", ...
  virtual std::string kind() const = 0;
  // Where it is, for logs and /readyz; secrets redacted.
  virtual std::string location() const = 0;
  // Seeds the default tickers when none exist; returns the whole state.
  virtual StoredState load() = 0;
  // Assigns `seq` to each new document in order; returns the seqs.
  virtual std::vector<std::int64_t> commit(const ChangeSet& changes) = 0;
  // Whether the database answers a read, now.
  virtual StoreHealth health() = 0;
  // A small durable write that changes nothing the engine reads (e.g. a
  // heartbeat row / document with the current time), to learn whether commits
  // can succeed while no real write is pending. Throws StoreError (whose
  // message names no filesystem path).
  virtual void probe_write() = 0;
};

// Errors of any store adapter.
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace qc
