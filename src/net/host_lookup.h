// A host name looked up with a bound on the wait. getaddrinfo has no timeout
// of its own (the resolver's retries can take tens of seconds) and cannot be
// interrupted, so it runs on a detached thread of its own; the caller stops
// waiting at its deadline or when someone abandons the lookup, and the
// thread's late answer is then dropped with the state the two share.
// Used by the Redis connection and the webhook client.
#pragma once
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace qc {

class HostLookup {
 public:
  enum class Wait { Done, TimedOut, Abandoned };

  // Starts looking `host` up (IPv4 and IPv6 addresses, TCP) for `port`. An
  // IP literal is answered at once, without a thread.
  static std::shared_ptr<HostLookup> start(const std::string& host, std::uint16_t port);

  Wait wait_until(std::chrono::steady_clock::time_point deadline);
  // Wakes a waiter (it gets Abandoned); any thread may call it, at any time.
  void abandon();

  // After Done: the addresses (empty on failure) and, when there are none,
  // why ("cannot resolve the host name: ...", "the host name has no IPv4 or
  // IPv6 address").
  const std::vector<boost::asio::ip::tcp::endpoint>& endpoints() const { return found_; }
  const std::string& error() const { return error_; }

 private:
  void finish(int rc, int error_number, std::vector<boost::asio::ip::tcp::endpoint> found);

  std::mutex mutex_;
  std::condition_variable finished_;
  bool done_ = false;
  bool abandoned_ = false;
  std::vector<boost::asio::ip::tcp::endpoint> found_;
  std::string error_;
};

}  // namespace qc
