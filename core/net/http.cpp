// The one HTTP layer: URL, client (TLS, mTLS), listener (TLS, mTLS, reload), serve-until-signal.
#include "handshake/net/http.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "handshake/identity.hpp"
#include "handshake/net/http_server.hpp"

namespace handshake::net {
namespace {

Error bad_url(std::string_view text, const std::string& why) {
  std::string shown(text.substr(0, 200));
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) == 0x7F) c = '?';
  }
  return make_error(ErrorCode::kInvalidArgument, "url.invalid", "\"" + shown + "\" is not a usable URL: " + why);
}

Error tls_error(const std::string& what) {
  std::string detail;
  if (const unsigned long e = ERR_get_error(); e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    detail = std::string(": ") + buf;
  }
  ERR_clear_error();
  return make_error(ErrorCode::kInvalidArgument, "tls.config", what + detail);
}

int min_proto(TlsVersion v) { return v == TlsVersion::k13 ? TLS1_3_VERSION : TLS1_2_VERSION; }

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;

// Every certificate of a PEM file, leaf first.
Result<std::vector<X509Ptr>> read_certificates(const std::filesystem::path& path) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) return make_error(ErrorCode::kIo, "tls.config", "cannot read the certificate file " + path.string());
  std::vector<X509Ptr> out;
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(x);
  ERR_clear_error();  // the loop ends on "no start line"
  if (out.empty()) return tls_error(path.string() + " holds no PEM certificate");
  return out;
}

// A private key from an owner-only PEM file; the file's text is wiped once parsed.
Result<KeyPtr> read_private_key(const std::filesystem::path& path) {
  HSK_ASSIGN_OR_RETURN(auto text, read_secret_file(path, 64 * 1024));
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  KeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  OPENSSL_cleanse(text.data(), text.size());
  if (!key) return tls_error(path.string() + " holds no PEM private key");
  return key;
}

bool valid_dns_host(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  std::size_t label = 0;
  for (char c : h) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
    if (++label > 63) return false;
  }
  return label > 0 || h.back() == '.';
}

// The CA store, client certificate chain and key of a TLS client, loaded once and shared by every
// client made with the same files (a proxy opens one per upstream exchange): reloaded only when a
// file changes (size, mtime, ctime or inode: a rewrite, a replacement or a chmod). The key file's
// owner-only check runs at every load.
struct ClientMaterial {
  std::vector<X509Ptr> certs;
  KeyPtr key;
  X509_STORE* ca = nullptr;  // one reference held here; each client takes its own
  ClientMaterial() = default;
  ClientMaterial(const ClientMaterial&) = delete;
  ClientMaterial& operator=(const ClientMaterial&) = delete;
  ~ClientMaterial() { X509_STORE_free(ca); }
};

std::string file_stamp(const std::optional<std::filesystem::path>& p) {
  if (!p) return "-";
  struct stat st {};
  if (::stat(p->c_str(), &st) != 0) return "?";  // loading will say what is wrong
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
         std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + ":" +
         std::to_string(st.st_ctim.tv_sec) + "." + std::to_string(st.st_ctim.tv_nsec);
}

Result<std::shared_ptr<const ClientMaterial>> load_client_material(const TlsClientOptions& tls) {
  auto m = std::make_shared<ClientMaterial>();
  if (tls.client_cert) {
    HSK_ASSIGN_OR_RETURN(m->certs, read_certificates(*tls.client_cert));
    HSK_ASSIGN_OR_RETURN(m->key, read_private_key(*tls.client_key));
    if (X509_check_private_key(m->certs.front().get(), m->key.get()) != 1) {
      return tls_error(tls.client_key->string() + " is not the key of " + tls.client_cert->string());
    }
  }
  if (tls.ca_file) {
    m->ca = X509_STORE_new();
    if (m->ca == nullptr || X509_STORE_load_file(m->ca, tls.ca_file->c_str()) != 1) {
      return tls_error("cannot load the CA file " + tls.ca_file->string());
    }
  }
  return std::shared_ptr<const ClientMaterial>(std::move(m));
}

Result<std::shared_ptr<const ClientMaterial>> client_material(const TlsClientOptions& tls) {
  static std::mutex mu;
  static std::map<std::string, std::pair<std::string, std::shared_ptr<const ClientMaterial>>> cache;
  auto name = [](const std::optional<std::filesystem::path>& p) { return p ? p->string() : std::string("-"); };
  const std::string key = name(tls.ca_file) + "\n" + name(tls.client_cert) + "\n" + name(tls.client_key);
  const std::string stamp = file_stamp(tls.ca_file) + "|" + file_stamp(tls.client_cert) + "|" + file_stamp(tls.client_key);
  {
    std::lock_guard lock(mu);
    if (auto it = cache.find(key); it != cache.end() && it->second.first == stamp) return it->second.second;
  }
  HSK_ASSIGN_OR_RETURN(auto loaded, load_client_material(tls));
  std::lock_guard lock(mu);
  if (cache.size() >= 64) cache.clear();
  cache[key] = {stamp, loaded};
  return loaded;
}

}  // namespace

// ---- URL -----------------------------------------------------------------------------------------

Result<Url> Url::parse(std::string_view text) {
  if (text.empty()) return bad_url(text, "empty");
  if (text.size() > 2048) return bad_url(text, "longer than 2048 characters");
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F) return bad_url(text, "spaces and control characters are not allowed");
  }
  const auto sep = text.find("://");
  if (sep == std::string_view::npos) return bad_url(text, "expected http://HOST[:PORT][/PATH] or https://...");
  std::string scheme(text.substr(0, sep));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(), [](unsigned char c) { return std::tolower(c); });
  if (scheme != "http" && scheme != "https") return bad_url(text, "the scheme must be http or https");
  if (text.find('#') != std::string_view::npos) return bad_url(text, "a fragment (#...) has no meaning here");
  std::string_view rest = text.substr(sep + 3);
  const auto end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, end);
  std::string path = end == std::string_view::npos ? "/" : std::string(rest.substr(end));
  if (!path.empty() && path[0] == '?') path.insert(path.begin(), '/');
  if (authority.find('@') != std::string_view::npos) {
    return bad_url(text, "credentials in a URL end up in logs and process lists; use a file instead");
  }
  Url u;
  u.scheme = scheme;
  u.path = path;
  std::string_view port_text;
  if (!authority.empty() && authority[0] == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return bad_url(text, "unclosed [IPv6] address");
    u.host = std::string(authority.substr(1, close - 1));
    in6_addr a6{};
    if (::inet_pton(AF_INET6, u.host.c_str(), &a6) != 1) return bad_url(text, "not an IPv6 address in brackets");
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return bad_url(text, "unexpected text after ]");
      port_text = after.substr(1);
      if (port_text.empty()) return bad_url(text, "empty port");
    }
  } else {
    const auto colon = authority.find(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return bad_url(text, "empty port");
    }
    if (u.host.empty()) return bad_url(text, "no host");
    if (!valid_dns_host(u.host)) return bad_url(text, "the host is not a DNS name or an IPv4 address");
    std::transform(u.host.begin(), u.host.end(), u.host.begin(), [](unsigned char c) { return std::tolower(c); });
  }
  u.port = u.tls() ? 443 : 80;
  if (!port_text.empty()) {
    int p = 0;
    const auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), p);
    if (ec != std::errc() || ptr != port_text.data() + port_text.size() || p < 1 || p > 65535) {
      return bad_url(text, "the port must be a number from 1 to 65535");
    }
    u.port = p;
  }
  return u;
}

std::string Url::origin() const {
  std::string o = scheme + "://";
  o += host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port != (tls() ? 443 : 80)) o += ":" + std::to_string(port);
  return o;
}


// ---- options -------------------------------------------------------------------------------------

Result<TlsClientOptions> tls_client_options_from_json(const Json& block, const std::filesystem::path& base) {
  auto invalid = [](const std::string& key, const std::string& why) {
    return make_error(ErrorCode::kSchema, "config.invalid", "tls." + key + ": " + why);
  };
  TlsClientOptions o;
  if (block.is_null()) return o;
  if (!block.is_object()) return make_error(ErrorCode::kSchema, "config.invalid", "tls: must be a map");
  for (const auto& [k, v] : block.items()) {
    if (k == "min_version") {
      if (v == "1.2") {
        o.min_version = TlsVersion::k12;
      } else if (v == "1.3") {
        o.min_version = TlsVersion::k13;
      } else {
        return invalid(k, "must be \"1.2\" or \"1.3\"");
      }
      continue;
    }
    if (k != "ca_file" && k != "client_cert" && k != "client_key") return invalid(k, "unknown key");
    if (!v.is_string() || v.get<std::string>().empty()) return invalid(k, "must be a path");
    std::filesystem::path p(v.get<std::string>());
    if (p.is_relative()) p = base / p;
    (k == "ca_file" ? o.ca_file : k == "client_cert" ? o.client_cert : o.client_key) = p;
  }
  if (o.client_cert.has_value() != o.client_key.has_value()) {
    return invalid("client_cert", "client_cert and client_key go together");
  }
  return o;
}

Result<TlsClientOptions> tls_client_options(const std::optional<std::string>& ca_file,
                                            const std::optional<std::string>& client_cert,
                                            const std::optional<std::string>& client_key) {
  if (client_cert.has_value() != client_key.has_value()) {
    return make_error(ErrorCode::kInvalidArgument, "tls.config", "--client-cert and --client-key go together");
  }
  TlsClientOptions o;
  if (ca_file) o.ca_file = *ca_file;
  if (client_cert) o.client_cert = *client_cert;
  if (client_key) o.client_key = *client_key;
  return o;
}

Result<std::optional<TlsServerOptions>> tls_server_options(const std::optional<std::string>& cert,
                                                           const std::optional<std::string>& key,
                                                           const std::optional<std::string>& client_ca) {
  if (cert.has_value() != key.has_value()) {
    return make_error(ErrorCode::kInvalidArgument, "tls.config", "--tls-cert and --tls-key go together");
  }
  if (!cert) {
    if (client_ca) return make_error(ErrorCode::kInvalidArgument, "tls.config", "--tls-client-ca needs --tls-cert and --tls-key");
    return std::optional<TlsServerOptions>();
  }
  TlsServerOptions o;
  o.cert_file = *cert;
  o.key_file = *key;
  if (client_ca) o.client_ca_file = *client_ca;
  return std::optional<TlsServerOptions>(std::move(o));
}

// ---- client --------------------------------------------------------------------------------------

Result<std::unique_ptr<Client>> Client::open(const Url& origin, const ClientOptions& options) {
  std::unique_ptr<Client> c(new Client());
  c->origin_ = origin;
  c->options_ = options;
  const auto& tls = options.tls;
  if (!origin.tls()) {
    if (tls.client_cert || tls.ca_file) {
      return make_error(ErrorCode::kInvalidArgument, "tls.config",
                        origin.origin() + " is plain http: a CA file or client certificate needs https");
    }
    c->impl_ = std::make_unique<httplib::ClientImpl>(origin.host, origin.port);
  } else {
    if (tls.client_cert.has_value() != tls.client_key.has_value()) {
      return make_error(ErrorCode::kInvalidArgument, "tls.config", "a client certificate and its key go together");
    }
    HSK_ASSIGN_OR_RETURN(auto material, client_material(tls));
    std::unique_ptr<httplib::SSLClient> ssl;
    if (tls.client_cert) {
      // The context takes its own references to the certificate and the key.
      ssl = std::make_unique<httplib::SSLClient>(origin.host, origin.port, material->certs.front().get(),
                                                 material->key.get());
      for (std::size_t i = 1; i < material->certs.size(); ++i) {
        SSL_CTX_add1_chain_cert(ssl->ssl_context(), material->certs[i].get());
      }
    } else {
      ssl = std::make_unique<httplib::SSLClient>(origin.host, origin.port);
    }
    if (!ssl->is_valid()) return tls_error("cannot set up TLS for " + origin.origin());
    // A server that refuses us mid-handshake (e.g. no client certificate) must be an error, not
    // the end of the process: OpenSSL writes to the socket without MSG_NOSIGNAL. A SIGPIPE
    // handler the program installed itself is left alone.
    static std::once_flag sigpipe_once;
    std::call_once(sigpipe_once, [] {
      struct sigaction current {};
      if (::sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) ::signal(SIGPIPE, SIG_IGN);
    });
    if (material->ca != nullptr) {
      X509_STORE_up_ref(material->ca);
      ssl->set_ca_cert_store(material->ca);  // the client's reference, released with it
    }
    SSL_CTX_set_min_proto_version(ssl->ssl_context(), min_proto(tls.min_version));
    ssl->enable_server_certificate_verification(true);
    c->tls_ = ssl.get();
    c->impl_ = std::move(ssl);
  }
  auto& h = *c->impl_;
  const auto ct = std::chrono::duration_cast<std::chrono::microseconds>(options.connect_timeout).count();
  const auto rt = std::chrono::duration_cast<std::chrono::microseconds>(options.read_timeout).count();
  h.set_connection_timeout(static_cast<time_t>(ct / 1'000'000), static_cast<time_t>(ct % 1'000'000));
  h.set_read_timeout(static_cast<time_t>(rt / 1'000'000), static_cast<time_t>(rt % 1'000'000));
  h.set_write_timeout(static_cast<time_t>(rt / 1'000'000), static_cast<time_t>(rt % 1'000'000));
  h.set_keep_alive(true);
  return c;
}

Client::~Client() = default;

httplib::ClientImpl& Client::http() { return *impl_; }

std::string peer_says(const Response& response) {
  std::string said;
  if (auto j = json::parse_strict(response.body); j.ok() && j->is_object()) {
    const Json& e = j->value("error", Json());
    if (e.is_object()) {
      said = e.value("code", std::string());
      if (const std::string m = e.value("message", std::string()); !m.empty()) said += (said.empty() ? "" : ": ") + m;
    } else if (e.is_string()) {
      said = e.get<std::string>();
      if (const std::string d = j->value("error_description", std::string()); !d.empty()) said += ": " + d;
    }
  }
  if (said.empty()) said = response.body.substr(0, response.body.find('\n'));
  std::string out;
  for (const char c : said) {
    if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) out.push_back(c);
    if (out.size() >= 300) break;
  }
  return out;
}

std::string Client::describe(httplib::Error error) const {
  const int saved = errno;  // right after the failed exchange, on this thread: the socket's reason
  std::string what;
  switch (error) {
    case httplib::Error::Connection: {
      what = "cannot connect";
      if (saved == ECONNREFUSED || saved == ETIMEDOUT || saved == EHOSTUNREACH || saved == ENETUNREACH ||
          saved == ECONNRESET || saved == EADDRNOTAVAIL) {
        what += std::string(" (") + std::strerror(saved) + ")";
      } else {
        what += " (connection refused, unreachable, or no answer within " +
                std::to_string(options_.connect_timeout.count()) + " ms)";
      }
      break;
    }
    case httplib::Error::ConnectionTimeout:
      what = "no connection within " + std::to_string(options_.connect_timeout.count()) + " ms";
      break;
    case httplib::Error::Read:
      what = "the connection closed, or went quiet longer than the read timeout, before a whole answer arrived";
      break;
    case httplib::Error::Write:
      what = "the request could not be sent (the peer closed the connection)";
      break;
    case httplib::Error::BindIPAddress:
      what = "cannot bind the local address";
      break;
    case httplib::Error::ExceedRedirectCount:
      what = "too many redirects";
      break;
    case httplib::Error::Canceled:
      what = "the exchange was stopped";
      break;
    default:
      what = httplib::to_string(error);
  }
  if (tls_ != nullptr && error == httplib::Error::SSLServerVerification) {
    const long verify = tls_->get_openssl_verify_result();
    // The chain verified: what failed is cpp-httplib's host name check after the handshake.
    what += ": " + (verify == X509_V_OK ? "the certificate is not for host " + origin_.host
                                        : std::string(X509_verify_cert_error_string(verify)));
  } else if (tls_ != nullptr && error == httplib::Error::SSLConnection) {
    what += " (TLS handshake failed: wrong protocol version, no client certificate accepted, or not a TLS server)";
  }
  return origin_.origin() + ": " + what;
}

namespace {

Result<Response> exchange(httplib::ClientImpl& h, const Client& c, httplib::Request req, std::size_t max) {
  Response out;
  bool too_big = false;
  req.content_receiver = [&](const char* data, std::size_t n, std::uint64_t, std::uint64_t) {
    if (out.body.size() + n > max) {
      too_big = true;
      return false;
    }
    out.body.append(data, n);
    return true;
  };
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  const bool sent = h.send(req, res, err);
  if (too_big) {
    return make_error(ErrorCode::kUnavailable, "http.unavailable",
                      c.origin().origin() + ": response larger than " + std::to_string(max) + " bytes");
  }
  if (!sent) return make_error(ErrorCode::kUnavailable, "http.unavailable", c.describe(err));
  out.status = res.status;
  out.headers = std::move(res.headers);
  return out;
}

}  // namespace

Result<Response> Client::get(const std::string& path, const httplib::Headers& headers) {
  httplib::Request req;
  req.method = "GET";
  req.path = path;
  req.headers = headers;
  return exchange(*impl_, *this, std::move(req), options_.max_response_bytes);
}

Result<Response> Client::post(const std::string& path, const std::string& body, const std::string& content_type,
                              const httplib::Headers& headers) {
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.headers = headers;
  req.headers.emplace("Content-Type", content_type);
  req.body = body;
  return exchange(*impl_, *this, std::move(req), options_.max_response_bytes);
}

// ---- server --------------------------------------------------------------------------------------

namespace detail {
extern std::atomic<std::uint64_t> g_tls_handshake_failures;  // ops.cpp
}

class TlsCredentials {
 public:
  explicit TlsCredentials(TlsServerOptions options) : options_(std::move(options)) {}

  Status load() {
    HSK_ASSIGN_OR_RETURN(auto certs, read_certificates(options_.cert_file));
    HSK_ASSIGN_OR_RETURN(auto key, read_private_key(options_.key_file));
    if (X509_check_private_key(certs.front().get(), key.get()) != 1) {
      return tls_error(options_.key_file.string() + " is not the key of " + options_.cert_file.string());
    }
    std::lock_guard lock(mu_);
    certs_ = std::move(certs);
    key_ = std::move(key);
    return ok_status();
  }

  // OpenSSL's certificate callback: the pair current at this handshake.
  static int select(SSL* ssl, void* arg) {
    auto* self = static_cast<TlsCredentials*>(arg);
    std::lock_guard lock(self->mu_);
    if (self->certs_.empty() || !self->key_) return 0;
    if (SSL_use_certificate(ssl, self->certs_.front().get()) != 1 || SSL_use_PrivateKey(ssl, self->key_.get()) != 1) {
      return 0;
    }
    SSL_clear_chain_certs(ssl);
    for (std::size_t i = 1; i < self->certs_.size(); ++i) SSL_add1_chain_cert(ssl, self->certs_[i].get());
    return 1;
  }

 private:
  TlsServerOptions options_;
  std::mutex mu_;
  std::vector<X509Ptr> certs_;
  KeyPtr key_;
};

Status reload(TlsCredentials& credentials) { return credentials.load(); }

namespace {

// Counts the handshakes that end in a fatal alert, sent or received, before they finished
// (net::tls_handshake_failures, for hsk_tls_handshake_failures_total).
void count_handshake_failures(const SSL* ssl, int where, int ret) {
  if ((where & SSL_CB_ALERT) == 0 || (ret >> 8) != SSL3_AL_FATAL) return;
  if (SSL_is_init_finished(ssl)) return;
  detail::g_tls_handshake_failures.fetch_add(1, std::memory_order_relaxed);
}

// An SSLServer that owns the credentials its certificate callback reads.
class TlsServer final : public httplib::SSLServer {
 public:
  TlsServer(const std::function<bool(SSL_CTX&)>& setup, std::shared_ptr<TlsCredentials> credentials)
      : httplib::SSLServer(setup), credentials_(std::move(credentials)) {}

 private:
  std::shared_ptr<TlsCredentials> credentials_;
};

}  // namespace

Result<std::unique_ptr<httplib::Server>> make_server(const std::optional<TlsServerOptions>& tls,
                                                    std::shared_ptr<TlsCredentials>* credentials) {
  if (!tls) return std::make_unique<httplib::Server>();
  auto creds = std::make_shared<TlsCredentials>(*tls);
  HSK_TRY(creds->load());
  if (tls->client_ca_file) {
    // Fail now, not at the first handshake.
    std::unique_ptr<BIO, BioFree> probe(BIO_new_file(tls->client_ca_file->c_str(), "r"));
    if (!probe) return make_error(ErrorCode::kIo, "tls.config", "cannot read the client CA file " + tls->client_ca_file->string());
  }
  bool configured = false;
  auto server = std::make_unique<TlsServer>([&](SSL_CTX& ctx) {
    SSL_CTX_set_min_proto_version(&ctx, min_proto(tls->min_version));
    SSL_CTX_set_cert_cb(&ctx, &TlsCredentials::select, creds.get());
    SSL_CTX_set_info_callback(&ctx, &count_handshake_failures);
    if (tls->client_ca_file) {
      if (SSL_CTX_load_verify_locations(&ctx, tls->client_ca_file->c_str(), nullptr) != 1) return false;
      STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls->client_ca_file->c_str());
      if (names == nullptr) return false;
      SSL_CTX_set_client_CA_list(&ctx, names);
      SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    configured = true;
    return true;
  }, creds);
  if (!configured || !server->is_valid()) return tls_error("cannot set up TLS with " + tls->cert_file.string());
  if (credentials != nullptr) *credentials = creds;
  return std::unique_ptr<httplib::Server>(std::move(server));
}

// ---- serving -------------------------------------------------------------------------------------

sigset_t block_signals() {
  sigset_t signals, before;
  sigemptyset(&signals);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, &before);
  ::signal(SIGPIPE, SIG_IGN);
  // The mask before the first call, whichever thread makes the later ones: what children get.
  static const sigset_t original = before;
  return original;
}

int wait_for_stop(const std::function<Status()>& on_reload, const std::function<void(const std::string&)>& log) {
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&signals, s);
  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig != SIGHUP) return sig;
    if (!on_reload) {
      if (log) log("SIGHUP: nothing to reload");
      continue;
    }
    if (auto st = on_reload(); !st.ok()) {
      if (log) log("reload failed, keeping the running configuration: " + st.error().to_string());
    } else if (log) {
      log("reloaded");
    }
  }
}

namespace {
std::atomic<bool> g_draining{false};

// The listening socket bound to `port` (cpp-httplib does not hand it out): the descriptor that
// accepts connections and whose local port is ours; -1 when none is found.
int listening_socket(int port) {
  for (int fd = 0; fd < 4096; ++fd) {
    int accepting = 0;
    socklen_t len = sizeof accepting;
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0 || accepting != 1) continue;
    sockaddr_storage addr{};
    socklen_t alen = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &alen) != 0) continue;
    int bound = 0;
    if (addr.ss_family == AF_INET) bound = ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    if (addr.ss_family == AF_INET6) bound = ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
    if (bound == port) return fd;
  }
  return -1;
}
}  // namespace

bool draining() { return g_draining.load(std::memory_order_relaxed); }

int serve_until_signal(httplib::Server& server, const ServeOptions& options) {
  auto log = [&](const std::string& line) {
    if (options.log) options.log(line);
  };
  (void)block_signals();
  errno = 0;
  const int port = bind_server(server, options.host, options.port);
  if (port <= 0) {
    const int saved = errno;
    log("cannot listen on " + options.host + ":" + std::to_string(options.port) + ": " +
        (saved != 0 ? std::strerror(saved) : "the address is in use or not local"));
    return 1;
  }
  std::mutex mu;
  std::condition_variable cv;
  bool drained = false;
  const int listener = listening_socket(port);
  std::thread serving([&] {
    server.listen_after_bind();
    std::lock_guard lock(mu);
    drained = true;
    cv.notify_all();
  });
  if (options.on_listening) options.on_listening(port);
  const int sig = wait_for_stop(options.on_reload, options.log);
  // Drain: the listener closes now (a balancer sends new connections elsewhere); idle kept-alive
  // connections close; the calls in progress finish, for at most drain_timeout.
  log(std::string(sig == SIGTERM ? "SIGTERM" : "SIGINT") + ": no new connections; finishing the calls in progress (at most " +
      std::to_string(options.drain_timeout.count()) + " s)");
  g_draining.store(true);
  // Shutting the listening socket down makes new connections fail at once and cpp-httplib's
  // accept loop end, while the requests in progress (streams included) go on; Server::stop()
  // would cut streaming answers. Without the socket in hand, stop() it is.
  if (listener < 0 || ::shutdown(listener, SHUT_RDWR) != 0) server.stop();
  std::unique_lock lock(mu);
  if (!cv.wait_for(lock, options.drain_timeout, [&] { return drained; })) {
    log("calls still running after " + std::to_string(options.drain_timeout.count()) + " s: exiting without them");
    std::fflush(nullptr);
    std::_Exit(1);
  }
  lock.unlock();
  serving.join();
  log("stopped");
  return 0;
}

}  // namespace handshake::net
