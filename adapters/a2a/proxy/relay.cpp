// The A2A JSON-RPC relay of hsk-a2a-proxy (relay.hpp), on the net relay kit: whole answers through
// net::Client, streams through net::Exchange and net::SseRelay, event by event.
#include "relay.hpp"

#include "handshake/net/http_server.hpp"
#include "handshake/net/relay.hpp"

namespace hsk::a2a_proxy {

namespace {

Json rpc_error(const Json& id, int code, const std::string& message) {
  return Json{{"jsonrpc", "2.0"}, {"id", id}, {"error", Json{{"code", code}, {"message", message}}}};
}

constexpr int kInternalError = -32603;
// A task may take its time: between two reads of an upstream answer.
constexpr std::chrono::seconds kUpstreamReadTimeout{300};

}  // namespace

std::optional<Json> Proxy::fetch_card() const {
  auto options = upstream_client;
  options.read_timeout = std::chrono::seconds(10);
  auto c = handshake::net::Client::open(upstream, options);
  if (!c.ok()) {
    log("upstream " + upstream.origin() + ": " + c.error().message);
    return std::nullopt;
  }
  auto res = (*c)->get("/.well-known/agent-card.json");
  if (!res.ok()) {
    log("the upstream agent card: " + res.error().message);
    return std::nullopt;
  }
  if (res->status != 200) {
    log("the upstream agent card: HTTP " + std::to_string(res->status));
    return std::nullopt;
  }
  auto card = handshake::json::parse_strict(res->body);
  if (!card.ok()) {
    log("the upstream agent card is not JSON: " + card.error().message);
    return std::nullopt;
  }
  return std::move(card).value();
}

void Proxy::serve(httplib::Server& server) {
  handshake::net::HttpServerLimits limits;
  limits.max_body_bytes = max_body;
  limits.read_timeout_seconds = 30;  // a streamed task may take its time between events
  limits.write_timeout_seconds = 30;
  limits.log = [](const std::string& line) { log(line); };
  handshake::net::apply_limits(server, limits);
  server.set_error_handler(httplib::Server::HandlerWithResponse([max = max_body](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    if (res.status == 413) {
      log("refused a request of more than " + std::to_string(max) + " bytes (--max-body-bytes): 413");
      res.set_content(rpc_error(nullptr, -32600, "Invalid Request: the body exceeds the limit of " + std::to_string(max) +
                                                     " bytes")
                          .dump(),
                      "application/json");
    } else {
      res.set_content(handshake::net::library_error_body(res.status, req, max), "application/json");
    }
    return httplib::Server::HandlerResponse::Handled;
  }));
  server.Get("/.well-known/agent-card.json", [this](const httplib::Request&, httplib::Response& res) {
    auto upstream_card = fetch_card();
    if (!upstream_card) {
      res.status = 502;
      res.set_content(R"({"error":"the upstream agent card is unavailable"})", "application/json");
      return;
    }
    Json out = card(std::move(*upstream_card));
    a2a::point_card_at(out, self_url);  // clients come back through this proxy
    res.set_header("Cache-Control", "no-cache");
    res.set_content(out.dump(), "application/json");
  });
  server.Post(".*", [this](const httplib::Request& req, httplib::Response& res) { post(req, res); });
}

void Proxy::post(const httplib::Request& req, httplib::Response& res) {
  std::string version_text = req.get_header_value("A2A-Version");
  if (version_text.empty() && req.has_param("A2A-Version")) version_text = req.get_param_value("A2A-Version");
  const a2a::Version v = a2a::version_from_header(version_text);
  std::vector<std::string> activated = a2a::parse_extensions(req.get_header_value("A2A-Extensions"));
  for (auto& u : a2a::parse_extensions(req.get_header_value("X-A2A-Extensions"))) activated.push_back(std::move(u));
  auto parsed = handshake::json::parse_strict(req.body);
  if (!parsed.ok()) {
    res.set_content(rpc_error(nullptr, -32700, "Parse error: " + parsed.error().reason).dump(), "application/json");
    return;
  }
  const auto method = parsed->is_object() ? parsed->find("method") : parsed->end();
  const bool stream = method != parsed->end() && method->is_string() &&
                      a2a::classify(method->get_ref<const std::string&>()) == a2a::Method::kStream;
  // The reference Python SDK's form of the request (docs/interop.md).
  std::optional<std::string> handshake_header;
  if (req.has_header("X-Handshake-Request")) handshake_header = req.get_header_value("X-Handshake-Request");
  auto step = std::make_shared<Step>(on_request(std::move(parsed).value(), v, activated, req.body,
                                                handshake_header ? std::optional<std::string_view>(*handshake_header)
                                                                 : std::nullopt));
  if (step->echo_extension) res.set_header(std::string(a2a::extensions_header(v)), std::string(a2a::kExtensionUri));
  if (step->answer) {
    if (stream) {
      res.set_content("data: " + step->answer->dump() + "\n\n", "text/event-stream");
    } else {
      res.set_content(step->answer->dump(), "application/json");
    }
    return;
  }
  httplib::Headers headers;
  for (const auto& [k, val] : req.headers) {
    if (a2a::is_end_to_end_header(k)) headers.emplace(k, val);
  }
  outgoing_headers(headers, v);
  if (stream) return post_stream(step, headers, v, res);
  post_whole(step, headers, v, res);
}

void Proxy::post_whole(const std::shared_ptr<Step>& step, const httplib::Headers& headers, a2a::Version v,
                       httplib::Response& res) {
  const Json id = step->forward.value("id", Json(nullptr));
  auto options = upstream_client;
  options.read_timeout = kUpstreamReadTimeout;
  auto c = handshake::net::Client::open(upstream, options);
  if (!c.ok()) {
    log("upstream " + upstream.origin() + ": " + c.error().message);
    res.set_content(rpc_error(id, kInternalError, "upstream agent unreachable").dump(), "application/json");
    return;
  }
  std::string sent = step->forward.dump();
  for (;;) {
    auto up = (*c)->post(upstream.path, sent, "application/json", headers);
    if (!up.ok()) {
      log("upstream agent unreachable: " + up.error().message);
      res.set_content(rpc_error(id, kInternalError, "upstream agent unreachable: " + up.error().message).dump(),
                      "application/json");
      return;
    }
    auto answer = handshake::json::parse_strict(up->body);
    if (!answer.ok()) {
      log("the upstream agent answered HTTP " + std::to_string(up->status) + " without JSON");
      res.set_content(
          rpc_error(id, kInternalError, "upstream agent answered HTTP " + std::to_string(up->status) + " without JSON")
              .dump(),
          "application/json");
      return;
    }
    Outcome out = on_response(*step, std::move(answer).value(), v);
    if (out.resend) {
      sent = out.message.dump();
      continue;
    }
    res.status = up->status;
    for (const char* name : {"A2A-Extensions", "X-A2A-Extensions"}) {
      if (step->echo_extension) break;
      if (auto it = up->headers.find(name); it != up->headers.end()) res.set_header(name, it->second);
    }
    if (!out.receipt_id.empty()) res.set_header("X-Handshake-Receipt", out.receipt_id);
    res.set_content(out.message.dump(), "application/json");
    return;
  }
}

void Proxy::post_stream(const std::shared_ptr<Step>& step, const httplib::Headers& headers, a2a::Version v,
                        httplib::Response& res) {
  const Json id = step->forward.value("id", Json(nullptr));
  using handshake::net::RelayStep;
  auto start = [this, headers](std::string body) {
    handshake::net::UpstreamRequest r;
    r.path = upstream.path;
    r.headers = headers;
    r.body = std::move(body);
    r.read_timeout = kUpstreamReadTimeout;
    return handshake::net::Exchange::start(upstream, upstream_client, std::move(r));
  };
  // The role's outcome as a relay step: the event rewritten (or last), or a resend in its place.
  auto as_step = [](Outcome o, RelayStep::Kind kind) {
    return RelayStep{o.resend ? RelayStep::Kind::kResend : kind, o.message.dump()};
  };
  handshake::net::SseRelayHooks hooks;
  hooks.restart = start;
  hooks.on_event = [this, step, v, as_step](const handshake::net::SseEvent& ev) {
    const std::string data = ev.data();
    if (data.empty()) return RelayStep{};
    auto event = handshake::json::parse_strict(data);
    if (!event.ok()) return RelayStep{};  // not JSON-RPC: nothing the client would take for an answer
    return as_step(on_event(*step, std::move(event).value(), v), RelayStep::Kind::kReplace);
  };
  hooks.on_body = [this, step, v, id, as_step](int status, const std::string& body) {
    // A stream answered with one JSON-RPC response (an error, typically): the stream's last event.
    auto answer = handshake::json::parse_strict(body);
    if (!answer.ok()) {
      return RelayStep{RelayStep::Kind::kEnd,
                       rpc_error(id, kInternalError,
                                 "upstream agent answered HTTP " + std::to_string(status) + " without an event stream")
                           .dump()};
    }
    return as_step(on_response(*step, std::move(answer).value(), v), RelayStep::Kind::kEnd);
  };
  hooks.on_failure = [id](const std::string& why) {
    log("upstream agent unreachable: " + why);
    return rpc_error(id, kInternalError, "upstream agent unreachable: " + why).dump();
  };
  handshake::net::SseRelay::attach(res, std::make_shared<handshake::net::SseRelay>(start(step->forward.dump()),
                                                                                  std::move(hooks)));
}

namespace {

class ServiceProxy final : public Proxy {
 public:
  explicit ServiceProxy(const a2a::ServiceGate& gate) : gate_(gate) {}

 private:
  Json card(Json upstream_card) override { return gate_.agent_card(std::move(upstream_card)); }
  Step on_request(Json rpc, a2a::Version v, const std::vector<std::string>& activated, const std::string& raw,
                  std::optional<std::string_view> handshake_header) override {
    auto in = gate_.on_request(std::move(rpc), v, activated, raw, handshake_header);
    Step s;
    s.echo_extension = in.activated;
    s.state = std::make_shared<a2a::Exchange>(std::move(in.exchange));
    if (in.kind == a2a::Inbound::Kind::kAnswer) {
      s.answer = std::move(in.message);
    } else {
      s.forward = std::move(in.message);
    }
    return s;
  }
  Outcome on_response(Step& step, Json response, a2a::Version) override {
    auto& exchange = *static_cast<a2a::Exchange*>(step.state.get());
    Json answer = gate_.on_response(exchange, std::move(response));
    return {std::move(answer), false, exchange.receipt_id};
  }
  Outcome on_event(Step& step, Json event, a2a::Version) override {
    return {gate_.on_stream_event(*static_cast<a2a::Exchange*>(step.state.get()), std::move(event)), false, {}};
  }
  void outgoing_headers(httplib::Headers& headers, a2a::Version) override {
    // The agent behind does not know our extension: it is not asked to activate it.
    for (const char* name : {"A2A-Extensions", "X-A2A-Extensions"}) {
      auto it = headers.find(name);
      if (it == headers.end()) continue;
      std::string kept = a2a::without_extension(it->second);
      headers.erase(it);
      if (!kept.empty()) headers.emplace(name, std::move(kept));
    }
  }

  const a2a::ServiceGate& gate_;
};

class AgentProxy final : public Proxy {
 public:
  explicit AgentProxy(a2a::AgentGate& gate) : gate_(gate) {}

 private:
  Json card(Json upstream_card) override {
    if (auto s = gate_.learn(upstream_card); !s.ok()) log("the service's card: " + s.error().to_string());
    return upstream_card;
  }
  Step on_request(Json rpc, a2a::Version v, const std::vector<std::string>&, const std::string&,
                  std::optional<std::string_view>) override {
    if (!gate_.knows_service()) {
      if (auto c = fetch_card()) (void)card(std::move(*c));
    }
    Step s;
    auto ex = std::make_shared<a2a::AgentExchange>();
    s.state = ex;
    const Json id = rpc.is_object() && rpc.contains("id") ? rpc["id"] : Json(nullptr);
    auto signed_rpc = gate_.on_request(std::move(rpc), v, *ex);
    if (!signed_rpc.ok()) {
      s.answer = rpc_error(id, kInternalError, "handshake: " + signed_rpc.error().to_string());
      return s;
    }
    s.forward = std::move(signed_rpc).value();
    s.echo_extension = ex->request_id.has_value();
    return s;
  }
  Outcome on_response(Step& step, Json response, a2a::Version v) override {
    return follow(step, gate_.on_response(*static_cast<a2a::AgentExchange*>(step.state.get()), std::move(response), v));
  }
  Outcome on_event(Step& step, Json event, a2a::Version v) override {
    return follow(step, gate_.on_stream_event(*static_cast<a2a::AgentExchange*>(step.state.get()), std::move(event), v));
  }
  void outgoing_headers(httplib::Headers& headers, a2a::Version v) override {
    const std::string name(a2a::extensions_header(v));
    std::string existing;
    if (auto it = headers.find(name); it != headers.end()) {
      existing = it->second;
      headers.erase(it);
    }
    headers.emplace(name, a2a::with_extension(existing));
  }

  // The gate's answer: for the client, or a cold retry whose exchange the step follows from now on.
  static Outcome follow(Step& step, a2a::AgentReply reply) {
    if (auto* retry = std::get_if<a2a::ColdRetry>(&reply)) {
      step.state = std::make_shared<a2a::AgentExchange>(std::move(retry->exchange));
      return {std::move(retry->rpc), true, {}};
    }
    return {std::move(std::get<a2a::ToClient>(reply).message), false, {}};
  }

  a2a::AgentGate& gate_;
};

}  // namespace

std::unique_ptr<Proxy> service_proxy(const a2a::ServiceGate& gate) { return std::make_unique<ServiceProxy>(gate); }
std::unique_ptr<Proxy> agent_proxy(a2a::AgentGate& gate) { return std::make_unique<AgentProxy>(gate); }

}  // namespace hsk::a2a_proxy
