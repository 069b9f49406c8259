#include "store/mongo/tls_check.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <memory>

namespace qc::mongo {

TlsSettings tls_settings(const mongoc_uri_t* uri) {
  TlsSettings s;
  s.enabled = mongoc_uri_get_tls(uri);
  auto text = [&](const char* option) {
    const char* v = mongoc_uri_get_option_as_utf8(uri, option, nullptr);
    return v ? std::string(v) : std::string();
  };
  // libmongoc stores the deprecated ssl* spellings under these tls* names.
  s.ca_file = text(MONGOC_URI_TLSCAFILE);
  s.certificate_key_file = text(MONGOC_URI_TLSCERTIFICATEKEYFILE);
  s.certificate_key_password = text(MONGOC_URI_TLSCERTIFICATEKEYFILEPASSWORD);
  s.insecure = mongoc_uri_get_option_as_bool(uri, MONGOC_URI_TLSINSECURE, false);
  s.allow_invalid_certificates =
      mongoc_uri_get_option_as_bool(uri, MONGOC_URI_TLSALLOWINVALIDCERTIFICATES, s.insecure);
  s.allow_invalid_hostnames =
      mongoc_uri_get_option_as_bool(uri, MONGOC_URI_TLSALLOWINVALIDHOSTNAMES, s.insecure);
  return s;
}

std::string describe_transport(const TlsSettings& tls) {
  if (!tls.enabled) return "over plain TCP";
  std::string out = "over TLS (";
  if (tls.allow_invalid_certificates) {
    out += std::string("certificate NOT verified: ") +
           (tls.insecure ? "tlsInsecure" : "tlsAllowInvalidCertificates");
  } else {
    out += "certificate verified against " + (tls.ca_file.empty() ? "the system CAs" : tls.ca_file);
    if (tls.allow_invalid_hostnames) out += "; host name NOT checked: tlsAllowInvalidHostnames";
  }
  if (!tls.certificate_key_file.empty()) out += "; client certificate " + tls.certificate_key_file;
  return out + ")";
}

namespace {

using Clock = std::chrono::steady_clock;

struct CtxFree {
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};
struct SslFree {
  void operator()(SSL* p) const { SSL_free(p); }
};
using Ctx = std::unique_ptr<SSL_CTX, CtxFree>;
using Ssl = std::unique_ptr<SSL, SslFree>;

// OpenSSL's per-thread error queue is shared with libmongoc: whatever this
// file leaves there is cleared when the scope ends.
struct ErrorQueueScope {
  ErrorQueueScope() { ERR_clear_error(); }
  ~ErrorQueueScope() { ERR_clear_error(); }
};

// The reason of the last OpenSSL error, e.g. "wrong version number".
std::string openssl_reason(unsigned long e) {
  if (!e) return "no detail";
  const char* r = ERR_reason_error_string(e);
  if (r) return r;
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

unsigned long last_error() {
  unsigned long last = 0;
  while (unsigned long e = ERR_get_error()) last = e;
  return last;
}

// Never a terminal prompt for an encrypted key: the URI's password or none.
int password_callback(char* buf, int size, int, void* userdata) {
  const auto* password = static_cast<const std::string*>(userdata);
  if (!password || password->empty() || size <= 0) return 0;
  int n = static_cast<int>(std::min<std::size_t>(password->size(), static_cast<std::size_t>(size)));
  std::memcpy(buf, password->data(), static_cast<std::size_t>(n));
  return n;
}

bool use_client_certificate(SSL_CTX* ctx, const TlsSettings& tls) {
  SSL_CTX_set_default_passwd_cb(ctx, password_callback);
  SSL_CTX_set_default_passwd_cb_userdata(ctx,
                                         const_cast<std::string*>(&tls.certificate_key_password));
  return SSL_CTX_use_certificate_chain_file(ctx, tls.certificate_key_file.c_str()) == 1 &&
         SSL_CTX_use_PrivateKey_file(ctx, tls.certificate_key_file.c_str(), SSL_FILETYPE_PEM) == 1;
}

// Blocks SIGPIPE on this thread while a probe writes to a socket the peer may
// have closed, and swallows one raised meanwhile (as libpq does); the
// process's signal handling is left alone.
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &old_);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
  }
  ~SigpipeBlock() {
    int saved_errno = errno;
    if (!was_pending_) {
      sigset_t pending;
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        timespec zero{};
        while (sigtimedwait(&set, nullptr, &zero) < 0 && errno == EINTR) {
        }
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    errno = saved_errno;
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

 private:
  sigset_t old_{};
  bool was_pending_ = false;
};

class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(Socket&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Socket& operator=(Socket&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  int get() const { return fd_; }

 private:
  int fd_ = -1;
};

int remaining_ms(Clock::time_point deadline) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return ms > 0 ? static_cast<int>(std::min<long long>(ms, INT_MAX)) : 0;
}

// Waits until `fd` is ready for `events`; false at the deadline.
bool wait_ready(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    int ms = remaining_ms(deadline);
    if (ms <= 0) return false;
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, ms);
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) return false;
  }
}

// A connected non-blocking socket to host:port, or none.
Socket connect_to(const std::string& host, std::uint16_t port, Clock::time_point deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return {};
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> hold(found, ::freeaddrinfo);
  for (addrinfo* ai = found; ai && remaining_ms(deadline) > 0; ai = ai->ai_next) {
    Socket s(
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
    if (s.get() < 0) continue;
    if (::connect(s.get(), ai->ai_addr, ai->ai_addrlen) == 0) return s;
    if (errno != EINPROGRESS || !wait_ready(s.get(), POLLOUT, deadline)) continue;
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(s.get(), SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) return s;
  }
  return {};
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, host.c_str(), buf) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

std::string name_text(const X509_NAME* name) {
  if (!name) return "?";
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return "?";
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string("(empty)");
}

// "DNS:a, IP:127.0.0.1" from the certificate's subjectAltName, else its subject.
std::string certificate_names(X509* cert) {
  std::string out;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
      const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
      std::string one;
      if (g->type == GEN_DNS) {
        const auto* s = g->d.dNSName;
        one = "DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                   static_cast<std::size_t>(ASN1_STRING_length(s)));
      } else if (g->type == GEN_IPADD) {
        const auto* s = g->d.iPAddress;
        char text[INET6_ADDRSTRLEN] = "?";
        int len = ASN1_STRING_length(s);
        if (len == 4 || len == 16)
          ::inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(s), text, sizeof text);
        one = std::string("IP:") + text;
      }
      if (one.empty()) continue;
      if (!out.empty()) out += ", ";
      out += one;
    }
    GENERAL_NAMES_free(names);
  }
  return out.empty() ? name_text(X509_get_subject_name(cert)) : out;
}

std::string verify_problem(long result, X509* cert, const std::string& host,
                           const TlsSettings& tls) {
  std::string what = X509_verify_cert_error_string(result);
  std::string trusted = tls.ca_file.empty() ? "the system CAs" : "the CAs in " + tls.ca_file;
  switch (result) {
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return "host name mismatch: the certificate is for " +
             (cert ? certificate_names(cert) : "?") + ", not for " + host +
             " (tlsAllowInvalidHostnames=true skips this check)";
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_UNTRUSTED:
      return "certificate verify failed: " + what + " (the certificate of " +
             (cert ? name_text(X509_get_subject_name(cert)) : "?") + " is issued by " +
             (cert ? name_text(X509_get_issuer_name(cert)) : "?") + ", which is not among " +
             trusted + ")";
    default:
      return "certificate verify failed: " + what;
  }
}

// Why a handshake that SSL_connect ended with `ssl_error` failed.
std::string handshake_failure(int ssl_error, unsigned long e, int saved_errno,
                              std::uint64_t bytes_read, const TlsSettings& tls) {
  int reason = e ? ERR_GET_REASON(e) : 0;
  bool closed = ssl_error == SSL_ERROR_SYSCALL || ssl_error == SSL_ERROR_ZERO_RETURN ||
                (ssl_error == SSL_ERROR_SSL && reason == SSL_R_UNEXPECTED_EOF_WHILE_READING);
  if (closed) {
    std::string how = saved_errno == ECONNRESET ? "reset" : "closed";
    if (bytes_read == 0)
      return "not a TLS server: it " + how +
             " the connection on the TLS hello without answering (a MongoDB server without TLS "
             "does that; if it has none, leave tls=true out of the URI)";
    return "the server " + how + " the connection during the TLS handshake";
  }
  if (ssl_error != SSL_ERROR_SSL) return "TLS error " + std::to_string(ssl_error);
  if (reason >= SSL_AD_REASON_OFFSET) {  // an alert sent by the server
    std::string alert = openssl_reason(e);
    switch (reason - SSL_AD_REASON_OFFSET) {
      case SSL_AD_PROTOCOL_VERSION:
        return "protocol: the server accepts none of the TLS versions offered (" + alert + ")";
      case SSL_AD_CERTIFICATE_REQUIRED:
        return "the server requires a client certificate (tlsCertificateKeyFile) (" + alert + ")";
      case SSL_AD_HANDSHAKE_FAILURE:
        if (tls.certificate_key_file.empty())
          return "the server refused the handshake (" + alert +
                 "): no TLS version or cipher in common, or it requires a client certificate "
                 "(tlsCertificateKeyFile)";
        return "protocol: no TLS version or cipher in common (" + alert + ")";
      case SSL_AD_BAD_CERTIFICATE:
      case SSL_AD_UNKNOWN_CA:
      case SSL_AD_UNSUPPORTED_CERTIFICATE:
      case SSL_AD_CERTIFICATE_EXPIRED:
      case SSL_AD_CERTIFICATE_REVOKED:
      case SSL_AD_CERTIFICATE_UNKNOWN:
      case SSL_AD_ACCESS_DENIED:
        if (!tls.certificate_key_file.empty())
          return "the server refused the client certificate " + tls.certificate_key_file + " (" +
                 alert + ")";
        return "the server refused the handshake (" + alert + ")";
      default:
        return "the server refused the handshake (" + alert + ")";
    }
  }
  switch (reason) {
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_UNKNOWN_PROTOCOL:
    case SSL_R_RECORD_LENGTH_MISMATCH:
      return "not a TLS server: it answered the TLS hello with something that is not TLS (" +
             openssl_reason(e) + ")";
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_VERSION_TOO_HIGH:
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_CIPHERS_AVAILABLE:
      return "protocol: " + openssl_reason(e);
    default:
      return "TLS error: " + openssl_reason(e);
  }
}

struct Probe {
  bool connected = false;
  bool completed = false;  // the handshake finished
  bool alert = false;      // the server answered with a TLS alert
  std::string problem;
};

// One handshake with `tls` (with allow_invalid_certificates: no checks at
// all); with `await_alert`, then a moment for a late refusal.
Probe handshake(const std::string& host, std::uint16_t port, const TlsSettings& tls,
                std::chrono::milliseconds timeout, bool await_alert) {
  Probe out;
  auto deadline = Clock::now() + timeout;
  ErrorQueueScope errors;
  SigpipeBlock no_sigpipe;
  Socket sock = connect_to(host, port, deadline);
  if (sock.get() < 0) return out;
  out.connected = true;

  Ctx ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) {
    out.problem = "TLS error: cannot create an OpenSSL context";
    return out;
  }
  if (!tls.ca_file.empty())
    SSL_CTX_load_verify_locations(ctx.get(), tls.ca_file.c_str(), nullptr);
  else
    SSL_CTX_set_default_verify_paths(ctx.get());
  if (!tls.certificate_key_file.empty()) use_client_certificate(ctx.get(), tls);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);  // the result is read below
  ERR_clear_error();
  Ssl ssl(SSL_new(ctx.get()));
  if (!ssl || SSL_set_fd(ssl.get(), sock.get()) != 1) {
    out.problem = "TLS error: cannot create an OpenSSL connection";
    return out;
  }
  bool ip = is_ip_literal(host);
  if (!ip) SSL_set_tlsext_host_name(ssl.get(), host.c_str());
  if (!tls.allow_invalid_hostnames) {
    if (ip)
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), host.c_str());
    else
      SSL_set1_host(ssl.get(), host.c_str());
  }
  auto wait_for = [&](int ssl_error) {
    return wait_ready(sock.get(), ssl_error == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN, deadline);
  };
  for (;;) {
    errno = 0;
    int r = SSL_connect(ssl.get());
    if (r == 1) break;
    int ssl_error = SSL_get_error(ssl.get(), r);
    int saved_errno = errno;
    if (ssl_error == SSL_ERROR_WANT_READ || ssl_error == SSL_ERROR_WANT_WRITE) {
      if (wait_for(ssl_error)) continue;
      auto ms = std::to_string(timeout.count());
      if (BIO_number_read(SSL_get_rbio(ssl.get())) == 0)
        out.problem = "not a TLS server: no answer to the TLS hello within " + ms +
                      " ms (a server without TLS waits for a MongoDB message instead)";
      else
        out.problem = "the TLS handshake did not finish within " + ms + " ms";
      return out;
    }
    unsigned long e = last_error();
    int reason = e ? ERR_GET_REASON(e) : 0;
    out.alert = ssl_error == SSL_ERROR_SSL && reason >= SSL_AD_REASON_OFFSET;
    out.problem =
        handshake_failure(ssl_error, e, saved_errno, BIO_number_read(SSL_get_rbio(ssl.get())), tls);
    return out;
  }
  out.completed = true;
  if (!tls.allow_invalid_certificates) {
    long result = SSL_get_verify_result(ssl.get());
    if (result != X509_V_OK) {
      X509* cert = SSL_get1_peer_certificate(ssl.get());
      out.problem = verify_problem(result, cert, host, tls);
      X509_free(cert);
      return out;
    }
  }
  if (!await_alert) return out;
  // With TLS 1.3 the server judges the client's certificate after the
  // client's side of the handshake is done: its refusal (an alert) comes
  // with the first read. A MongoDB server sends nothing unasked, so wait a
  // moment for one.
  auto alert_deadline = std::min(deadline, Clock::now() + std::chrono::milliseconds(1000));
  for (;;) {
    char byte;
    errno = 0;
    int r = SSL_read(ssl.get(), &byte, 1);
    if (r > 0) break;
    int ssl_error = SSL_get_error(ssl.get(), r);
    if (ssl_error == SSL_ERROR_WANT_READ || ssl_error == SSL_ERROR_WANT_WRITE) {
      if (wait_ready(sock.get(), ssl_error == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN,
                     alert_deadline))
        continue;
      break;  // nothing came: the handshake is accepted
    }
    unsigned long e = last_error();
    int reason = e ? ERR_GET_REASON(e) : 0;
    if (ssl_error == SSL_ERROR_SSL && reason >= SSL_AD_REASON_OFFSET) {
      out.alert = true;
      out.problem = handshake_failure(ssl_error, e, errno, 1, tls);
    }
    break;
  }
  return out;
}

}  // namespace

std::string tls_files_problem(const TlsSettings& tls) {
  if (!tls.enabled) return "";
  ErrorQueueScope errors;
  Ctx ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return "cannot create an OpenSSL context";
  auto unreadable = [](const std::string& option, const std::string& path) -> std::string {
    if (::access(path.c_str(), R_OK) == 0) return "";
    return option + " " + path + " cannot be read: " + std::strerror(errno);
  };
  if (!tls.ca_file.empty()) {
    if (auto p = unreadable("tlsCAFile", tls.ca_file); !p.empty()) return p;
    if (SSL_CTX_load_verify_locations(ctx.get(), tls.ca_file.c_str(), nullptr) != 1)
      return "tlsCAFile " + tls.ca_file + " holds no usable CA certificate (" +
             openssl_reason(last_error()) + ")";
  }
  if (!tls.certificate_key_file.empty()) {
    const auto& file = tls.certificate_key_file;
    if (auto p = unreadable("tlsCertificateKeyFile", file); !p.empty()) return p;
    SSL_CTX_set_default_passwd_cb(ctx.get(), password_callback);
    SSL_CTX_set_default_passwd_cb_userdata(ctx.get(),
                                           const_cast<std::string*>(&tls.certificate_key_password));
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), file.c_str()) != 1)
      return "tlsCertificateKeyFile " + file + " holds no usable certificate (" +
             openssl_reason(last_error()) + ")";
    if (SSL_CTX_use_PrivateKey_file(ctx.get(), file.c_str(), SSL_FILETYPE_PEM) != 1)
      return "tlsCertificateKeyFile " + file + ": its private key cannot be read (" +
             openssl_reason(last_error()) +
             (tls.certificate_key_password.empty()
                  ? "; an encrypted key needs tlsCertificateKeyFilePassword)"
                  : "; is tlsCertificateKeyFilePassword right?)");
    if (SSL_CTX_check_private_key(ctx.get()) != 1)
      return "tlsCertificateKeyFile " + file + ": the private key does not match the certificate";
  }
  return "";
}

std::string tls_handshake_problem(const std::string& host, std::uint16_t port,
                                  const TlsSettings& tls, std::chrono::milliseconds timeout) {
  return handshake(host, port, tls, timeout, true).problem;
}

bool answers_tls(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout) {
  TlsSettings any;
  any.enabled = true;
  any.allow_invalid_certificates = any.allow_invalid_hostnames = true;
  auto p = handshake(host, port, any, timeout, false);
  return p.completed || p.alert;
}

}  // namespace qc::mongo
