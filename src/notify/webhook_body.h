// What a webhook POST carries (SPEC §4.9), for one outbox event. The body of
// an event is a function of the event alone: every retry sends the same
// bytes (so the same signature), whatever the time or the attempt.
//
//  - json (default): {"id": <event id>, "type": "opened"|"closed",
//    "data": <the position, exactly as the ledger rendered it: SPEC §4.6
//    shape for opened, §4.3 closed-position shape for closed>};
//  - slack: {"text": "<one line>"} (Slack incoming webhooks; &, < and > are
//    escaped as Slack's mrkdwn requires);
//  - discord: {"content": "<one line>"} (Discord webhooks).
// The line is webhook_summary(): "QuantCrunch: closed AAPL +3.51 % (Reached
// target price, entry 145.10 → exit 150.20)", prices to cents, percents to
// two places.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "core/live_event.h"

namespace qc {

enum class WebhookFormat { Json, Slack, Discord };

// "json", "slack", "discord" (any case); nullopt otherwise.
std::optional<WebhookFormat> parse_webhook_format(std::string_view text);
const char* webhook_format_name(WebhookFormat format);

std::string webhook_body(WebhookFormat format, const LiveEvent& event);

// One line for people. An event whose data lacks the expected fields still
// gets a line (type, symbol if any, id).
std::string webhook_summary(const LiveEvent& event);

}  // namespace qc
