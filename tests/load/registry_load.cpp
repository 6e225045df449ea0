// Load, soak and abuse run against `hsk registry serve` (a real process, started and stopped
// here): a fixed number of client threads post distinct signed receipts and fetch proofs and tree
// heads for a bounded time; meanwhile slow clients dribble headers (slowloris) and oversized
// bodies arrive. Reports throughput, p50/p99 latency, errors and the server's resident memory
// over the run, and fails when a request errs, the server stops answering, or memory keeps
// growing past the bound.
//
// usage: hsk_load_registry --hsk PATH [--seconds N] [--concurrency C] [--slow S] [--rss-growth-mb M]
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "handshake/did_document.hpp"
#include "handshake/identity.hpp"
#include "handshake/ids.hpp"
#include "handshake/receipt.hpp"
#include "handshake/registry_anchor.hpp"
#include "load/load_run.hpp"

namespace fs = std::filesystem;
namespace hs = handshake;
using hs::Json;

namespace {

Json receipt(const hs::Identity& svc, const std::string& agent, std::uint64_t n) {
  hs::Acceptance a;
  const auto now = std::chrono::floor<std::chrono::seconds>(hs::SystemClock().now());
  a.request_id = hs::ids::make_id(hs::ids::kRequestPrefix, now);
  a.iss = svc.did_string();
  a.aud = agent;
  a.iat = now;
  a.effective_scope = {"billing.invoices.read", Json{{"max_invoices", 10}}};
  return hs::issue_receipt(svc, a, Json{{"n", n}}, "ok", now).value();
}

}  // namespace

int main(int argc, char** argv) {
  const auto cl = hsk_load::parse_command_line(argc, argv);
  if (!cl || !cl->extra.count("hsk")) {
    std::cerr << "usage: hsk_load_registry --hsk PATH " << hsk_load::kCommonUsage << "\n";
    return 2;
  }
  const hsk_load::RunOptions& run = cl->run;
  const std::string hsk = fs::absolute(cl->extra.at("hsk")).string();
  const fs::path dir = hsk_load::make_temp_dir("hsk-load");
  auto reg = hs::Identity::generate({hs::PrincipalType::kSvc, {}, {}, {}}).value();
  auto svc = hs::Identity::generate({hs::PrincipalType::kSvc, {}, {}, {}}).value();
  const std::string agent = hs::Identity::generate({hs::PrincipalType::kAgent, {}, {}, {}}).value().did_string();
  if (!hs::save_key_file(reg, dir / "reg.key").ok()) return 1;
  hs::DidDocumentOptions o;
  o.version_time = std::chrono::floor<std::chrono::seconds>(hs::SystemClock().now()) - std::chrono::hours(1);
  std::ofstream(dir / "svc.did.json") << hs::make_did_document(svc, o).value().dump();

  hsk_test::ChildProcess server({hsk, "registry", "serve", "--key", (dir / "reg.key").string(), "--db",
                                 (dir / "log.db").string(), "--port", "0", "--did-doc", (dir / "svc.did.json").string()},
                                dir.string());
  auto listening = server.wait_for("listening on 127.0.0.1:", std::chrono::seconds(20));
  if (!listening) {
    std::cerr << "the registry did not start\n";
    return 1;
  }
  const int port = std::stoi(*listening);

  std::atomic<std::uint64_t> appends{0}, reads{0};
  // Per worker: its client (kept between requests) and the last leaf it appended.
  struct Worker {
    std::unique_ptr<httplib::Client> client;
    std::string last_leaf;
  };
  std::vector<Worker> workers(static_cast<std::size_t>(run.concurrency));
  for (auto& w : workers) {
    w.client = std::make_unique<httplib::Client>("127.0.0.1", port);
    w.client->set_connection_timeout(5, 0);
    w.client->set_read_timeout(10, 0);
  }
  std::atomic<int> reported{0};
  auto note_failure = [&](const httplib::Result& res, const char* what) {
    if (reported++ < 5) {
      std::cerr << "error (" << what << "): "
                << (res ? "HTTP " + std::to_string(res->status) + " " + res->body.substr(0, 200) : httplib::to_string(res.error()))
                << "\n";
    }
  };
  auto one = [&](int t, std::uint64_t n) {
    Worker& w = workers[static_cast<std::size_t>(t)];
    hsk_load::Sample s;
    const auto t0 = hsk_load::Clock::now();
    if (n % 5 != 4 || w.last_leaf.empty()) {
      const Json r = receipt(svc, agent, n);
      auto res = w.client->Post("/v1/receipts", r.dump(), "application/json");
      s.ok = res && res->status == 200;
      if (s.ok) {
        w.last_leaf = Json::parse(res->body)["leaf_hash"].get<std::string>();
        ++appends;
      } else {
        note_failure(res, "append");
      }
    } else {
      auto res = (n % 10 == 9) ? w.client->Get("/v1/tree-head")
                               : w.client->Get("/v1/proofs/inclusion?leaf_hash=" + w.last_leaf);
      s.ok = res && res->status == 200;
      if (s.ok) ++reads;
      else note_failure(res, "read");
    }
    s.latency_ms = hsk_load::ms_since(t0);
    return s;
  };
  // Oversized bodies and garbage during the run: each must get a 4xx, none may hurt the server.
  hsk_load::AbuseTally abuse;
  auto each_second = [&] {
    httplib::Client c("127.0.0.1", port);
    auto big = c.Post("/v1/receipts", std::string(1024 * 1024, 'x'), "application/json");
    abuse.expect("oversized_body_413", big && big->status == 413);
    auto junk = c.Post("/v1/receipts", "{\"kind\":\"Receipt\",\"kind\":\"x\"}", "application/json");
    abuse.expect("duplicate_member_400", junk && junk->status == 400);
  };
  const hsk_load::Outcome out =
      hsk_load::run_load(run, port, server.pid(), "POST /v1/receipts HTTP/1.1\r\nHost: x\r\nX-Slow: ", one, each_second);

  // Still serving after all of it?
  httplib::Client after("127.0.0.1", port);
  auto head = after.Get("/v1/tree-head");
  const bool alive = head && head->status == 200;

  Json report = hsk_load::report(run, out, abuse, alive);
  report["appends"] = appends.load();
  report["reads"] = reads.load();
  std::cout << report.dump(2) << std::endl;
  server.stop();
  std::error_code ec;
  fs::remove_all(dir, ec);
  return hsk_load::passed(run, out, abuse, alive, appends.load()) ? 0 : 1;
}
