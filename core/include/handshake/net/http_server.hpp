// Settings every HTTP server of this project applies (registry, OAuth bridge, proxies), so slow or
// oversized clients cannot starve or exhaust one. Header-only; needs cpp-httplib.
//
// cpp-httplib (0.11) serves each connection on a worker thread and its timeouts apply per read,
// so a client that dribbles one header byte at a time holds a worker as long as it likes. The
// defence here is a worker pool much larger than the expected concurrency (idle workers cost a
// stack each, nothing else), short per-read timeouts and a bounded keep-alive. An endpoint exposed
// to the internet should still sit behind a reverse proxy that enforces whole-request deadlines.
#pragma once

#include <httplib.h>
#include <sys/socket.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "handshake/json.hpp"

namespace handshake::net {

struct HttpServerLimits {
  std::size_t workers = 64;                // worker threads (connections served at once)
  std::size_t max_body_bytes = 256 * 1024;  // larger bodies get 413
  int read_timeout_seconds = 5;             // per read
  int write_timeout_seconds = 5;            // per write
  int keep_alive_seconds = 5;               // idle time before a kept-alive connection closes
  std::size_t keep_alive_requests = 100;    // requests per connection
  // Told about requests refused before any handler saw them (a body over the limit); optional.
  std::function<void(const std::string&)> log;
};

// The body of an answer cpp-httplib gives by itself, which would otherwise be empty: 413 for a
// body over the limit, 400 for a request it cannot read, 404 for a path nothing serves.
// {"error": ..., "error_description": ...}, the OAuth error form (RFC 6749 §5.2).
inline std::string library_error_body(int status, const httplib::Request& req, std::size_t max_body_bytes) {
  std::string error, description;
  switch (status) {
    case 413:
      error = "request_too_large";
      description = "the request body is larger than this server accepts (" + std::to_string(max_body_bytes) + " bytes)";
      break;
    case 400:
      error = "invalid_request";
      description = "the request could not be read (its HTTP framing or headers)";
      break;
    case 404:
      error = "not_found";
      description = "nothing is served at " + req.method + " " + req.path;
      break;
    case 405:
      error = "method_not_allowed";
      description = req.method + " is not served at " + req.path;
      break;
    default:
      error = "http_" + std::to_string(status);
      description = "HTTP " + std::to_string(status);
  }
  return handshake::Json{{"error", error}, {"error_description", description}}.dump(
      -1, ' ', false, handshake::Json::error_handler_t::replace);
}

// Call before bind_to_port / bind_to_any_port: TCP_NODELAY is set on the listening socket, and
// accepted connections inherit it.
inline void apply_limits(httplib::Server& server, const HttpServerLimits& limits) {
  const std::size_t workers = limits.workers == 0 ? 1 : limits.workers;
  server.new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
  server.set_payload_max_length(limits.max_body_bytes);
  server.set_read_timeout(limits.read_timeout_seconds, 0);
  server.set_write_timeout(limits.write_timeout_seconds, 0);
  server.set_keep_alive_timeout(limits.keep_alive_seconds);
  server.set_keep_alive_max_count(limits.keep_alive_requests);
  // cpp-httplib sends a response's headers and body in two writes; with Nagle's algorithm the
  // body then waits for the client's delayed ACK of the headers (40 ms on Linux) on every
  // kept-alive connection (tests/load measured p50 43 ms for a sub-millisecond call).
  server.set_tcp_nodelay(true);
  // Errors the library answers by itself say why, in JSON; a body over the limit is also logged.
  server.set_error_handler(httplib::Server::HandlerWithResponse([max = limits.max_body_bytes, log = limits.log](const httplib::Request& req,
                                                                            httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    if (res.status == 413 && log) {
      log("refused a request to " + req.path + ": its body is larger than " + std::to_string(max) + " bytes (413)");
    }
    res.set_content(library_error_body(res.status, req, max), "application/json");
    return httplib::Server::HandlerResponse::Handled;
  }));
}

// Binds `server` to host:port (0: any free port) and returns the port, or -1. cpp-httplib listens
// with a backlog of 5 (CPPHTTPLIB_LISTEN_BACKLOG, compiled into Debian's library), so a burst of
// new connections overflows the kernel's accept queue and clients wait 1 to 3 s for a SYN retry
// (tests/load saw it as the latency maximum, and as occasional connection errors). Linux lets a
// listening socket be listened on again to change its backlog, which is done here. The listening
// socket gets SO_REUSEADDR (not the library's default SO_REUSEPORT, which would let another
// process of the same user bind the same port and take a share of the connections).
inline int bind_server(httplib::Server& server, const std::string& host, int port, int backlog = 1024) {
  auto fd = std::make_shared<socket_t>(INVALID_SOCKET);
  server.set_socket_options([fd](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    *fd = sock;
  });
  const int bound = port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  if (bound > 0 && *fd != INVALID_SOCKET) ::listen(*fd, backlog);
  return bound;
}

}  // namespace handshake::net
