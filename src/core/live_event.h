// Live events (SPEC §4.9): what the ledger tells subscribers (Server-Sent
// Events) and webhooks after a change is durable. An event id is unique and
// increasing for the life of a store: the ledger starts counting at
// max(now in microseconds, the last id the store holds + 1), so ids keep
// increasing across restarts (as long as the clock does not go back by more
// than the events written since) and an id never names two events.
#pragma once
#include <cstdint>
#include <string>

namespace qc {

struct LiveEvent {
  std::int64_t id = 0;
  std::string type;  // "opened", "closed", "quotes"
  std::string data;  // JSON: the position (SPEC §4.6 / §4.3 shape), or the §4.1 list
  // opened and closed events go to webhooks (through the store's outbox);
  // quotes only to live subscribers.
  bool durable() const { return type == "opened" || type == "closed"; }
  bool operator==(const LiveEvent&) const = default;
};

}  // namespace qc
