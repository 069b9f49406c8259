#include "net/host_lookup.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/ip/address.hpp>
#include <cerrno>
#include <cstring>
#include <thread>

namespace qc {

using boost::asio::ip::tcp;

std::shared_ptr<HostLookup> HostLookup::start(const std::string& host, std::uint16_t port) {
  auto lookup = std::make_shared<HostLookup>();
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(host, ec);
  if (!ec) {
    lookup->finish(0, 0, {tcp::endpoint(address, port)});
    return lookup;
  }
  std::thread([lookup, host, port] {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* list = nullptr;
    int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &list);
    int error_number = errno;
    std::vector<tcp::endpoint> found;
    for (addrinfo* a = rc == 0 ? list : nullptr; a; a = a->ai_next) {
      if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) || a->ai_addrlen > sizeof(sockaddr_in6))
        continue;
      tcp::endpoint endpoint;
      std::memcpy(endpoint.data(), a->ai_addr, a->ai_addrlen);
      endpoint.port(port);
      found.push_back(endpoint);
    }
    if (list) ::freeaddrinfo(list);
    lookup->finish(rc, error_number, std::move(found));
  }).detach();
  return lookup;
}

void HostLookup::finish(int rc, int error_number, std::vector<tcp::endpoint> found) {
  std::string error;
  if (rc == EAI_SYSTEM) error = std::string("cannot resolve the host name: ") + std::strerror(error_number);
  else if (rc != 0) error = std::string("cannot resolve the host name: ") + ::gai_strerror(rc);
  else if (found.empty()) error = "the host name has no IPv4 or IPv6 address";
  std::lock_guard lock(mutex_);
  found_ = std::move(found);
  error_ = std::move(error);
  done_ = true;
  finished_.notify_all();
}

HostLookup::Wait HostLookup::wait_until(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  finished_.wait_until(lock, deadline, [this] { return done_ || abandoned_; });
  if (abandoned_) return Wait::Abandoned;
  return done_ ? Wait::Done : Wait::TimedOut;
}

void HostLookup::abandon() {
  std::lock_guard lock(mutex_);
  abandoned_ = true;
  finished_.notify_all();
}

}  // namespace qc
