// hsk-a2a-proxy: the Handshake extension in front of an unchanged A2A agent (--role service) or
// behind an unchanged A2A client (--role agent), over A2A JSON-RPC on HTTP, v1.0 and v0.3, with
// SSE streaming. Protocol messages only on the wire; logs on stderr.
#include <httplib.h>
#include <pthread.h>
#include <signal.h>

#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "handshake/a2a/agent_gate.hpp"
#include "handshake/a2a/envelope.hpp"
#include "handshake/a2a/service_gate.hpp"
#include "handshake/config.hpp"
#include "handshake/storage/receipts.hpp"
#include "handshake/did_document.hpp"
#include "handshake/identity.hpp"
#include "handshake/net/http.hpp"
#include "handshake/net/sse.hpp"
#include "handshake/net/http_server.hpp"
#ifdef HSK_A2A_PROXY_AP2
#include "handshake/ap2/payment_skill.hpp"
#endif

namespace a2a = handshake::a2a;
using handshake::Json;

namespace {

const char* kUsage =
    "usage: hsk-a2a-proxy --role service --config SERVICE.yaml --skills SKILLS.yaml --listen HOST:PORT --upstream URL\n"
    "                     [--did-doc FILE] [--optional] [--max-body-bytes N] [--receipts FILE|--receipts-db DB]\n"
    "                     [--ap2-skill ID [--ap2-mapping FILE] [--ap2-issuer-key FILE]]\n"
    "       hsk-a2a-proxy --role agent --key AGENT.key --chain CHAIN.json --listen HOST:PORT --upstream URL\n"
    "                     [--skill ID] [--service-did DID] [--service-did-doc FILE] [--receipts FILE|--receipts-db DB]\n"
    "                     [--deployer DID] [--model NAME] [--instance ID] [--ap2-skill ID]\n"
    "\n"
    "--role service: serves the upstream agent's card (/.well-known/agent-card.json) with the Handshake\n"
    "extension declared (required unless --optional) and checks every message sent to it (docs/a2a.md):\n"
    "a refused message becomes a rejected task carrying the signed Refusal; an accepted one is forwarded\n"
    "and its task or reply gets the Acceptance and a signed receipt. With --ap2-skill, that skill is a\n"
    "payment: its constraint values come from the AP2 payment mandate in the message (v0.1, or a v0.2\n"
    "SD-JWT verified with --ap2-issuer-key, an EC P-256 JWK or PEM public key; docs/ap2.md mapping), and\n"
    "its receipt commits to the mandate and the merchant's PaymentReceipt (both carried beside it).\n"
    "--role agent: in front of an A2A client; signs a HandshakeRequest into every message (skill from\n"
    "the message's metadata or --skill), activates the extension, checks acceptances, refusals and\n"
    "receipts (an answer that does not verify becomes a JSON-RPC error), and appends verified receipts\n"
    "to --receipts (JSON Lines); with --ap2-skill it checks that skill's receipts against the mandate it\n"
    "sent and the PaymentReceipt it got. Both print 'listening on HOST:PORT' and stop on SIGINT/SIGTERM.\n"
    "TLS: --tls-cert FILE --tls-key FILE serve https (TLS 1.2+, key owner-only; SIGHUP reloads both),\n"
    "--tls-client-ca FILE requires client certificates from that CA; an https --upstream is verified\n"
    "against the system store or --ca-file FILE, --client-cert FILE --client-key FILE for mutual TLS.\n"
    "--receipts FILE appends receipts (JSON Lines; the service: those it issued), --receipts-db keeps them\n"
    "in a SQLite file or a PostgreSQL database (postgresql://...; password from PGPASSFILE).\n";

struct Args {
  std::map<std::string, std::vector<std::string>> options;
  std::vector<std::string> flags;
};

std::optional<std::string> opt(const Args& a, const std::string& name) {
  auto it = a.options.find(name);
  if (it == a.options.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}
bool has_flag(const Args& a, const std::string& name) {
  return std::find(a.flags.begin(), a.flags.end(), name) != a.flags.end();
}

void log(const std::string& line) { std::cerr << "hsk-a2a-proxy: " << line << std::endl; }

handshake::Result<Json> read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return handshake::make_error(handshake::ErrorCode::kIo, "a2a.read", "cannot read " + path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return handshake::json::parse_strict(text);
}


// What both roles share: the listener, the upstream, the card with its URLs pointing at us.
class Proxy {
 public:
  virtual ~Proxy() = default;
  handshake::net::Url upstream;            // its path is the JSON-RPC endpoint
  handshake::net::ClientOptions upstream_client;  // https: CA file (else the system store), mTLS
  std::string self_url;
  std::size_t max_body = 1024 * 1024;

  // A client of the upstream (net::Client); nullptr, logged, when it cannot be set up.
  [[nodiscard]] std::unique_ptr<handshake::net::Client> open_upstream(int read_timeout_seconds) const {
    auto c = handshake::net::Client::open(upstream, upstream_client);
    if (!c.ok()) {
      log("upstream " + upstream.origin() + ": " + c.error().message);
      return nullptr;
    }
    (*c)->http().set_read_timeout(read_timeout_seconds, 0);
    return std::move(c).value();
  }

  [[nodiscard]] std::optional<Json> fetch_card() const {
    auto c = open_upstream(10);
    if (!c) return std::nullopt;
    auto res = c->http().Get("/.well-known/agent-card.json");
    if (!res || res->status != 200) return std::nullopt;
    auto card = handshake::json::parse_strict(res->body);
    if (!card.ok()) return std::nullopt;
    return std::move(card).value();
  }
  // The card's interface URLs name this proxy, so clients come back through it.
  void point_at_self(Json& card) const { a2a::point_card_at(card, self_url); }

  virtual Json card(Json upstream_card) = 0;
  // Returns the JSON-RPC answer to send now, or nullopt to forward `rpc` (possibly rewritten).
  struct Step {
    std::optional<Json> answer;
    Json forward;
    bool echo_extension = false;
    std::shared_ptr<void> state;
  };
  virtual Step on_request(Json rpc, a2a::Version v, const std::vector<std::string>& activated, const std::string& raw) = 0;
  // What becomes of an upstream answer (a whole response, or one SSE event).
  struct Outcome {
    Json message;  // for the client; with `resend`, a request to send upstream instead
    // The role sends `message` upstream in place of the request just answered (the agent's cold
    // retry of a warm send refused for its session; step.state now follows it). What is left of
    // the refused answer is dropped; the new answer is what the client gets.
    bool resend = false;
  };
  virtual Outcome on_response(Step& step, Json response, a2a::Version v) = 0;
  virtual Outcome on_event(Step& step, Json event, a2a::Version v) = 0;
  virtual void outgoing_headers(httplib::Headers& headers, a2a::Version v) { (void)headers, (void)v; }

  void serve(httplib::Server& server) {
    handshake::net::HttpServerLimits limits;
    limits.max_body_bytes = max_body;
    limits.read_timeout_seconds = 30;  // a streamed task may take its time between events
    limits.write_timeout_seconds = 30;
    handshake::net::apply_limits(server, limits);
    server.Get("/.well-known/agent-card.json", [this](const httplib::Request&, httplib::Response& res) {
      auto upstream_card = fetch_card();
      if (!upstream_card) {
        res.status = 502;
        res.set_content(R"({"error":"the upstream agent card is unavailable"})", "application/json");
        return;
      }
      Json out = card(std::move(*upstream_card));
      point_at_self(out);
      res.set_header("Cache-Control", "no-cache");
      res.set_content(out.dump(), "application/json");
    });
    server.Post(".*", [this](const httplib::Request& req, httplib::Response& res) { post(req, res); });
  }

 private:
  static Json rpc_error(const Json& id, int code, const std::string& message) {
    return Json{{"jsonrpc", "2.0"}, {"id", id}, {"error", Json{{"code", code}, {"message", message}}}};
  }

  void post(const httplib::Request& req, httplib::Response& res) {
    std::string version_text = req.get_header_value("A2A-Version");
    if (version_text.empty() && req.has_param("A2A-Version")) version_text = req.get_param_value("A2A-Version");
    const a2a::Version v = a2a::version_from_header(version_text);
    std::vector<std::string> activated = a2a::parse_extensions(req.get_header_value("A2A-Extensions"));
    for (auto& u : a2a::parse_extensions(req.get_header_value("X-A2A-Extensions"))) activated.push_back(std::move(u));
    auto parsed = handshake::json::parse_strict(req.body);
    if (!parsed.ok()) {
      // A permissive read for the id only; the strict failure decides.
      res.set_content(rpc_error(nullptr, -32700, "Parse error: " + parsed.error().reason).dump(), "application/json");
      return;
    }
    const auto method = parsed->is_object() ? parsed->find("method") : parsed->end();
    const bool stream = method != parsed->end() && method->is_string() &&
                        a2a::classify(method->get_ref<const std::string&>()) == a2a::Method::kStream;
    auto step = std::make_shared<Step>(on_request(std::move(parsed).value(), v, activated, req.body));
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
    const std::string body = step->forward.dump();
    if (!stream) {
      auto c = open_upstream(300);
      if (!c) {
        res.set_content(rpc_error(step->forward.value("id", Json(nullptr)), -32603, "upstream agent unreachable").dump(),
                        "application/json");
        return;
      }
      std::string sent = body;
      for (;;) {
        auto up = c->http().Post(upstream.path, headers, sent, "application/json");
        if (!up) {
          res.set_content(rpc_error(step->forward.value("id", Json(nullptr)), -32603,
                                    "upstream agent unreachable: " + c->describe(up.error()))
                              .dump(),
                          "application/json");
          return;
        }
        auto answer = handshake::json::parse_strict(up->body);
        if (!answer.ok()) {
          res.status = up->status;
          res.set_content(up->body, up->get_header_value("Content-Type"));
          return;
        }
        Outcome out = on_response(*step, std::move(answer).value(), v);
        if (out.resend) {
          sent = out.message.dump();
          continue;
        }
        res.status = up->status;
        for (const char* name : {"A2A-Extensions", "X-A2A-Extensions"}) {
          if (!step->echo_extension && up->has_header(name)) res.set_header(name, up->get_header_value(name));
        }
        res.set_content(out.message.dump(), "application/json");
        return;
      }
    }
    // Streaming: the upstream exchange runs inside the provider, event by event.
    res.set_chunked_content_provider("text/event-stream", [this, step, headers, body, v](size_t, httplib::DataSink& sink) {
      auto c = open_upstream(300);
      if (!c) {
        const std::string e =
            "data: " + rpc_error(step->forward.value("id", Json(nullptr)), -32603, "upstream agent unreachable").dump() +
            "\n\n";
        sink.write(e.data(), e.size());
        sink.done();
        return true;
      }
      // Split as the events come, whatever the line endings (net/sse.hpp).
      handshake::net::SseSplitter splitter;
      bool fed = false;
      // Set when the role sends another request in place of this stream's: the rest of it is
      // dropped, and the new stream follows on the same sink.
      std::optional<std::string> resend;
      bool client_gone = false;
      auto on_sse = [&](const handshake::net::SseEvent& ev) {
        if (resend || client_gone) return;
        std::string out;
        for (const auto& line : ev.lines) {
          if (line.rfind("data:", 0) != 0) out += line + "\n";
        }
        if (const std::string data = ev.data(); !data.empty()) {
          auto parsed = handshake::json::parse_strict(data);
          std::string text = data;
          if (parsed.ok()) {
            Outcome o = on_event(*step, std::move(parsed).value(), v);
            if (o.resend) {
              resend = o.message.dump();
              return;
            }
            text = o.message.dump();
          }
          out += "data: " + text + "\n";
        }
        out += "\n";
        if (!sink.write(out.data(), out.size())) client_gone = true;
      };
      std::string sent = body;
      for (;;) {
        splitter = handshake::net::SseSplitter();
        fed = false;
        resend.reset();
        httplib::Request up;
        up.method = "POST";
        up.path = upstream.path;
        up.headers = headers;
        up.body = sent;
        up.set_header("Content-Type", "application/json");
        up.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
          fed = true;
          splitter.feed(std::string_view(d, n), on_sse);
          return !resend && !client_gone;  // false: stop reading this stream
        };
        httplib::Response r;
        httplib::Error err = httplib::Error::Success;
        const bool ok = c->http().send(up, r, err);
        if (!resend && !client_gone) {
          if (!ok) {
            const std::string e = "data: " +
                                  rpc_error(step->forward.value("id", Json(nullptr)), -32603,
                                            "upstream agent unreachable: " + c->describe(err))
                                      .dump() +
                                  "\n\n";
            sink.write(e.data(), e.size());
          } else {
            if (!fed && !r.body.empty()) splitter.feed(r.body, on_sse);
            splitter.finish(on_sse);
          }
        }
        if (!resend || client_gone) break;
        sent = std::move(*resend);
      }
      sink.done();
      return true;
    });
  }
};

class ServiceProxy final : public Proxy {
 public:
  explicit ServiceProxy(const a2a::ServiceGate& gate) : gate_(gate) {}
  Json card(Json upstream_card) override { return gate_.agent_card(std::move(upstream_card)); }
  Step on_request(Json rpc, a2a::Version v, const std::vector<std::string>& activated, const std::string& raw) override {
    auto in = gate_.on_request(std::move(rpc), v, activated, raw);
    Step s;
    s.echo_extension = in.activated;
    auto ex = std::make_shared<a2a::Exchange>(std::move(in.exchange));
    s.state = ex;
    if (in.kind == a2a::Inbound::Kind::kAnswer) {
      s.answer = std::move(in.message);
    } else {
      s.forward = std::move(in.message);
    }
    return s;
  }
  Outcome on_response(Step& step, Json response, a2a::Version) override {
    return {gate_.on_response(*static_cast<a2a::Exchange*>(step.state.get()), std::move(response))};
  }
  Outcome on_event(Step& step, Json event, a2a::Version) override {
    return {gate_.on_stream_event(*static_cast<a2a::Exchange*>(step.state.get()), std::move(event))};
  }
  void outgoing_headers(httplib::Headers& headers, a2a::Version) override {
    // The agent behind does not know our extension: it is not asked to activate it.
    for (const char* name : {"A2A-Extensions", "X-A2A-Extensions"}) {
      auto it = headers.find(name);
      if (it == headers.end()) continue;
      std::string kept;
      for (const auto& u : a2a::parse_extensions(it->second)) {
        if (u != a2a::kExtensionUri) kept += (kept.empty() ? "" : ", ") + u;
      }
      headers.erase(it);
      if (!kept.empty()) headers.emplace(name, kept);
    }
  }

 private:
  const a2a::ServiceGate& gate_;
};

class AgentProxy final : public Proxy {
 public:
  explicit AgentProxy(a2a::AgentGate& gate) : gate_(gate) {}
  Json card(Json upstream_card) override {
    if (auto s = gate_.learn(upstream_card); !s.ok()) log("the service's card: " + s.error().to_string());
    return upstream_card;
  }
  Step on_request(Json rpc, a2a::Version v, const std::vector<std::string>&, const std::string&) override {
    if (!gate_.knows_service()) {
      if (auto c = fetch_card()) (void)card(std::move(*c));
    }
    Step s;
    auto ex = std::make_shared<a2a::AgentExchange>();
    s.state = ex;
    const Json id = rpc.is_object() && rpc.contains("id") ? rpc["id"] : Json(nullptr);
    auto signed_rpc = gate_.on_request(std::move(rpc), v, *ex);
    if (!signed_rpc.ok()) {
      s.answer = Json{{"jsonrpc", "2.0"},
                      {"id", id},
                      {"error", Json{{"code", -32603}, {"message", "handshake: " + signed_rpc.error().to_string()}}}};
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
    std::string value(a2a::kExtensionUri);
    if (auto it = headers.find(name); it != headers.end()) {
      if (!a2a::contains(a2a::parse_extensions(it->second), a2a::kExtensionUri)) value = it->second + ", " + value;
      else value = it->second;
      headers.erase(it);
    }
    headers.emplace(name, value);
  }

 private:
  // The gate's answer: for the client, or a cold retry whose exchange the step follows from now on.
  static Outcome follow(Step& step, a2a::AgentReply reply) {
    if (auto* retry = std::get_if<a2a::ColdRetry>(&reply)) {
      step.state = std::make_shared<a2a::AgentExchange>(std::move(retry->exchange));
      return {std::move(retry->rpc), true};
    }
    return {std::move(std::get<a2a::ToClient>(reply).message), false};
  }

  a2a::AgentGate& gate_;
};

int usage(const std::string& msg) {
  std::cerr << "hsk-a2a-proxy: " << msg << " (see --help)\n";
  return 2;
}

#ifdef HSK_A2A_PROXY_AP2
std::optional<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// --ap2-mapping (default mapping when absent) and --ap2-issuer-key (JWK or PEM).
handshake::Result<handshake::ap2::PaymentSkillConfig> load_payment_skill(const Args& a) {
  namespace ap2 = handshake::ap2;
  ap2::PaymentSkillConfig config;
  if (auto p = opt(a, "ap2-mapping")) {
    auto text = read_text_file(*p);
    if (!text) return handshake::make_error(handshake::ErrorCode::kIo, "a2a.read", "cannot read " + *p);
    HSK_ASSIGN_OR_RETURN(config.map, ap2::MandateMap::from_yaml(*text));
  }
  if (auto p = opt(a, "ap2-issuer-key")) {
    auto text = read_text_file(*p);
    if (!text) return handshake::make_error(handshake::ErrorCode::kIo, "a2a.read", "cannot read " + *p);
    auto key = text->find("-----BEGIN") != std::string::npos
                   ? ap2::Es256PublicKey::from_pem(*text)
                   : [&]() -> handshake::Result<ap2::Es256PublicKey> {
                       HSK_ASSIGN_OR_RETURN(auto jwk, handshake::json::parse_strict(*text));
                       return ap2::Es256PublicKey::from_jwk(jwk);
                     }();
    if (!key.ok()) return key.error();
    config.sd_jwt_issuer_key = std::make_shared<const ap2::Es256PublicKey>(std::move(key).value());
  }
  return config;
}

// The evidence of the payment skill's tasks (payment_skill.hpp). The service side has the config
// (currencies, issuer key for the v0.2 terms the payment receipt is matched against); the agent
// side only hashes what it sent and got.
a2a::EvidenceFn payment_evidence(std::string skill, std::optional<handshake::ap2::PaymentSkillConfig> config) {
  return [skill = std::move(skill), config = std::move(config)](std::string_view s, const Json& message, const Json& artifacts,
                                                                 a2a::State state)
             -> std::optional<handshake::Result<a2a::ReceiptEvidence>> {
    namespace ap2 = handshake::ap2;
    if (s != skill) return std::nullopt;
    auto evidence = ap2::evidence_in_task(message, artifacts);
    if (!evidence.ok()) return handshake::Result<a2a::ReceiptEvidence>(evidence.error());
    a2a::ReceiptEvidence out;
    if (!config) {
      auto result = ap2::payment_result(*evidence);
      if (!result.ok()) return handshake::Result<a2a::ReceiptEvidence>(result.error());
      out.result = std::move(result).value();
      return handshake::Result<a2a::ReceiptEvidence>(std::move(out));
    }
    std::optional<ap2::PaymentTerms> terms;
    if (auto p = ap2::payment_in_message(message, *config, handshake::SystemClock().now()); p.ok()) terms = p->terms;
    auto content = ap2::payment_receipt_content(*evidence, config->map.currencies(), terms);
    if (!content.ok()) return handshake::Result<a2a::ReceiptEvidence>(content.error());
    out.result = std::move(content->result);
    out.status = state == a2a::State::kCompleted ? content->status : "error";
    out.summary = std::move(content->summary);
    out.carried = std::move(content->carried);
    return handshake::Result<a2a::ReceiptEvidence>(std::move(out));
  };
}
#endif

int run(int argc, char** argv) {
  Args a;
  static const std::vector<std::string> kValued = {"role", "config", "skills", "listen", "upstream", "did-doc",
                                                   "max-body-bytes", "key", "chain", "skill", "service-did",
                                                   "service-did-doc", "receipts", "receipts-db", "deployer", "model", "instance",
                                                   "ap2-skill", "ap2-mapping", "ap2-issuer-key", "tls-cert", "tls-key",
                                                   "tls-client-ca", "ca-file", "client-cert", "client-key"};
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    if (s == "--help" || s == "-h") return std::cout << kUsage, 0;
    if (s.rfind("--", 0) != 0) return usage("unexpected argument " + s);
    s = s.substr(2);
    if (s == "optional") {
      a.flags.push_back(s);
      continue;
    }
    if (std::find(kValued.begin(), kValued.end(), s) == kValued.end()) return usage("unknown option --" + s);
    if (i + 1 >= argc) return usage("--" + s + " needs a value");
    a.options[s].push_back(argv[++i]);
  }
  const auto role = opt(a, "role");
  const auto listen = opt(a, "listen"), upstream_url = opt(a, "upstream");
  if (!role || (*role != "service" && *role != "agent")) return usage("--role service or --role agent is required");
  if (!listen || !upstream_url) return usage("--listen HOST:PORT and --upstream URL are required");
  const auto colon = listen->rfind(':');
  if (colon == std::string::npos) return usage("--listen must be HOST:PORT");
  const std::string host = listen->substr(0, colon);
  int port = -1;
  try {
    port = std::stoi(listen->substr(colon + 1));
  } catch (...) {
  }
  if (port < 0 || port > 65535) return usage("--listen must be HOST:PORT");
  auto upstream = handshake::net::Url::parse(*upstream_url);
  if (!upstream.ok()) return usage("--upstream: " + upstream.error().message);
  handshake::net::ClientOptions upstream_client;
  auto upstream_tls = handshake::net::tls_client_options(opt(a, "ca-file"), opt(a, "client-cert"), opt(a, "client-key"));
  if (!upstream_tls.ok()) return usage(upstream_tls.error().message);
  upstream_client.tls = std::move(upstream_tls).value();
  // The TLS options (files, key permissions) are checked now, not at the first request.
  if (auto probe = handshake::net::Client::open(*upstream, upstream_client); !probe.ok()) {
    return log("--upstream: " + probe.error().message), 2;
  }
  auto listen_tls = handshake::net::tls_server_options(opt(a, "tls-cert"), opt(a, "tls-key"), opt(a, "tls-client-ca"));
  if (!listen_tls.ok()) return usage(listen_tls.error().message);
  std::shared_ptr<handshake::net::TlsCredentials> credentials;
  auto listener = handshake::net::make_server(*listen_tls, &credentials);
  if (!listener.ok()) return log("--tls-cert/--tls-key: " + listener.error().message), 2;
  std::size_t max_body = 1024 * 1024;
  if (auto m = opt(a, "max-body-bytes")) {
    try {
      max_body = static_cast<std::size_t>(std::stoul(*m));
    } catch (...) {
      return usage("--max-body-bytes must be a number");
    }
  }

  handshake::SystemClock clock;
  std::unique_ptr<handshake::ServiceSetup> setup;
  std::unique_ptr<handshake::Service> service;
  std::unique_ptr<a2a::ServiceGate> service_gate;
  std::unique_ptr<a2a::AgentGate> agent_gate;
  std::unique_ptr<Proxy> proxy;
  std::unique_ptr<handshake::ReceiptStore> receipts;
  if (opt(a, "receipts") && opt(a, "receipts-db")) return usage("--receipts and --receipts-db: choose one");
  if (auto r = opt(a, "receipts")) {
    auto s = handshake::storage::open_receipt_log(*r);
    if (!s.ok()) return log(s.error().to_string()), 1;
    receipts = std::move(s).value();
  } else if (auto db = opt(a, "receipts-db")) {
    auto s = handshake::storage::open_receipt_store(*db);
    if (!s.ok()) return log("--receipts-db: " + s.error().to_string()), 1;
    receipts = std::move(s).value();
  }

  if (*role == "service") {
    const auto config = opt(a, "config"), skills_path = opt(a, "skills");
    if (!config || !skills_path) return usage("--role service needs --config and --skills");
    auto loaded = handshake::ServiceSetup::load(*config);
    if (!loaded.ok()) return log(loaded.error().to_string()), 1;
    setup = std::move(loaded).value();
    auto skills = handshake::ActionMap::load(*skills_path, a2a::skill_map_format());
    if (!skills.ok()) return log(skills.error().to_string()), 1;
    service = setup->make_service(clock);
    a2a::GateOptions go;
    go.required = !has_flag(a, "optional");
    if (auto d = opt(a, "did-doc")) {
      auto doc = read_json_file(*d);
      if (!doc.ok()) return log(doc.error().to_string()), 1;
      go.did_document = std::move(doc).value();
    } else if (setup->identity().key_version() == 1) {
      handshake::DidDocumentOptions o;
      o.version_time = std::chrono::floor<std::chrono::seconds>(clock.now()) - std::chrono::hours(24);
      if (auto doc = handshake::make_did_document(setup->identity(), o); doc.ok()) go.did_document = *doc;
    }
    if (auto ap2_skill = opt(a, "ap2-skill")) {
#ifdef HSK_A2A_PROXY_AP2
      auto payment = load_payment_skill(a);
      if (!payment.ok()) return log(payment.error().to_string()), 1;
      go.derive = [skill = *ap2_skill, payment = *payment, &clock](const handshake::ActionRule& rule, const Json& message)
          -> std::optional<handshake::Result<handshake::ActionBinding>> {
        if (rule.action != skill) return std::nullopt;
        return handshake::ap2::payment_binding(message, payment, clock.now());
      };
      go.evidence = payment_evidence(*ap2_skill, std::move(payment).value());
#else
      (void)ap2_skill;
      return usage("this hsk-a2a-proxy was built without the AP2 adapter");
#endif
    }
    if (receipts) {
      go.on_receipt = [store = receipts.get()](const Json& receipt) {
        if (auto st = store->put_receipt(receipt, Json(), receipt.value("action", std::string())); !st.ok()) {
          log("cannot keep receipt: " + st.error().to_string());
        }
      };
      go.on_refusal = [store = receipts.get()](const handshake::Decision& d) {
        if (auto st = store->put_refusal(d.response, ""); !st.ok()) log("cannot keep refusal: " + st.error().to_string());
      };
    }
    service_gate = std::make_unique<a2a::ServiceGate>(*service, std::move(skills).value(), std::move(go));
    proxy = std::make_unique<ServiceProxy>(*service_gate);
  } else {
    const auto key = opt(a, "key"), chain_path = opt(a, "chain");
    if (!key || !chain_path) return usage("--role agent needs --key and --chain");
    auto identity = handshake::load_key_file(*key);
    if (!identity.ok()) return log(identity.error().to_string()), 1;
    auto chain = read_json_file(*chain_path);
    if (!chain.ok() || !chain->is_array() || chain->empty()) return log("--chain must be a JSON array of DelegationTokens"), 1;
    std::vector<Json> links(chain->begin(), chain->end());
    handshake::AgentAttestation att;
    att.deployer = opt(a, "deployer").value_or(links.front().value("iss", std::string()));
    att.model = opt(a, "model").value_or("unknown");
    att.instance_id = opt(a, "instance").value_or("hsk-a2a-proxy");
    a2a::AgentGateOptions go;
    go.default_skill = opt(a, "skill");
    go.log = [](const std::string& line) { log(line); };
    go.service_did = opt(a, "service-did");
    if (auto d = opt(a, "service-did-doc")) {
      auto doc = read_json_file(*d);
      if (!doc.ok()) return log(doc.error().to_string()), 1;
      go.service_did_document = std::move(doc).value();
    }
    if (receipts) {
      go.on_receipt = [store = receipts.get()](const Json& receipt, const Json& acceptance) {
        if (auto st = store->put_receipt(receipt, acceptance, receipt.value("action", std::string())); !st.ok()) {
          log("cannot keep receipt: " + st.error().to_string());
        }
      };
    }
    if (auto ap2_skill = opt(a, "ap2-skill")) {
#ifdef HSK_A2A_PROXY_AP2
      // Only the evidence: the agent recomputes the receipt's result from what it sent and got.
      go.evidence = payment_evidence(*ap2_skill, std::nullopt);
#else
      (void)ap2_skill;
      return usage("this hsk-a2a-proxy was built without the AP2 adapter");
#endif
    }
    agent_gate = std::make_unique<a2a::AgentGate>(
        handshake::Agent(std::move(identity).value(), std::move(links), std::move(att)), clock, std::move(go));
    proxy = std::make_unique<AgentProxy>(*agent_gate);
  }

  httplib::Server& server = **listener;
  proxy->upstream = *upstream;
  proxy->upstream_client = upstream_client;
  proxy->max_body = max_body;
  proxy->serve(server);  // before binding: the limits set socket options of the listening socket
  // The listener (plain, or TLS with its certificate reloaded on SIGHUP) until SIGINT/SIGTERM.
  handshake::net::ServeOptions serve;
  serve.host = host;
  serve.port = port;
  serve.on_listening = [&](int bound) {
    proxy->self_url = std::string(*listen_tls ? "https://" : "http://") + host + ":" + std::to_string(bound) + "/";
    std::cout << "listening on " << host << ":" << bound << std::endl;
  };
  if (credentials) serve.on_reload = [&] { return handshake::net::reload(*credentials); };
  serve.log = [](const std::string& line) { log(line); };
  return handshake::net::serve_until_signal(server, serve);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    log(std::string("internal error: ") + e.what());
    return 70;
  }
}
