// The pure parts of webhooks (SPEC §4.9): the signature (RFC 4231 vectors and
// one computed with Python's hmac), the bodies of each format byte for byte,
// the retry delays' bounds, and what a webhook URL may be.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>

#include "core/render.h"
#include "notify/retry_delay.h"
#include "notify/webhook_body.h"
#include "notify/webhook_endpoint.h"
#include "notify/webhook_signature.h"

namespace {

using namespace std::chrono_literals;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// ---- signature ------------------------------------------------------------------

TEST(WebhookSignature, Rfc4231TestVectors) {
  // RFC 4231 §4.2 (test case 1), §4.3 (2) and §4.7 (6: a key longer than the block).
  EXPECT_EQ(qc::hmac_sha256_hex(std::string(20, '\x0b'), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(qc::hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(qc::hmac_sha256_hex(std::string(131, '\xaa'),
                                "Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(WebhookSignature, HeaderValueIsSha256EqualsTheHmacOfTheExactBody) {
  // python3 -c "import hmac,hashlib; print(hmac.new(b'whsec-test-0123456789', BODY, hashlib.sha256).hexdigest())"
  const std::string body = R"({"id":1714521600000001,"type":"closed","data":{"symbol":"AAPL","pnl":3.5}})";
  EXPECT_EQ(qc::webhook_signature("whsec-test-0123456789", body),
            "sha256=ff3a5c02133caddb111a02def6b4d3ee99d1c13b988179e47f35fad41f25de4b");
  // One byte more is another signature.
  EXPECT_NE(qc::webhook_signature("whsec-test-0123456789", body + " "),
            qc::webhook_signature("whsec-test-0123456789", body));
  EXPECT_EQ(qc::hmac_sha256_hex("", "").size(), 64u);
}

TEST(WebhookSignature, Sha256) {
  EXPECT_EQ(qc::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(qc::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

// ---- bodies -----------------------------------------------------------------------

qc::OpenPosition aapl() {
  qc::OpenPosition p;
  p.symbol = "AAPL";
  p.open_timestamp = 1626101940;
  p.entry_price = 145.1;
  p.target_price = 150.2;
  p.stop_loss = 145.1 * 0.9;
  p.expected_profit = (150.2 - 145.1) / 145.1 * 100;
  return p;
}

qc::LiveEvent opened_event() {
  return {1714521600000001, "opened", qc::render_marked_position(aapl(), std::nullopt)};
}

qc::LiveEvent closed_event(double exit, qc::CloseReason reason, std::string symbol = "AAPL") {
  qc::ClosedPosition c;
  c.position = aapl();
  c.position.symbol = std::move(symbol);
  c.exit_price = exit;
  c.close_timestamp = 1626102000;
  c.pnl = (exit - c.position.entry_price) / c.position.entry_price * 100;
  c.reason = reason;
  return {1714521600000002, "closed", qc::render_closed_position(c)};
}

TEST(WebhookBody, JsonCarriesTheIdTypeAndThePositionAsRendered) {
  auto closed = closed_event(150.2, qc::CloseReason::TargetPrice);
  EXPECT_EQ(qc::webhook_body(qc::WebhookFormat::Json, closed),
            "{\"id\":1714521600000002,\"type\":\"closed\",\"data\":" + closed.data + "}");
  EXPECT_EQ(closed.data,
            R"({"symbol":"AAPL","target_price":150.2,"entry_price":145.1,"open_timestamp":1626101940,)"
            R"("stop_loss":130.59,"pnl":3.51481736733287,"notes":"Reached target price",)"
            R"("close_timestamp":1626102000,"exit_price":150.2})");
  auto opened = opened_event();
  EXPECT_EQ(qc::webhook_body(qc::WebhookFormat::Json, opened),
            "{\"id\":1714521600000001,\"type\":\"opened\",\"data\":" + opened.data + "}");
  // The same event, the same bytes (so the same signature on every retry).
  EXPECT_EQ(qc::webhook_body(qc::WebhookFormat::Json, opened), qc::webhook_body(qc::WebhookFormat::Json, opened));
}

TEST(WebhookBody, OneLineForPeople) {
  EXPECT_EQ(qc::webhook_summary(closed_event(150.2, qc::CloseReason::TargetPrice)),
            "QuantCrunch: closed AAPL +3.51 % (Reached target price, entry 145.10 \u2192 exit 150.20)");
  EXPECT_EQ(qc::webhook_summary(closed_event(145.1 * 0.9, qc::CloseReason::StopLoss)),
            "QuantCrunch: closed AAPL -10.00 % (Reached stop loss, entry 145.10 \u2192 exit 130.59)");
  EXPECT_EQ(qc::webhook_summary(closed_event(145.1, qc::CloseReason::TargetPrice)),
            "QuantCrunch: closed AAPL 0.00 % (Reached target price, entry 145.10 \u2192 exit 145.10)");
  EXPECT_EQ(qc::webhook_summary(opened_event()),
            "QuantCrunch: opened AAPL at 145.10, target 150.20 (+3.51 %), stop 130.59");
  // Data without the expected fields still gets a line.
  EXPECT_EQ(qc::webhook_summary({7, "closed", R"({"symbol":"NVDA"})"}), "QuantCrunch: closed NVDA");
  EXPECT_EQ(qc::webhook_summary({7, "opened", "not json"}), "QuantCrunch: opened event 7");
}

TEST(WebhookBody, SlackAndDiscordShapes) {
  auto closed = closed_event(150.2, qc::CloseReason::TargetPrice);
  EXPECT_EQ(qc::webhook_body(qc::WebhookFormat::Slack, closed),
            "{\"text\":\"QuantCrunch: closed AAPL +3.51 % (Reached target price, entry 145.10 \u2192 exit "
            "150.20)\"}");
  EXPECT_EQ(qc::webhook_body(qc::WebhookFormat::Discord, closed),
            "{\"content\":\"QuantCrunch: closed AAPL +3.51 % (Reached target price, entry 145.10 \u2192 "
            "exit 150.20)\"}");
  EXPECT_EQ(qc::webhook_body(qc::WebhookFormat::Discord, opened_event()),
            "{\"content\":\"QuantCrunch: opened AAPL at 145.10, target 150.20 (+3.51 %), stop 130.59\"}");
}

TEST(WebhookBody, SlackControlCharactersAreEscapedAndJsonStaysValid) {
  auto e = closed_event(150.2, qc::CloseReason::TargetPrice, "A<B>&\"C");
  EXPECT_EQ(qc::webhook_body(qc::WebhookFormat::Slack, e),
            "{\"text\":\"QuantCrunch: closed A&lt;B&gt;&amp;\\\"C +3.51 % (Reached target price, entry 145.10 "
            "\u2192 exit 150.20)\"}");
  EXPECT_TRUE(contains(qc::webhook_body(qc::WebhookFormat::Discord, e), "A<B>&\\\"C"));
}

TEST(WebhookBody, FormatNames) {
  EXPECT_EQ(qc::parse_webhook_format("json"), qc::WebhookFormat::Json);
  EXPECT_EQ(qc::parse_webhook_format("Slack"), qc::WebhookFormat::Slack);
  EXPECT_EQ(qc::parse_webhook_format("DISCORD"), qc::WebhookFormat::Discord);
  EXPECT_EQ(qc::parse_webhook_format("teams"), std::nullopt);
  EXPECT_EQ(qc::parse_webhook_format(""), std::nullopt);
  EXPECT_STREQ(qc::webhook_format_name(qc::WebhookFormat::Discord), "discord");
}

// ---- retry delays -----------------------------------------------------------------

TEST(WebhookRetryDelay, FullJitterBetweenZeroAndTheCappedExponentialCeiling) {
  const auto first = 1000ms, cap = 300'000ms;
  // The ceiling doubles from 1 s and stops at 5 min.
  const std::chrono::milliseconds ceilings[] = {1000ms,   2000ms,   4000ms,   8000ms,   16000ms,
                                                32000ms,  64000ms,  128000ms, 256000ms, 300000ms,
                                                300000ms, 300000ms};
  for (unsigned attempt = 0; attempt < std::size(ceilings); ++attempt) {
    SCOPED_TRACE(attempt);
    EXPECT_EQ(qc::retry_delay(attempt, first, cap, 0.0), 0ms);
    EXPECT_EQ(qc::retry_delay(attempt, first, cap, 1.0), ceilings[attempt]);
    EXPECT_EQ(qc::retry_delay(attempt, first, cap, 0.5), ceilings[attempt] / 2);
  }
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (unsigned attempt = 0; attempt < 200; ++attempt)
    for (int i = 0; i < 20; ++i) {
      auto d = qc::retry_delay(attempt, first, cap, unit(rng));
      EXPECT_GE(d, 0ms);
      const std::chrono::milliseconds ceiling = first * (std::int64_t{1} << std::min(attempt, 20u));
      EXPECT_LE(d, std::min(cap, ceiling));
    }
}

TEST(WebhookRetryDelay, HugeAttemptsAndOddInputsStayInBounds) {
  EXPECT_EQ(qc::retry_delay(4'000'000'000u, 1000ms, 300'000ms, 1.0), 300'000ms);
  EXPECT_EQ(qc::retry_delay(3, 1000ms, 300'000ms, 7.0), 8000ms);   // unit clamped to 1
  EXPECT_EQ(qc::retry_delay(3, 1000ms, 300'000ms, -1.0), 0ms);     // and to 0
  EXPECT_EQ(qc::retry_delay(3, 1000ms, 300'000ms, std::nan("")), 0ms);
  EXPECT_EQ(qc::retry_delay(0, 10ms, 5ms, 1.0), 5ms);              // a first delay above the cap
}

// ---- URLs -------------------------------------------------------------------------

TEST(WebhookUrl, HttpsUrlIsSplitAndNamedByOriginOnly) {
  const std::string url = "https://hooks.slack.com/services/T000/B000/XXXX";
  auto e = qc::parse_webhook_url(url, 1);
  EXPECT_EQ(e.url, url);
  EXPECT_TRUE(e.tls);
  EXPECT_EQ(e.host, "hooks.slack.com");
  EXPECT_EQ(e.port, "443");
  EXPECT_EQ(e.target, "/services/T000/B000/XXXX");
  EXPECT_EQ(e.host_header, "hooks.slack.com");
  EXPECT_EQ(e.origin, "https://hooks.slack.com");
  EXPECT_EQ(e.name, "https://hooks.slack.com#1");
  // python3 -c "import hashlib; print(hashlib.sha256(b'https://hooks.slack.com/services/T000/B000/XXXX').hexdigest())"
  EXPECT_EQ(e.key, "9fbe5ae849f40a22b9265c1d366bd3d657eeee490b8e64d877849c8c188ec725");
}

TEST(WebhookUrl, PortsQueriesIpv6AndCase) {
  auto a = qc::parse_webhook_url("HTTP://Example.ORG:8080/a/b?token=xyz&x=1", 2);
  EXPECT_FALSE(a.tls);
  EXPECT_EQ(a.host, "example.org");
  EXPECT_EQ(a.port, "8080");
  EXPECT_EQ(a.target, "/a/b?token=xyz&x=1");
  EXPECT_EQ(a.host_header, "example.org:8080");
  EXPECT_EQ(a.name, "http://example.org:8080#2");
  auto b = qc::parse_webhook_url("http://[::1]:9000", 3);
  EXPECT_EQ(b.host, "::1");
  EXPECT_EQ(b.target, "/");
  EXPECT_EQ(b.host_header, "[::1]:9000");
  EXPECT_EQ(b.origin, "http://[::1]:9000");
  auto c = qc::parse_webhook_url("https://127.0.0.1:443/x", 1);
  EXPECT_EQ(c.origin, "https://127.0.0.1");
  EXPECT_EQ(c.port, "443");
}

TEST(WebhookUrl, RefusedWithAReasonThatQuotesNoSecret) {
  struct Case {
    const char* url;
    const char* says;
  };
  const Case cases[] = {
      {"ftp://files.example/secret-path", "scheme 'ftp'"},
      {"hooks.slack.com/services/secret-path", "not a URL"},
      {"javascript://x/secret-path", "scheme 'javascript'"},
      {"https://user:secret-pw@example.org/secret-path", "user info"},
      {"https://example.org/secret-path#frag", "fragment"},
      {"https://example.org:0/secret-path", "port"},
      {"https://example.org:99999/secret-path", "port"},
      {"https:///secret-path", "host"},
      {"https://exa mple.org/secret-path", "not a valid URL"},
      {"https://ex%22ample.org/secret-path", "host name"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.url);
    try {
      qc::parse_webhook_url(c.url, 4);
      ADD_FAILURE() << "accepted";
    } catch (const qc::WebhookUrlError& e) {
      std::string what = e.what();
      EXPECT_TRUE(contains(what, c.says)) << what;
      EXPECT_TRUE(contains(what, "entry 4")) << what;
      EXPECT_FALSE(contains(what, "secret")) << what;
    }
  }
}

TEST(WebhookUrl, SecretsForTheLogRedactorAreThePathAndItsLongPieces) {
  auto e = qc::parse_webhook_url(
      "https://discord.com/api/webhooks/123456789012345678/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", 1);
  auto secrets = qc::webhook_url_secrets(e);
  ASSERT_FALSE(secrets.empty());
  EXPECT_EQ(secrets[0], e.target);
  EXPECT_NE(std::find(secrets.begin(), secrets.end(), "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"), secrets.end());
  EXPECT_NE(std::find(secrets.begin(), secrets.end(), "123456789012345678"), secrets.end());
  for (const auto& s : secrets) EXPECT_NE(s, "webhooks") << "a word is not a secret";
  EXPECT_TRUE(qc::webhook_url_secrets(qc::parse_webhook_url("http://127.0.0.1:9/", 1)).empty());
}

}  // namespace
