// What makes a webhook verifiable (SPEC §4.9): the HMAC-SHA256 of the exact
// body bytes with QC_WEBHOOK_SECRET, sent as
// `X-QuantCrunch-Signature: sha256=<64 lowercase hex digits>`.
#pragma once
#include <string>
#include <string_view>

namespace qc {

// Lowercase hex of HMAC-SHA256(key, data) (RFC 2104 with SHA-256).
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

// Lowercase hex of SHA-256(data).
std::string sha256_hex(std::string_view data);

// The header's value: "sha256=" + hmac_sha256_hex(secret, body).
std::string webhook_signature(std::string_view secret, std::string_view body);

}  // namespace qc
