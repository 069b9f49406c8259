// Redis cache adapter: see redis_cache.h for what it owns and keeps.
// Failure model: an I/O error, a timeout, a TLS failure or an error reply to
// a write ends the connection (a connection is never reused after an error,
// and a refused write — READONLY, OOM, NOAUTH, LOADING — is a server state
// the re-sync on reconnect repairs). An error reply to a read (e.g.
// WRONGTYPE) only makes that read answer from the mirror.
#include "cache/redis/redis_cache.h"

#include <simdjson.h>

#include <algorithm>
#include <initializer_list>
#include <string_view>

#include "cache/redis/redis_connection.h"
#include "log/log.h"

namespace qc {
namespace {

constexpr std::string_view kComponent = "cache";

std::string replace_all(std::string s, const std::string& what, std::string_view with) {
  if (what.empty()) return s;
  for (auto pos = s.find(what); pos != std::string::npos; pos = s.find(what, pos + with.size()))
    s.replace(pos, what.size(), with);
  return s;
}

std::size_t count_members(const std::string& json) {
  simdjson::ondemand::parser parser;
  simdjson::padded_string padded(json);
  simdjson::ondemand::document doc;
  if (parser.iterate(padded).get(doc) != simdjson::SUCCESS) return 0;
  simdjson::ondemand::object object;
  if (doc.get_object().get(object) != simdjson::SUCCESS) return 0;
  std::size_t n = 0;
  if (object.count_fields().get(n) != simdjson::SUCCESS) return 0;
  return n;
}

// put_list's commands: DEL, then RPUSH when there is anything to push.
void append_list(std::vector<Command>& out, const std::string& key,
                 const std::vector<std::string>& items) {
  out.push_back({"DEL", key});
  if (items.empty()) return;
  Command push{"RPUSH", key};
  push.reserve(items.size() + 2);
  for (const auto& item : items) push.push_back(item);
  out.push_back(std::move(push));
}

}  // namespace

std::string CacheWarmStart::summary() const {
  if (!reached) return "Redis unreachable";
  if (!tickers_metadata && !open_positions) return "no earlier keys";
  return std::to_string(ticker_count) + " tickers, " +
         std::to_string(open_positions ? open_positions->size() : 0) + " open positions";
}

namespace {

RedisEndpoint checked(RedisEndpoint endpoint) {
  if (endpoint.host.empty()) throw RedisUrlError("Redis endpoint has no host");
  if (endpoint.port == 0) throw RedisUrlError("Redis endpoint has port 0");
  if (endpoint.db < 0) throw RedisUrlError("Redis database number must not be negative");
  return endpoint;
}

RedisTimeouts timeouts_of(const RedisCacheOptions& o) {
  return {o.connect_timeout, o.command_timeout};
}

}  // namespace

RedisCache::RedisCache(RedisEndpoint endpoint, RedisCacheOptions options)
    : endpoint_(checked(std::move(endpoint))),
      options_(options),
      tls_(make_redis_tls_context(endpoint_)),
      jitter_(std::random_device{}()) {
  {
    std::lock_guard lock(mutex_);
    try {
      connection_ = RedisConnection::open(endpoint_, tls_, timeouts_of(options_));
      healthy_ = true;
    } catch (const std::exception& e) {
      lose_connection_locked(e.what());
    }
  }
  watcher_ = std::thread([this] { watch(); });
}

RedisCache::~RedisCache() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

std::string RedisCache::detail() {
  if (healthy_) return {};
  std::lock_guard lock(detail_mutex_);
  return detail_;
}

void RedisCache::set_detail(const std::string& reason) {
  std::lock_guard lock(detail_mutex_);
  detail_ = replace_all(reason, endpoint_.password, "***");
}

void RedisCache::lose_connection_locked(const std::string& reason) {
  connection_.reset();
  set_detail(reason);
  healthy_ = false;
  if (!outage_reported_) {
    outage_reported_ = true;
    log::warn(kComponent, "Redis at " + endpoint_.host_port() + " unavailable (" +
                              replace_all(reason, endpoint_.password, "***") +
                              "); serving from memory, retrying with backoff");
  }
  wake_.notify_all();
}

void RedisCache::put(const std::string& key, const std::string& value) {
  try {
    std::lock_guard lock(mutex_);
    lists_.erase(key);
    values_[key] = value;
    if (!connection_) return;  // the re-sync after reconnecting writes it
    try {
      ReplyPtr r = connection_->run({"SET", key, value});
      if (is_error(*r)) lose_connection_locked("SET refused: " + text(*r));
    } catch (const std::exception& e) {
      lose_connection_locked(e.what());
    }
  } catch (...) {
    // Never throws (cache port); the value is in the mirror if it got there.
  }
}

void RedisCache::put_list(const std::string& key, const std::vector<std::string>& items) {
  try {
    std::lock_guard lock(mutex_);
    values_.erase(key);
    lists_[key] = items;
    if (!connection_) return;
    try {
      std::vector<Command> commands;
      append_list(commands, key, items);
      connection_->transaction(commands);
    } catch (const std::exception& e) {
      lose_connection_locked(e.what());
    }
  } catch (...) {
  }
}

std::optional<std::string> RedisCache::get(const std::string& key) {
  try {
    std::lock_guard lock(mutex_);
    if (connection_) {
      try {
        ReplyPtr r = connection_->run({"GET", key});
        if (r->type == REDIS_REPLY_STRING) return text(*r);
        if (r->type == REDIS_REPLY_NIL) return std::nullopt;
        log::debug(kComponent, "GET " + key + ": " + text(*r) + "; answering from memory");
      } catch (const std::exception& e) {
        lose_connection_locked(e.what());
      }
    }
    auto it = values_.find(key);
    if (it == values_.end()) return std::nullopt;
    return it->second;
  } catch (...) {
    return std::nullopt;
  }
}

std::optional<std::vector<std::string>> RedisCache::get_list(const std::string& key) {
  try {
    std::lock_guard lock(mutex_);
    if (connection_) {
      try {
        ReplyPtr r = connection_->run({"LRANGE", key, "0", "-1"});
        bool strings = r->type == REDIS_REPLY_ARRAY;
        for (std::size_t i = 0; strings && i < r->elements; ++i)
          strings = r->element[i]->type == REDIS_REPLY_STRING;
        if (strings) {
          // Redis has no empty lists: an empty answer is "no key", which is
          // an empty list if this cache wrote one and unknown otherwise.
          if (r->elements == 0) {
            if (lists_.count(key)) return std::vector<std::string>{};
            return std::nullopt;
          }
          std::vector<std::string> items;
          items.reserve(r->elements);
          for (std::size_t i = 0; i < r->elements; ++i) items.push_back(text(*r->element[i]));
          return items;
        }
        log::debug(kComponent, "LRANGE " + key + ": " + text(*r) + "; answering from memory");
      } catch (const std::exception& e) {
        lose_connection_locked(e.what());
      }
    }
    auto it = lists_.find(key);
    if (it == lists_.end()) return std::nullopt;
    return it->second;
  } catch (...) {
    return std::nullopt;
  }
}

CacheWarmStart RedisCache::warm_start() {
  CacheWarmStart found;
  try {
    std::lock_guard lock(mutex_);
    if (!connection_) return found;
    try {
      auto replies = connection_->pipeline(
          {{"GET", "tickers_metadata"}, {"LRANGE", "open_positions", "0", "-1"}});
      found.reached = true;
      if (replies[0]->type == REDIS_REPLY_STRING) found.tickers_metadata = text(*replies[0]);
      const redisReply& list = *replies[1];
      if (list.type == REDIS_REPLY_ARRAY && list.elements > 0) {
        std::vector<std::string> items;
        for (std::size_t i = 0; i < list.elements; ++i)
          if (list.element[i]->type == REDIS_REPLY_STRING) items.push_back(text(*list.element[i]));
        found.open_positions = std::move(items);
      }
    } catch (const std::exception& e) {
      lose_connection_locked(e.what());
      return found;
    }
    if (found.tickers_metadata) {
      found.ticker_count = count_members(*found.tickers_metadata);
      if (!values_.count("tickers_metadata") && !lists_.count("tickers_metadata"))
        values_["tickers_metadata"] = *found.tickers_metadata;
    }
    if (found.open_positions && !values_.count("open_positions") && !lists_.count("open_positions"))
      lists_["open_positions"] = *found.open_positions;
  } catch (...) {
  }
  return found;
}

std::chrono::milliseconds RedisCache::jittered(std::chrono::milliseconds delay) {
  // Uniform in [delay/2, delay]: reconnecting servers do not stampede.
  const auto half = delay.count() / 2;
  std::uniform_int_distribution<long long> pick(half, std::max<long long>(half, delay.count()));
  return std::chrono::milliseconds(pick(jitter_));
}

void RedisCache::watch() {
  std::unique_lock lock(mutex_);
  auto backoff = options_.backoff_initial;
  while (!stopping_) {
    try {
      watch_step(lock, backoff);
    } catch (...) {
      // Keep watching (e.g. bad_alloc while re-syncing); never end the thread.
      if (!lock.owns_lock()) lock.lock();
      wake_.wait_for(lock, options_.backoff_max, [&] { return stopping_; });
    }
  }
}

// One round of the watcher, entered and left with `lock` held.
void RedisCache::watch_step(std::unique_lock<std::mutex>& lock,
                            std::chrono::milliseconds& backoff) {
  if (connection_) {
    backoff = options_.backoff_initial;
    wake_.wait_for(lock, options_.health_interval, [&] { return stopping_ || !connection_; });
    if (stopping_ || !connection_) return;
    try {
      ReplyPtr r = connection_->run({"PING"});
      if (is_error(*r)) lose_connection_locked(text(*r));
    } catch (const std::exception& e) {
      lose_connection_locked(e.what());
    }
    return;
  }

  wake_.wait_for(lock, jittered(backoff), [&] { return stopping_; });
  if (stopping_) return;
  backoff = std::min(backoff * 2, options_.backoff_max);

  // Connect without the lock: callers keep being served from the mirror.
  lock.unlock();
  std::unique_ptr<RedisConnection> fresh;
  std::string error;
  try {
    fresh = RedisConnection::open(endpoint_, tls_, timeouts_of(options_));
  } catch (const std::exception& e) {
    error = e.what();
  }
  lock.lock();
  if (stopping_) return;
  const std::string where = "Redis at " + endpoint_.host_port();
  if (!fresh) {
    set_detail(error);
    log::debug(kComponent, where + " still unavailable (" +
                               replace_all(error, endpoint_.password, "***") + ")");
    return;
  }

  // Re-sync under the lock: no write can slip in between, and every write
  // after this one goes to the new connection.
  std::vector<Command> commands;
  for (const auto& [key, value] : values_) commands.push_back({"SET", key, value});
  for (const auto& [key, items] : lists_) append_list(commands, key, items);
  try {
    if (!commands.empty()) fresh->transaction(commands);
  } catch (const std::exception& e) {
    set_detail(std::string("re-sync failed: ") + e.what());
    log::debug(kComponent, where + " reachable but re-sync failed (" +
                               replace_all(e.what(), endpoint_.password, "***") + ")");
    return;
  }
  connection_ = std::move(fresh);
  healthy_ = true;
  set_detail("");
  outage_reported_ = false;
  log::info(kComponent, where + " reachable again; re-synced " +
                            std::to_string(values_.size() + lists_.size()) + " keys");
}

}  // namespace qc
