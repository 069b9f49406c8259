// A small HTTP(S) GET client on Boost.Beast for the provider's REST API.
// Blocking calls (each on its own short-lived io_context) with connect, TLS,
// write and read timeouts; 429 and 5xx are retried with capped exponential
// backoff and jitter, honouring Retry-After. The API key travels only in the
// Authorization header and never appears in a log line or an error message.
//
// The key goes to the configured origin only: an absolute URL (a `next_url`
// from a page) is followed when its scheme, host and port are those of the
// base URL; any other is refused before a connection is made.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace qc {

struct RestResult {
  int status = 0;     // HTTP status, 0 when no answer was received
  std::string body;
  std::string error;  // transport error or provider message, redacted
  int attempts = 0;
  bool refused = false;  // an absolute URL off the configured origin: nothing was sent
  bool ok() const { return status >= 200 && status < 300; }
};

struct RetryPolicy {
  int max_attempts = 4;
  std::chrono::milliseconds first_delay{500};
  std::chrono::milliseconds max_delay{8000};
  std::chrono::seconds timeout{15};
};

class RestClient {
 public:
  RestClient(std::string base_url, std::string api_key, RetryPolicy policy = {});
  ~RestClient();
  // `path_or_url`: "/v2/..." relative to the base URL, or an absolute URL on
  // the same origin (a `next_url`). Never throws.
  RestResult get(const std::string& path_or_url);
  const std::string& base_url() const { return base_url_; }
  // Called after every failed attempt (status, will_retry) — for metrics/logs.
  std::function<void(int status, bool will_retry)> on_failure;
  // Ends every request in flight and every sleeping retry at once (their
  // results say "stopped"); later calls return without connecting.
  void stop();

 private:
  RestResult get_once(const std::string& url);
  std::string base_url_;
  std::string api_key_;
  RetryPolicy policy_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};


}  // namespace qc
