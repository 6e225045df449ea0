// The one HTTP layer every client, server and relay of this project goes through (target
// handshake::net, cpp-httplib with OpenSSL 3): one URL type, one client with TLS and mTLS, TLS and
// mTLS on every listener with certificates reloaded in place, and one serve-until-signal loop.
//
// Clients: https verifies the server's certificate (the system trust store, or `ca_file`) and its
// host name, always; TLS 1.2 at least (1.3 where the specification says MUST, e.g. §5.1
// well-known resolution); connect and read timeouts; a bound on response bodies. A client
// certificate and key (PEM) make it mutual TLS; the key file must be owner-only.
// Servers: TLS 1.2 at least (1.3 preferred by OpenSSL); with a client CA, a client without a
// certificate that CA issued is refused in the handshake. reload() swaps in new certificate and
// key files for the next handshakes without closing the listener (SIGHUP in serve_until_signal).
#pragma once

#include <httplib.h>
#include <signal.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "handshake/json.hpp"
#include "handshake/result.hpp"

namespace handshake::net {

// An http or https URL: scheme, host (a DNS name, IPv4, or IPv6 without brackets), port (the
// scheme's default when absent), path with query ("/" when absent).
struct Url {
  std::string scheme;
  std::string host;
  int port = 0;
  std::string path = "/";

  // Refused, with the reason (kInvalidArgument "url.invalid"): empty or overlong, a scheme other
  // than http/https, credentials (user:password@: they would be on command lines and in logs), no
  // host, a bad port, a fragment, spaces or control characters, a relative URL.
  [[nodiscard]] static Result<Url> parse(std::string_view text);
  [[nodiscard]] bool tls() const { return scheme == "https"; }
  // scheme://host[:port], the port left out when it is the scheme's default; IPv6 in brackets.
  [[nodiscard]] std::string origin() const;
  [[nodiscard]] std::string str() const { return origin() + path; }
};

enum class TlsVersion { k12, k13 };

struct TlsClientOptions {
  std::optional<std::filesystem::path> ca_file;      // PEM; absent: the system trust store
  std::optional<std::filesystem::path> client_cert;  // PEM chain: mutual TLS (with client_key)
  std::optional<std::filesystem::path> client_key;   // PEM, owner-only
  TlsVersion min_version = TlsVersion::k12;
};

struct ClientOptions {
  TlsClientOptions tls;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds read_timeout{10000};
  std::size_t max_response_bytes = 4 * 1024 * 1024;
};

// The YAML/JSON `tls:` block {ca_file, client_cert, client_key, min_version: "1.2"|"1.3"}, paths
// relative to `base`. Errors: kSchema "config.invalid" naming the key.
[[nodiscard]] Result<TlsClientOptions> tls_client_options_from_json(const Json& block, const std::filesystem::path& base);

struct Response {
  int status = 0;
  std::string body;
  httplib::Headers headers;
};

// What a peer said about an error answer, for our error messages: the message of a JSON error
// body ({"error": {"code", "message"}}, or the OAuth {"error", "error_description"}), else the
// body's first line; at most 300 characters, control characters dropped; "" for an empty body.
[[nodiscard]] std::string peer_says(const Response& response);

// A client of one origin (scheme, host, port). Make one per thread, or guard it: like the
// cpp-httplib client inside, it is not for concurrent requests.
class Client {
 public:
  // Checks the options: a client certificate needs its key and the reverse, files readable, the
  // key file owner-only (kPermission "keyfile.permissions"), PEM that parses (kInvalidArgument
  // "tls.config"). Connects nothing yet.
  [[nodiscard]] static Result<std::unique_ptr<Client>> open(const Url& origin, const ClientOptions& options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Whole-body requests, bounded by max_response_bytes. Errors: kUnavailable "http.unavailable"
  // with the reason (connection refused, timeout, TLS handshake and certificate verification
  // failures with OpenSSL's words, "response larger than N bytes"). Any status is a response.
  [[nodiscard]] Result<Response> get(const std::string& path, const httplib::Headers& headers = {});
  [[nodiscard]] Result<Response> post(const std::string& path, const std::string& body, const std::string& content_type,
                                      const httplib::Headers& headers = {});
  // The cpp-httplib client, configured, for streaming exchanges (relays).
  [[nodiscard]] httplib::ClientImpl& http();
  // What a failed exchange on http() means, in words (for the caller's error message).
  [[nodiscard]] std::string describe(httplib::Error error) const;
  [[nodiscard]] const Url& origin() const { return origin_; }

 private:
  Client() = default;
  Url origin_;
  ClientOptions options_;
  std::unique_ptr<httplib::ClientImpl> impl_;
  httplib::SSLClient* tls_ = nullptr;  // impl_ when https
};

struct TlsServerOptions {
  std::filesystem::path cert_file;                    // PEM chain
  std::filesystem::path key_file;                     // PEM, owner-only
  std::optional<std::filesystem::path> client_ca_file;  // require client certificates from this CA
  TlsVersion min_version = TlsVersion::k12;
};

// The certificate and key a TLS listener presents, swappable while it runs.
class TlsCredentials;

// A server: plain http without `tls`, else https with `tls`. Errors: kIo / kPermission
// "keyfile.permissions" / kInvalidArgument "tls.config" (unreadable or mismatched certificate and
// key, unreadable client CA). `credentials` (optional) receives the handle reload() needs.
[[nodiscard]] Result<std::unique_ptr<httplib::Server>> make_server(const std::optional<TlsServerOptions>& tls,
                                                                  std::shared_ptr<TlsCredentials>* credentials = nullptr);

// Reads the certificate and key files again and presents them from the next handshake on;
// a bad new pair keeps the old one and says why. Errors: as make_server.
[[nodiscard]] Status reload(TlsCredentials& credentials);

// The listener flags every server takes: --tls-cert FILE --tls-key FILE [--tls-client-ca FILE].
// Absent cert and key: no TLS. One without the other is an error (kInvalidArgument "tls.config").
[[nodiscard]] Result<std::optional<TlsServerOptions>> tls_server_options(const std::optional<std::string>& cert,
                                                                         const std::optional<std::string>& key,
                                                                         const std::optional<std::string>& client_ca);
// The client flags: --ca-file FILE --client-cert FILE --client-key FILE.
[[nodiscard]] Result<TlsClientOptions> tls_client_options(const std::optional<std::string>& ca_file,
                                                          const std::optional<std::string>& client_cert,
                                                          const std::optional<std::string>& client_key);

// The signals of every long-running binary of this project: SIGINT, SIGTERM and SIGHUP blocked in
// the calling thread (threads started later inherit the mask) so that one thread takes them with
// wait_for_stop; SIGPIPE ignored (a peer that goes away mid-write costs its connection, not the
// process). Returns the mask before the first call, for children that should get the signals
// again. Call it first thing in main() of a binary that starts threads before it serves (a
// revocation feed's poller, a registry anchor): a thread without the mask would take SIGHUP's
// default action, ending the process.
sigset_t block_signals();

// Waits until SIGINT or SIGTERM arrives and returns it. Each SIGHUP before that calls on_reload
// (when set): its error is logged and the running state kept. Call block_signals() first.
int wait_for_stop(const std::function<Status()>& on_reload, const std::function<void(const std::string&)>& log);

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port
  // Called once listening, with the port (e.g. to print "listening on HOST:PORT").
  std::function<void(int port)> on_listening;
  // Called on SIGHUP (reload certificates, configuration); its error is logged, the server goes on.
  std::function<Status()> on_reload;
  std::function<void(const std::string&)> log;
  // How long SIGTERM waits for the calls in progress before the process exits without them.
  std::chrono::seconds drain_timeout{30};
};

// Binds `server` (net::bind_server), serves it on a thread of its own and waits for signals:
// SIGHUP calls on_reload; SIGINT or SIGTERM drain: the listener closes at once (new connections
// are refused, idle kept-alive ones closed), the requests in progress finish, then it returns 0.
// Calls still running after drain_timeout: the process exits with status 1 (logged). SIGINT, SIGTERM and
// SIGHUP are blocked in the calling thread before anything starts (threads started later
// inherit the mask). Returns 1 when the port cannot be bound (logged with the reason).
int serve_until_signal(httplib::Server& server, const ServeOptions& options);

// True once serve_until_signal has begun to drain (SIGINT or SIGTERM): long-lived streams that
// carry no call's answer end then (SseRelayHooks::end_on_drain).
[[nodiscard]] bool draining();

}  // namespace handshake::net
