// The bridge as an HTTP endpoint (`hsk oauth bridge`), cpp-httplib:
//
//   POST /v1/delegations   Authorization: Bearer <access token>
//                          [Handshake-Agent-DID: <did>] (used when the bridge accepts hints)
//                          200 {"delegation": <signed DelegationToken>}
//                          401 + WWW-Authenticate: Bearer error="invalid_token" (inactive,
//                          expired, not yet valid, wrong audience, no token), 403
//                          error="insufficient_scope" (unmapped scopes), 400 (agent DID), 503
//                          (introspection unavailable). Bodies {"error", "error_description"}.
//   POST /token            RFC 8693 token exchange (application/x-www-form-urlencoded), see
//                          Bridge::token_exchange; RFC 6749 error bodies.
//   GET  /.well-known/handshake/did.json   the bridge's DID Document, when configured
// Every answer carries Cache-Control: no-store.
#pragma once

#include <memory>
#include <string>

#include "handshake/json.hpp"
#include "handshake/oauth/bridge.hpp"
#include "handshake/result.hpp"

namespace httplib {
class Server;
}

namespace handshake::oauth {

struct BridgeServerOptions {
  std::size_t max_body_bytes = 64 * 1024;
  Json did_document;  // the bridge's own, served at /.well-known/handshake/did.json
  // The listener the routes go on, e.g. a TLS one from net::make_server (net/http.hpp); absent: a
  // plain http one. Serve it with start() or net::serve_until_signal.
  std::shared_ptr<httplib::Server> server;
};

class BridgeServer {
 public:
  BridgeServer(const Bridge& bridge, BridgeServerOptions options = {});
  ~BridgeServer();
  BridgeServer(const BridgeServer&) = delete;
  BridgeServer& operator=(const BridgeServer&) = delete;
  // Binds (port 0: any free port) and serves on a background thread. Errors: kIo "oauth.bind".
  [[nodiscard]] Result<int> start(const std::string& host, int port);
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace handshake::oauth
