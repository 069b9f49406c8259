// The live-event hub behind GET /api/events (SPEC §4.9): Server-Sent Events
// fan-out from the ledger to every subscriber, with a bounded history for
// Last-Event-ID resume.
//
// Invariants:
//  - publish() never waits on a subscriber: it formats each event once
//    (the frame text is shared by every subscriber and the history), appends
//    it to one log, and wakes the subscribers that were idle. A subscriber
//    is a cursor into that log, never a copy of it.
//  - every subscriber gets the events in id order, none twice, none skipped:
//    the opened/closed events after its starting point, and of each
//    snapshot type (quotes: the whole ticker list) the latest one newer than
//    what it has. When that cannot be kept it is dropped instead (its
//    connection closes; it may reconnect with its Last-Event-ID).
//  - memory is bounded: the log holds the history (history_events and
//    history_bytes) plus what subscribers behind on live events have still
//    to read, at most queue_bytes and one batch: a subscriber still more
//    than queue_bytes behind when the next batch comes is dropped.
//  - resume from Last-Event-ID X is exact when every event after X is still
//    held; otherwise (too old, from an earlier run of the server, not an id)
//    the subscriber gets one `reset` event, then live events.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/live_event.h"
#include "http/server.h"

namespace qc {

struct EventHubOptions {
  // Opened/closed events kept for resume (of quotes, only the latest is
  // kept: each one is the whole ticker list); their frames' bytes, with the
  // latest quotes, at most history_bytes.
  std::size_t history_events = 10'000;
  std::size_t history_bytes = 16 << 20;
  // Live events a subscriber may be behind by (bytes of their frames) before
  // it is dropped as too slow.
  std::size_t queue_bytes = 4 << 20;
  std::size_t max_subscribers = 10'000;
  // A `heartbeat` event to every subscriber this often; 0: only when
  // heartbeat() is called.
  std::chrono::milliseconds heartbeat{15'000};
  // The reconnection delay told to EventSource clients (`retry:`).
  std::chrono::milliseconds retry{3'000};
};

class EventHub {
 public:
  struct Counters {
    std::size_t subscribers = 0;
    std::uint64_t published = 0;  // events (heartbeats, resets not counted)
    std::uint64_t dropped = 0;    // subscribers dropped for being too slow
    std::uint64_t refused = 0;    // subscriptions refused (max_subscribers, closed)
    std::uint64_t resumed = 0;    // subscriptions resumed from a Last-Event-ID
    std::uint64_t resets = 0;     // subscriptions answered with `reset`
    std::size_t history_events = 0;  // opened/closed kept, plus the latest quotes
    std::size_t history_bytes = 0;
  };

  explicit EventHub(EventHubOptions options = {});
  ~EventHub();  // close()
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  // The ledger's events, in id order (LedgerOptions::on_events). Never
  // blocks on a subscriber. An event whose id is not above every id
  // published before is logged and dropped.
  void publish(const std::vector<LiveEvent>& events);

  // One `heartbeat` to every subscriber (after what it is sent before).
  void heartbeat();

  struct Subscription {
    std::shared_ptr<ResponseStream> stream;  // null: refused
    std::string refused;                     // why, when refused
  };
  // A new subscriber. `last_event_id`: the client's Last-Event-ID (nullopt
  // or empty: live events only, no replay).
  Subscription subscribe(std::optional<std::string_view> last_event_id);

  // Ends every subscription (their streams end cleanly) and refuses new
  // ones; publish() does nothing from then on. After it returns no wake
  // callback is called any more. Idempotent.
  void close();

  Counters counters() const;
  const EventHubOptions& options() const { return options_; }

  struct Core;  // shared with the subscriptions (they may outlive the hub)

 private:
  void heartbeat_loop();

  EventHubOptions options_;
  std::shared_ptr<Core> core_;
  std::mutex heartbeat_mutex_;
  std::condition_variable heartbeat_wake_;
  bool stopping_ = false;
  std::thread heartbeat_thread_;
};

// An event id as a client sends it back: a decimal integer, 0 to 2^63 - 1,
// nothing else; else nullopt.
std::optional<std::int64_t> parse_event_id(std::string_view text);

// One Server-Sent Events frame: `id:` (when given), `event:`, one `data:`
// line per line of `data`, and the blank line that ends the event.
std::string sse_frame(std::optional<std::int64_t> id, std::string_view type, std::string_view data);

}  // namespace qc
