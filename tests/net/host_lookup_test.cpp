// HostLookup (src/net/host_lookup.h): the bounded name lookup shared by the
// Redis connection and the webhook client. Only what does not depend on this
// machine's resolver is asserted here; the timeouts are covered where the
// lookups are used (tests/cache, tests/notify).
#include "net/host_lookup.h"

#include <gtest/gtest.h>

#include <chrono>

namespace {

using qc::HostLookup;
using Clock = std::chrono::steady_clock;

TEST(HostLookup, AnIpv4LiteralIsAnsweredAtOnceWithItsPort) {
  auto l = HostLookup::start("127.0.0.1", 6379);
  // A deadline already past: a literal never needs to wait.
  ASSERT_EQ(l->wait_until(Clock::now() - std::chrono::seconds(1)), HostLookup::Wait::Done);
  ASSERT_EQ(l->endpoints().size(), 1u);
  EXPECT_EQ(l->endpoints()[0].address().to_string(), "127.0.0.1");
  EXPECT_EQ(l->endpoints()[0].port(), 6379);
  EXPECT_TRUE(l->error().empty());
}

TEST(HostLookup, AnIpv6LiteralIsAnsweredAtOnce) {
  auto l = HostLookup::start("::1", 443);
  ASSERT_EQ(l->wait_until(Clock::now()), HostLookup::Wait::Done);
  ASSERT_EQ(l->endpoints().size(), 1u);
  EXPECT_TRUE(l->endpoints()[0].address().is_v6());
}

TEST(HostLookup, LocalhostResolvesToALoopbackAddress) {
  auto l = HostLookup::start("localhost", 80);
  ASSERT_EQ(l->wait_until(Clock::now() + std::chrono::seconds(20)), HostLookup::Wait::Done);
  ASSERT_FALSE(l->endpoints().empty()) << l->error();
  for (const auto& e : l->endpoints()) {
    EXPECT_TRUE(e.address().is_loopback()) << e.address().to_string();
    EXPECT_EQ(e.port(), 80);
  }
}

TEST(HostLookup, AnAbandonedLookupWakesItsWaiter) {
  auto l = HostLookup::start("localhost", 80);
  l->abandon();
  EXPECT_EQ(l->wait_until(Clock::now() + std::chrono::hours(1)), HostLookup::Wait::Abandoned);
}

}  // namespace
