// Streamable HTTP transport (MCP 2025-11-25, also 2025-06-18 / 2025-03-26): one endpoint, POST
// with a JSON or an SSE reply, GET streams, DELETE. The upstream exchange runs on its own thread;
// its headers decide the reply's shape, and SSE events are relayed one by one as they arrive, so
// server-to-client requests inside a call's stream (sampling, elicitation, roots) reach the client
// before the call ends.
#include <httplib.h>
#include <signal.h>
#include <strings.h>

#include <memory>

#include "handshake/mcp/envelope.hpp"
#include "handshake/net/http_server.hpp"
#include "handshake/net/relay.hpp"
#include "relay.hpp"

namespace hsk::mcp_proxy {

namespace mcp = handshake::mcp;

namespace {

using handshake::net::Exchange;
using handshake::net::RelayStep;
using handshake::net::SseEvent;

// The upstream endpoint and how to reach it (net::Client: https, CA file, mTLS).
struct Target {
  handshake::net::Url url;
  handshake::net::ClientOptions client;
};

// The end-to-end headers of a client request, as they go upstream.
httplib::Headers upstream_headers(const httplib::Request& from, bool drop_authorization) {
  httplib::Headers headers;
  for (const auto& [k, v] : from.headers) {
    if (handshake::net::is_hop_by_hop(k)) continue;
    // A token for this resource is never passed on (MCP authorization: no token passthrough).
    if (drop_authorization && ::strcasecmp(k.c_str(), "Authorization") == 0) continue;
    headers.emplace(k, v);
  }
  return headers;
}

std::shared_ptr<Exchange> start_upstream(const Target& target, const std::string& method, httplib::Headers headers,
                                         std::string content_type, std::string body) {
  handshake::net::UpstreamRequest req;
  req.method = method;
  req.path = target.url.path;
  req.headers = std::move(headers);
  req.body = std::move(body);
  req.content_type = std::move(content_type);
  return Exchange::start(target.url, target.client, std::move(req));
}

void json_reply(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(mcp::serialize(body), "application/json");
}

// Sends a POST with `body` upstream again, with the headers of the client's request: a role's
// resend (Finished::resend).
using Restart = std::function<std::shared_ptr<Exchange>(std::string body)>;

bool is_sse(const std::string& content_type) { return content_type.rfind("text/event-stream", 0) == 0; }

// The MCP rules of an SSE reply to the request `id`: only its own response, once, goes through
// `finish` (which may ask for a resend); every other event passes as it came.
handshake::net::SseRelayHooks sse_hooks(const Json& id, Finish finish, Restart restart) {
  struct State {
    std::string id_text;
    Finish finish;
    bool answered = false;
  };
  const bool carries_no_call = id.is_null() && !finish;  // a GET stream: resumable elsewhere
  auto st = std::make_shared<State>(State{mcp::serialize(id), std::move(finish), false});
  // The role's answer to the response: the new data, or a resend that st->finish follows.
  auto through_role = [st](Json message, RelayStep::Kind kind) {
    Finished f = st->finish(std::move(message));
    st->finish = std::move(f.resend);
    if (st->finish) {
      st->answered = false;
      return RelayStep{RelayStep::Kind::kResend, mcp::serialize(f.message)};
    }
    return RelayStep{kind, mcp::serialize(f.message)};
  };
  handshake::net::SseRelayHooks h;
  h.event_name = "message";
  h.restart = std::move(restart);
  h.on_event = [st, through_role](const SseEvent& ev) {
    const std::string d = ev.data();
    auto message = d.empty() ? std::nullopt : mcp::decode(d);
    if (!message || mcp::message_type(*message) != mcp::MessageType::kResponse) return RelayStep{};
    // A response to any other request (a resumed stream replaying earlier ones, a GET stream, a
    // duplicate) has not been checked and never reaches the client.
    if (st->answered || mcp::serialize((*message)["id"]) != st->id_text) {
      log("dropped a JSON-RPC response to another request (id " + mcp::serialize((*message)["id"]).substr(0, 64) +
          ") on an upstream event stream: it would bypass the handshake checks");
      return RelayStep{RelayStep::Kind::kDrop, {}};
    }
    st->answered = true;
    if (!st->finish) return RelayStep{};
    return through_role(std::move(*message), RelayStep::Kind::kReplace);
  };
  h.on_body = [st, id, through_role](int status, const std::string& body) {
    // A JSON (or other) body inside the event stream the client already has: one event.
    auto message = mcp::decode(body);
    if (!message || mcp::message_type(*message) != mcp::MessageType::kResponse) {
      return RelayStep{RelayStep::Kind::kEnd,
                       mcp::serialize(mcp::error_response(
                           id, mcp::kInternalError, "upstream answered HTTP " + std::to_string(status) + " without a response"))};
    }
    if (!st->finish) return RelayStep{RelayStep::Kind::kEnd, mcp::serialize(*message)};
    return through_role(std::move(*message), RelayStep::Kind::kEnd);
  };
  h.on_failure = [id](const std::string& why) {
    log("upstream unreachable: " + why);
    return mcp::serialize(mcp::error_response(id, mcp::kInternalError, "upstream unreachable"));
  };
  h.end_on_drain = carries_no_call;
  return h;
}

// Relays the upstream reply to `res`: headers, then the body (the response to `id` through
// `finish` when there is one; a resend it asks for goes upstream through `restart`, and its reply
// is what the client gets).
void relay_reply(const std::shared_ptr<Exchange>& up, httplib::Response& res, const Json& id, Finish finish,
                 const Restart& restart) {
  while (!up->wait_headers(std::chrono::seconds(3600))) {
  }
  if (up->failed()) {
    log("upstream unreachable: " + up->error());
    json_reply(res, 502, mcp::error_response(id, mcp::kInternalError, "upstream unreachable: " + up->error()));
    return;
  }
  res.status = up->status();
  for (const auto& [k, v] : up->headers()) {
    if (!handshake::net::is_hop_by_hop(k)) res.headers.emplace(k, v);
  }
  const std::string content_type = up->content_type();

  if (is_sse(content_type)) {
    handshake::net::SseRelay::attach(res, std::make_shared<handshake::net::SseRelay>(up, sse_hooks(id, std::move(finish), restart)));
    return;
  }

  // A whole body (JSON, or anything else such as an error page): wait for the end.
  std::string body;
  while (!up->wait_body(std::chrono::seconds(3600), body)) {
  }
  if (!finish && id.is_null() && content_type.rfind("application/json", 0) == 0) {
    // A GET or DELETE answered with a JSON-RPC response: nothing checked it, so it does not pass.
    if (auto message = mcp::decode(body); message && mcp::message_type(*message) == mcp::MessageType::kResponse) {
      log("dropped a JSON-RPC response in the body of a GET or DELETE: it would bypass the handshake checks");
      res.headers.clear();
      return json_reply(res, 502, mcp::error_response(Json(), mcp::kInternalError, "unexpected response upstream"));
    }
  }
  if (finish && content_type.rfind("application/json", 0) == 0) {
    if (auto message = mcp::decode(body); message && mcp::message_type(*message) == mcp::MessageType::kResponse) {
      Finished f = finish(std::move(*message));
      if (f.resend) {
        // Nothing has reached the client yet: its reply is the resent request's, whatever shape.
        res.headers.clear();
        if (!restart) return json_reply(res, 502, mcp::error_response(id, mcp::kInternalError, "cannot resend"));
        relay_reply(restart(mcp::serialize(f.message)), res, id, std::move(f.resend), restart);
        return;
      }
      body = mcp::serialize(f.message);
    }
  }
  res.set_content(body, content_type.empty() ? "application/octet-stream" : content_type);
}

}  // namespace

int run_http(const HttpOptions& options, const Route& route) {
  Target target;
  auto url = handshake::net::Url::parse(options.upstream);
  if (!url.ok()) {
    log("--upstream: " + url.error().message);
    return 2;
  }
  target.url = std::move(url).value();
  target.client.tls = options.upstream_tls;
  // Checks the TLS options (files, key permissions) now rather than at the first request.
  if (auto probe = handshake::net::Client::open(target.url, target.client); !probe.ok()) {
    log("--upstream: " + probe.error().message);
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);

  std::shared_ptr<handshake::net::TlsCredentials> credentials;
  auto listener = handshake::net::make_server(options.listen_tls, &credentials);
  if (!listener.ok()) {
    log("--tls-cert/--tls-key: " + listener.error().message);
    return 2;
  }
  httplib::Server& server = **listener;
  // The limits every server of ours applies (worker pool, timeouts, keep-alive; slowloris in
  // tests/load); the body limit is the proxy's own.
  handshake::net::HttpServerLimits limits;
  limits.max_body_bytes = options.max_message_bytes;
  limits.log = [](const std::string& line) { log(line); };
  handshake::net::apply_limits(server, limits);
  // A body over the limit is not read, so its id is unknown: a JSON-RPC error without one (the
  // HTTP reply itself is what the client matches), and a log line (apply_limits).
  server.set_error_handler(httplib::Server::HandlerWithResponse([max = options.max_message_bytes](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    if (res.status == 413) {
      log("refused a request of more than " + std::to_string(max) + " bytes (--max-message-bytes): 413");
      res.set_content(mcp::serialize(mcp::error_response(nullptr, mcp::kMessageTooLarge,
                                                         "message exceeds the limit of " + std::to_string(max) + " bytes")),
                      "application/json");
    } else {
      res.set_content(handshake::net::library_error_body(res.status, req, max), "application/json");
    }
    return httplib::Server::HandlerResponse::Handled;
  }));

  const HttpAuth* auth = options.auth ? &*options.auth : nullptr;
  const bool drop_auth = auth != nullptr;
  // Resource-server duties: every request is checked before anything else happens.
  auto refused = [auth](const httplib::Request& req, httplib::Response& res, Json& context) {
    if (auth == nullptr) return false;
    HttpAuth::Outcome o = auth->check(req.get_header_value("Authorization"));
    if (o.allowed) {
      context = std::move(o.context);
      return false;
    }
    res.status = o.status;
    if (!o.www_authenticate.empty()) res.set_header("WWW-Authenticate", o.www_authenticate);
    res.set_content(mcp::serialize(o.body.is_null() ? Json::object() : o.body), "application/json");
    return true;
  };
  if (auth != nullptr) {
    server.Get(auth->metadata_path, [auth](const httplib::Request&, httplib::Response& res) {
      res.set_header("Cache-Control", "no-cache");
      res.set_content(mcp::serialize(auth->metadata), "application/json");
    });
  }

  server.Post(options.path, [&](const httplib::Request& req, httplib::Response& res) {
    Json context;
    if (refused(req, res, context)) return;
    auto message = mcp::decode(req.body);
    if (!message) return json_reply(res, 400, mcp::error_response(nullptr, mcp::kParseError, "Parse error"));
    const auto type = mcp::message_type(*message);
    if (type == mcp::MessageType::kInvalid) {
      return json_reply(res, 400, mcp::error_response(nullptr, mcp::kInvalidRequest, "Invalid Request"));
    }
    const Json id = type == mcp::MessageType::kRequest ? (*message)["id"] : Json();
    Routed r = auth != nullptr ? auth->route(std::move(*message), req.body, context) : route(std::move(*message), req.body);
    if (r.answer_now) return json_reply(res, 200, r.message);
    const std::string content_type = req.get_header_value("Content-Type");
    httplib::Headers headers = upstream_headers(req, drop_auth);
    Restart restart = [target, headers, content_type](std::string body) {
      return start_upstream(target, "POST", headers, content_type, std::move(body));
    };
    relay_reply(restart(r.modified ? mcp::serialize(r.message) : req.body), res, id, std::move(r.finish), restart);
  });
  server.Get(options.path, [&](const httplib::Request& req, httplib::Response& res) {
    Json context;
    if (refused(req, res, context)) return;
    relay_reply(start_upstream(target, "GET", upstream_headers(req, drop_auth), {}, {}), res, Json(), nullptr, nullptr);
  });
  server.Delete(options.path, [&](const httplib::Request& req, httplib::Response& res) {
    Json context;
    if (refused(req, res, context)) return;
    relay_reply(start_upstream(target, "DELETE", upstream_headers(req, drop_auth), {}, {}), res, Json(), nullptr,
                nullptr);
  });
  // Oversized bodies: httplib answers 413 itself.
  if (options.ops) handshake::net::mount_ops(server, *options.ops);

  handshake::net::ServeOptions serve;
  serve.host = options.listen_host;
  serve.port = options.listen_port;
  serve.on_listening = [&](int port) {
    log(std::string("listening on ") + (options.listen_tls ? "https://" : "http://") + options.listen_host + ":" +
        std::to_string(port) + options.path + " -> " + target.url.str());
  };
  serve.on_reload = [&]() -> handshake::Status {
    if (options.on_reload) HSK_TRY(options.on_reload());
    if (credentials) HSK_TRY(handshake::net::reload(*credentials));
    return {};
  };
  serve.log = [](const std::string& line) { log(line); };
  return handshake::net::serve_until_signal(server, serve);
}

}  // namespace hsk::mcp_proxy
