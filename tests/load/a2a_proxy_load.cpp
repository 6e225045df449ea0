// Load, soak and abuse run against `hsk-a2a-proxy --role service` (a real process, started and
// stopped here) in front of a small A2A JSON-RPC agent that runs inside this program (its Agent
// Card, and SendMessage / message/send answered with a completed task holding one artifact).
// Every load request is a v1.0 SendMessage carrying a HandshakeRequest signed by the agent side of
// the adapter (handshake::a2a::AgentGate): half the workers send cold requests, half warm ones,
// so the proxy does its real verification and signing work; the gate then checks the Acceptance
// and the task's Receipt, and only a verified completed task counts as accepted. Latency is the
// HTTP round trip only. Meanwhile slowloris connections stay open, and once a second oversized,
// malformed, unactivated, over-delegation and replayed requests arrive; each must be refused
// (413, JSON-RPC error, rejected task with a signed refusal) and never reach the agent behind.
//
// The service is configured with short windows (requests valid 10 s, sessions 15 s) so that its
// replay and session stores reach their steady size within the first third of a longer run. The
// service gate also remembers the last 10,000 tasks it saw (GateOptions::remembered_tasks), so a
// later GetTask returns the same receipt; a finished one keeps only its serialized receipt (a
// couple of kilobytes: when each kept its Decision, ~20 KB, this run found the proxy at 300 MB), so
// the same bound as every other server holds.
//
// usage: hsk_load_a2a_proxy --proxy PATH [--seconds N] [--concurrency C] [--slow S] [--rss-growth-mb M]
#include <httplib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "child_process.hpp"
#include "handshake/a2a/agent_gate.hpp"
#include "handshake/a2a/envelope.hpp"
#include "handshake/agent.hpp"
#include "handshake/did_document.hpp"
#include "handshake/identity.hpp"
#include "handshake/net/http_server.hpp"
#include "load/load_run.hpp"
#include "load/proxy_world.hpp"

namespace fs = std::filesystem;
namespace hs = handshake;
namespace a2a = handshake::a2a;
using hs::Json;

namespace {

constexpr std::size_t kMaxBodyBytes = 256 * 1024;  // the proxy's --max-body-bytes
constexpr int kGrantedInvoices = 100;               // the delegation's max_invoices
const std::string kExt(a2a::kExtensionUri);

// The A2A agent behind the proxy. It knows nothing of Handshake.
class Upstream {
 public:
  Upstream() {
    hs::net::apply_limits(server_, {});
    port_ = hs::net::bind_server(server_, "127.0.0.1", 0);
    const std::string url = "http://127.0.0.1:" + std::to_string(port_) + "/";
    card_ = Json{{"name", "Invoices agent"},
                 {"description", "Lists invoices"},
                 {"version", "1.0.0"},
                 {"supportedInterfaces", Json::array({Json{{"url", url}, {"protocolBinding", "JSONRPC"}, {"protocolVersion", "1.0"}}})},
                 {"capabilities", Json{{"streaming", false}, {"pushNotifications", false}, {"extensions", Json::array()}}},
                 {"defaultInputModes", Json::array({"application/json"})},
                 {"defaultOutputModes", Json::array({"application/json"})},
                 {"skills", Json::array({Json{{"id", "list-invoices"}, {"name", "list-invoices"}, {"description", "Lists invoices"}, {"tags", Json::array()}}})}};
    server_.Get("/.well-known/agent-card.json",
                [this](const httplib::Request&, httplib::Response& res) { res.set_content(card_.dump(), "application/json"); });
    server_.Post("/", [this](const httplib::Request& req, httplib::Response& res) {
      const Json rpc = Json::parse(req.body, nullptr, false);
      if (rpc.is_discarded() || !rpc.is_object()) {
        res.set_content(R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}})", "application/json");
        return;
      }
      const Json id = rpc.value("id", Json(nullptr));
      if (a2a::classify(rpc.value("method", std::string())) != a2a::Method::kSend) {
        res.set_content(Json{{"jsonrpc", "2.0"}, {"id", id}, {"error", Json{{"code", -32601}, {"message", "Method not found"}}}}.dump(),
                        "application/json");
        return;
      }
      const std::uint64_t n = ++sends_;
      const Json data = a2a::first_data(rpc["params"].value("message", Json::object()));
      const int limit = data.is_object() ? data.value("limit", 0) : 0;
      Json invoices = Json::array();
      for (int i = 0; i < std::min(limit, 5); ++i) invoices.push_back(Json{{"id", "inv-" + std::to_string(i + 1)}});
      const Json task{{"id", "task-" + std::to_string(n)},
                      {"contextId", "ctx-" + std::to_string(n)},
                      {"status", Json{{"state", "TASK_STATE_COMPLETED"}}},
                      {"artifacts", Json::array({Json{{"artifactId", "invoices"},
                                                      {"parts", Json::array({Json{{"data", Json{{"invoices", invoices}}}}})}}})}};
      res.set_content(Json{{"jsonrpc", "2.0"}, {"id", id}, {"result", Json{{"task", task}}}}.dump(), "application/json");
    });
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~Upstream() {
    server_.stop();
    thread_.join();
  }
  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] std::uint64_t sends() const { return sends_.load(); }

 private:
  httplib::Server server_;
  int port_ = -1;
  Json card_;
  std::atomic<std::uint64_t> sends_{0};
  std::thread thread_;
};

std::unique_ptr<httplib::Client> client_for(int port) {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", port);
  c->set_connection_timeout(5, 0);
  c->set_read_timeout(15, 0);
  c->set_keep_alive(true);
  c->set_tcp_nodelay(true);
  return c;
}

httplib::Headers a2a_headers(bool activate = true) {
  httplib::Headers h{{"A2A-Version", "1.0"}};
  if (activate) h.emplace("A2A-Extensions", kExt);
  return h;
}

Json send_message(std::uint64_t id, int limit) {
  const Json message{{"messageId", "m-" + std::to_string(id)},
                     {"role", "ROLE_USER"},
                     {"parts", Json::array({Json{{"data", Json{{"limit", limit}}}}})},
                     {"metadata", Json{{kExt, Json{{"skill", "list-invoices"}}}}}};
  return Json{{"jsonrpc", "2.0"}, {"id", id}, {"method", "SendMessage"}, {"params", Json{{"message", message}}}};
}

int error_code(const Json& response) {
  if (!response.is_object() || !response.contains("error") || !response["error"].is_object()) return 0;
  return response["error"].value("code", 0);
}

std::string task_state(const Json& response) {
  if (!response.is_object() || !response.contains("result") || !response["result"].is_object()) return {};
  const Json& r = response["result"];
  if (!r.contains("task") || !r["task"].is_object() || !r["task"].contains("status")) return {};
  return r["task"]["status"].value("state", std::string());
}

// A completed task with the Acceptance and the Receipt (the gate has checked both by then).
bool accepted(const Json& response) {
  if (task_state(response) != "TASK_STATE_COMPLETED") return false;
  const Json& task = response["result"]["task"];
  const Json* ext = a2a::extension_data(task);
  return ext != nullptr && ext->contains("receipt");
}

struct AgentSide {
  std::unique_ptr<a2a::AgentGate> gate;

  struct Answer {
    std::optional<Json> response;  // after the gate checked it
    std::string failure;
    double ms = 0;
    bool first_accepted = false;  // with post_twice: the first post's answer was a completed task
  };
  // Signs (through the gate), posts and checks; only the post is timed. With `post_twice` the same
  // bytes go again after a first answer (a replay), and the answer is the second one.
  Answer exchange(httplib::Client& c, Json rpc, bool post_twice = false) const {
    Answer a;
    a2a::AgentExchange ex;
    auto signed_rpc = gate->on_request(std::move(rpc), a2a::Version::kV10, ex);
    if (!signed_rpc.ok()) {
      a.failure = "sign: " + signed_rpc.error().to_string();
      return a;
    }
    const std::string body = signed_rpc->dump();
    const auto t0 = hsk_load::Clock::now();
    httplib::Result res = c.Post("/", a2a_headers(), body, "application/json");
    a.ms = hsk_load::ms_since(t0);
    if (post_twice && res && res->status == 200) {
      const Json first = Json::parse(res->body, nullptr, false);
      a.first_accepted = task_state(first) == "TASK_STATE_COMPLETED";
      res = c.Post("/", a2a_headers(), body, "application/json");
    }
    if (!res) {
      a.failure = "transport: " + httplib::to_string(res.error());
      return a;
    }
    auto parsed = hs::json::parse_strict(res->body);
    if (!parsed.ok()) {
      a.failure = "http " + std::to_string(res->status) + ": not JSON";
      return a;
    }
    // One service process: it always knows its sessions, so the gate never asks for a cold retry.
    a2a::AgentReply reply = gate->on_response(ex, std::move(parsed).value(), a2a::Version::kV10);
    if (auto* to_client = std::get_if<a2a::ToClient>(&reply)) {
      a.response = std::move(to_client->message);
    } else {
      a.failure = "the gate asked for a cold retry";
    }
    return a;
  }
};

}  // namespace

int main(int argc, char** argv) {
  constexpr long kRssGrowthBoundMb = 64;
  const auto cl = hsk_load::parse_command_line(argc, argv, kRssGrowthBoundMb);
  if (!cl || !cl->extra.count("proxy")) {
    std::cerr << "usage: hsk_load_a2a_proxy --proxy PATH " << hsk_load::kCommonUsage << "\n";
    return 2;
  }
  const hsk_load::RunOptions& run = cl->run;
  const std::string proxy = fs::absolute(cl->extra.at("proxy")).string();
  const fs::path dir = hsk_load::make_temp_dir("hsk-load-a2a");

  // Identities, DID Documents, the delegation and the service's configuration (proxy_world.hpp).
  const hs::SystemClock clock;
  const hsk_load::ServiceWorld world(dir, kGrantedInvoices, clock);
  std::ofstream(dir / "skills.yaml") << "unmapped: refuse\nskills:\n"
                                     << "  list-invoices: {capability: billing.invoices.read, constraints: {max_invoices: data.limit}}\n";
  auto make_side = [&](bool cold) {
    a2a::AgentGateOptions o;
    o.service_did = world.service_did();
    // A margin longer than any session: the gate never uses one, every request is cold.
    if (cold) o.session_margin_seconds = std::int64_t{1} << 40;
    return AgentSide{std::make_unique<a2a::AgentGate>(world.agent(cold ? "cold" : "warm"), clock, std::move(o))};
  };
  const AgentSide cold = make_side(true), warm = make_side(false);

  Upstream upstream;
  const fs::path log = dir / "proxy.log";
  hsk_test::ChildProcess server({proxy, "--role", "service", "--config", (dir / "service.yaml").string(), "--skills",
                                 (dir / "skills.yaml").string(), "--max-body-bytes", std::to_string(kMaxBodyBytes),
                                 "--listen", "127.0.0.1:0", "--upstream",
                                 "http://127.0.0.1:" + std::to_string(upstream.port()) + "/"},
                                dir.string(), {}, log.string());
  const auto listening = server.wait_for("listening on 127.0.0.1:", std::chrono::seconds(20));
  if (!listening) {
    std::cerr << "the proxy did not start:\n" << hsk_load::tail_of(log) << "\n";
    return 1;
  }
  const int port = std::stoi(*listening);

  // Both agents learn the service from the card the proxy serves.
  {
    auto c = client_for(port);
    auto card = c->Get("/.well-known/agent-card.json");
    auto parsed = card && card->status == 200 ? hs::json::parse_strict(card->body) : hs::Result<Json>(Json());
    for (const AgentSide* side : {&cold, &warm}) {
      if (auto s = side->gate->learn(parsed.ok() ? *parsed : Json()); !s.ok()) {
        std::cerr << "the proxy's Agent Card: " << s.error().to_string() << "\n" << hsk_load::tail_of(log) << "\n";
        return 1;
      }
    }
  }

  struct Worker {
    std::unique_ptr<httplib::Client> client;
    std::vector<double> latencies;
    std::uint64_t accepted = 0;
  };
  std::vector<Worker> workers(static_cast<std::size_t>(run.concurrency));
  for (auto& w : workers) w.client = client_for(port);
  hsk_load::ErrorTally errors;
  auto note_error = [&](const std::string& kind, const std::string& detail) { errors.note(kind, detail); };
  auto one = [&](int t, std::uint64_t n) {
    Worker& w = workers[static_cast<std::size_t>(t)];
    const AgentSide& side = t % 2 == 0 ? cold : warm;
    auto a = side.exchange(*w.client, send_message(n + 10, 1 + static_cast<int>(n % kGrantedInvoices)));
    hsk_load::Sample s{a.response && accepted(*a.response), a.ms};
    w.latencies.push_back(a.ms);
    if (s.ok) {
      ++w.accepted;
    } else if (!a.response) {
      note_error(a.failure.substr(0, a.failure.find(':')), a.failure);
    } else if (const int code = error_code(*a.response); code != 0) {
      note_error("jsonrpc " + std::to_string(code), a.response->dump());
    } else {
      note_error("task " + task_state(*a.response), a.response->dump());
    }
    return s;
  };

  // Abuse, once a second, on fresh connections (a refused one may be closed).
  hsk_load::AbuseTally abuse;
  std::atomic<std::uint64_t> abuse_accepted{0};
  auto each_second = [&] {
    auto code_of = [](const httplib::Result& r) { return r ? error_code(Json::parse(r->body, nullptr, false)) : 0; };
    auto c = client_for(port);
    auto big = c->Post("/", a2a_headers(), std::string(4 * kMaxBodyBytes, ' '), "application/json");
    abuse.expect("oversized_413", big && big->status == 413);
    c = client_for(port);
    auto junk = c->Post("/", a2a_headers(), "{\"jsonrpc\":\"2.0\",", "application/json");
    abuse.expect("not_json_parse_error", junk && code_of(junk) == -32700);
    // Duplicate members are not strict JSON: refused before anything else.
    auto dup = c->Post("/", a2a_headers(), R"({"jsonrpc":"2.0","id":1,"id":2,"method":"SendMessage","params":{}})",
                       "application/json");
    abuse.expect("duplicate_member_parse_error", dup && code_of(dup) == -32700);
    // The extension is required: a send without activating it gets -32008.
    auto plain = c->Post("/", a2a_headers(false), send_message(3, 1).dump(), "application/json");
    abuse.expect("not_activated_32008", plain && code_of(plain) == -32008);
    // Activated but unsigned: a rejected task carrying a signed refusal.
    auto unsigned_send = c->Post("/", a2a_headers(), send_message(4, 1).dump(), "application/json");
    abuse.expect("unsigned_rejected", unsigned_send &&
                                          task_state(Json::parse(unsigned_send->body, nullptr, false)) == "TASK_STATE_REJECTED");
    // Signed, but for more than the delegation grants.
    auto over = cold.exchange(*c, send_message(5, 10 * kGrantedInvoices));
    abuse.expect("over_delegation_rejected", over.response && task_state(*over.response) == "TASK_STATE_REJECTED");
    // The same signed send twice: completed once, then rejected as a replay.
    auto replay = cold.exchange(*c, send_message(6, 1), /*post_twice=*/true);
    if (replay.first_accepted) ++abuse_accepted;
    abuse.expect("replay_rejected",
                 replay.first_accepted && replay.response && task_state(*replay.response) == "TASK_STATE_REJECTED");
  };

  const hsk_load::Outcome out = hsk_load::run_load(
      run, port, server.pid(), "POST / HTTP/1.1\r\nHost: x\r\nA2A-Version: 1.0\r\nX-Slow: ", one, each_second);

  auto after_client = client_for(port);
  auto after = cold.exchange(*after_client, send_message(7, 1));
  const bool alive = after.response && accepted(*after.response);

  std::uint64_t accepted_total = 0;
  std::vector<double> cold_ms, warm_ms;
  for (std::size_t t = 0; t < workers.size(); ++t) {
    accepted_total += workers[t].accepted;
    auto& into = t % 2 == 0 ? cold_ms : warm_ms;
    into.insert(into.end(), workers[t].latencies.begin(), workers[t].latencies.end());
  }
  auto pct = [](std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
  };
  const std::uint64_t expected_upstream = accepted_total + abuse_accepted.load() + (alive ? 1 : 0);
  const bool refused_stayed_out = upstream.sends() == expected_upstream;

  Json report = hsk_load::report(run, out, abuse, alive);
  report["server"] = "hsk-a2a-proxy --role service";
  report["accepted_verified"] = accepted_total;
  report["by_kind_ms"] = Json{{"cold", Json{{"requests", cold_ms.size()}, {"p50", pct(cold_ms, 0.5)}, {"p99", pct(cold_ms, 0.99)}}},
                              {"warm", Json{{"requests", warm_ms.size()}, {"p50", pct(warm_ms, 0.5)}, {"p99", pct(warm_ms, 0.99)}}}};
  report["error_kinds"] = errors.kinds();
  report["upstream_sends"] = upstream.sends();
  report["refused_sends_never_reached_upstream"] = refused_stayed_out;
  std::cout << report.dump(2) << std::endl;
  server.stop();
  bool ok = hsk_load::passed(run, out, abuse, alive, accepted_total);
  if (!refused_stayed_out) {
    std::cerr << "load run FAILED: the agent behind saw " << upstream.sends() << " sends, " << expected_upstream
              << " were accepted\n";
    ok = false;
  }
  if (!ok) std::cerr << "proxy log (tail):\n" << hsk_load::tail_of(log) << "\n";
  std::error_code ec;
  fs::remove_all(dir, ec);
  return ok ? 0 : 1;
}
