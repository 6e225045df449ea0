#include "handshake/oauth/bridge_server.hpp"

#include <httplib.h>

#include <thread>

#include "handshake/net/http_server.hpp"
#include "handshake/oauth/resource_server.hpp"

namespace handshake::oauth {
namespace {

void send(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_header("Pragma", "no-cache");
  res.set_content(json::canonicalize(body).value_or("{}"), "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& error, const std::string& description) {
  send(res, status, Json{{"error", error}, {"error_description", description}});
}

}  // namespace

struct BridgeServer::Impl {
  const Bridge& bridge;
  BridgeServerOptions options;
  std::shared_ptr<httplib::Server> holder;
  httplib::Server& server;
  std::thread thread;

  Impl(const Bridge& b, BridgeServerOptions o)
      : bridge(b), options(std::move(o)),
        holder(options.server ? options.server : std::make_shared<httplib::Server>()), server(*holder) {}

  std::optional<std::string> hint(const httplib::Request& req) const {
    if (!req.has_header("Handshake-Agent-DID")) return std::nullopt;
    return req.get_header_value("Handshake-Agent-DID");
  }

  void post_delegation(const httplib::Request& req, httplib::Response& res) {
    const auto token = bearer_token(req.get_header_value("Authorization"));
    if (!token) {
      res.set_header("WWW-Authenticate", "Bearer");
      return send_error(res, 401, "invalid_token", "an access token is required (Authorization: Bearer)");
    }
    auto issued = bridge.delegation_for(*token, hint(req));
    if (issued.ok()) return send(res, 200, Json{{"delegation", issued->delegation}});
    const auto& e = issued.error();
    if (e.code == ErrorCode::kUnavailable) return send_error(res, 503, "temporarily_unavailable", e.message);
    if (e.reason == "oauth.unmapped_scope" || e.reason == "oauth.no_capability") {
      res.set_header("WWW-Authenticate", "Bearer error=\"insufficient_scope\"");
      return send_error(res, 403, "insufficient_scope", e.message);
    }
    if (e.code == ErrorCode::kPermission) {
      res.set_header("WWW-Authenticate", "Bearer error=\"invalid_token\"");
      return send_error(res, 401, "invalid_token", e.reason + ": " + e.message);
    }
    return send_error(res, 400, "invalid_request", e.reason + ": " + e.message);
  }

  void post_token(const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("Content-Type").rfind("application/x-www-form-urlencoded", 0) != 0) {
      return send_error(res, 400, "invalid_request", "the body must be application/x-www-form-urlencoded");
    }
    std::map<std::string, std::string> form;
    for (const auto& [k, v] : req.params) {
      if (form.count(k) != 0) return send_error(res, 400, "invalid_request", "parameter " + k + " is repeated");
      form.emplace(k, v);
    }
    auto answer = bridge.token_exchange(form, hint(req));
    if (answer.ok()) return send(res, 200, *answer);
    const auto& e = answer.error();
    send_error(res, e.code == ErrorCode::kUnavailable ? 503 : 400, e.reason, e.message);
  }

  void routes() {
    net::HttpServerLimits limits;
    limits.max_body_bytes = options.max_body_bytes;
    net::apply_limits(server, limits);
    server.Post("/v1/delegations", [this](const httplib::Request& q, httplib::Response& r) { post_delegation(q, r); });
    server.Post("/token", [this](const httplib::Request& q, httplib::Response& r) { post_token(q, r); });
    server.Get("/.well-known/handshake/did.json", [this](const httplib::Request&, httplib::Response& r) {
      if (options.did_document.is_null()) return send_error(r, 404, "not_found", "no DID Document configured");
      send(r, 200, options.did_document);
    });
    server.set_exception_handler([](const httplib::Request&, httplib::Response& r, std::exception_ptr) {
      send_error(r, 500, "server_error", "internal error");
    });
  }
};

BridgeServer::BridgeServer(const Bridge& bridge, BridgeServerOptions options)
    : impl_(std::make_unique<Impl>(bridge, std::move(options))) {
  impl_->routes();
}

BridgeServer::~BridgeServer() { stop(); }

Result<int> BridgeServer::start(const std::string& host, int port) {
  const int bound = net::bind_server(impl_->server, host, port);
  if (bound <= 0) return make_error(ErrorCode::kIo, "oauth.bind", "cannot listen on " + host + ":" + std::to_string(port));
  impl_->thread = std::thread([this] { impl_->server.listen_after_bind(); });
  for (int i = 0; i < 400 && !impl_->server.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return bound;
}

void BridgeServer::stop() {
  if (!impl_) return;
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace handshake::oauth
