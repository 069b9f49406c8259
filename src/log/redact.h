// The one redactor for secrets in text that may reach a log line, an error
// message or /readyz (SPEC §3, §9).
#pragma once
#include <string>
#include <string_view>

namespace qc {

// "scheme://user:secret@host/..." -> "scheme://user:***@host/...".
// The user info runs to the LAST '@' of the URI: a password may itself hold
// '/', '@', ':' or '?' when its writer did not percent-encode them, so no part
// of it is ever quoted (over-redacting a URI with an '@' in its query is the
// price). Values of query parameters that carry secrets (apiKey, password,
// token, secret, key, ...) are replaced too. Without "://" the text is read as
// user info and host ("secret@host" -> "***@host").
std::string redact_uri(std::string_view uri);

// Replaces every occurrence of `secret` (an API key, a token) in `text`.
std::string redact_secret(std::string text, std::string_view secret);

}  // namespace qc
