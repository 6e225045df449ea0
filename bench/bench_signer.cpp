// Signing with a key in a PKCS#11 token (SoftHSM2, a token this benchmark makes in a temp dir)
// against libsodium in the same run, and a cold and a warm handshake with the service's key in
// the token against the same with a key file. After the run, "ratio" lines: each result over its
// in-process counterpart.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "handshake/agent.hpp"
#include "handshake/encoding.hpp"
#include "handshake/identity.hpp"
#include "handshake/json.hpp"
#include "handshake/nonce_store.hpp"
#include "handshake/pkcs11.hpp"
#include "handshake/resolver.hpp"
#include "handshake/revocation.hpp"
#include "handshake/service.hpp"
#include "test_util.hpp"

namespace {

using namespace handshake;

Identity make(PrincipalType t, int n) {
  std::vector<std::uint8_t> seed(32, static_cast<std::uint8_t>(n));
  return Identity::generate({t, {}, {}, seed}).value();
}

// The token, made once: SOFTHSM2_CONF is read by the module at C_Initialize.
struct Token {
  hsk_test::TempDir dir{"hsk-bench-p11"};
  std::optional<Identity> svc;  // did:hsk:svc for a key generated in the token
  Token() {
    const std::string script = std::string(HSK_TEST_SOURCE_DIR) + "/tools/softhsm_token.sh";
    const std::string cmd = "bash " + script + " " + (dir.path() / "hsm").string() + " bench > " + (dir.path() / "module").string();
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("softhsm_token.sh failed");
    std::ifstream in(dir.path() / "module");
    std::string module;
    std::getline(in, module);
    ::setenv("SOFTHSM2_CONF", (dir.path() / "hsm" / "softhsm2.conf").c_str(), 1);
    const std::string uri = "pkcs11:token=bench;object=svc?module-path=" + module + "&pin-source=file:" +
                            (dir.path() / "hsm" / "pin").string();
    svc.emplace(pkcs11::generate_identity(pkcs11::Uri::parse(uri).value(), PrincipalType::kSvc).value());
  }
};
Token& token() {
  static Token t;
  return t;
}

const std::string kMessage(300, 'm');

void BM_SignSodium(benchmark::State& state) {
  static const Identity id = make(PrincipalType::kSvc, 7);
  for (auto _ : state) benchmark::DoNotOptimize(id.key().try_sign(encoding::as_bytes(kMessage)));
}
BENCHMARK(BM_SignSodium);

void BM_SignPkcs11(benchmark::State& state) {
  const Identity& id = *token().svc;
  for (auto _ : state) {
    auto sig = id.key().try_sign(encoding::as_bytes(kMessage));
    if (!sig.ok()) state.SkipWithError(sig.error().to_string().c_str());
    benchmark::DoNotOptimize(sig);
  }
}
BENCHMARK(BM_SignPkcs11);
BENCHMARK(BM_SignPkcs11)->Threads(8)->UseRealTime();

// One link, org -> agent, and the service with either key.
struct World {
  FixedClock clock{std::chrono::floor<std::chrono::seconds>(SystemClock().now())};
  Identity org = make(PrincipalType::kOrg, 1), agent_id = make(PrincipalType::kAgent, 2);
  StaticKeyResolver keys;
  RevocationList revocations;
  std::unique_ptr<NonceStore> nonces = make_memory_nonce_store(1'000'000);
  std::unique_ptr<RateLimiter> limiter = make_memory_rate_limiter();
  std::unique_ptr<Service> service;
  std::unique_ptr<Agent> agent;
  std::vector<std::string> pool;
  std::optional<std::string> session_token;
  std::string svc_did;
  World(const Identity& svc, bool session) : svc_did(svc.did_string()) {
    keys.add(org.did_string(), org.public_key());
    keys.add(agent_id.did_string(), agent_id.public_key());
    DelegationSpec spec;
    spec.holder = agent_id.did_string();
    spec.capabilities = {{"billing.invoices.read", Json{{"max_invoices", 100}}, std::nullopt}};
    auto chain = std::vector<Json>{delegate(org, {}, spec, clock.now()).value()};
    agent = std::make_unique<Agent>(agent_id, chain, AgentAttestation{org.did_string(), "bench", "b1"});
    ServiceOptions o;
    o.chain.trust_roots = {org.did_string()};
    o.session_ttl = std::chrono::seconds(session ? 3600 : 0);
    service = std::make_unique<Service>(svc, o, clock, keys, revocations, *nonces, *limiter);
    if (session) {
      refill(1);
      auto d = service->verify(std::string_view(pool.back()));
      session_token = d.response["session_token"].get<std::string>();
    }
    refill(4096);
  }
  // Fresh requests (new ids and nonces): cold, or warm under the session.
  void refill(int n) {
    pool.clear();
    Capability c{"billing.invoices.read", Json{{"max_invoices", 10}}, std::nullopt};
    for (int i = 0; i < n; ++i) {
      pool.push_back(json::canonicalize(agent->request(svc_did, c, clock.now(), session_token).value()).value());
    }
  }
};

void run(benchmark::State& state, const Identity& svc, bool warm) {
  World w(svc, warm);
  std::size_t i = 0;
  for (auto _ : state) {
    if (i == w.pool.size()) {
      state.PauseTiming();
      w.refill(4096);
      i = 0;
      state.ResumeTiming();
    }
    auto d = w.service->verify(std::string_view(w.pool[i++]));
    if (!d.accepted || d.warm != warm) state.SkipWithError("not the expected acceptance");
    benchmark::DoNotOptimize(d);
  }
}
void BM_ColdFileKey(benchmark::State& s) { run(s, make(PrincipalType::kSvc, 99), false); }
void BM_ColdPkcs11(benchmark::State& s) { run(s, *token().svc, false); }
void BM_WarmFileKey(benchmark::State& s) { run(s, make(PrincipalType::kSvc, 99), true); }
void BM_WarmPkcs11(benchmark::State& s) { run(s, *token().svc, true); }
BENCHMARK(BM_ColdFileKey);
BENCHMARK(BM_ColdPkcs11);
BENCHMARK(BM_WarmFileKey);
BENCHMARK(BM_WarmPkcs11);

struct Ratios : benchmark::ConsoleReporter {
  std::map<std::string, double> ns;
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs) ns[r.benchmark_name()] = r.GetAdjustedRealTime();
    ConsoleReporter::ReportRuns(runs);
  }
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  Ratios reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  auto ratio = [&](const char* what, const std::string& a, const std::string& b) {
    if (reporter.ns.count(a) && reporter.ns.count(b) && reporter.ns[b] > 0) {
      std::printf("ratio %s: %.2fx (%s / %s)\n", what, reporter.ns[a] / reporter.ns[b], a.c_str(), b.c_str());
    }
  };
  ratio("pkcs11 sign / libsodium sign", "BM_SignPkcs11", "BM_SignSodium");
  ratio("cold handshake, key in the token / key file", "BM_ColdPkcs11", "BM_ColdFileKey");
  ratio("warm handshake, key in the token / key file", "BM_WarmPkcs11", "BM_WarmFileKey");
  benchmark::Shutdown();
  return 0;
}
