// hsk gate: the plain-HTTP adapter (adapters/http) as a server, in one of two modes: an
// authorization endpoint for nginx auth_request and Envoy ext_authz, or a reverse proxy in front
// of an HTTP API that signs a receipt over every response it passes on.
#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include "common.hpp"

#ifdef HSK_WITH_HTTP
#include "handshake/config.hpp"
#include "handshake/encoding.hpp"
#include "handshake/http/gate.hpp"
#include "handshake/net/http.hpp"
#include "handshake/net/http_server.hpp"
#include "handshake/net/ops.hpp"
#include "handshake/net/relay.hpp"
#include "handshake/operations.hpp"
#include "handshake/storage/receipts.hpp"
#endif

namespace hsk::cli {

int cmd_gate(const std::vector<std::string>& argv) {
  static const char* kHelp =
      "usage: hsk gate --config SERVICE.yaml --routes ROUTES.yaml [--host 127.0.0.1] [--port 8091]\n"
      "                [--upstream URL [--ca-file F] [--client-cert F --client-key F]] [--path-prefix P]\n"
      "                [--receipts FILE | --receipts-db DB [--receipts-db-password-file F]]\n"
      "                [--audit-log FILE|-] [--tls-cert CERT.pem --tls-key KEY.pem [--tls-client-ca CA.pem]] [--check]\n"
      "\n"
      "Checks the Handshake of every request to a plain HTTP API (docs/gate.md). The request travels in\n"
      "the Handshake-Request header (base64url of the HandshakeRequest's JSON, as the reference SDKs\n"
      "send it; x-handshake-request too). ROUTES.yaml maps \"METHOD /path/{param}\" to a capability and\n"
      "the constraint values of a call to its path parameters, query, headers or JSON body.\n"
      "Without --upstream: an authorization endpoint. The request to check is X-Original-Method and\n"
      "X-Original-URI (nginx auth_request), else this request's own method and URI minus --path-prefix\n"
      "(Envoy ext_authz). 200 with Handshake-Acceptance (base64url of the signed Acceptance); 401, 403,\n"
      "429 or 503 with the signed Refusal as the body and, base64url, in Handshake-Refusal.\n"
      "With --upstream URL: a reverse proxy. An accepted request is forwarded (with Handshake-Acceptance);\n"
      "the response comes back with Handshake-Receipt (base64url of a receipt signed over its body:\n"
      "SHA-256 of JCS when JSON, of the bytes otherwise) and Handshake-Receipt-Id.\n"
      "GET /metrics, /healthz and /readyz as every server (docs/operations.md); SIGHUP reloads the\n"
      "configuration and the TLS pair; SIGTERM drains. Prints 'listening on HOST:PORT'.\n";
  if (!argv.empty() && (argv[0] == "--help" || argv[0] == "-h")) return std::cout << kHelp, kOk;
#ifndef HSK_WITH_HTTP
  return usage_error("gate", "this hsk was built without the HTTP adapter");
#else
  std::string err;
  auto a = parse_args(argv,
                      {"config", "routes", "host", "port", "upstream", "ca-file", "client-cert", "client-key",
                       "path-prefix", "receipts", "receipts-db", "receipts-db-password-file", "audit-log", "tls-cert",
                       "tls-key", "tls-client-ca"},
                      {"check"}, err);
  if (!a) return usage_error("gate", err);
  if (a->help) return std::cout << kHelp, kOk;
  if (!a->positional.empty()) return usage_error("gate", "unexpected argument '" + a->positional[0] + "'");
  const auto config = opt(*a, "config"), routes_path = opt(*a, "routes");
  if (!config || !routes_path) return usage_error("gate", "--config and --routes are required");
  long port = 8091;
  try {
    if (auto p = opt(*a, "port")) port = std::stol(*p);
  } catch (const std::exception&) {
    return usage_error("gate", "--port takes a number");
  }
  if (port < 0 || port > 65535) return usage_error("gate", "--port must be 0..65535");
  const auto upstream_text = opt(*a, "upstream");
  if (!upstream_text && (opt(*a, "ca-file") || opt(*a, "client-cert") || opt(*a, "client-key"))) {
    return usage_error("gate", "--ca-file, --client-cert and --client-key are for the --upstream");
  }
  std::optional<handshake::net::Url> upstream;
  handshake::net::ClientOptions client_options;
  if (upstream_text) {
    auto url = handshake::net::Url::parse(*upstream_text);
    if (!url.ok()) return usage_error("gate", url.error().message);
    upstream = *url;
    auto tls = handshake::net::tls_client_options(opt(*a, "ca-file"), opt(*a, "client-cert"), opt(*a, "client-key"));
    if (!tls.ok()) return usage_error("gate", tls.error().message);
    client_options.tls = *tls;
    // Checked now (files, key permissions): a start-up error, not a failed call.
    if (auto probe = handshake::net::Client::open(*upstream, client_options); !probe.ok()) return refused("gate", probe.error());
  }
  const std::string prefix = opt(*a, "path-prefix").value_or("");

  auto setup = handshake::ServiceSetup::load(*config);
  if (!setup.ok()) return refused("gate", in_file(*config, setup.error()));
  auto map = handshake::ActionMap::load(*routes_path, handshake::http::route_map_format());
  if (!map.ok()) return refused("gate", in_file(*routes_path, map.error()));
  auto service = (*setup)->make_service(wall_clock());
  auto ops = handshake::Operations::open(opt(*a, "audit-log"));
  if (!ops.ok()) return refused("gate", ops.error());
  (*setup)->add_checks((*ops)->readiness);
  (*setup)->add_metrics((*ops)->registry);
  auto store = handshake::storage::open_receipt_option(opt(*a, "receipts"), opt(*a, "receipts-db"),
                                                       opt(*a, "receipts-db-password-file"));
  if (!store.ok()) {
    return store.error().reason == "usage" ? usage_error("gate", store.error().message) : refused("gate", store.error());
  }
  handshake::http::GateOptions go;
  go.observer = (*ops)->observer.get();
  handshake::ReceiptStore* receipts = store->get();
  go.on_refusal = [receipts](const handshake::Decision& d) {
    if (receipts != nullptr && !d.response.is_null()) (void)receipts->put_refusal(d.response, "http");
  };
  const bool auth_mode = !upstream;
  auto gate = handshake::http::Gate::create(*service, std::move(map).value(), auth_mode, go);
  if (!gate.ok()) return refused("gate", in_file(*routes_path, gate.error()));

  auto tls = handshake::net::tls_server_options(opt(*a, "tls-cert"), opt(*a, "tls-key"), opt(*a, "tls-client-ca"));
  if (!tls.ok()) return refused("gate", tls.error());
  std::shared_ptr<handshake::net::TlsCredentials> credentials;
  auto listener = handshake::net::make_server(*tls, &credentials);
  if (!listener.ok()) return refused("gate", listener.error());
  if (flag(*a, "check")) {
    std::cout << "ok: gate " << service->did() << " (" << (auth_mode ? "authorization endpoint" : "reverse proxy to " + upstream->str())
              << "); --check: not started\n";
    return kOk;
  }
  httplib::Server& server = **listener;
  handshake::net::HttpServerLimits limits;
  limits.max_body_bytes = 4 * 1024 * 1024;
  handshake::net::apply_limits(server, limits);
  handshake::net::mount_ops(server, (*ops)->endpoints());

  handshake::http::Gate& g = **gate;
  auto to_request = [&](const httplib::Request& req) {
    handshake::http::Request r;
    for (const auto& [k, v] : req.headers) r.headers.emplace_back(k, v);
    r.content_type = req.get_header_value("Content-Type");
    if (auth_mode) {
      r.method = req.has_header("X-Original-Method") ? req.get_header_value("X-Original-Method") : req.method;
      if (req.has_header("X-Original-URI")) {
        r.target = req.get_header_value("X-Original-URI");
      } else {
        r.target = req.target;
        if (!prefix.empty() && r.target.rfind(prefix, 0) == 0) r.target = r.target.substr(prefix.size());
        if (r.target.empty() || r.target.front() != '/') r.target = "/" + r.target;
      }
    } else {
      r.method = req.method;
      r.target = req.target;
      r.body = req.body;
    }
    return r;
  };
  auto bad_gateway = [](const std::string& why) {
    handshake::http::Answer answer;
    answer.status = 502;
    answer.body = handshake::Json{{"error", "bad_gateway"}, {"error_description", why}}.dump();
    return answer;
  };
  auto reply = [](httplib::Response& res, const handshake::http::Answer& answer) {
    res.status = answer.status;
    for (const auto& [k, v] : answer.headers) res.set_header(k, v);
    if (!answer.body.empty()) res.set_content(answer.body, "application/json");
  };
  auto handle = [&](const httplib::Request& req, httplib::Response& res) {
    const handshake::http::Answer answer = g.check(to_request(req));
    if (auth_mode) {
      if (answer.decision) g.done(answer, std::nullopt, std::nullopt);
      return reply(res, answer);
    }
    if (answer.status != 200) return reply(res, answer);
    // Reverse proxy: forward with the Acceptance, sign a receipt over what comes back.
    auto client = handshake::net::Client::open(*upstream, client_options);
    if (!client.ok()) return reply(res, bad_gateway(client.error().message));
    httplib::Headers headers;
    for (const auto& [k, v] : req.headers) {
      std::string name = k;  // no lambda over a structured binding: clang refuses it in C++20
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (handshake::net::is_hop_by_hop(name) || name == "host" || name == "content-length" ||
          name == handshake::http::kRequestHeader || name == handshake::http::kPythonRequestHeader) {
        continue;
      }
      headers.emplace(k, v);
    }
    for (const auto& [k, v] : answer.headers) headers.emplace(k, v);
    const std::string path = (upstream->path == "/" ? std::string() : upstream->path) + req.target;
    httplib::Request out;
    out.method = req.method;
    out.path = path;
    out.headers = headers;
    out.body = req.body;
    const auto started = std::chrono::steady_clock::now();
    httplib::Result r = (*client)->http().send(out);
    const auto upstream_time = std::chrono::steady_clock::now() - started;
    if (!r) {
      g.done(answer, std::nullopt, upstream_time);
      return reply(res, bad_gateway((*client)->describe(r.error())));
    }
    const std::string content_type = r->get_header_value("Content-Type");
    // A route the map lets pass (unmapped: pass) has no decision: relayed without a receipt.
    auto receipt = answer.decision ? handshake::http::receipt_over_body(g.service(), *answer.decision, r->status,
                                                                        content_type, r->body)
                                   : handshake::Result<handshake::Json>(handshake::make_error(
                                         handshake::ErrorCode::kInvalidArgument, "receipt.not_accepted", "no handshake"));
    res.status = r->status;
    for (const auto& [k, v] : r->headers) {
      std::string n = k;
      for (auto& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (!handshake::net::is_hop_by_hop(n) && n != "content-length" && n != "content-type") res.set_header(k, v);
    }
    std::optional<std::string> receipt_id;
    if (receipt.ok()) {
      const std::string text = receipt->dump();
      res.set_header(std::string(handshake::http::kReceiptHeader),
                     handshake::encoding::base64url_encode(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size())));
      receipt_id = receipt->value("id", std::string());
      res.set_header("Handshake-Receipt-Id", *receipt_id);
      if (receipts != nullptr) {
        const handshake::Json chain = answer.decision->request ? answer.decision->request->source.value("delegation_chain", handshake::Json()) : handshake::Json();
        (void)receipts->put_receipt(*receipt, handshake::Json(), receipt->value("action", std::string()), chain);
      }
    }
    res.set_content(r->body, content_type.empty() ? "application/octet-stream" : content_type);
    g.done(answer, receipt_id, upstream_time);
  };
  server.Get(".*", handle);
  server.Post(".*", handle);
  server.Put(".*", handle);
  server.Patch(".*", handle);
  server.Delete(".*", handle);
  server.Options(".*", handle);

  handshake::net::ServeOptions serve;
  serve.host = opt(*a, "host").value_or("127.0.0.1");
  serve.port = static_cast<int>(port);
  serve.on_listening = [&](int bound) { std::cout << "listening on " << serve.host << ":" << bound << std::endl; };
  serve.on_reload = [&]() -> handshake::Status {
    const handshake::Status audit = (*ops)->reopen();
    HSK_ASSIGN_OR_RETURN(auto next, handshake::ActionMap::load(*routes_path, handshake::http::route_map_format()));
    HSK_TRY(handshake::http::Routes::compile(next, auth_mode));  // checked before anything changes
    HSK_TRY((*setup)->reload(service.get()));
    HSK_TRY(g.set_map(std::move(next)));
    if (credentials) HSK_TRY(handshake::net::reload(*credentials));
    return audit;
  };
  serve.log = [](const std::string& line) { std::cerr << "hsk gate: " << line << std::endl; };
  return handshake::net::serve_until_signal(server, serve) == 0 ? kOk : kRefused;
#endif
}

}  // namespace hsk::cli
