// EventHub: one log of frames under one mutex; each subscriber is a cursor
// (next log entry, last id sent) that its connection's session advances by
// pull(). publish() appends, drops the subscribers that fell too far behind,
// trims the log to the history bounds (keeping what live subscribers within
// their queue bound still need) and wakes the idle subscribers outside the
// lock. `fanout` serializes publish/heartbeat/close, so that close() can
// promise that no wake callback runs after it.
#include "http/event_hub.h"

#include <algorithm>
#include <charconv>
#include <deque>
#include <functional>

#include "core/json_writer.h"
#include "log/log.h"

namespace qc {

namespace {

constexpr std::size_t kMaxFramesPerPull = 60;  // one writev (asio gathers 64 buffers)
constexpr std::size_t kMaxBytesPerPull = 256 * 1024;

using Frame = std::shared_ptr<const std::string>;

std::string id_text(std::int64_t id) { return std::to_string(id); }

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

std::optional<std::int64_t> parse_event_id(std::string_view text) {
  std::int64_t id = 0;
  if (text.empty() || text.front() < '0' || text.front() > '9') return std::nullopt;
  auto r = std::from_chars(text.data(), text.data() + text.size(), id);
  if (r.ec != std::errc{} || r.ptr != text.data() + text.size()) return std::nullopt;
  return id;
}

std::string sse_frame(std::optional<std::int64_t> id, std::string_view type, std::string_view data) {
  std::string out;
  out.reserve(data.size() + type.size() + 40);
  if (id) out.append("id: ").append(id_text(*id)).push_back('\n');
  out.append("event: ").append(type).push_back('\n');
  // A line break inside data (CR, LF or CRLF, as SSE parses them) starts a
  // new data line; the client joins them with LF.
  std::size_t start = 0;
  for (std::size_t i = 0; i <= data.size(); ++i) {
    if (i < data.size() && data[i] != '\n' && data[i] != '\r') continue;
    out.append("data: ").append(data.substr(start, i - start)).push_back('\n');
    if (i + 1 < data.size() && data[i] == '\r' && data[i + 1] == '\n') ++i;
    start = i + 1;
  }
  out.push_back('\n');
  return out;
}

struct Subscriber {
  // All guarded by Core::mutex.
  std::size_t index = 0;        // in Core::subscribers while open
  std::uint64_t next_seq = 0;   // next log entry to send
  std::uint64_t live_seq = 0;   // first entry published after it subscribed
  std::uint64_t sent_end = 0;   // Entry::end of the last entry sent (0: none)
  std::uint64_t floor = 0;      // bytes published before it subscribed
  std::optional<std::int64_t> last_id;  // of the last event sent, or its starting point
  std::uint64_t heartbeats_seen = 0;
  ResponseStream::Chunks head;  // sent first: retry (and reset)
  enum class State { Open, Ended, Dropped } state = State::Open;
  bool waiting = false;  // its last pull found nothing: wake it on news
  bool started = false;
  std::function<void(bool abort)> wake;  // set by start(), constant after
};

struct EventHub::Core {
  struct Entry {
    std::int64_t id;
    Frame frame;
    std::uint64_t end;  // `published_bytes` once this entry was appended
  };
  struct Snapshot {
    std::string type;
    std::int64_t id;
    Frame frame;
  };

  explicit Core(const EventHubOptions& o) : options(o) {}

  const EventHubOptions options;
  std::mutex fanout;  // taken before `mutex`
  mutable std::mutex mutex;
  std::deque<Entry> log;
  std::uint64_t first_seq = 0;         // seq of log.front()
  std::uint64_t published_bytes = 0;   // of every entry ever appended
  std::size_t log_bytes = 0;
  std::vector<Snapshot> snapshots;     // the latest of each non-durable type
  std::size_t snapshot_bytes = 0;
  std::optional<std::int64_t> latest;  // highest id published
  // Resume from X is exact for resume_floor <= X <= latest: every event
  // after resume_floor is held (the first id published, then the last
  // evicted one).
  std::optional<std::int64_t> resume_floor;
  std::uint64_t heartbeats = 0;
  bool closed = false;
  std::vector<std::shared_ptr<Subscriber>> subscribers;
  Counters counters;

  std::uint64_t end_seq() const { return first_seq + log.size(); }

  void remove(Subscriber& s) {
    auto& last = subscribers.back();
    last->index = s.index;
    std::swap(subscribers[s.index], last);
    subscribers.pop_back();
  }

  void drop(Subscriber& s, std::vector<std::pair<std::shared_ptr<Subscriber>, bool>>& wakes) {
    s.state = Subscriber::State::Dropped;
    s.head.clear();
    ++counters.dropped;
    if (s.started) wakes.emplace_back(subscribers[s.index], true);
    remove(s);
  }

  // Appends the next frames for `s` (in id order); true if it is caught up.
  bool take(Subscriber& s, ResponseStream::Chunks& out) {
    std::size_t bytes = 0;
    while (out.size() < kMaxFramesPerPull && bytes < kMaxBytesPerPull) {
      const Entry* entry = s.next_seq < end_seq() ? &log[s.next_seq - first_seq] : nullptr;
      const Snapshot* snapshot = nullptr;
      for (const auto& snap : snapshots)
        if ((!s.last_id || snap.id > *s.last_id) && (!snapshot || snap.id < snapshot->id)) snapshot = &snap;
      if (!entry && !snapshot) return true;
      if (entry && (!snapshot || entry->id < snapshot->id)) {
        out.push_back(entry->frame);
        bytes += entry->frame->size();
        s.last_id = entry->id;
        s.sent_end = entry->end;
        ++s.next_seq;
      } else {
        out.push_back(snapshot->frame);
        bytes += snapshot->frame->size();
        s.last_id = snapshot->id;
      }
    }
    return false;
  }
};

namespace {

// What a session holds: the cursor and the way back to the hub.
class EventStream final : public ResponseStream {
 public:
  EventStream(std::shared_ptr<EventHub::Core> core, std::shared_ptr<Subscriber> sub)
      : core_(core), sub_(std::move(sub)) {}
  ~EventStream() override { close(); }

  void start(std::function<void(bool)> wake) override {
    auto core = core_.lock();
    if (!core) return;
    std::lock_guard lock(core->mutex);
    sub_->wake = std::move(wake);
    sub_->started = true;
  }

  Pull pull(Chunks& out) override {
    auto core = core_.lock();
    if (!core) return Pull::End;
    bool heartbeat = false;
    std::optional<std::int64_t> heartbeat_id;
    {
      std::lock_guard lock(core->mutex);
      auto& s = *sub_;
      if (s.state == Subscriber::State::Dropped) return Pull::Abort;
      for (auto& f : s.head) out.push_back(std::move(f));
      s.head.clear();
      if (s.state == Subscriber::State::Ended) return Pull::End;
      if (s.next_seq < core->first_seq) {  // what it had still to read is gone
        std::vector<std::pair<std::shared_ptr<Subscriber>, bool>> none;
        core->drop(s, none);
        return Pull::Abort;
      }
      bool caught_up = core->take(s, out);
      if (caught_up && s.heartbeats_seen < core->heartbeats) {
        s.heartbeats_seen = core->heartbeats;
        heartbeat = true;
        heartbeat_id = s.last_id;
      }
      if (out.empty() && !heartbeat) {
        s.waiting = s.started;  // woken by the next publish or heartbeat
        return Pull::Idle;
      }
    }
    if (heartbeat) {
      std::string data;
      JsonWriter(data).begin_object().key("time").value(unix_now()).end_object();
      out.push_back(std::make_shared<const std::string>(sse_frame(heartbeat_id, "heartbeat", data)));
    }
    return Pull::More;
  }

  void close() override {
    auto core = core_.lock();
    if (!core || !sub_) return;
    std::lock_guard lock(core->mutex);
    if (sub_->state == Subscriber::State::Open) core->remove(*sub_);
    sub_->state = Subscriber::State::Ended;
    sub_->head.clear();
  }

 private:
  std::weak_ptr<EventHub::Core> core_;
  std::shared_ptr<Subscriber> sub_;
};

}  // namespace

EventHub::EventHub(EventHubOptions options)
    : options_(options), core_(std::make_shared<Core>(options_)) {
  if (options_.heartbeat.count() > 0) heartbeat_thread_ = std::thread([this] { heartbeat_loop(); });
}

EventHub::~EventHub() { close(); }

void EventHub::heartbeat_loop() {
  std::unique_lock lock(heartbeat_mutex_);
  while (!heartbeat_wake_.wait_for(lock, options_.heartbeat, [this] { return stopping_; })) {
    lock.unlock();
    heartbeat();
    lock.lock();
  }
}

void EventHub::publish(const std::vector<LiveEvent>& events) {
  if (events.empty()) return;
  // Formatted once, outside the locks; shared by every subscriber.
  std::vector<Frame> frames;
  frames.reserve(events.size());
  for (const auto& e : events) frames.push_back(std::make_shared<const std::string>(sse_frame(e.id, e.type, e.data)));

  auto& c = *core_;
  std::vector<std::pair<std::shared_ptr<Subscriber>, bool>> wakes;
  std::lock_guard fanout(c.fanout);
  {
    std::lock_guard lock(c.mutex);
    if (c.closed) return;
    const std::uint64_t before = c.published_bytes;
    for (std::size_t i = 0; i < events.size(); ++i) {
      const auto& e = events[i];
      if (c.latest && e.id <= *c.latest) {
        log::error("events", "event id " + std::to_string(e.id) + " (" + e.type + ") is not above the last id " +
                                 std::to_string(*c.latest) + "; not sent");
        continue;
      }
      c.latest = e.id;
      if (!c.resume_floor) c.resume_floor = e.id;
      ++c.counters.published;
      if (!e.durable()) {
        auto it = std::find_if(c.snapshots.begin(), c.snapshots.end(), [&](const auto& s) { return s.type == e.type; });
        if (it == c.snapshots.end()) it = c.snapshots.insert(c.snapshots.end(), {e.type, e.id, nullptr});
        if (it->frame) c.snapshot_bytes -= it->frame->size();
        it->id = e.id;
        it->frame = frames[i];
        c.snapshot_bytes += frames[i]->size();
        continue;
      }
      c.published_bytes += frames[i]->size();
      c.log_bytes += frames[i]->size();
      c.log.push_back({e.id, frames[i], c.published_bytes});
    }

    // Still more than queue_bytes behind on the live events before this
    // batch (a batch, however large, is never the reader's fault): dropped.
    // The others pin what they still have to read of the live part of the log.
    std::uint64_t pin = c.end_seq();
    for (std::size_t i = 0; i < c.subscribers.size();) {
      auto& s = *c.subscribers[i];
      std::uint64_t read = std::max(s.sent_end, s.floor);
      if (read < before && before - read > c.options.queue_bytes) {
        c.drop(s, wakes);  // swaps the last subscriber into i
        continue;
      }
      pin = std::min(pin, std::max(s.next_seq, s.live_seq));
      ++i;
    }
    bool evicted = false;
    while (!c.log.empty() && c.first_seq < pin &&
           (c.log.size() > c.options.history_events ||
            c.log_bytes + c.snapshot_bytes > c.options.history_bytes)) {
      c.resume_floor = c.log.front().id;
      c.log_bytes -= c.log.front().frame->size();
      c.log.pop_front();
      ++c.first_seq;
      evicted = true;
    }
    for (std::size_t i = 0; i < c.subscribers.size();) {
      auto& s = *c.subscribers[i];
      if (evicted && s.next_seq < c.first_seq) {  // its replay was evicted before it read it
        c.drop(s, wakes);
        continue;
      }
      if (s.waiting) {
        s.waiting = false;
        wakes.emplace_back(c.subscribers[i], false);
      }
      ++i;
    }
  }
  for (auto& [s, abort] : wakes) s->wake(abort);
}

void EventHub::heartbeat() {
  auto& c = *core_;
  std::vector<std::pair<std::shared_ptr<Subscriber>, bool>> wakes;
  std::lock_guard fanout(c.fanout);
  {
    std::lock_guard lock(c.mutex);
    if (c.closed) return;
    ++c.heartbeats;
    for (auto& s : c.subscribers)
      if (s->waiting) {
        s->waiting = false;
        wakes.emplace_back(s, false);
      }
  }
  for (auto& [s, abort] : wakes) s->wake(abort);
}

EventHub::Subscription EventHub::subscribe(std::optional<std::string_view> last_event_id) {
  auto& c = *core_;
  auto sub = std::make_shared<Subscriber>();
  std::string retry = "retry: " + std::to_string(options_.retry.count()) + "\n";
  std::lock_guard lock(c.mutex);
  if (c.closed) {
    ++c.counters.refused;
    return {nullptr, "the server is shutting down; reconnect in a moment"};
  }
  if (c.subscribers.size() >= options_.max_subscribers) {
    ++c.counters.refused;
    return {nullptr, "too many event subscribers (at most " + std::to_string(options_.max_subscribers) +
                         "); try again later"};
  }
  sub->floor = c.published_bytes;
  sub->live_seq = c.end_seq();
  sub->next_seq = c.end_seq();
  sub->sent_end = c.published_bytes;
  sub->heartbeats_seen = c.heartbeats;
  sub->last_id = c.latest;

  if (last_event_id && !last_event_id->empty()) {
    auto id = parse_event_id(*last_event_id);
    std::string why;
    if (!id) {
      why = "Last-Event-ID '" + std::string(last_event_id->substr(0, 40)) + "' is not an event id";
    } else if (!c.latest) {
      why = "event " + std::to_string(*id) + " is not known to this server (it has sent no event since it started)";
    } else if (*id > *c.latest) {
      why = "event " + std::to_string(*id) + " is not known to this server (it is from an earlier run, or another server)";
    } else if (*id < *c.resume_floor) {
      why = "the events after " + std::to_string(*id) + " are no longer kept (the server keeps the last " +
            std::to_string(options_.history_events) + " events, or restarted since)";
    }
    if (why.empty()) {
      // Resume: everything after the id, from the history.
      auto it = std::upper_bound(c.log.begin(), c.log.end(), *id,
                                 [](std::int64_t v, const Core::Entry& e) { return v < e.id; });
      sub->next_seq = c.first_seq + static_cast<std::uint64_t>(it - c.log.begin());
      sub->sent_end = it == c.log.begin() ? 0 : std::prev(it)->end;
      sub->last_id = *id;
      sub->head.push_back(std::make_shared<const std::string>(retry + "\n"));
      ++c.counters.resumed;
    } else {
      std::string data;
      JsonWriter w(data);
      w.begin_object().key("detail").value(why + "; reload the state (GET /api/positions, /api/performance, "
                                                 "/api/tickerlist) and go on with the events that follow");
      w.key("oldest");
      if (c.resume_floor) w.value(*c.resume_floor);
      else w.null();
      w.end_object();
      sub->head.push_back(std::make_shared<const std::string>(retry + "\n" + sse_frame(c.latest, "reset", data)));
      ++c.counters.resets;
    }
  } else {
    // Live only. The id of the latest event makes a reconnect resume from
    // the moment this connection began.
    sub->head.push_back(std::make_shared<const std::string>(
        retry + (c.latest ? "id: " + id_text(*c.latest) + "\n" : std::string()) + "\n"));
  }
  sub->index = c.subscribers.size();
  c.subscribers.push_back(sub);
  return {std::make_shared<EventStream>(core_, std::move(sub)), {}};
}

void EventHub::close() {
  {
    std::lock_guard lock(heartbeat_mutex_);
    stopping_ = true;
  }
  heartbeat_wake_.notify_all();
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
  auto& c = *core_;
  std::vector<std::pair<std::shared_ptr<Subscriber>, bool>> wakes;
  std::lock_guard fanout(c.fanout);
  {
    std::lock_guard lock(c.mutex);
    if (c.closed) return;
    c.closed = true;
    for (auto& s : c.subscribers) {
      s->state = Subscriber::State::Ended;
      if (s->waiting && s->started) wakes.emplace_back(s, false);
      s->waiting = false;
    }
    c.subscribers.clear();
  }
  for (auto& [s, abort] : wakes) s->wake(abort);
}

EventHub::Counters EventHub::counters() const {
  std::lock_guard lock(core_->mutex);
  Counters out = core_->counters;
  out.subscribers = core_->subscribers.size();
  out.history_events = core_->log.size() + core_->snapshots.size();
  out.history_bytes = core_->log_bytes + core_->snapshot_bytes;
  return out;
}

}  // namespace qc
