#include "notify/webhook_body.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cctype>
#include <cmath>
#include <cstdio>

#include "text/json_string.h"
#include "text/ascii.h"

namespace qc {
namespace {

namespace json = boost::json;

std::optional<double> number(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_number()) return std::nullopt;
  return v->to_number<double>();
}

std::optional<std::string> text(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_string()) return std::nullopt;
  return std::string(v->as_string());
}

// 145.1 -> "145.10"
std::string price(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

// 3.5148 -> "+3.51 %", -10 -> "-10.00 %", 0.001 -> "0.00 %"
std::string percent(double v) {
  char buf[64];
  if (std::fabs(v) < 0.005)
    std::snprintf(buf, sizeof buf, "0.00 %%");
  else
    std::snprintf(buf, sizeof buf, "%+.2f %%", v);
  return buf;
}

std::string slack_escaped(std::string_view line) {
  std::string out;
  for (char c : line) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace

std::optional<WebhookFormat> parse_webhook_format(std::string_view text) {
  std::string v = ascii_lower(text);
  if (v == "json") return WebhookFormat::Json;
  if (v == "slack") return WebhookFormat::Slack;
  if (v == "discord") return WebhookFormat::Discord;
  return std::nullopt;
}

const char* webhook_format_name(WebhookFormat format) {
  switch (format) {
    case WebhookFormat::Json: return "json";
    case WebhookFormat::Slack: return "slack";
    case WebhookFormat::Discord: return "discord";
  }
  return "json";
}

std::string webhook_summary(const LiveEvent& event) {
  json::object position;
  {
    json::error_code ec;
    auto parsed = json::parse(event.data, ec);
    if (!ec && parsed.is_object()) position = std::move(parsed.as_object());
  }
  auto symbol = text(position, "symbol");
  auto entry = number(position, "entry_price");
  const std::string who = symbol ? *symbol : "event " + std::to_string(event.id);
  if (event.type == "closed") {
    auto pnl = number(position, "pnl");
    auto exit = number(position, "exit_price");
    auto notes = text(position, "notes");
    if (pnl && exit && entry && notes)
      return "QuantCrunch: closed " + who + " " + percent(*pnl) + " (" + *notes + ", entry " +
             price(*entry) + " \u2192 exit " + price(*exit) + ")";
  } else if (event.type == "opened") {
    auto target = number(position, "target_price");
    auto stop = number(position, "stop_loss");
    auto expected = number(position, "expected_profit");
    if (entry && target && stop && expected)
      return "QuantCrunch: opened " + who + " at " + price(*entry) + ", target " + price(*target) +
             " (" + percent(*expected) + "), stop " + price(*stop);
  }
  return "QuantCrunch: " + event.type + " " + who;
}

std::string webhook_body(WebhookFormat format, const LiveEvent& event) {
  std::string out;
  switch (format) {
    case WebhookFormat::Json:
      out = "{\"id\":" + std::to_string(event.id) + ",\"type\":";
      append_json_string(out, event.type);
      out += ",\"data\":";
      out += event.data.empty() ? std::string_view("null") : std::string_view(event.data);
      out += "}";
      break;
    case WebhookFormat::Slack:
      out = "{\"text\":";
      append_json_string(out, slack_escaped(webhook_summary(event)));
      out += "}";
      break;
    case WebhookFormat::Discord:
      out = "{\"content\":";
      append_json_string(out, webhook_summary(event));
      out += "}";
      break;
  }
  return out;
}

}  // namespace qc
