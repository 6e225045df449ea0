// Per-call overhead of hsk-mcp-proxy --role service over a direct stdio connection to the same
// MCP server (the C++ example server, so no Node start-up or GC noise), measured in the same run.
//
//   direct      client <-> hsk-mcp-example-server (plain, no handshake): tools/call echo
//   proxy_warm  client <-> proxy <-> the same server, each call carrying a warm HandshakeRequest
//               (session token; fresh nonce, signed by the agent) -> Acceptance + Receipt
//   proxy_cold  the same with a cold request each time (chain walked, no session)
// Only the round trip is timed (write the line, read the answer); the agent's signing happens
// outside it. After the run, p50 and p99 of every variant and the overhead over direct (same run)
// are printed. Target: p50 overhead < 0.5 ms warm.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "handshake/agent.hpp"
#include "handshake/did_document.hpp"
#include "handshake/identity.hpp"
#include "handshake/json.hpp"

namespace {

using handshake::Json;
namespace fs = std::filesystem;

// A child process spoken to over newline-delimited stdio.
class Peer {
 public:
  explicit Peer(const std::vector<std::string>& argv) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      const int devnull = ::open("/dev/null", O_WRONLY);
      ::dup2(devnull, 2);  // the proxy's logs
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    to_ = in[1];
    from_ = out[0];
  }
  ~Peer() {
    ::close(to_);
    ::kill(pid_, SIGTERM);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    ::close(from_);
  }
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  std::string call(const std::string& line) {
    std::string msg = line + "\n";
    std::string_view rest(msg);
    while (!rest.empty()) {
      const ssize_t n = ::write(to_, rest.data(), rest.size());
      if (n <= 0) throw std::runtime_error("write");
      rest.remove_prefix(static_cast<std::size_t>(n));
    }
    for (;;) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        std::string out = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return out;
      }
      char chunk[65536];
      const ssize_t n = ::read(from_, chunk, sizeof chunk);
      if (n <= 0) throw std::runtime_error("the peer closed its stdout");
      buf_.append(chunk, static_cast<std::size_t>(n));
    }
  }

 private:
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
  std::string buf_;
};

handshake::Identity make(handshake::PrincipalType t, int n) {
  return handshake::Identity::generate({t, {}, {}, std::vector<std::uint8_t>(32, static_cast<std::uint8_t>(n))}).value();
}

// Keys, DID Documents, a delegation and the service's configuration in a temporary directory.
struct Setup {
  fs::path dir;
  std::string svc_did;
  std::unique_ptr<handshake::Agent> agent;

  Setup() {
    dir = fs::temp_directory_path() / ("hsk-bench-mcp-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const handshake::SystemClock clock;
    const auto now = std::chrono::floor<std::chrono::seconds>(clock.now());
    auto org = make(handshake::PrincipalType::kOrg, 1);
    auto ag = make(handshake::PrincipalType::kAgent, 2);
    auto svc = make(handshake::PrincipalType::kSvc, 3);
    svc_did = svc.did_string();
    Json docs = Json::array();
    for (const auto* id : {&org, &ag, &svc}) {
      handshake::DidDocumentOptions o;
      o.version_time = now - std::chrono::hours(1);
      const std::string name = id->did().str().substr(8, 3) + ".did.json";
      std::ofstream(dir / name) << handshake::make_did_document(*id, o).value().dump();
      docs.push_back(name);
    }
    if (!handshake::save_key_file(svc, dir / "svc.key", true).ok()) throw std::runtime_error("key");
    std::ofstream(dir / "service.yaml") << "identity: svc.key\ntrust_roots: [" << org.did_string()
                                        << "]\ndid_documents: " << docs.dump() << "\nsession_ttl_seconds: 3600\nmax_delegation_ttl_seconds: 7200\n"
                                        << "max_request_age_seconds: 3600\n";
    std::ofstream(dir / "tools.yaml") << "tools:\n  echo: {capability: text.echo}\n";
    handshake::DelegationSpec spec;
    spec.holder = ag.did_string();
    spec.ttl = std::chrono::hours(2);
    spec.capabilities = {{"text.echo", Json::object(), std::nullopt}};
    auto chain = handshake::delegate(org, {}, spec, now).value();
    handshake::AgentAttestation att{org.did_string(), "bench", std::nullopt, "b1", std::nullopt, Json::object()};
    agent = std::make_unique<handshake::Agent>(std::move(ag), std::vector<Json>{chain}, att);
  }
  ~Setup() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

Setup& setup() {
  static Setup s;
  return s;
}

std::map<std::string, std::vector<double>>& samples() {
  static std::map<std::string, std::vector<double>> s;
  return s;
}

std::string call_line(int id, const std::optional<Json>& request) {
  Json params{{"name", "echo"}, {"arguments", {{"message", "hi"}}}};
  if (request) params["_meta"] = Json{{"ai.handshake/request", *request}};
  return Json{{"jsonrpc", "2.0"}, {"id", id}, {"method", "tools/call"}, {"params", params}}.dump();
}

void initialize(Peer& p) {
  p.call(R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}})");
  p.call(R"({"jsonrpc":"2.0","id":-1,"method":"tools/list"})");
}

enum class Mode { kDirect, kWarm, kCold };

void run(benchmark::State& state, Mode mode, const char* name) {
  Setup& s = setup();
  std::vector<std::string> argv;
  if (mode == Mode::kDirect) {
    argv = {HSK_EXAMPLE_SERVER};
  } else {
    argv = {HSK_MCP_PROXY, "--role", "service", "--config", (s.dir / "service.yaml").string(),
            "--tools", (s.dir / "tools.yaml").string(), "--", HSK_EXAMPLE_SERVER};
  }
  Peer peer(argv);
  initialize(peer);
  const handshake::SystemClock clock;
  std::optional<std::string> token;
  if (mode == Mode::kWarm) {
    const Json r = Json::parse(peer.call(call_line(1, s.agent->request(s.svc_did, {"text.echo", Json::object(), std::nullopt}, clock.now()).value())));
    token = r["result"]["_meta"]["ai.handshake/acceptance"]["session_token"].get<std::string>();
  }
  auto& out = samples()[name];
  int id = 10;
  for (auto _ : state) {
    std::optional<Json> request;
    if (mode != Mode::kDirect) {
      request = s.agent->request(s.svc_did, {"text.echo", Json::object(), std::nullopt}, clock.now(), token).value();
    }
    const std::string line = call_line(++id, request);
    const auto t0 = std::chrono::steady_clock::now();
    const std::string answer = peer.call(line);
    const auto t1 = std::chrono::steady_clock::now();
    const double secs = std::chrono::duration<double>(t1 - t0).count();
    state.SetIterationTime(secs);
    out.push_back(secs);
    if (answer.find("\"result\"") == std::string::npos) {
      state.SkipWithError(("call refused: " + answer.substr(0, 300)).c_str());
      break;
    }
  }
}

void BM_direct(benchmark::State& s) { run(s, Mode::kDirect, "direct"); }
void BM_proxy_warm(benchmark::State& s) { run(s, Mode::kWarm, "proxy_warm"); }
void BM_proxy_cold(benchmark::State& s) { run(s, Mode::kCold, "proxy_cold"); }
BENCHMARK(BM_direct)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_proxy_warm)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_proxy_cold)->UseManualTime()->Unit(benchmark::kMicrosecond);

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  const auto& all = samples();
  if (!all.count("direct")) return 0;
  const double d50 = percentile(all.at("direct"), 0.50), d99 = percentile(all.at("direct"), 0.99);
  std::printf("\n%-12s %8s %10s %10s %16s %16s\n", "variant", "calls", "p50 (us)", "p99 (us)", "p50 overhead", "p99 overhead");
  for (const char* name : {"direct", "proxy_warm", "proxy_cold"}) {
    if (!all.count(name)) continue;
    const auto& v = all.at(name);
    const double p50 = percentile(v, 0.50), p99 = percentile(v, 0.99);
    std::printf("%-12s %8zu %10.1f %10.1f %+10.1f us %4.2fx %+10.1f us %4.2fx\n", name, v.size(), p50 * 1e6, p99 * 1e6,
                (p50 - d50) * 1e6, p50 / d50, (p99 - d99) * 1e6, p99 / d99);
  }
  if (all.count("proxy_warm")) {
    const double over = (percentile(all.at("proxy_warm"), 0.5) - d50) * 1e3;
    std::printf("\nwarm p50 overhead %.3f ms (target < 0.5 ms): %s\n", over, over < 0.5 ? "met" : "NOT met");
  }
  return 0;
}
