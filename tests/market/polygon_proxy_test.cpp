// The chart proxy (src/market/polygon/polygon_proxy.h) against a fake
// provider that holds requests unanswered: every caller is answered exactly
// once — coalesced, refused as busy, or with 503 when the proxy stops or is
// destroyed, without waiting for the provider's timeout. (Coalescing, the
// bound and market status under load are also tested end to end in
// tests/market/test_polygon.py.)
#include "market/polygon/polygon_proxy.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fake_http_server.h"

namespace {

using qc::AggregatesQuery;
using qc::PolygonProxy;
using qc::ProxyAnswer;
using qc::ProxyOptions;
using qc::testing::FakeHttpServer;
using namespace std::chrono_literals;

const char* const kAggs = "/v2/aggs/";

AggregatesQuery query(int i) {
  AggregatesQuery q;
  q.symbol = "AAPL";
  q.timespan = "minute";
  q.from = "1717767000000";
  q.to = std::to_string(1717767240000 + i);
  return q;
}

// Records every answer; counts calls per caller.
class Answers {
 public:
  std::function<void(ProxyAnswer)> caller() {
    std::lock_guard lock(mutex_);
    std::size_t i = calls_.size();
    calls_.push_back(0);
    answers_.emplace_back();
    return [this, i](ProxyAnswer a) {
      std::lock_guard lock(mutex_);
      ++calls_[i];
      answers_[i] = std::move(a);
    };
  }
  std::vector<int> calls() {
    std::lock_guard lock(mutex_);
    return calls_;
  }
  std::vector<ProxyAnswer> answers() {
    std::lock_guard lock(mutex_);
    return answers_;
  }
  bool all_answered(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      {
        std::lock_guard lock(mutex_);
        if (std::all_of(calls_.begin(), calls_.end(), [](int c) { return c > 0; })) return true;
      }
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(5ms);
    }
  }

 private:
  std::mutex mutex_;
  std::vector<int> calls_;
  std::vector<ProxyAnswer> answers_;
};

ProxyOptions slow_provider_options() {
  ProxyOptions o;
  o.retry.timeout = 60s;  // far longer than any test: answers must not wait for it
  o.retry.max_attempts = 1;
  o.fetch_threads = 2;
  o.max_pending_fetches = 4;
  return o;
}

TEST(PolygonProxy, IdenticalMissesInFlightShareOneProviderRequest) {
  FakeHttpServer provider;
  provider.respond_with(200, R"({"results":[{"t":1,"o":1,"h":1,"l":1,"c":1,"v":1}]})");
  provider.hold(kAggs);
  PolygonProxy proxy(provider.url(), "key", slow_provider_options());
  Answers answers;
  for (int i = 0; i < 10; ++i) proxy.aggregates(query(0), answers.caller());
  ASSERT_TRUE(provider.wait_for_requests(1, 10s, kAggs));
  provider.release();
  ASSERT_TRUE(answers.all_answered(10s));
  for (const auto& a : answers.answers()) EXPECT_EQ(a.status, 200u) << a.body;
  EXPECT_EQ(provider.count(kAggs), 1u);
  auto stats = proxy.cache_stats();
  EXPECT_EQ(stats.coalesced, 9u);
  EXPECT_EQ(stats.misses, 10u);
}

TEST(PolygonProxy, DistinctFetchesBeyondTheBoundAreAnsweredBusyAtOnce) {
  FakeHttpServer provider;
  provider.hold(kAggs);
  PolygonProxy proxy(provider.url(), "key", slow_provider_options());  // 4 pending at most
  Answers answers;
  for (int i = 0; i < 4; ++i) proxy.aggregates(query(i), answers.caller());
  proxy.aggregates(query(4), answers.caller());
  auto calls = answers.calls();
  EXPECT_EQ(calls, (std::vector<int>{0, 0, 0, 0, 1})) << "the fifth was not answered at once";
  EXPECT_EQ(answers.answers()[4].status, 503u);
  EXPECT_NE(answers.answers()[4].body.find("busy"), std::string::npos);
  EXPECT_EQ(proxy.cache_stats().busy, 1u);
  provider.release();
  ASSERT_TRUE(answers.all_answered(10s));
}

TEST(PolygonProxy, MarketStatusIsAnsweredWhileAggregatesAreSaturated) {
  FakeHttpServer provider;
  provider.respond_with(200, R"({"market":"open"})");
  provider.hold(kAggs);
  PolygonProxy proxy(provider.url(), "key", slow_provider_options());
  Answers aggregates, status;
  for (int i = 0; i < 8; ++i) proxy.aggregates(query(i), aggregates.caller());
  ASSERT_TRUE(provider.wait_for_requests(2, 10s, kAggs));
  proxy.market_status(status.caller());
  ASSERT_TRUE(status.all_answered(10s)) << "market status waited behind aggregates";
  EXPECT_EQ(status.answers()[0].status, 200u);
  EXPECT_EQ(status.answers()[0].body, R"({"market":"open"})");
  provider.release();
  ASSERT_TRUE(aggregates.all_answered(10s));
}

TEST(PolygonProxy, StopAnswersEveryWaiterExactlyOnceWith503) {
  FakeHttpServer provider;
  provider.hold("/");
  PolygonProxy proxy(provider.url(), "key", slow_provider_options());
  Answers answers;
  for (int i = 0; i < 4; ++i)
    proxy.aggregates(query(i), answers.caller());  // 2 in flight, 2 queued
  for (int i = 0; i < 3; ++i) proxy.aggregates(query(0), answers.caller());  // coalesced
  proxy.market_status(answers.caller());
  ASSERT_TRUE(provider.wait_for_requests(3, 10s));
  proxy.stop();
  ASSERT_TRUE(answers.all_answered(10s));
  proxy.aggregates(query(9), answers.caller());  // after stop: answered at once
  provider.release();
  std::this_thread::sleep_for(200ms);  // a late provider answer must not answer anyone again
  EXPECT_EQ(answers.calls(), std::vector<int>(9, 1));
  for (const auto& a : answers.answers()) EXPECT_EQ(a.status, 503u) << a.body;
}

TEST(PolygonProxy, DestructionAnswersWaitersWithoutWaitingForTheProvider) {
  FakeHttpServer provider;
  provider.hold("/");
  auto proxy = std::make_unique<PolygonProxy>(provider.url(), "key", slow_provider_options());
  Answers answers;
  for (int i = 0; i < 6; ++i) proxy->aggregates(query(i), answers.caller());
  ASSERT_TRUE(provider.wait_for_requests(2, 10s));
  auto destroyed = std::async(std::launch::async, [&] { proxy.reset(); });
  // The provider would hold these for the 60 s timeout.
  ASSERT_EQ(destroyed.wait_for(10s), std::future_status::ready) << "the destructor waited";
  EXPECT_EQ(answers.calls(), std::vector<int>(6, 1));
  for (const auto& a : answers.answers()) EXPECT_EQ(a.status, 503u);
}

}  // namespace
