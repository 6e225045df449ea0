#include "handshake/operations.hpp"

#include "handshake/command_line.hpp"

namespace handshake {

Result<std::unique_ptr<Operations>> Operations::open(const std::optional<std::string>& audit_log) {
  std::unique_ptr<Operations> o(new Operations());
  if (audit_log) {
    HSK_ASSIGN_OR_RETURN(o->audit, ops::AuditLog::open(*audit_log));
  }
  o->observer = std::make_unique<ops::Observer>(o->registry, o->audit.get());
  return o;
}

Status Operations::listen(const std::string& host_port) {
  HSK_ASSIGN_OR_RETURN(auto hp, parse_listen(host_port));
  HSK_ASSIGN_OR_RETURN(server_, net::OpsServer::start(hp.first, hp.second, endpoints()));
  return ok_status();
}

Status Operations::reopen() { return audit ? audit->reopen() : ok_status(); }

}  // namespace handshake
