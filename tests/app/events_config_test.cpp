// QC_EVENTS_* (GET /api/events): defaults, bounds, and errors naming the
// variable.
#include <gtest/gtest.h>

#include "app/config.h"

namespace {

std::string error_of(const qc::Variables& vars) {
  try {
    qc::parse_serve_config(vars, {});
  } catch (const qc::ConfigError& e) {
    return e.what();
  }
  return {};
}

TEST(EventsConfig, Defaults) {
  auto c = qc::parse_serve_config({}, {});
  EXPECT_EQ(c.events_max_subscribers, 10'000);
  EXPECT_EQ(c.events_history, 10'000);
  EXPECT_EQ(c.events_history_bytes, 16u << 20);
  EXPECT_EQ(c.events_queue_bytes, 4u << 20);
  EXPECT_EQ(c.events_heartbeat_ms, 15'000);
}

TEST(EventsConfig, ValuesWithinTheirBounds) {
  auto c = qc::parse_serve_config({{"QC_EVENTS_MAX_SUBSCRIBERS", "2"},
                                   {"QC_EVENTS_HISTORY", "0"},
                                   {"QC_EVENTS_HISTORY_BYTES", "1073741824"},
                                   {"QC_EVENTS_QUEUE_BYTES", "1024"},
                                   {"QC_EVENTS_HEARTBEAT_MS", "200"}},
                                  {});
  EXPECT_EQ(c.events_max_subscribers, 2);
  EXPECT_EQ(c.events_history, 0);
  EXPECT_EQ(c.events_history_bytes, 1u << 30);
  EXPECT_EQ(c.events_queue_bytes, 1024u);
  EXPECT_EQ(c.events_heartbeat_ms, 200);
}

TEST(EventsConfig, BadValuesNameTheVariableAndTheRange) {
  struct Case {
    const char* variable;
    const char* value;
    const char* range;
  } cases[] = {
      {"QC_EVENTS_MAX_SUBSCRIBERS", "0", "from 1 to 1048576"},
      {"QC_EVENTS_MAX_SUBSCRIBERS", "many", "from 1 to 1048576"},
      {"QC_EVENTS_HISTORY", "-1", "from 0 to 1000000"},
      {"QC_EVENTS_HISTORY_BYTES", "16M", "from 0 to 1073741824"},
      {"QC_EVENTS_QUEUE_BYTES", "100", "from 1024 to 1073741824"},
      {"QC_EVENTS_HEARTBEAT_MS", "0", "from 10 to 3600000"},
  };
  for (const auto& c : cases) {
    auto e = error_of({{c.variable, c.value}});
    EXPECT_EQ(e, std::string(c.variable) + " must be an integer " + c.range + ", got '" + c.value + "'") << e;
  }
}

TEST(EventsConfig, UsageListsTheVariables) {
  auto u = qc::serve_usage();
  for (const char* v : {"QC_EVENTS_MAX_SUBSCRIBERS", "QC_EVENTS_HISTORY", "QC_EVENTS_HISTORY_BYTES",
                        "QC_EVENTS_QUEUE_BYTES", "QC_EVENTS_HEARTBEAT_MS"})
    EXPECT_NE(u.find(v), std::string::npos) << v;
}

}  // namespace
