// TLS of the MongoDB adapter.
//
// libmongoc 1.23 (built with OpenSSL) applies a URI's TLS options itself, to
// a pool (mongoc_client_pool_new) and to a single client
// (mongoc_client_new_from_uri) alike: tls / ssl, tlsCAFile (else the system
// CAs), tlsCertificateKeyFile (+Password), tlsAllowInvalidCertificates,
// tlsAllowInvalidHostnames, tlsInsecure; mongodb+srv:// turns tls on unless
// the URI says tls=false. Nothing here changes that: no
// mongoc_client_pool_set_ssl_opts, which would replace the URI's settings.
//
// What libmongoc does not do is say clearly why a TLS connection failed:
// through a pool it reports "No suitable servers found: `serverSelectionTimeoutMS`
// expired: [TLS handshake failed: Connection timed out]" for a server that
// does not speak TLS, "Failed to read 4 bytes" for a TLS server reached
// without TLS, "Broken pipe" for a missing client certificate, and never names
// the host. After a failure, probe() repeats one handshake with the same
// settings through OpenSSL, bounded in time, and names the reason.
#pragma once
#include <mongoc/mongoc.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace qc::mongo {

struct TlsSettings {
  bool enabled = false;
  std::string ca_file;                   // empty: the system CAs (OpenSSL's default paths)
  std::string certificate_key_file;      // client certificate and key (PEM), or empty
  std::string certificate_key_password;  // a secret: never in a message
  bool allow_invalid_certificates = false;
  bool allow_invalid_hostnames = false;
  bool insecure = false;  // tlsInsecure: both of the above
};

// The TLS settings libmongoc takes from `uri` (its own option names and
// defaults, including mongodb+srv:// implying TLS).
TlsSettings tls_settings(const mongoc_uri_t* uri);

// For the startup line: "over plain TCP", "over TLS (certificate verified
// against /path/ca.pem)", "over TLS (certificate verified against the system
// CAs)", "over TLS (certificate NOT verified: tlsAllowInvalidCertificates)",
// with "; host name NOT checked: tlsAllowInvalidHostnames" and "; client
// certificate /path" when they apply. Never the key password.
std::string describe_transport(const TlsSettings& tls);

// Why the files named by the settings cannot be used ("" when they can):
// a tlsCAFile that cannot be read or holds no certificate, a
// tlsCertificateKeyFile without a certificate, without its key, or whose key
// the password does not open. libmongoc would log such a problem once per
// connection attempt and then fail with "Failed initialize TLS state."
std::string tls_files_problem(const TlsSettings& tls);

// Connects to host:port and does the TLS handshake libmongoc would do with
// `tls` (CA file or system CAs, host name check, client certificate, SNI),
// all within `timeout`. Returns the reason it fails, in words ("certificate
// verify failed: ...", "host name mismatch: ...", "not a TLS server: ...",
// "protocol: ...", "the server requires a client certificate ..."), or ""
// when the handshake and the checks pass, or when host:port cannot even be
// connected to (then TLS is not the problem).
std::string tls_handshake_problem(const std::string& host, std::uint16_t port,
                                  const TlsSettings& tls, std::chrono::milliseconds timeout);

// True when host:port completes a TLS handshake (certificate not checked):
// for a connection made without TLS that the server closed.
bool answers_tls(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout);

}  // namespace qc::mongo
