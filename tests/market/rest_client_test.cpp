// The provider key goes only to the configured provider origin (SPEC §9):
// URL normalisation and origin comparison (src/market/polygon/endpoint.h),
// and RestClient refusing absolute URLs (a `next_url`) off that origin
// without connecting; stop() ending a request in flight.
#include "market/polygon/rest_client.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <string>

#include "fake_http_server.h"
#include "market/polygon/endpoint.h"

namespace {

using qc::parse_endpoint;
using qc::RestClient;
using qc::RetryPolicy;
using qc::testing::FakeHttpServer;
using namespace std::chrono_literals;

const char* const kKey = "QCKEYrestclienttest0123456789";

bool same(const std::string& a, const std::string& b) {
  auto ea = parse_endpoint(a), eb = parse_endpoint(b);
  EXPECT_TRUE(ea && eb) << a << " / " << b;
  return ea && eb && qc::same_origin(*ea, *eb);
}

RetryPolicy one_quick_attempt() {
  RetryPolicy p;
  p.max_attempts = 1;
  p.timeout = 5s;
  return p;
}

TEST(EndpointOrigin, SameHostOtherPortIsAnotherOrigin) {
  EXPECT_FALSE(same("https://api.massive.com", "https://api.massive.com:8443/v2/aggs"));
}

TEST(EndpointOrigin, OtherSchemeIsAnotherOrigin) {
  EXPECT_FALSE(same("https://api.massive.com", "http://api.massive.com/v2/aggs"));
  EXPECT_FALSE(same("http://127.0.0.1:8080", "https://127.0.0.1:8080/v2/aggs"));
}

TEST(EndpointOrigin, OtherHostIsAnotherOrigin) {
  EXPECT_FALSE(same("https://api.massive.com", "https://evil.example/v2/aggs"));
  EXPECT_FALSE(same("https://api.massive.com", "https://api.massive.com.evil.example/v2/aggs"));
  EXPECT_FALSE(same("https://api.massive.com", "https://massive.com/v2/aggs"));
}

TEST(EndpointOrigin, UserInfoNamingTheProviderIsNotTheHost) {
  EXPECT_FALSE(same("https://api.massive.com", "https://api.massive.com@evil.example/v2/aggs"));
  EXPECT_FALSE(same("https://api.massive.com", "https://api.massive.com:443@evil.example/"));
  auto e = parse_endpoint("https://api.massive.com@evil.example/v2/aggs");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->host, "evil.example");
  EXPECT_EQ(e->origin(), "https://evil.example");
}

TEST(EndpointOrigin, HostAndSchemeCompareCaseInsensitively) {
  EXPECT_TRUE(same("https://api.massive.com", "https://API.Massive.COM/v2/aggs?cursor=x"));
  EXPECT_TRUE(same("https://api.massive.com", "HTTPS://api.massive.com/v2/aggs"));
}

TEST(EndpointOrigin, ExplicitDefaultPortIsTheSameOrigin) {
  EXPECT_TRUE(same("https://api.massive.com", "https://api.massive.com:443/v2/aggs"));
  EXPECT_TRUE(same("https://api.massive.com:443", "https://api.massive.com/v2/aggs"));
  EXPECT_TRUE(same("http://api.massive.com", "http://api.massive.com:80/v2/aggs"));
  EXPECT_TRUE(same("https://api.massive.com", "https://api.massive.com:0443/v2/aggs"));
  EXPECT_FALSE(same("http://api.massive.com", "http://api.massive.com:443/v2/aggs"));
}

TEST(EndpointOrigin, PortOutOfRangeIsNotAUrl) {
  EXPECT_FALSE(parse_endpoint("https://api.massive.com:70000/"));
  EXPECT_FALSE(parse_endpoint("https://api.massive.com:0/"));
}

TEST(RestClientOrigin, NextUrlOnAnotherPortIsRefusedWithoutConnecting) {
  FakeHttpServer provider, other;
  RestClient client(provider.url(), kKey, one_quick_attempt());
  auto r = client.get(other.url() + "/v2/aggs/ticker/AAPL/range/1/minute/1/2?cursor=abc");
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.refused);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(other.connections(), 0u);
  EXPECT_EQ(provider.connections(), 0u);
}

TEST(RestClientOrigin, RefusalNamesTheOffendingOriginAndNeverTheKey) {
  FakeHttpServer provider;
  RestClient client(provider.url(), kKey, one_quick_attempt());
  auto r = client.get(std::string("https://api.massive.com@evil.example:8443/x?apiKey=") + kKey);
  EXPECT_TRUE(r.refused);
  EXPECT_NE(r.error.find("https://evil.example:8443"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("not followed"), std::string::npos) << r.error;
  EXPECT_EQ(r.error.find(kKey), std::string::npos) << r.error;
}

TEST(RestClientOrigin, NextUrlOnTheConfiguredOriginIsFollowedWithTheKey) {
  FakeHttpServer provider;
  provider.respond_with(200, R"({"results":[]})");
  RestClient client(provider.url(), kKey, one_quick_attempt());
  auto r = client.get("HTTP://127.0.0.1:" + std::to_string(provider.port()) + "/v2/next?cursor=1");
  EXPECT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(provider.requests().size(), 1u);
  EXPECT_NE(provider.requests()[0].find(std::string("Bearer ") + kKey), std::string::npos);
}

TEST(RestClientStop, StopEndsARequestInFlight) {
  FakeHttpServer provider;
  provider.hold("/");
  RetryPolicy p;
  p.timeout = 60s;
  RestClient client(provider.url(), kKey, p);
  auto result = std::async(std::launch::async, [&] { return client.get("/v1/marketstatus/now"); });
  ASSERT_TRUE(provider.wait_for_requests(1, 10s));
  client.stop();
  ASSERT_EQ(result.wait_for(10s), std::future_status::ready) << "stop() did not end the request";
  auto r = result.get();
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.error.find("stopped"), std::string::npos) << r.error;
  EXPECT_EQ(provider.requests().size(), 1u) << "retried after stop()";
}

TEST(RestClientStop, RequestsAfterStopMakeNoConnection) {
  FakeHttpServer provider;
  RestClient client(provider.url(), kKey, one_quick_attempt());
  client.stop();
  EXPECT_FALSE(client.get("/v1/marketstatus/now").ok());
  EXPECT_EQ(provider.connections(), 0u);
}

}  // namespace
