// A tiny HTTP/1.1 server on 127.0.0.1 for tests of HTTP clients: it records
// every connection and request head, answers with a fixed status and body
// (Connection: close), and can hold requests whose target starts with a
// prefix unanswered until released. POSIX sockets and one thread per
// connection; every wait is bounded by polling a stop flag, so the
// destructor always returns.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace qc::testing {

class FakeHttpServer {
 public:
  FakeHttpServer() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (listen_fd_ < 0) throw std::runtime_error("socket");
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 128) != 0)
      throw std::runtime_error("bind/listen");
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~FakeHttpServer() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      cv_.notify_all();
    }
    acceptor_.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mutex_);
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
    ::close(listen_fd_);
  }

  FakeHttpServer(const FakeHttpServer&) = delete;
  FakeHttpServer& operator=(const FakeHttpServer&) = delete;

  unsigned short port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  void respond_with(int status, std::string body) {
    std::lock_guard lock(mutex_);
    status_ = status;
    body_ = std::move(body);
  }
  // Requests whose target starts with `prefix` wait until release().
  void hold(std::string prefix) {
    std::lock_guard lock(mutex_);
    held_.push_back(std::move(prefix));
  }
  void release() {
    std::lock_guard lock(mutex_);
    held_.clear();
    cv_.notify_all();
  }

  std::size_t connections() const { return connections_.load(); }
  std::vector<std::string> requests() const {  // request heads, in arrival order
    std::lock_guard lock(mutex_);
    return requests_;
  }
  std::size_t count(const std::string& target_prefix) const {
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    for (const auto& r : requests_)
      if (target_of(r).rfind(target_prefix, 0) == 0) ++n;
    return n;
  }
  bool wait_for_requests(std::size_t n, std::chrono::milliseconds timeout,
                         const std::string& target_prefix = "") const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (count(target_prefix) < n) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }

 private:
  static std::string target_of(const std::string& head) {
    auto a = head.find(' ');
    if (a == std::string::npos) return {};
    auto b = head.find(' ', a + 1);
    return head.substr(a + 1, b == std::string::npos ? std::string::npos : b - a - 1);
  }

  bool stopping() {
    std::lock_guard lock(mutex_);
    return stopping_;
  }

  void accept_loop() {
    while (!stopping()) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      ++connections_;
      std::lock_guard lock(mutex_);
      threads_.emplace_back([this, fd] { serve(fd); });
    }
  }

  void serve(int fd) {
    std::string head;
    char buf[4096];
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < 65536) {
      if (stopping()) return (void)::close(fd);
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      auto n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return (void)::close(fd);
      head.append(buf, static_cast<std::size_t>(n));
    }
    std::string reply;
    {
      std::unique_lock lock(mutex_);
      requests_.push_back(head.substr(0, head.find("\r\n\r\n")));
      const std::string target = target_of(head);
      auto is_held = [&] {
        for (const auto& p : held_)
          if (target.rfind(p, 0) == 0) return true;
        return false;
      };
      cv_.wait(lock, [&] { return stopping_ || !is_held(); });
      if (stopping_) return (void)::close(fd);
      reply = "HTTP/1.1 " + std::to_string(status_) + " X\r\nContent-Type: application/json\r\n" +
              "Content-Length: " + std::to_string(body_.size()) + "\r\nConnection: close\r\n\r\n" +
              body_;
    }
    std::size_t sent = 0;
    while (sent < reply.size()) {
      auto n = ::send(fd, reply.data() + sent, reply.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
    }
    ::shutdown(fd, SHUT_WR);
    // Let the client read everything before the close.
    for (int i = 0; i < 100 && !stopping(); ++i) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) > 0 && ::recv(fd, buf, sizeof buf, 0) <= 0) break;
    }
    ::close(fd);
  }

  int listen_fd_ = -1;
  unsigned short port_ = 0;
  std::thread acceptor_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
  std::vector<std::string> requests_;
  std::vector<std::string> held_;
  int status_ = 200;
  std::string body_ = "{}";
  std::atomic<std::size_t> connections_{0};
};

}  // namespace qc::testing
