// EventHub without sockets: a subscriber is driven the way a session drives
// it (start, pull until Idle, pull again when woken).
#include "http/event_hub.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <thread>

namespace {

using qc::EventHub;
using qc::EventHubOptions;
using qc::LiveEvent;
using Pull = qc::ResponseStream::Pull;
using namespace std::chrono_literals;

struct Event {
  std::map<std::string, std::string> fields;  // id, event, data, retry
  std::string get(const std::string& k) const {
    auto it = fields.find(k);
    return it == fields.end() ? std::string("<none>") : it->second;
  }
};

// The blocks of an SSE text (field lines up to a blank line).
std::vector<Event> parse(const std::string& text) {
  std::vector<Event> out;
  Event current;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto eol = text.find('\n', pos);
    if (eol == std::string::npos) break;
    std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.empty()) {
      out.push_back(current);
      current = {};
      continue;
    }
    auto colon = line.find(": ");
    std::string key = line.substr(0, colon), value = colon == std::string::npos ? "" : line.substr(colon + 2);
    auto& slot = current.fields[key];
    slot = slot.empty() ? value : slot + "\n" + value;
  }
  return out;
}

// Only the dispatched events (those with data), as "id type".
std::vector<std::string> events_of(const std::string& text) {
  std::vector<std::string> out;
  for (const auto& e : parse(text))
    if (e.fields.count("data")) out.push_back(e.get("id") + " " + e.get("event"));
  return out;
}

struct Consumer {
  explicit Consumer(EventHub::Subscription s) : stream(std::move(s.stream)) {
    if (stream) stream->start([this](bool abort) { (abort ? aborts : wakes)++; });
  }
  // Pulls until the stream has nothing more for now.
  Pull drain() {
    for (;;) {
      qc::ResponseStream::Chunks chunks;
      Pull p = stream->pull(chunks);
      for (auto& c : chunks) text += *c;
      if (p != Pull::More) return p;
    }
  }
  std::shared_ptr<qc::ResponseStream> stream;
  std::string text;
  std::atomic<int> wakes{0}, aborts{0};
};

LiveEvent opened(std::int64_t id, std::string data = R"({"symbol":"AAPL"})") {
  return {id, "opened", std::move(data)};
}

std::vector<LiveEvent> range(std::int64_t from, std::int64_t to, std::size_t data_bytes = 20) {
  std::vector<LiveEvent> out;
  for (auto id = from; id <= to; ++id) out.push_back(opened(id, "\"" + std::string(data_bytes, 'x') + "\""));
  return out;
}

EventHubOptions quiet(EventHubOptions o = {}) {
  o.heartbeat = 0ms;
  return o;
}

std::vector<std::string> ids(std::int64_t from, std::int64_t to, const std::string& type = "opened") {
  std::vector<std::string> out;
  for (auto id = from; id <= to; ++id) out.push_back(std::to_string(id) + " " + type);
  return out;
}

TEST(SseFrame, IdEventAndOneDataLinePerLine) {
  EXPECT_EQ(qc::sse_frame(5, "opened", R"({"a":1})"), "id: 5\nevent: opened\ndata: {\"a\":1}\n\n");
  EXPECT_EQ(qc::sse_frame(std::nullopt, "heartbeat", "{}"), "event: heartbeat\ndata: {}\n\n");
  EXPECT_EQ(qc::sse_frame(1, "x", "a\nb\r\nc\rd"), "id: 1\nevent: x\ndata: a\ndata: b\ndata: c\ndata: d\n\n");
}

TEST(ParseEventId, DecimalIntegersOnly) {
  EXPECT_EQ(qc::parse_event_id("0"), 0);
  EXPECT_EQ(qc::parse_event_id("1732000000123456"), 1732000000123456);
  EXPECT_EQ(qc::parse_event_id("9223372036854775807"), INT64_MAX);
  for (const char* bad : {"", "-1", "+1", " 1", "1 ", "1a", "0x10", "9223372036854775808", "1.5"})
    EXPECT_FALSE(qc::parse_event_id(bad)) << bad;
}

TEST(EventHub, NewSubscriberGetsRetryTheLatestIdAndThenOnlyLiveEvents) {
  EventHub hub(quiet());
  hub.publish(range(1, 2));
  Consumer c(hub.subscribe(std::nullopt));
  EXPECT_EQ(c.drain(), Pull::Idle);
  EXPECT_EQ(c.text, "retry: 3000\nid: 2\n\n");
  hub.publish({opened(3, R"({"symbol":"NVDA"})")});
  EXPECT_EQ(c.wakes, 1);
  EXPECT_EQ(c.drain(), Pull::Idle);
  EXPECT_EQ(c.text, "retry: 3000\nid: 2\n\nid: 3\nevent: opened\ndata: {\"symbol\":\"NVDA\"}\n\n");
}

TEST(EventHub, BeforeAnyEventThePreambleHasNoId) {
  EventHub hub(quiet());
  Consumer c(hub.subscribe(""));  // an empty Last-Event-ID is no Last-Event-ID
  c.drain();
  EXPECT_EQ(c.text, "retry: 3000\n\n");
}

TEST(EventHub, ResumeAfterAnIdReplaysExactlyWhatCameAfterIt) {
  EventHub hub(quiet());
  hub.publish(range(1, 10));
  Consumer c(hub.subscribe("4"));
  c.drain();
  EXPECT_EQ(events_of(c.text), ids(5, 10));
  EXPECT_EQ(c.text.rfind("retry: 3000\n\n", 0), 0u) << c.text;
  hub.publish(range(11, 11));
  c.drain();
  EXPECT_EQ(events_of(c.text), ids(5, 11));
  EXPECT_EQ(hub.counters().resumed, 1u);
}

TEST(EventHub, ResumeWithIdsThatHaveGapsStartsAfterTheGivenId) {
  EventHub hub(quiet());
  hub.publish({opened(10), opened(20), opened(30)});
  Consumer c(hub.subscribe("25"));
  c.drain();
  EXPECT_EQ(events_of(c.text), std::vector<std::string>{"30 opened"});
  Consumer latest(hub.subscribe("30"));
  latest.drain();
  EXPECT_TRUE(events_of(latest.text).empty());
}

TEST(EventHub, IdOlderThanTheHistoryGetsOneResetThenLiveEvents) {
  EventHubOptions o;
  o.history_events = 3;
  EventHub hub(quiet(o));
  hub.publish(range(1, 10));
  EXPECT_EQ(hub.counters().history_events, 3u);
  Consumer old(hub.subscribe("2"));
  old.drain();
  auto blocks = parse(old.text);
  ASSERT_EQ(events_of(old.text), std::vector<std::string>{"10 reset"}) << old.text;
  EXPECT_NE(old.text.find(R"("oldest":7)"), std::string::npos) << old.text;
  EXPECT_NE(old.text.find("no longer kept"), std::string::npos) << old.text;
  hub.publish(range(11, 11));
  old.drain();
  EXPECT_EQ(events_of(old.text), (std::vector<std::string>{"10 reset", "11 opened"}));
  // The last evicted id is still a point every later event is known from.
  Consumer edge(hub.subscribe("8"));
  edge.drain();
  EXPECT_EQ(events_of(edge.text), ids(9, 11));
  EXPECT_EQ(hub.counters().resets, 1u);
}

TEST(EventHub, HistoryIsBoundedByBytes) {
  EventHubOptions o;
  o.history_bytes = 1000;
  EventHub hub(quiet(o));
  hub.publish(range(1, 100, 100));  // ~130-byte frames
  auto c = hub.counters();
  EXPECT_LE(c.history_bytes, 1000u);
  EXPECT_GE(c.history_events, 6u);
  EXPECT_LE(c.history_events, 7u);
}

TEST(EventHub, MalformedUnknownAndFutureIdsGetReset) {
  EventHub empty(quiet());
  Consumer before(empty.subscribe("5"));
  before.drain();
  EXPECT_EQ(events_of(before.text), std::vector<std::string>{"<none> reset"});
  EXPECT_NE(before.text.find("not known to this server"), std::string::npos);

  EventHub hub(quiet());
  hub.publish(range(100, 105));
  for (const char* id : {"abc", "-3", "999", "99"}) {
    Consumer c(hub.subscribe(id));
    c.drain();
    EXPECT_EQ(events_of(c.text), std::vector<std::string>{"105 reset"}) << id << ": " << c.text;
  }
  Consumer garbage(hub.subscribe("abc"));
  garbage.drain();
  EXPECT_NE(garbage.text.find("'abc' is not an event id"), std::string::npos) << garbage.text;
}

TEST(EventHub, OnlyTheLatestQuotesIsKeptAndSentInIdOrder) {
  EventHub hub(quiet());
  hub.publish({opened(1), {2, "quotes", "{\"q\":2}"}, {3, "quotes", "{\"q\":3}"}, {4, "closed", "{}"},
               {5, "quotes", "{\"q\":5}"}, {6, "closed", "{}"}});
  EXPECT_EQ(hub.counters().history_events, 4u);  // 1, 4, 6 and the quotes of 5
  Consumer from1(hub.subscribe("1"));
  from1.drain();
  EXPECT_EQ(events_of(from1.text), (std::vector<std::string>{"4 closed", "5 quotes", "6 closed"}));
  EXPECT_NE(from1.text.find("{\"q\":5}"), std::string::npos);
  Consumer from5(hub.subscribe("5"));
  from5.drain();
  EXPECT_EQ(events_of(from5.text), std::vector<std::string>{"6 closed"});
  // Live: every quotes event as it comes.
  Consumer live(hub.subscribe(std::nullopt));
  hub.publish({{7, "quotes", "{}"}, {8, "quotes", "{}"}});
  live.drain();
  EXPECT_EQ(events_of(live.text), std::vector<std::string>{"8 quotes"});  // 7 superseded before it was read
}

TEST(EventHub, ASlowSubscriberIsDroppedWhileAFastOneGetsEverything) {
  EventHubOptions o;
  o.queue_bytes = 4096;
  EventHub hub(quiet(o));
  Consumer fast(hub.subscribe(std::nullopt)), slow(hub.subscribe(std::nullopt));
  fast.drain();
  slow.drain();
  for (std::int64_t id = 1; id <= 200; ++id) {
    hub.publish(range(id, id, 100));
    EXPECT_EQ(fast.drain(), Pull::Idle);
  }
  EXPECT_EQ(events_of(fast.text), ids(1, 200));
  EXPECT_EQ(slow.aborts, 1);
  EXPECT_EQ(slow.drain(), Pull::Abort);
  auto c = hub.counters();
  EXPECT_EQ(c.dropped, 1u);
  EXPECT_EQ(c.subscribers, 1u);
}

TEST(EventHub, ResumingReplayDoesNotCountAsBeingBehind) {
  EventHubOptions o;
  o.queue_bytes = 1024;
  EventHub hub(quiet(o));
  hub.publish(range(1, 100, 100));  // ~13 kB of history, more than the queue bound
  Consumer c(hub.subscribe("1"));
  hub.publish(range(101, 101));
  EXPECT_EQ(c.aborts, 0);
  c.drain();
  EXPECT_EQ(events_of(c.text), ids(2, 101));
}

TEST(EventHub, AReplayEvictedBeforeItWasReadDropsTheSubscriber) {
  EventHubOptions o;
  o.history_events = 5;
  EventHub hub(quiet(o));
  hub.publish(range(1, 5));
  Consumer c(hub.subscribe("1"));  // 2..5 to replay, not read yet
  hub.publish(range(6, 20));
  EXPECT_EQ(c.drain(), Pull::Abort);
  EXPECT_EQ(hub.counters().dropped, 1u);
}

TEST(EventHub, LiveSubscribersWithinTheirQueueBoundGetEventsPastTheHistoryBound) {
  EventHubOptions o;
  o.history_events = 2;
  EventHub hub(quiet(o));
  Consumer c(hub.subscribe(std::nullopt));
  c.drain();
  hub.publish(range(1, 10));  // one commit with more events than the history holds
  c.drain();
  EXPECT_EQ(events_of(c.text), ids(1, 10));
  hub.publish(range(11, 11));
  EXPECT_EQ(hub.counters().history_events, 2u);
}

TEST(EventHub, PublishNeverWaitsForASubscriberThatDoesNotRead) {
  EventHubOptions o;
  o.queue_bytes = 64 << 20;  // nobody is dropped here
  EventHub hub(quiet(o));
  Consumer stuck(hub.subscribe(std::nullopt));
  stuck.drain();  // then never again
  Consumer reader(hub.subscribe(std::nullopt));
  constexpr std::int64_t kEvents = 50'000;
  std::atomic<bool> done{false};
  std::thread t([&] {
    // Reads concurrently with the publisher, pulling when woken.
    for (;;) {
      bool finished = done;
      reader.wakes = 0;
      reader.drain();
      if (finished) return;
      while (reader.wakes == 0 && !done) std::this_thread::yield();
    }
  });
  for (std::int64_t id = 1; id <= kEvents; ++id) hub.publish(range(id, id, 40));
  done = true;
  t.join();
  EXPECT_EQ(hub.counters().published, static_cast<std::uint64_t>(kEvents));
  EXPECT_EQ(hub.counters().dropped, 0u);
  EXPECT_EQ(events_of(reader.text), ids(1, kEvents));  // in order, none twice, none skipped
  EXPECT_EQ(stuck.text, "retry: 3000\n\n");
}

TEST(EventHub, SubscribersOverTheLimitAreRefusedUntilOneLeaves) {
  EventHubOptions o;
  o.max_subscribers = 2;
  EventHub hub(quiet(o));
  auto a = hub.subscribe(std::nullopt);
  auto b = hub.subscribe(std::nullopt);
  ASSERT_TRUE(a.stream && b.stream);
  auto c = hub.subscribe(std::nullopt);
  EXPECT_FALSE(c.stream);
  EXPECT_NE(c.refused.find("at most 2"), std::string::npos) << c.refused;
  a.stream->close();
  b.stream.reset();  // destroyed without close(): also unsubscribed
  EXPECT_EQ(hub.counters().subscribers, 0u);
  EXPECT_TRUE(hub.subscribe(std::nullopt).stream);
  EXPECT_EQ(hub.counters().refused, 1u);
}

TEST(EventHub, HeartbeatCarriesTheLastIdSentAndFollowsPendingEvents) {
  EventHub hub(quiet());
  hub.publish(range(1, 3));
  Consumer c(hub.subscribe(std::nullopt));
  c.drain();
  hub.heartbeat();
  EXPECT_EQ(c.wakes, 1);
  c.drain();
  EXPECT_EQ(events_of(c.text), std::vector<std::string>{"3 heartbeat"});
  hub.publish(range(4, 4));
  hub.heartbeat();
  c.drain();
  EXPECT_EQ(events_of(c.text), (std::vector<std::string>{"3 heartbeat", "4 opened", "4 heartbeat"}));
  EXPECT_NE(c.text.find("data: {\"time\":"), std::string::npos) << c.text;
}

TEST(EventHub, HeartbeatsComeOnTheirOwn) {
  EventHubOptions o;
  o.heartbeat = 20ms;
  EventHub hub(o);
  Consumer c(hub.subscribe(std::nullopt));
  c.drain();
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (c.wakes == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  c.drain();
  EXPECT_EQ(events_of(c.text), std::vector<std::string>{"<none> heartbeat"});
}

TEST(EventHub, CloseEndsEverySubscriptionAndRefusesNewOnes) {
  EventHub hub(quiet());
  Consumer c(hub.subscribe(std::nullopt));
  c.drain();
  hub.close();
  EXPECT_EQ(c.wakes, 1);
  EXPECT_EQ(c.drain(), Pull::End);
  auto late = hub.subscribe(std::nullopt);
  EXPECT_FALSE(late.stream);
  EXPECT_NE(late.refused.find("shutting down"), std::string::npos);
  hub.publish(range(1, 1));  // nothing happens
  EXPECT_EQ(hub.counters().published, 0u);
}

TEST(EventHub, AnIdNotAboveTheLastIsNotSent) {
  EventHub hub(quiet());
  Consumer c(hub.subscribe(std::nullopt));
  hub.publish({opened(5), opened(5), opened(4), opened(6)});
  c.drain();
  EXPECT_EQ(events_of(c.text), (std::vector<std::string>{"5 opened", "6 opened"}));
}

TEST(EventHub, SubscriptionsOutliveTheHub) {
  std::shared_ptr<qc::ResponseStream> stream;
  {
    EventHub hub(quiet());
    stream = hub.subscribe(std::nullopt).stream;
  }
  qc::ResponseStream::Chunks chunks;
  EXPECT_EQ(stream->pull(chunks), Pull::End);
  stream->close();
}

}  // namespace
