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

#include <cstddef>

namespace handshake::net {

struct HttpServerLimits {
  std::size_t workers = 64;                // worker threads (connections served at once)
  std::size_t max_body_bytes = 256 * 1024;  // larger bodies get 413
  int read_timeout_seconds = 5;             // per read
  int write_timeout_seconds = 5;            // per write
  int keep_alive_seconds = 5;               // idle time before a kept-alive connection closes
  std::size_t keep_alive_requests = 100;    // requests per connection
};

inline void apply_limits(httplib::Server& server, const HttpServerLimits& limits) {
  const std::size_t workers = limits.workers == 0 ? 1 : limits.workers;
  server.new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
  server.set_payload_max_length(limits.max_body_bytes);
  server.set_read_timeout(limits.read_timeout_seconds, 0);
  server.set_write_timeout(limits.write_timeout_seconds, 0);
  server.set_keep_alive_timeout(limits.keep_alive_seconds);
  server.set_keep_alive_max_count(limits.keep_alive_requests);
}

}  // namespace handshake::net
