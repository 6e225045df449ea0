// What every long-running binary of this project sets up for its operator (handshake::config):
// a metrics registry, the audit log (--audit-log FILE, or - for stderr), the decision observer
// over both, the readiness checks, and (--metrics-listen HOST:PORT) a listener of their own for
// /metrics, /healthz and /readyz. HTTP servers also mount those endpoints on their own listener.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "handshake/metrics.hpp"
#include "handshake/net/ops.hpp"
#include "handshake/ops.hpp"
#include "handshake/result.hpp"

namespace handshake {

class Operations {
 public:
  // Errors: those of ops::AuditLog::open.
  [[nodiscard]] static Result<std::unique_ptr<Operations>> open(const std::optional<std::string>& audit_log);

  // Starts the --metrics-listen listener ("HOST:PORT"; port 0: any). Errors: kInvalidArgument
  // "listen" for a bad address, and those of net::OpsServer::start.
  [[nodiscard]] Status listen(const std::string& host_port);
  // SIGHUP: the audit log opened again (after rotation).
  [[nodiscard]] Status reopen();

  [[nodiscard]] net::OpsEndpoints endpoints() { return net::OpsEndpoints{&registry, &readiness}; }
  [[nodiscard]] int metrics_port() const { return server_ ? server_->port() : 0; }

  metrics::Registry registry;
  ops::Readiness readiness;
  std::unique_ptr<ops::AuditLog> audit;  // null without --audit-log
  std::unique_ptr<ops::Observer> observer;

 private:
  Operations() = default;
  std::unique_ptr<net::OpsServer> server_;
};

}  // namespace handshake
