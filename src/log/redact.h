// The one redactor for secrets in text that may reach a log line, an error
// message or /readyz (SPEC §3, §9).
#pragma once
#include <string>
#include <string_view>
#include <vector>

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

// The forms in which a URI's password may show up in a third party's message
// (libmongoc quotes it, or parts of it, when it cannot parse the URI): the
// password as written, percent-decoded, and each piece of it between '@',
// '/', ':' and '?' of 3 characters or more. Empty without a password.
std::vector<std::string> uri_secrets(std::string_view uri);

}  // namespace qc
