// One webhook POST over HTTP or HTTPS (Boost.Beast; OpenSSL with the
// system's CA store, SNI and host name verification), bounded by one
// deadline for the whole exchange: name resolution, connect, TLS handshake,
// sending, and the answer's status line and headers. Redirects are not
// followed (a 3xx is an answer like any other non-2xx). One connection per
// POST (Connection: close). A non-2xx answer's body is read, at most 4 KiB
// and within the same deadline, for the log line.
//
// abort() (from any thread) ends the POST in flight at once and makes every
// later post() return without connecting: shutdown never waits for an
// endpoint. Name resolution runs on a short-lived thread of its own, which a
// deadline or abort() stops waiting for (getaddrinfo has no timeout).
//
// Nothing here logs; results never carry the URL's path or query.
#pragma once
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "notify/webhook_endpoint.h"

namespace qc {

struct WebhookResponse {
  int status = 0;  // the HTTP status; 0 when no answer came
  // Why it was not delivered, for a metric label: "http_<status>", "timeout",
  // "dns", "connect", "tls", "network" or "stopped"; empty when delivered.
  std::string reason;
  // The same in words: "HTTP 500 Internal Server Error", "connection
  // refused", "no answer within 10 s (waiting for the answer)"...
  std::string detail;
  // The start of a non-2xx answer's body, on one line (at most 200
  // characters): the receiver's words, which may quote anything it was sent
  // (the URL's path included), so for a log line that redacts, never for
  // /readyz.
  std::string body;
  std::optional<std::chrono::seconds> retry_after;  // a Retry-After in seconds, when sent
  bool delivered() const { return status >= 200 && status < 300; }
};

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

class WebhookClient {
 public:
  explicit WebhookClient(std::chrono::milliseconds timeout);
  ~WebhookClient();
  WebhookClient(const WebhookClient&) = delete;
  WebhookClient& operator=(const WebhookClient&) = delete;

  // POSTs `body` with `headers` (plus Host, Content-Length, Connection and
  // User-Agent). Blocks the calling thread for at most the timeout. Never throws.
  WebhookResponse post(const WebhookEndpoint& endpoint, const HttpHeaders& headers,
                       const std::string& body);
  void abort();

 private:
  struct Impl;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace qc
