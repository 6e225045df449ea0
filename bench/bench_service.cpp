// Handshake verification cost against the raw libsodium bound, measured in the same run.
//
//   cold/k      Service::verify of a request text carrying a chain of k links
//   bound/k     (k+1) Ed25519 verifications + 1 signature, libsodium alone, on messages of the
//               same sizes (the floor any implementation pays)
//   warm        a warm request through a session;  bound_warm: 1 verification + 1 signature
//   receipt     issue (hash + 1 signature) and verify (1 verification), against 1 sign / 1 verify
// After the run, each result is printed as a ratio to its bound ("ratio" lines). Targets
// (Release build): cold <= 1.15x, warm <= 1.2x.

#include <benchmark/benchmark.h>
#include <sodium.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "handshake/agent.hpp"
#include "handshake/crypto.hpp"
#include "handshake/encoding.hpp"
#include "handshake/identity.hpp"
#include "handshake/json.hpp"
#include "handshake/messages.hpp"
#include "handshake/nonce_store.hpp"
#include "handshake/receipt.hpp"
#include "handshake/resolver.hpp"
#include "handshake/revocation.hpp"
#include "handshake/service.hpp"

namespace {

using namespace handshake;

Identity make(PrincipalType t, int n) {
  std::vector<std::uint8_t> seed(32, static_cast<std::uint8_t>(n));
  return Identity::generate({t, {}, {}, seed}).value();
}

// A world with an org, k agents in a chain, and a service.
struct World {
  FixedClock clock{std::chrono::floor<std::chrono::seconds>(SystemClock().now())};
  std::vector<Identity> principals;  // org, a1..ak
  std::optional<Identity> svc;
  StaticKeyResolver keys;
  RevocationList revocations;
  std::vector<Json> chain;
  std::unique_ptr<Agent> agent;
  std::unique_ptr<NonceStore> nonces;
  std::unique_ptr<RateLimiter> limiter;
  std::unique_ptr<Service> service;
  std::size_t k;

  World(std::size_t links, std::int64_t session_ttl) : k(links) {
    principals.push_back(make(PrincipalType::kOrg, 1));
    for (std::size_t i = 0; i < k; ++i) principals.push_back(make(PrincipalType::kAgent, static_cast<int>(10 + i)));
    svc.emplace(make(PrincipalType::kSvc, 99));
    for (const auto& p : principals) keys.add(p.did_string(), p.public_key());
    for (std::size_t i = 0; i < k; ++i) {
      DelegationSpec spec;
      spec.holder = principals[i + 1].did_string();
      spec.capabilities = {{"billing.invoices.read", Json{{"max_invoices", 100 - static_cast<int>(i)}},
                            i + 1 < k ? std::optional(true) : std::nullopt}};
      spec.depth = static_cast<std::int64_t>(k - 1 - i);
      auto link = delegate(principals[i], chain, spec, clock.now());
      chain.push_back(std::move(link).value());
    }
    AgentAttestation att;
    att.deployer = principals[0].did_string();
    att.model = "bench";
    att.instance_id = "bench-1";
    auto leaf_holder = make(PrincipalType::kAgent, static_cast<int>(10 + k - 1));
    agent = std::make_unique<Agent>(std::move(leaf_holder), chain, att);
    reset(session_ttl);
  }

  void reset(std::int64_t session_ttl) {
    nonces = make_memory_nonce_store(1'000'000);
    limiter = make_memory_rate_limiter();
    ServiceOptions o;
    o.chain.trust_roots = {principals[0].did_string()};
    o.session_ttl = std::chrono::seconds(session_ttl);
    auto svc_copy = Identity::from_key(svc->did(), crypto::SigningKey::from_seed(dynamic_cast<const handshake::crypto::SigningKey&>(svc->key()).seed_bytes()).value());
    service = std::make_unique<Service>(std::move(svc_copy).value(), o, clock, keys, revocations, *nonces, *limiter);
  }

  std::string request_text(const std::optional<std::string>& token = std::nullopt) const {
    Capability c{"billing.invoices.read", Json{{"max_invoices", 10}}, std::nullopt};
    return json::canonicalize(agent->request(svc->did_string(), c, clock.now(), token).value()).value();
  }
};

constexpr std::size_t kPool = 2048;

// Worlds and their request pools are built once per chain length: Google Benchmark calls each
// function several times while it sizes the run, and signing the pool is not what is measured.
struct Fixture {
  std::unique_ptr<World> world;
  std::vector<std::string> pool;
};
Fixture& cold_fixture(std::size_t k) {
  static std::map<std::size_t, Fixture> cache;
  auto& f = cache[k];
  if (!f.world) {
    f.world = std::make_unique<World>(k, 0);
    for (std::size_t i = 0; i < kPool; ++i) f.pool.push_back(f.world->request_text());
  }
  return f;
}

void BM_Cold(benchmark::State& state) {
  Fixture& f = cold_fixture(static_cast<std::size_t>(state.range(0)));
  World& w = *f.world;
  w.reset(0);
  const auto& pool = f.pool;
  std::size_t i = 0;
  for (auto _ : state) {
    if (i == pool.size()) {  // every nonce used: start a fresh service (not timed)
      state.PauseTiming();
      w.reset(0);
      i = 0;
      state.ResumeTiming();
    }
    auto d = w.service->verify(pool[i++]);
    if (!d.accepted) state.SkipWithError(("refused: " + d.refusal->detail).c_str());
    benchmark::DoNotOptimize(d);
  }
}

void BM_ColdBound(benchmark::State& state) {
  // The same message sizes as the cold request: each link, the request, and an acceptance.
  World& w = *cold_fixture(static_cast<std::size_t>(state.range(0))).world;
  std::vector<std::string> messages;
  std::vector<std::array<unsigned char, 64>> sigs;
  std::vector<std::array<unsigned char, 32>> pks;
  const std::string req = w.request_text();
  auto doc = json::parse_strict(req).value();
  for (std::size_t i = 0; i < w.k; ++i) messages.push_back(signing_input(doc["delegation_chain"][i]).value());
  messages.push_back(signing_input(doc).value());
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const auto& signer = i < w.k ? w.principals[i] : w.principals.back();
    std::array<unsigned char, 64> s{};
    const auto sig = signer.key().try_sign(encoding::as_bytes(messages[i])).value();
    std::copy(sig.begin(), sig.end(), s.begin());
    sigs.push_back(s);
    std::array<unsigned char, 32> pk{};
    std::copy(signer.public_key().begin(), signer.public_key().end(), pk.begin());
    pks.push_back(pk);
  }
  unsigned char sk[64], pk[32];
  crypto_sign_keypair(pk, sk);
  const std::string acceptance(420, 'a');  // about the size of a signed Acceptance
  unsigned char out[64];
  for (auto _ : state) {
    for (std::size_t i = 0; i < messages.size(); ++i) {
      const int rc = crypto_sign_verify_detached(sigs[i].data(), reinterpret_cast<const unsigned char*>(messages[i].data()),
                                                 messages[i].size(), pks[i].data());
      benchmark::DoNotOptimize(rc);
    }
    crypto_sign_detached(out, nullptr, reinterpret_cast<const unsigned char*>(acceptance.data()), acceptance.size(), sk);
    benchmark::DoNotOptimize(out);
  }
}

void BM_Warm(benchmark::State& state) {
  static World w(2, 3600);
  w.reset(3600);
  auto cold = w.service->verify(w.request_text());
  if (!cold.accepted || !cold.acceptance->session_token) {
    state.SkipWithError("no session");
    return;
  }
  std::string token = *cold.acceptance->session_token;
  std::vector<std::string> pool;
  for (std::size_t i = 0; i < 256; ++i) pool.push_back(w.request_text(token));
  std::size_t i = 0;
  for (auto _ : state) {
    if (i == pool.size()) {
      state.PauseTiming();
      w.reset(3600);
      auto again = w.service->verify(w.request_text());
      token = *again.acceptance->session_token;
      pool.clear();
      for (std::size_t j = 0; j < 256; ++j) pool.push_back(w.request_text(token));
      i = 0;
      state.ResumeTiming();
    }
    auto d = w.service->verify(pool[i++]);
    if (!d.accepted || !d.warm) state.SkipWithError("warm request refused");
    benchmark::DoNotOptimize(d);
  }
}

void BM_WarmBound(benchmark::State& state) {
  // The messages of a real warm handshake: the request carrying its session ticket, and the
  // Acceptance handing the ticket back (both grow with the ticket; libsodium hashes them whole).
  World w(2, 3600);
  auto cold = w.service->verify(w.request_text());
  if (!cold.accepted || !cold.acceptance->session_token) {
    state.SkipWithError("no session");
    return;
  }
  const std::string req = w.request_text(*cold.acceptance->session_token);
  auto doc = json::parse_strict(req).value();
  const std::string msg = signing_input(doc).value();
  auto warm = w.service->verify(w.request_text(*cold.acceptance->session_token));
  if (!warm.accepted || !warm.warm) {
    state.SkipWithError("warm request refused");
    return;
  }
  const std::string acceptance = signing_input(warm.response).value();
  unsigned char sk[64], pk[32], sig[64], out[64];
  crypto_sign_keypair(pk, sk);
  crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), sk);
  for (auto _ : state) {
    int rc = crypto_sign_verify_detached(sig, reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), pk);
    benchmark::DoNotOptimize(rc);
    crypto_sign_detached(out, nullptr, reinterpret_cast<const unsigned char*>(acceptance.data()), acceptance.size(), sk);
    benchmark::DoNotOptimize(out);
  }
}

void BM_ReceiptIssue(benchmark::State& state) {
  World w(1, 0);
  auto d = w.service->verify(w.request_text());
  const Json result{{"invoices", Json::array({{{"id", 1}, {"total", 120.5}}, {{"id", 2}, {"total", 99}}})}};
  for (auto _ : state) {
    auto r = w.service->issue_receipt(d, result, "ok");
    benchmark::DoNotOptimize(r);
  }
}

void BM_ReceiptVerify(benchmark::State& state) {
  World w(1, 0);
  auto d = w.service->verify(w.request_text());
  const Json result{{"invoices", Json::array({{{"id", 1}, {"total", 120.5}}})}};
  const Json receipt = w.service->issue_receipt(d, result, "ok").value();
  StaticKeyResolver keys;
  keys.add(w.svc->did_string(), w.svc->public_key());
  for (auto _ : state) {
    auto s = verify_receipt(receipt, keys);
    if (!s.ok()) state.SkipWithError("receipt does not verify");
    benchmark::DoNotOptimize(s);
  }
}

void BM_SignBound(benchmark::State& state) {
  unsigned char sk[64], pk[32], out[64];
  crypto_sign_keypair(pk, sk);
  const std::string msg(520, 'r');  // about the size of a receipt's signing input
  for (auto _ : state) {
    crypto_sign_detached(out, nullptr, reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), sk);
    benchmark::DoNotOptimize(out);
  }
}

void BM_VerifyBound(benchmark::State& state) {
  unsigned char sk[64], pk[32], sig[64];
  crypto_sign_keypair(pk, sk);
  const std::string msg(520, 'r');
  crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), sk);
  for (auto _ : state) {
    int rc = crypto_sign_verify_detached(sig, reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), pk);
    benchmark::DoNotOptimize(rc);
  }
}

// Each measurement runs right after its bound, so that a change of CPU clock during the run (a
// shared machine) moves both alike.
void register_all() {
  for (int k = 1; k <= 5; ++k) {
    benchmark::RegisterBenchmark("BM_ColdBound", BM_ColdBound)->Arg(k)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark("BM_Cold", BM_Cold)->Arg(k)->Unit(benchmark::kMicrosecond);
  }
  benchmark::RegisterBenchmark("BM_WarmBound", BM_WarmBound)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("BM_Warm", BM_Warm)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("BM_SignBound", BM_SignBound)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("BM_ReceiptIssue", BM_ReceiptIssue)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("BM_VerifyBound", BM_VerifyBound)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("BM_ReceiptVerify", BM_ReceiptVerify)->Unit(benchmark::kMicrosecond);
}

// Collects per-iteration CPU times so the ratios can be printed after the run.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs) {
      if (!r.error_occurred && r.iterations > 0) times_[r.benchmark_name()] = r.GetAdjustedCPUTime();
    }
    ConsoleReporter::ReportRuns(runs);
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    auto ratio = [&](const std::string& name, const std::string& bound, double target) {
      if (!times_.count(name) || !times_.count(bound)) return;
      const double x = times_[name] / times_[bound];
      std::printf("ratio %-22s %6.3fx of %-22s (target <= %.2fx)%s\n", name.c_str(), x, bound.c_str(), target,
                  x <= target ? "" : "  ABOVE TARGET");
    };
    for (int k = 1; k <= 5; ++k) {
      ratio("BM_Cold/" + std::to_string(k), "BM_ColdBound/" + std::to_string(k), 1.15);
    }
    ratio("BM_Warm", "BM_WarmBound", 1.2);
    ratio("BM_ReceiptIssue", "BM_SignBound", 1.2);
    ratio("BM_ReceiptVerify", "BM_VerifyBound", 1.2);
  }

 private:
  std::map<std::string, double> times_;
};

}  // namespace

int main(int argc, char** argv) {
  if (sodium_init() < 0) return 1;
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
