// Load, soak and abuse run against `hsk registry serve` (a real process, started and stopped
// here): a fixed number of client threads post distinct signed receipts and fetch proofs and tree
// heads for a bounded time; meanwhile slow clients dribble headers (slowloris) and oversized
// bodies arrive. Reports throughput, p50/p99 latency, errors and the server's resident memory
// over the run, and fails when a request errs, the server stops answering, or memory keeps
// growing past the bound.
//
// usage: hsk_load_registry --hsk PATH [--seconds N] [--concurrency C] [--slow S] [--rss-growth-mb M]
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "child_process.hpp"
#include "handshake/did_document.hpp"
#include "handshake/identity.hpp"
#include "handshake/ids.hpp"
#include "handshake/receipt.hpp"
#include "handshake/registry_anchor.hpp"

namespace fs = std::filesystem;
namespace hs = handshake;
using hs::Json;
using Clock = std::chrono::steady_clock;

namespace {

long rss_kb(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

int server_pid(const std::string& port) {
  // The hsk process listening on `port`: the newest "hsk registry serve" child of ours.
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    std::ifstream cmd(e.path() / "cmdline");
    std::string c((std::istreambuf_iterator<char>(cmd)), std::istreambuf_iterator<char>());
    std::replace(c.begin(), c.end(), '\0', ' ');
    if (c.find("registry serve") != std::string::npos && c.find("--port 0") != std::string::npos &&
        std::stoi(name) > 0 && static_cast<pid_t>(std::stoi(name)) != ::getpid()) {
      std::ifstream stat(e.path() / "stat");
      std::string s;
      std::getline(stat, s);
      const auto rp = s.rfind(')');
      std::istringstream rest(s.substr(rp + 2));
      std::string state;
      int ppid = 0;
      rest >> state >> ppid;
      if (ppid == ::getpid()) return std::stoi(name);
    }
  }
  (void)port;
  return -1;
}

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

// A connection that sends part of a request line and then one header byte at a time.
void slowloris(int port, std::atomic<bool>& stop) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return;
  }
  const std::string head = "POST /v1/receipts HTTP/1.1\r\nHost: x\r\nX-Slow: ";
  (void)!::send(fd, head.data(), head.size(), MSG_NOSIGNAL);
  while (!stop.load()) {
    if (::send(fd, "a", 1, MSG_NOSIGNAL) != 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  ::close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  std::string hsk;
  int seconds = 20, concurrency = 16, slow = 32;
  long growth_bound_mb = 64;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--hsk") hsk = v;
    else if (k == "--seconds") seconds = std::stoi(v);
    else if (k == "--concurrency") concurrency = std::stoi(v);
    else if (k == "--slow") slow = std::stoi(v);
    else if (k == "--rss-growth-mb") growth_bound_mb = std::stol(v);
  }
  if (hsk.empty()) {
    std::cerr << "usage: hsk_load_registry --hsk PATH [--seconds N] [--concurrency C] [--slow S] [--rss-growth-mb M]\n";
    return 2;
  }
  hsk = fs::absolute(hsk).string();
  std::string tmpl = (fs::temp_directory_path() / "hsk-load-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) return 1;
  const fs::path dir = tmpl;
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
  const int pid = server_pid(*listening);

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> counter{0}, errors{0}, appends{0}, reads{0};
  std::mutex lat_mu;
  std::vector<double> latencies_ms;
  std::vector<std::thread> slow_threads;
  for (int i = 0; i < slow; ++i) slow_threads.emplace_back(slowloris, port, std::ref(stop));

  std::vector<long> rss_samples;
  const auto start = Clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < concurrency; ++t) {
    workers.emplace_back([&, t] {
      httplib::Client c("127.0.0.1", port);
      c.set_connection_timeout(5, 0);
      c.set_read_timeout(10, 0);
      std::vector<double> mine;
      std::string last_leaf;
      while (!stop.load()) {
        const std::uint64_t n = counter.fetch_add(1);
        const auto t0 = Clock::now();
        bool ok = false;
        if (n % 5 != 4 || last_leaf.empty()) {
          const Json r = receipt(svc, agent, n);
          auto res = c.Post("/v1/receipts", r.dump(), "application/json");
          ok = res && res->status == 200;
          if (ok) {
            last_leaf = Json::parse(res->body)["leaf_hash"].get<std::string>();
            ++appends;
          }
        } else {
          auto res = (n % 10 == 9) ? c.Get("/v1/tree-head") : c.Get("/v1/proofs/inclusion?leaf_hash=" + last_leaf);
          ok = res && res->status == 200;
          if (ok) ++reads;
        }
        mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        if (!ok) ++errors;
        (void)t;
      }
      std::lock_guard lock(lat_mu);
      latencies_ms.insert(latencies_ms.end(), mine.begin(), mine.end());
    });
  }
  // Oversized bodies and garbage during the run: each must get a 4xx, none may hurt the server.
  std::uint64_t abuse_ok = 0, abuse_total = 0;
  for (int s = 0; s < seconds; ++s) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    rss_samples.push_back(rss_kb(pid));
    httplib::Client c("127.0.0.1", port);
    auto big = c.Post("/v1/receipts", std::string(1024 * 1024, 'x'), "application/json");
    abuse_total++;
    if (big && big->status >= 400 && big->status < 500) abuse_ok++;
    auto junk = c.Post("/v1/receipts", "{\"kind\":\"Receipt\",\"kind\":\"x\"}", "application/json");
    abuse_total++;
    if (junk && junk->status == 400) abuse_ok++;
  }
  stop = true;
  for (auto& w : workers) w.join();
  for (auto& s : slow_threads) s.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();

  // Still serving after all of it?
  httplib::Client after("127.0.0.1", port);
  auto head = after.Get("/v1/tree-head");
  const bool alive = head && head->status == 200;

  std::sort(latencies_ms.begin(), latencies_ms.end());
  auto pct = [&](double p) {
    return latencies_ms.empty() ? 0.0 : latencies_ms[std::min(latencies_ms.size() - 1, static_cast<std::size_t>(p * latencies_ms.size()))];
  };
  // Memory: from the end of the first third (caches warm) to the end.
  const long rss_warm = rss_samples.empty() ? -1 : rss_samples[rss_samples.size() / 3];
  const long rss_end = rss_samples.empty() ? -1 : rss_samples.back();
  const long rss_max = rss_samples.empty() ? -1 : *std::max_element(rss_samples.begin(), rss_samples.end());
  const long growth_kb = rss_end - rss_warm;
  const Json report{{"seconds", elapsed},
                    {"concurrency", concurrency},
                    {"slowloris_connections", slow},
                    {"requests", latencies_ms.size()},
                    {"appends", appends.load()},
                    {"reads", reads.load()},
                    {"throughput_rps", static_cast<double>(latencies_ms.size()) / elapsed},
                    {"latency_ms", Json{{"p50", pct(0.50)}, {"p99", pct(0.99)}, {"max", latencies_ms.empty() ? 0 : latencies_ms.back()}}},
                    {"errors", errors.load()},
                    {"abuse_refused_cleanly", std::to_string(abuse_ok) + "/" + std::to_string(abuse_total)},
                    {"server_rss_kb", Json{{"warm", rss_warm}, {"end", rss_end}, {"max", rss_max}}},
                    {"alive_after", alive}};
  std::cout << report.dump(2) << std::endl;
  server.stop();
  std::error_code ec;
  fs::remove_all(dir, ec);
  const bool ok = errors.load() == 0 && alive && abuse_ok == abuse_total && appends.load() > 0 &&
                  (rss_warm < 0 || growth_kb <= growth_bound_mb * 1024);
  if (!ok) std::cerr << "load run FAILED\n";
  return ok ? 0 : 1;
}
