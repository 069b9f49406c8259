#include "log/redact.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "text/percent.h"
#include "text/ascii.h"

namespace qc {
namespace {

bool secret_parameter(std::string_view name) {
  static constexpr std::array<std::string_view, 9> names = {
      "apikey", "api_key", "password", "passwd", "pwd", "token", "access_token", "secret", "key"};
  std::string lower = ascii_lower(name);
  return std::find(names.begin(), names.end(), lower) != names.end();
}

// Masks the values of secret query parameters in `query` (after the '?').
std::string redact_query(std::string_view query) {
  std::string out;
  while (true) {
    auto amp = query.find('&');
    std::string_view piece = query.substr(0, amp);
    auto eq = piece.find('=');
    if (eq != std::string_view::npos && secret_parameter(piece.substr(0, eq)))
      out += std::string(piece.substr(0, eq)) + "=***";
    else
      out += piece;
    if (amp == std::string_view::npos) break;
    out += '&';
    query = query.substr(amp + 1);
  }
  return out;
}

}  // namespace

std::string redact_uri(std::string_view uri) {
  auto scheme = uri.find("://");
  auto start = scheme == std::string_view::npos ? 0 : scheme + 3;
  std::string out(uri.substr(0, start));
  std::string_view rest = uri.substr(start);
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    auto colon = rest.find(':');
    if (colon != std::string_view::npos && colon < at)
      out += std::string(rest.substr(0, colon)) + ":***";
    else
      out += "***";
    rest = rest.substr(at);
  }
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    out += rest.substr(0, q + 1);
    out += redact_query(rest.substr(q + 1));
  } else {
    out += rest;
  }
  return out;
}

std::vector<std::string> uri_secrets(std::string_view uri) {
  std::vector<std::string> out;
  auto scheme = uri.find("://");
  std::string_view rest = uri.substr(scheme == std::string_view::npos ? 0 : scheme + 3);
  auto at = rest.rfind('@');
  if (at == std::string_view::npos) return out;
  auto info = rest.substr(0, at);
  auto colon = info.find(':');
  if (colon == std::string_view::npos) return out;
  std::string_view password = info.substr(colon + 1);
  if (password.empty()) return out;
  out.emplace_back(password);
  if (auto decoded = percent_decode(password); decoded && *decoded != password) out.push_back(*decoded);
  std::size_t start = 0;
  for (std::size_t i = 0; i <= password.size(); ++i) {
    if (i == password.size() || std::string_view("@/:?").find(password[i]) != std::string_view::npos) {
      if (i - start >= 3 && i - start < password.size()) out.emplace_back(password.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

std::string redact_secret(std::string text, std::string_view secret) {
  if (secret.empty()) return text;
  for (std::size_t pos = 0; (pos = text.find(secret, pos)) != std::string::npos;) {
    text.replace(pos, secret.size(), "***");
    pos += 3;
  }
  return text;
}

}  // namespace qc
