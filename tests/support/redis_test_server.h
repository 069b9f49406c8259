// Test support for the Redis cache tests: a real redis-server child process
// (/usr/bin/redis-server, Debian package redis-server) on a free loopback
// port, a raw hiredis connection to look at it behind the cache's back, and
// the values the earlier service keeps in Redis.
#pragma once
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cache/redis/redis_cache.h"
#include "cache/redis/redis_url.h"

extern char** environ;

namespace redis_test {

using namespace std::chrono_literals;
using qc::RedisCacheOptions;
using qc::RedisEndpoint;

inline constexpr const char* kRedisServer = "/usr/bin/redis-server";

// ---------------------------------------------------------------------------
// A real redis-server on loopback.

inline std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return 0;
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;
struct ContextFree {
  void operator()(redisContext* c) const { redisFree(c); }
};

// A raw hiredis connection, to look at the server behind the cache's back.
class RawRedis {
 public:
  RawRedis(std::uint16_t port, const std::string& password = "", int db = 0) {
    timeval tv{2, 0};
    context_.reset(redisConnectWithTimeout("127.0.0.1", port, tv));
    if (!context_ || context_->err) {
      ADD_FAILURE() << "raw connection to port " << port << " failed";
      context_.reset();
      return;
    }
    redisSetTimeout(context_.get(), tv);
    if (!password.empty()) expect_ok(run({"AUTH", password}));
    if (db != 0) expect_ok(run({"SELECT", std::to_string(db)}));
  }
  Reply run(const std::vector<std::string>& args) {
    if (!context_) return nullptr;
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lengths.push_back(a.size());
    }
    return Reply(static_cast<redisReply*>(redisCommandArgv(
        context_.get(), static_cast<int>(argv.size()), argv.data(), lengths.data())));
  }
  // The string answer of a command ("(nil)", "(error) ..." or "(no reply)" otherwise).
  std::string text(const std::vector<std::string>& args) {
    Reply r = run(args);
    if (!r) return "(no reply)";
    if (r->type == REDIS_REPLY_NIL) return "(nil)";
    if (r->type == REDIS_REPLY_ERROR) return "(error) " + std::string(r->str, r->len);
    if (r->type == REDIS_REPLY_INTEGER) return std::to_string(r->integer);
    return std::string(r->str, r->len);
  }
  std::vector<std::string> list(const std::string& key) {
    std::vector<std::string> out;
    Reply r = run({"LRANGE", key, "0", "-1"});
    if (!r || r->type != REDIS_REPLY_ARRAY) {
      ADD_FAILURE() << "LRANGE " << key << " did not answer an array";
      return out;
    }
    for (std::size_t i = 0; i < r->elements; ++i)
      out.emplace_back(r->element[i]->str, r->element[i]->len);
    return out;
  }

 private:
  static void expect_ok(const Reply& r) {
    EXPECT_TRUE(r && r->type == REDIS_REPLY_STATUS) << (r && r->str ? r->str : "no reply");
  }
  std::unique_ptr<redisContext, ContextFree> context_;
};

// One redis-server child process; start() can be called again after kill()
// to bring it back on the same port, empty (no persistence).
class RedisServer {
 public:
  explicit RedisServer(std::vector<std::string> extra_args = {}, std::uint16_t port = 0)
      : port_(port ? port : free_port()), extra_(std::move(extra_args)) {}
  ~RedisServer() {
    resume();
    kill();
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  std::uint16_t port() const { return port_; }

  // Starts it and waits until it answers (PONG or NOAUTH both count).
  bool start() {
    std::vector<std::string> args = {kRedisServer, "--port", std::to_string(port_)};
    for (const char* a :
         {"--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"})
      args.emplace_back(a);
    args.emplace_back("--dir");
    args.emplace_back(std::filesystem::temp_directory_path().string());
    args.insert(args.end(), extra_.begin(), extra_.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawn(&pid_, kRedisServer, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      pid_ = -1;
      return false;
    }
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      timeval tv{0, 200000};
      std::unique_ptr<redisContext, ContextFree> c(redisConnectWithTimeout("127.0.0.1", port_, tv));
      if (c && !c->err) {
        Reply r(static_cast<redisReply*>(redisCommand(c.get(), "PING")));
        if (r) return true;
      }
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  void pause() {
    if (pid_ > 0 && !paused_) ::kill(pid_, SIGSTOP), paused_ = true;
  }
  void resume() {
    if (pid_ > 0 && paused_) ::kill(pid_, SIGCONT), paused_ = false;
  }

 private:
  std::uint16_t port_;
  std::vector<std::string> extra_;
  pid_t pid_ = -1;
  bool paused_ = false;
};

inline bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return condition();
}

inline std::size_t count(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + needle.size()))
    ++n;
  return n;
}

// Short timeouts and backoff so outages and recoveries take milliseconds.
inline RedisCacheOptions fast() {
  RedisCacheOptions o;
  o.connect_timeout = 500ms;
  o.command_timeout = 500ms;
  o.backoff_initial = 20ms;
  o.backoff_max = 200ms;
  o.health_interval = 100ms;
  return o;
}

inline RedisEndpoint local(std::uint16_t port, int db = 0, std::string password = "") {
  RedisEndpoint ep;
  ep.host = "127.0.0.1";
  ep.port = port;
  ep.db = db;
  ep.password = std::move(password);
  return ep;
}

inline constexpr const char* kWarning = "serving from memory, retrying with backoff";
inline constexpr const char* kBack = "reachable again";

// The earlier service's values, as Ledger::sync_cache writes them.
inline const std::string kTickers =
    R"({"AAPL":{"symbol":"AAPL","exchange":"NASDAQ","name":"Apple Inc."},)"
    R"("BX":{"symbol":"BX","exchange":"NYSE","name":"Blackstone Group Inc."}})";
inline const std::string kPositionA =
    R"({"symbol":"AAPL","target_price":150.2,"entry_price":145.1,"open_timestamp":1626101940,)"
    R"("stop_loss":130.59,"expected_profit":3.514817367332874})";
inline const std::string kPositionB =
    R"({"symbol":"BX","target_price":110,"entry_price":100,"open_timestamp":1626105540,)"
    R"("stop_loss":90,"expected_profit":10})";

}  // namespace redis_test
