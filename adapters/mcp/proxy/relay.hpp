// hsk-mcp-proxy internals: what a role does to each message (Route), and the two transports.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handshake/command_line.hpp"
#include "handshake/json.hpp"
#include "handshake/net/http.hpp"
#include "handshake/net/ops.hpp"

namespace hsk::mcp_proxy {

using handshake::Json;

struct Finished;
// For a forwarded request whose response the role must see: what becomes of the upstream response.
using Finish = std::function<Finished(Json response)>;

// What a role made of the upstream response to a forwarded request.
struct Finished {
  // Without `resend`: the response for the client. With it: not for the client, but a request to
  // send upstream in place of the one just answered (the agent's cold retry of a warm call
  // refused for its session; same JSON-RPC id); its response goes through `resend` in turn. The
  // response that caused it never reaches the client.
  Json message;
  Finish resend;
};

// What a role made of one message from the client side.
struct Routed {
  bool answer_now = false;  // true: `message` is the response for the client; nothing goes on
  bool modified = false;    // false: forward the bytes as received
  Json message;
  // Empty: the response goes back as received.
  Finish finish;
};

// Called for every message the client side sends (requests, notifications, responses to the
// server's own requests). `raw` is the text it was decoded from. Thread-safe.
using Route = std::function<Routed(Json message, std::string_view raw)>;

void log(const std::string& line);

struct StdioOptions {
  std::vector<std::string> command;  // the server (or next proxy) to spawn
  std::size_t max_message_bytes = 4 * 1024 * 1024;
  std::function<handshake::Status()> on_reload;  // SIGHUP (when empty: logged, nothing else)
};

// Spawns `command` and relays newline-delimited JSON-RPC between our stdin/stdout and its
// stdin/stdout until either side ends or a SIGTERM/SIGINT arrives (SIGHUP: on_reload); the child is always
// reaped (stdin closed, then SIGTERM, then SIGKILL). Returns the exit code for the process.
int run_stdio(const StdioOptions& options, const Route& route);

// Resource-server duties on Streamable HTTP (OAuth 2.1, MCP authorization), when configured: every
// request must carry a token `check` allows; the token is never forwarded upstream.
struct HttpAuth {
  std::string metadata_path;  // where the RFC 9728 document is served
  Json metadata;
  struct Outcome {
    bool allowed = false;
    int status = 401;              // when refused
    std::string www_authenticate;  // when refused
    Json body;                     // when refused
    Json context;                  // when allowed: handed to `route`
  };
  // Decides from the request's Authorization header ("" when absent). Thread-safe.
  std::function<Outcome(const std::string& authorization)> check;
  // Routes a message of an allowed request, with the context `check` returned.
  std::function<Routed(Json message, std::string_view raw, const Json& context)> route;
};

struct HttpOptions {
  std::string listen_host = "127.0.0.1";
  int listen_port = 0;          // 0: any free port (printed on stderr)
  std::string path = "/mcp";
  std::string upstream;         // http(s)://host[:port]/path (net::Url; malformed: start-up error)
  handshake::net::TlsClientOptions upstream_tls;  // https upstream: CA file (else system store), mTLS
  std::optional<handshake::net::TlsServerOptions> listen_tls;  // serve https; SIGHUP reloads the pair
  std::function<handshake::Status()> on_reload;  // SIGHUP, besides the TLS pair (DID Documents, ...)
  std::size_t max_message_bytes = 4 * 1024 * 1024;
  std::optional<HttpAuth> auth;
  std::optional<handshake::net::OpsEndpoints> ops;  // /metrics, /healthz, /readyz beside the endpoint
};

// Serves Streamable HTTP at listen_host:listen_port + path and forwards to `upstream`: POST
// (JSON or SSE replies, relayed event by event), GET streams, DELETE; Mcp-Session-Id,
// MCP-Protocol-Version and the other end-to-end headers pass both ways. Runs until SIGTERM/SIGINT
// (net::serve_until_signal; SIGHUP reloads the TLS certificate and key).
int run_http(const HttpOptions& options, const Route& route);

// --check: the server's tools/list result, asked once after an initialize, over stdio (spawning
// `command`, stopped afterwards) or Streamable HTTP. Errors: kUnavailable "mcp.probe" saying why,
// and those of net::Client.
[[nodiscard]] handshake::Result<Json> probe_tools_stdio(const std::vector<std::string>& command,
                                                        std::chrono::milliseconds timeout);
[[nodiscard]] handshake::Result<Json> probe_tools_http(const handshake::net::Url& url,
                                                       const handshake::net::ClientOptions& client);

// --check (check.cpp): the role's options, files, stores and upstream, one line each on stdout.
// Exit 0 without errors (warnings allowed), 1 with.
int run_check(const handshake::CommandLine& a, const std::string& role);

}  // namespace hsk::mcp_proxy
