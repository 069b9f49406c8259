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
//    served to anyone by /readyz);
//  - the durable events of a ChangeSet (LiveEvent::durable(): opened, closed)
//    are written to the outbox in the same atomic commit as the change, keyed
//    by event id (a recommitted ChangeSet adds nothing); an event is never
//    visible without its change. load() returns the highest event id the
//    store has seen (outbox or delivery progress), which pruning never lowers.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
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
  std::vector<ClosedPosition> closed_positions;  // in no particular order
  std::vector<LastBar> last_bars;        // one per symbol
  std::int64_t last_event_id = 0;        // the highest live event id ever stored (0: none)
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

// The webhook outbox (SPEC §4.9) as the notifier sees it: the durable events
// in id order, and per endpoint the id of the last event delivered there.
// Endpoint keys are opaque text chosen by the caller (never a secret: a hash
// of the URL); `origin` is stored next to it for people reading the
// database (scheme://host, no path).
//
// One Outbox is used by one thread at a time; it works on a connection of
// its own (SQLite) or a pool client per call (MongoDB), in short
// transactions, so it never holds the ledger's commits up for long, and it
// may be used while the ledger commits. Every method throws StoreError.
class Outbox {
 public:
  virtual ~Outbox() = default;
  // At most `limit` events with id > `after`, ascending.
  virtual std::vector<LiveEvent> events_after(std::int64_t after, std::size_t limit) = 0;
  // How many events have id > `after`.
  virtual std::int64_t count_after(std::int64_t after) = 0;
  // The highest id of an event ever stored (as StoredState::last_event_id).
  virtual std::int64_t last_event_id() = 0;
  // The last id delivered to `endpoint`; nullopt for an endpoint never seen.
  virtual std::optional<std::int64_t> delivered(const std::string& endpoint) = 0;
  // Records that every event up to `id` reached `endpoint`. Never moves an
  // endpoint's progress back. Durable, though a power loss may lose the last
  // few (they are then sent again: delivery is at least once).
  virtual void set_delivered(const std::string& endpoint, const std::string& origin,
                             std::int64_t id) = 0;
  // Forgets the progress of every endpoint not in `endpoints`, then removes
  // the events every one of `endpoints` has delivered (all of them when the
  // list is empty), except the newest event (it keeps last_event_id).
  // Removes in short transactions; returns how many events it removed.
  virtual std::int64_t prune(const std::vector<std::string>& endpoints) = 0;
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
  // A reader/writer of the outbox for one thread (see Outbox). Throws
  // StoreError.
  virtual std::unique_ptr<Outbox> open_outbox() = 0;
};

// Errors of any store adapter.
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace qc
