// hsk oauth bridge: the OAuth bridge as an HTTP endpoint (adapters/oauth).
#include <pthread.h>

#include <csignal>
#include <iostream>
#include <string>
#include <vector>

#include "handshake/pkcs11.hpp"
#include "common.hpp"

#ifdef HSK_WITH_OAUTH
#include "handshake/config.hpp"
#include "handshake/did_document.hpp"
#include "handshake/net/http.hpp"
#include "handshake/net/ops.hpp"
#include "handshake/oauth/bridge.hpp"
#include "handshake/oauth/bridge_server.hpp"
#endif

namespace hsk::cli {

int cmd_oauth(const std::vector<std::string>& argv) {
  static const char* kHelp =
      "usage: hsk oauth bridge --key ORG.key --map SCOPES.yaml --introspection-url URL\n"
      "                        --client-id ID --client-secret-file FILE [--auth basic|post]\n"
      "                        [--audience RESOURCE] [--agent-claim NAME] [--accept-agent-header]\n"
      "                        [--agent DID] [--max-ttl SECONDS] [--host 127.0.0.1] [--port 8090]\n"
      "                        [--ca-file FILE] [--client-cert FILE --client-key FILE]\n"
      "                        [--tls-cert CERT.pem --tls-key KEY.pem [--tls-client-ca CA.pem]] [--check]\n"
      "\n"
      "--check loads everything the bridge would (key, scope map, client secret, TLS files), prints one line\n"
      "and exits 0, or the first problem and exits 1; nothing is served, the authorization server not asked.\n"
      "Serves POST /v1/delegations (Authorization: Bearer <access token>) and POST /token (RFC 8693\n"
      "token exchange): each access token is introspected (RFC 7662, with the client credentials\n"
      "given) and becomes a DelegationToken signed by ORG.key, capabilities from the scope map\n"
      "(docs/oauth.md), exp = min(token exp, max TTL <= 600 s). The agent's DID comes from the\n"
      "token claim --agent-claim, else the Handshake-Agent-DID header (with --accept-agent-header),\n"
      "else --agent. --audience makes tokens for any other resource invalid (RFC 8707). The client\n"
      "secret file must be readable by its owner only. An https introspection URL is verified against\n"
      "the system trust store, or --ca-file; --client-cert/--client-key authenticate the bridge to\n"
      "the authorization server with mutual TLS (the key file owner-only). Prints 'listening on HOST:PORT'.\n"
      "--tls-cert/--tls-key serve https (TLS 1.2+, the key file owner-only, both reloaded on SIGHUP);\n"
      "--tls-client-ca requires client certificates from that CA.\n";
  if (argv.empty() || argv[0] == "--help" || argv[0] == "-h") return std::cout << kHelp, argv.empty() ? kUsage : kOk;
  if (argv[0] != "bridge") return usage_error("oauth", "unknown subcommand '" + argv[0] + "' (bridge)");
#ifndef HSK_WITH_OAUTH
  return usage_error("oauth", "this hsk was built without the OAuth adapter");
#else
  const std::vector<std::string> rest(argv.begin() + 1, argv.end());
  std::string err;
  auto a = parse_args(rest,
                      {"key", "map", "introspection-url", "client-id", "client-secret-file", "auth", "audience",
                       "agent-claim", "agent", "max-ttl", "host", "port", "ca-file", "client-cert", "client-key",
                       "tls-cert", "tls-key", "tls-client-ca"},
                      {"accept-agent-header", "check"}, err);
  if (!a) return usage_error("oauth bridge", err);
  if (a->help) return std::cout << kHelp, kOk;
  const auto key = opt(*a, "key"), map_path = opt(*a, "map"), url = opt(*a, "introspection-url"),
             client_id = opt(*a, "client-id"), secret_file = opt(*a, "client-secret-file");
  if (!key || !map_path || !url || !client_id || !secret_file) {
    return usage_error("oauth bridge", "--key, --map, --introspection-url, --client-id and --client-secret-file are required");
  }
  auto number = [](const std::optional<std::string>& s, long lo, long hi, long dflt) -> long {
    if (!s) return dflt;
    try {
      std::size_t used = 0;
      const long v = std::stol(*s, &used);
      return used == s->size() && v >= lo && v <= hi ? v : -1;
    } catch (...) {
      return -1;
    }
  };
  const long port = number(opt(*a, "port"), 0, 65535, 8090);
  const long max_ttl = number(opt(*a, "max-ttl"), 1, 600, 600);
  if (port < 0) return usage_error("oauth bridge", "--port must be 0..65535");
  if (max_ttl < 0) return usage_error("oauth bridge", "--max-ttl must be 1..600");
  handshake::oauth::IntrospectionOptions io;
  io.endpoint = *url;
  io.client_id = *client_id;
  const auto auth = opt(*a, "auth").value_or("basic");
  if (auth == "post") {
    io.auth = handshake::oauth::IntrospectionOptions::Auth::kClientSecretPost;
  } else if (auth != "basic") {
    return usage_error("oauth bridge", "--auth is basic or post");
  }
  // TLS to the authorization server: its CA (else the system trust store), mutual TLS.
  auto as_tls = handshake::net::tls_client_options(opt(*a, "ca-file"), opt(*a, "client-cert"), opt(*a, "client-key"));
  if (!as_tls.ok()) return usage_error("oauth bridge", as_tls.error().message);
  io.tls = std::move(as_tls).value();
  auto secret = handshake::read_secret_file(*secret_file, 4096);
  if (!secret.ok()) return refused("oauth bridge", secret.error());
  io.client_secret = std::move(secret).value();
  while (!io.client_secret.empty() && (io.client_secret.back() == '\n' || io.client_secret.back() == '\r')) {
    io.client_secret.pop_back();
  }
  auto identity = handshake::load_identity(*key);
  if (!identity.ok()) return refused("oauth bridge", identity.error());
  auto map_text = read_input(*map_path);
  if (!map_text.ok()) return refused("oauth bridge", map_text.error());
  auto map = handshake::oauth::ScopeMap::from_yaml(*map_text);
  if (!map.ok()) return refused("oauth bridge", map.error());
  auto introspection = handshake::oauth::IntrospectionClient::create(io, wall_clock());
  if (!introspection.ok()) return refused("oauth bridge", introspection.error());
  handshake::oauth::BridgeOptions bo;
  bo.max_ttl = std::chrono::seconds(max_ttl);
  bo.expected_audience = opt(*a, "audience").value_or("");
  bo.agent_claim = opt(*a, "agent-claim").value_or("");
  bo.accept_agent_hint = flag(*a, "accept-agent-header");
  bo.fixed_agent = opt(*a, "agent");
  handshake::oauth::BridgeServerOptions so;
  if (identity->key_version() == 1) {
    handshake::DidDocumentOptions doc_options;
    doc_options.version_time = std::chrono::floor<std::chrono::seconds>(wall_clock().now());
    if (auto doc = handshake::make_did_document(*identity, doc_options); doc.ok()) so.did_document = *doc;
  }
  auto tls = handshake::net::tls_server_options(opt(*a, "tls-cert"), opt(*a, "tls-key"), opt(*a, "tls-client-ca"));
  if (!tls.ok()) return refused("oauth bridge", tls.error());
  std::shared_ptr<handshake::net::TlsCredentials> credentials;
  auto listener = handshake::net::make_server(*tls, &credentials);
  if (!listener.ok()) return refused("oauth bridge", listener.error());
  so.server = std::shared_ptr<httplib::Server>(std::move(listener).value());
  if (flag(*a, "check")) {
    // Everything above loaded (key, scope map, client secret, TLS files); the authorization server
    // is not asked anything.
    std::cout << "ok: bridge " << identity->did_string() << ", introspection at " << *url << " as " << *client_id
              << (*tls ? ", https" : ", http") << "; --check: not started\n";
    return kOk;
  }
  // GET /metrics, /healthz, /readyz (the bridge's key can sign) beside the bridge's routes.
  handshake::metrics::Registry metrics;
  handshake::ops::Readiness readiness;
  readiness.add("signing_key", handshake::ops::signing_key_check(*identity));
  handshake::net::mount_ops(*so.server, handshake::net::OpsEndpoints{&metrics, &readiness});
  handshake::oauth::Bridge bridge(std::move(identity).value(), std::move(map).value(), **introspection, wall_clock(), bo);
  handshake::oauth::BridgeServer server(bridge, so);
  // The listener (plain, or TLS with its certificate reloaded on SIGHUP) until SIGINT/SIGTERM.
  handshake::net::ServeOptions serve;
  serve.host = opt(*a, "host").value_or("127.0.0.1");
  serve.port = static_cast<int>(port);
  serve.on_listening = [&](int bound) { std::cout << "listening on " << serve.host << ":" << bound << std::endl; };
  if (credentials) serve.on_reload = [&] { return handshake::net::reload(*credentials); };
  serve.log = [](const std::string& line) { std::cerr << "hsk oauth bridge: " << line << std::endl; };
  return handshake::net::serve_until_signal(*so.server, serve) == 0 ? kOk : kRefused;
#endif
}

}  // namespace hsk::cli
