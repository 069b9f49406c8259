// The Polygon (Massive) stocks websocket: exactly one connection, kept alive.
// connect -> (first status frame, `connected` or `success`, never waited on)
// -> auth -> `auth_success` -> subscribe AM.<symbol>,... ; frames after that
// are handed out raw (parsing happens off the read path, so a slow parse
// never makes the provider drop us as a slow consumer).
//
// Invariants: at most one socket is open at any time (the old one is closed
// before a reconnect); `auth_failed` stops the stream for good; every other
// loss of the connection reconnects with capped exponential backoff and
// jitter; a connection silent for `stale_after` during regular hours is
// replaced. The API key is sent in the auth message only, never logged.
#pragma once
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/json_writer.h"

namespace qc {

struct StreamOptions {
  std::string url;  // ws:// or wss://
  std::string api_key;
  std::vector<std::string> symbols;
  std::chrono::seconds stale_after{180};
  std::chrono::milliseconds first_backoff{500};
  std::chrono::milliseconds max_backoff{60'000};
  std::chrono::seconds idle_timeout{60};  // no data and no pong: the connection is dead
  // Regular-hours test for staleness; replaced in tests.
  std::function<bool()> market_active;
};

struct StreamCallbacks {
  std::function<void()> on_authenticated;         // every (re)connect, before subscribing
  std::function<void(std::string frame)> on_frame;  // every frame after authentication
  std::function<void(const std::string& reason)> on_fatal;
};

class PolygonStream {
 public:
  PolygonStream(StreamOptions options, StreamCallbacks callbacks);
  ~PolygonStream();
  void start();
  void stop();
  // Closes the current connection (if any) so the normal reconnect path runs:
  // backoff, a new connection, auth (on_authenticated), subscribe. `reason`
  // is logged and shown as the last error. Any thread.
  void reconnect(std::string reason);
  // "connecting", "authenticating", "live", "waiting", "failed", "stopped"
  std::string state() const;
  void write_status(JsonWriter& w) const;
  std::uint64_t reconnects() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace qc
