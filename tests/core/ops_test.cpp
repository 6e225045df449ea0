// Operations through their public entry points: the metrics registry and its text exposition,
// the decision observer (metrics and audit lines), the audit log's rotation, readiness, the
// service's reconfiguration (SIGHUP) and the endpoints net::mount_ops serves.
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "core/fixtures.hpp"
#include "handshake/metrics.hpp"
#include "handshake/net/http.hpp"
#include "handshake/net/ops.hpp"
#include "handshake/ops.hpp"
#include "test_util.hpp"

using namespace hsk_fx;
using hs::Json;
namespace metrics = handshake::metrics;
namespace ops = handshake::ops;

namespace {

// The lines of `text` that start with `prefix`.
std::vector<std::string> lines_with(const std::string& text, const std::string& prefix) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) out.push_back(line);
  }
  return out;
}

// The value of the one sample line `series` (name with its labels, exactly), or NaN.
double sample(const std::string& text, const std::string& series) {
  for (const auto& line : lines_with(text, series + " ")) return std::stod(line.substr(series.size() + 1));
  return std::numeric_limits<double>::quiet_NaN();
}

std::vector<Json> read_lines(const std::filesystem::path& p) {
  std::vector<Json> out;
  std::ifstream in(p);
  for (std::string line; std::getline(in, line);) out.push_back(Json::parse(line));
  return out;
}

}  // namespace

TEST_CASE("metrics: counters, gauges and histograms in the text exposition format", "[ops][metrics]") {
  metrics::Registry r;
  auto c = r.counter("hsk_things_total", "Things\nseen", {"kind"});
  c.with({"a"}).inc();
  c.with({"a"}).inc(2);
  c.with({"b\"\\\n"}).inc();
  auto g = r.gauge("hsk_level", "A level");
  g.with({}).set(2.5);
  auto h = r.histogram("hsk_wait_seconds", "Waits", {"path"}, {0.1, 1});
  h.with({"cold"}).observe(0.05);
  h.with({"cold"}).observe(0.5);
  h.with({"cold"}).observe(5);
  const std::string text = r.render();
  INFO(text);
  CHECK(lines_with(text, "# HELP hsk_things_total Things\\nseen").size() == 1);
  CHECK(lines_with(text, "# TYPE hsk_things_total counter").size() == 1);
  CHECK(sample(text, "hsk_things_total{kind=\"a\"}") == 3);
  CHECK(sample(text, "hsk_things_total{kind=\"b\\\"\\\\\\n\"}") == 1);
  CHECK(lines_with(text, "# TYPE hsk_level gauge").size() == 1);
  CHECK(sample(text, "hsk_level") == 2.5);
  CHECK(lines_with(text, "# TYPE hsk_wait_seconds histogram").size() == 1);
  // Buckets are cumulative and end in +Inf = count.
  CHECK(sample(text, "hsk_wait_seconds_bucket{path=\"cold\",le=\"0.1\"}") == 1);
  CHECK(sample(text, "hsk_wait_seconds_bucket{path=\"cold\",le=\"1\"}") == 2);
  CHECK(sample(text, "hsk_wait_seconds_bucket{path=\"cold\",le=\"+Inf\"}") == 3);
  CHECK(sample(text, "hsk_wait_seconds_count{path=\"cold\"}") == 3);
  CHECK(sample(text, "hsk_wait_seconds_sum{path=\"cold\"}") == Approx(5.55));
}

TEST_CASE("metrics: label values are bounded, names checked, families shared", "[ops][metrics]") {
  metrics::Registry r;
  auto c = r.counter("hsk_asked_total", "Asked", {"capability"}, 3);
  for (int i = 0; i < 10; ++i) c.with({"cap" + std::to_string(i)}).inc();
  const std::string text = r.render();
  INFO(text);
  CHECK(lines_with(text, "hsk_asked_total{").size() == 4);  // three kept, the rest as "other"
  CHECK(sample(text, "hsk_asked_total{capability=\"other\"}") == 7);
  // The same family again: the same series.
  r.counter("hsk_asked_total", "Asked", {"capability"}).with({"cap0"}).inc();
  CHECK(sample(r.render(), "hsk_asked_total{capability=\"cap0\"}") == 2);
  CHECK_THROWS_AS(r.counter("hsk_asked", "no _total"), std::invalid_argument);
  CHECK_THROWS_AS(r.counter("bad-name_total", "x"), std::invalid_argument);
  CHECK_THROWS_AS(r.gauge("hsk_asked_total", "another type"), std::invalid_argument);
  CHECK_THROWS_AS(r.counter("hsk_asked_total", "other labels", {"x"}), std::invalid_argument);
  CHECK_THROWS_AS(c.with({"a", "b"}), std::invalid_argument);
  CHECK_THROWS_AS(r.histogram("hsk_h_seconds", "le is reserved", {"le"}), std::invalid_argument);
  CHECK(metrics::format_value(1e-5) == "1e-05");
  CHECK(metrics::format_value(42) == "42");
  CHECK(metrics::format_value(std::numeric_limits<double>::infinity()) == "+Inf");
}

TEST_CASE("metrics: callbacks are read at each scrape, and counting is thread-safe", "[ops][metrics]") {
  metrics::Registry r;
  std::atomic<int> entries{5};
  r.callback("hsk_entries", "Entries", metrics::Type::kGauge, {}, [&] {
    return std::vector<metrics::Sample>{{{}, static_cast<double>(entries.load())}};
  });
  CHECK(sample(r.render(), "hsk_entries") == 5);
  entries = 9;
  CHECK(sample(r.render(), "hsk_entries") == 9);
  auto c = r.counter("hsk_hits_total", "Hits", {"t"});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&c] {
      for (int i = 0; i < 10000; ++i) c.with({"x"}).inc();
    });
  }
  for (auto& t : threads) t.join();
  CHECK(sample(r.render(), "hsk_hits_total{t=\"x\"}") == 40000);
}

TEST_CASE("ops: the observer counts decisions and writes one audit line each", "[ops][audit]") {
  World w;
  hsk_test::TempDir dir;
  const auto log_path = dir.path() / "audit.jsonl";
  auto audit = must(ops::AuditLog::open(log_path.string()));
  struct stat st {};
  REQUIRE(::stat(log_path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0077) == 0);  // owner-only: it names agents and principals
  metrics::Registry registry;
  const ops::Observer observer(registry, audit.get());

  auto a = w.default_agent();
  const Json ok_request = w.request(a, read_cap(5));
  const auto accepted = w.service().verify(ok_request, hs::ActionBinding{"billing.invoices.read", Json::object()});
  REQUIRE(accepted.accepted);
  CHECK(accepted.elapsed.count() > 0);
  observer.decided(accepted, ops::Outcome{"mcp", "billing.invoices.read", "rc_01HK4ZQ8N4Y0S6P3Q9W1ZK8C4X", std::chrono::milliseconds(3)});
  const auto replayed = w.service().verify(ok_request, hs::ActionBinding{"billing.invoices.read", Json::object()});
  REQUIRE_FALSE(replayed.accepted);
  observer.decided(replayed, ops::Outcome{"mcp", "billing.invoices.read", std::nullopt, std::nullopt});
  observer.decided(w.service().verify("{not json"), ops::Outcome{"mcp", "", std::nullopt, std::nullopt});

  const std::string text = registry.render();
  INFO(text);
  CHECK(sample(text, "hsk_decisions_total{transport=\"mcp\",outcome=\"accepted\",code=\"none\",capability=\"billing.invoices.read\",path=\"cold\"}") == 1);
  CHECK(sample(text, "hsk_decisions_total{transport=\"mcp\",outcome=\"refused\",code=\"replay_detected\",capability=\"billing.invoices.read\",path=\"cold\"}") == 1);
  CHECK(sample(text, "hsk_decisions_total{transport=\"mcp\",outcome=\"refused\",code=\"protocol_version_unsupported\",capability=\"none\",path=\"cold\"}") == 1);
  CHECK(sample(text, "hsk_verification_seconds_count{transport=\"mcp\",path=\"cold\"}") == 3);
  CHECK(sample(text, "hsk_upstream_seconds_count{transport=\"mcp\"}") == 1);
  CHECK(sample(text, "hsk_audit_write_failures_total") == 0);
  // No DID and no id is a label value.
  CHECK(text.find("did:hsk") == std::string::npos);
  CHECK(text.find("hs_") == std::string::npos);

  const auto lines = read_lines(log_path);
  REQUIRE(lines.size() == 3);
  const Json& first = lines[0];
  CHECK(first["request_id"] == id_of(ok_request));
  CHECK(first["agent"] == w.agent.did_string());
  CHECK(first["deployer"] == w.root.did_string());
  CHECK(first["root_principal"] == w.root.did_string());
  CHECK(first["capability"] == "billing.invoices.read");
  CHECK(first["outcome"] == "accepted");
  CHECK(first["code"].is_null());
  CHECK(first["receipt_id"] == "rc_01HK4ZQ8N4Y0S6P3Q9W1ZK8C4X");
  CHECK(first["upstream_seconds"] == Approx(0.003));
  CHECK(first["verify_seconds"].get<double>() > 0);
  CHECK(hs::time::parse_rfc3339(first["time"].get<std::string>()).ok());
  CHECK(lines[1]["code"] == "replay_detected");
  CHECK(lines[1]["step"] == "replay");
  CHECK(lines[2]["request_id"].is_null());
  // No payloads and no refusal details (§18): exactly these keys.
  for (const auto& line : lines) {
    std::vector<std::string> keys;
    for (const auto& [k, v] : line.items()) keys.push_back(k);
    CHECK(keys == std::vector<std::string>{"agent", "capability", "code", "deployer", "outcome", "path", "receipt_id",
                                           "request_id", "root_principal", "step", "time", "transport",
                                           "upstream_seconds", "verify_seconds"});
  }
}

TEST_CASE("ops: the audit log is reopened under its name after rotation", "[ops][audit]") {
  hsk_test::TempDir dir;
  const auto path = dir.path() / "audit.jsonl";
  auto audit = must(ops::AuditLog::open(path.string()));
  audit->write(Json{{"n", 1}});
  std::filesystem::rename(path, dir.path() / "audit.jsonl.1");  // logrotate moves it
  audit->write(Json{{"n", 2}});                                  // still to the moved file
  REQUIRE(audit->reopen().ok());
  audit->write(Json{{"n", 3}});
  const auto old_lines = read_lines(dir.path() / "audit.jsonl.1");
  const auto new_lines = read_lines(path);
  REQUIRE(old_lines.size() == 2);
  REQUIRE(new_lines.size() == 1);
  CHECK(new_lines[0]["n"] == 3);
  // A directory that is gone: reopen fails, the open file is kept.
  auto lost = must(ops::AuditLog::open((dir.path() / "sub.jsonl").string()));
  CHECK_FALSE(ops::AuditLog::open((dir.path() / "missing" / "a.jsonl").string()).ok());
  CHECK_FALSE(ops::AuditLog::open("").ok());
  lost->write(Json{{"n", 1}});
  CHECK(lost->failed_writes() == 0);
}

TEST_CASE("ops: readiness names what is not ready", "[ops][ready]") {
  ops::Readiness r;
  bool db_up = true;
  r.add("db", [&]() -> hs::Status {
    if (db_up) return hs::ok_status();
    return hs::make_error(hs::ErrorCode::kUnavailable, "pg.unavailable", "connection refused");
  });
  r.add("signing_key", ops::signing_key_check(make_identity(hs::PrincipalType::kSvc, kServiceSeed)));
  auto report = r.run();
  CHECK(report.ready);
  CHECK(report.body["checks"]["db"] == "ok");
  CHECK(report.body["checks"]["signing_key"] == "ok");
  db_up = false;
  report = r.run();
  CHECK_FALSE(report.ready);
  CHECK(report.body["status"] == "not ready");
  CHECK(report.body["checks"]["db"] == "connection refused");
}

TEST_CASE("service: reconfigure changes the next decisions; a bad set keeps the running one", "[service][reload]") {
  World w;
  auto a = w.default_agent();
  REQUIRE(w.service().verify(w.request(a, read_cap(5))).accepted);
  // A new trust root only: the agent's chain no longer starts at a trusted root.
  hs::ServiceOptions next = *w.service().options();
  next.chain.trust_roots = {w.rogue_org.did_string()};
  REQUIRE(w.service().reconfigure(next).ok());
  const Json req = w.request(a, read_cap(5));
  w.expect_refusal(w.service().verify(req), hs::RefusalCode::kChainBroken, req);
  // A set create() would refuse is refused and changes nothing.
  hs::ServiceOptions bad = next;
  bad.chain.trust_roots.clear();
  CHECK_FALSE(w.service().reconfigure(bad).ok());
  CHECK(w.service().options()->chain.trust_roots == std::vector<std::string>{w.rogue_org.did_string()});
  next.chain.trust_roots = {w.root.did_string()};
  REQUIRE(w.service().reconfigure(next).ok());
  CHECK(w.service().verify(w.request(a, read_cap(5))).accepted);
}

TEST_CASE("net: /metrics, /healthz and /readyz", "[ops][net]") {
  metrics::Registry registry;
  registry.counter("hsk_x_total", "x").with({}).inc();
  ops::Readiness readiness;
  bool up = true;
  readiness.add("store", [&]() -> hs::Status {
    return up ? hs::ok_status() : hs::make_error(hs::ErrorCode::kUnavailable, "x", "store down");
  });
  auto server = must(hs::net::OpsServer::start("127.0.0.1", 0, hs::net::OpsEndpoints{&registry, &readiness}));
  REQUIRE(server->port() > 0);
  httplib::Client client("127.0.0.1", server->port());
  auto m = client.Get("/metrics");
  REQUIRE(m);
  CHECK(m->status == 200);
  CHECK(m->get_header_value("Content-Type").rfind("text/plain; version=0.0.4", 0) == 0);
  CHECK(sample(m->body, "hsk_x_total") == 1);
  CHECK(sample(m->body, "hsk_tls_handshake_failures_total") >= 0);
  auto h = client.Get("/healthz");
  REQUIRE(h);
  CHECK(h->status == 200);
  auto r = client.Get("/readyz");
  REQUIRE(r);
  CHECK(r->status == 200);
  up = false;
  r = client.Get("/readyz");
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(Json::parse(r->body)["checks"]["store"] == "store down");
  CHECK_FALSE(hs::net::OpsServer::start("127.0.0.1", server->port(), hs::net::OpsEndpoints{&registry, &readiness}).ok());
}

TEST_CASE("service: a root no longer trusted after reconfigure ends its warm sessions", "[service][reload][warm]") {
  World w;
  w.options.session_ttl = std::chrono::seconds(300);
  auto a = w.default_agent();
  const auto cold = w.service().verify(w.request(a, read_cap(5)));
  REQUIRE(cold.accepted);
  REQUIRE(cold.acceptance->session_token.has_value());
  const std::string token = *cold.acceptance->session_token;
  REQUIRE(w.service().verify(w.request(a, read_cap(5), token)).accepted);
  hs::ServiceOptions next = *w.service().options();
  next.chain.trust_roots = {w.rogue_org.did_string()};
  REQUIRE(w.service().reconfigure(next).ok());
  const Json warm = w.request(a, read_cap(5), token);
  const auto d = w.service().verify(warm);
  w.expect_refusal(d, hs::RefusalCode::kChainBroken, warm);
  CHECK(d.refusal->step == hs::VerificationStep::kSession);
}
