// The operator's endpoints of every server of this project (part of handshake::net):
//
//   GET /metrics   the Prometheus text exposition of a metrics::Registry (handshake/metrics.hpp)
//   GET /healthz   200 {"status": "alive"} while the process serves at all
//   GET /readyz    200 {"status": "ready", "checks": {...}} when every readiness check passes,
//                  else 503 {"status": "not ready", "checks": {name: reason}} (ops::Readiness):
//                  a load balancer sends no traffic to an instance whose store, feed or key is down
//
// HTTP servers mount them beside their own routes (mount_ops). The stdio proxies have no HTTP
// listener of their own: they start an OpsServer on --metrics-listen HOST:PORT.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "handshake/metrics.hpp"
#include "handshake/net/http.hpp"
#include "handshake/ops.hpp"

namespace handshake::net {

struct OpsEndpoints {
  metrics::Registry* registry = nullptr;      // borrowed; null: no /metrics
  const ops::Readiness* readiness = nullptr;  // borrowed; null: /readyz has no checks (ready)
};

// Mounts /metrics, /healthz and /readyz on `server`, and registers in the registry the metrics
// every server has (hsk_tls_handshake_failures_total, hsk_build_info).
void mount_ops(httplib::Server& server, const OpsEndpoints& endpoints);

// TLS handshakes this process's listeners failed (a client without a valid certificate, a
// protocol version or cipher refused, a client that gave up): counted by every server make_server
// made, from OpenSSL's fatal alerts.
[[nodiscard]] std::uint64_t tls_handshake_failures();

// The endpoints on a listener of their own (stdio proxies: --metrics-listen), on a thread of its
// own until destroyed.
class OpsServer {
 public:
  // Port 0: any free port (port() tells). Errors: kUnavailable "ops.bind" when the address cannot
  // be bound, and those of make_server for `tls`.
  [[nodiscard]] static Result<std::unique_ptr<OpsServer>> start(const std::string& host, int port,
                                                                const OpsEndpoints& endpoints,
                                                                const std::optional<TlsServerOptions>& tls = std::nullopt);
  ~OpsServer();
  OpsServer(const OpsServer&) = delete;
  OpsServer& operator=(const OpsServer&) = delete;
  [[nodiscard]] int port() const { return port_; }

 private:
  OpsServer() = default;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace handshake::net
