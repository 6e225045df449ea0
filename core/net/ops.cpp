#include "handshake/net/ops.hpp"

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <cstring>

#include "handshake/net/http_server.hpp"

namespace handshake::net {

namespace detail {
std::atomic<std::uint64_t> g_tls_handshake_failures{0};  // counted in http.cpp
}

std::uint64_t tls_handshake_failures() { return detail::g_tls_handshake_failures.load(std::memory_order_relaxed); }

void mount_ops(httplib::Server& server, const OpsEndpoints& endpoints) {
  if (endpoints.registry != nullptr) {
    metrics::Registry& registry = *endpoints.registry;
    registry.callback("hsk_tls_handshake_failures_total", "TLS handshakes this process's listeners failed",
                      metrics::Type::kCounter, {},
                      [] { return std::vector<metrics::Sample>{{{}, static_cast<double>(tls_handshake_failures())}}; });
    registry.callback("hsk_build_info", "The protocol version this build speaks", metrics::Type::kGauge, {"protocol_version"},
                      [] { return std::vector<metrics::Sample>{{{"0.2.3"}, 1}}; });
    server.Get("/metrics", [&registry](const httplib::Request&, httplib::Response& res) {
      res.set_content(registry.render(), metrics::Registry::kContentType);
    });
  }
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"alive"})", "application/json");
  });
  const ops::Readiness* readiness = endpoints.readiness;
  server.Get("/readyz", [readiness](const httplib::Request&, httplib::Response& res) {
    ops::Readiness::Report report;
    if (readiness != nullptr) report = readiness->run();
    else report.body = {{"status", "ready"}, {"checks", Json::object()}};
    if (draining()) {  // SIGTERM: finishing what is in progress, taking nothing new
      report.ready = false;
      report.body["status"] = "draining";
    }
    res.status = report.ready ? 200 : 503;
    res.set_header("Cache-Control", "no-store");
    res.set_content(report.body.dump(), "application/json");
  });
}

Result<std::unique_ptr<OpsServer>> OpsServer::start(const std::string& host, int port, const OpsEndpoints& endpoints,
                                                    const std::optional<TlsServerOptions>& tls) {
  std::unique_ptr<OpsServer> ops(new OpsServer());
  HSK_ASSIGN_OR_RETURN(ops->server_, make_server(tls));
  HttpServerLimits limits;
  limits.workers = 4;
  apply_limits(*ops->server_, limits);
  mount_ops(*ops->server_, endpoints);
  errno = 0;
  ops->port_ = bind_server(*ops->server_, host, port);
  if (ops->port_ <= 0) {
    const int saved = errno;
    return make_error(ErrorCode::kUnavailable, "ops.bind",
                      "cannot listen on " + host + ":" + std::to_string(port) + ": " +
                          (saved != 0 ? std::strerror(saved) : "the address is in use or not local"));
  }
  httplib::Server* server = ops->server_.get();
  // The thread (and the workers it starts) must not take the process's signals: those belong to
  // the one thread that waits for them (net::wait_for_stop), which may not have blocked them yet.
  sigset_t signals, before;
  sigemptyset(&signals);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&signals, sig);
  pthread_sigmask(SIG_BLOCK, &signals, &before);
  ops->thread_ = std::thread([server] { server->listen_after_bind(); });
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
  return ops;
}

OpsServer::~OpsServer() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace handshake::net
