// Instruction counts of Service::verify against the libsodium bound, in the same process; run by
// bench/instruction_ratios.sh under callgrind, which counts instructions only inside measure_*.
// Instruction counts do not move with the CPU clock of a shared machine, unlike wall time.
#include <sodium.h>
#include <cstdio>
#include <cstdlib>
#include "handshake/agent.hpp"
#include "handshake/nonce_store.hpp"
#include "handshake/service.hpp"
#include "handshake/encoding.hpp"
using namespace handshake;
namespace {
Identity mk(PrincipalType t, int n) { std::vector<std::uint8_t> s(32, static_cast<std::uint8_t>(n)); return Identity::generate({t, {}, {}, s}).value(); }
}  // namespace

extern "C" __attribute__((noinline)) void measure_service(Service& s, const std::vector<std::string>& reqs) {
  for (const auto& r : reqs) { auto d = s.verify(r); if (!d.accepted) std::abort(); }
}
extern "C" __attribute__((noinline)) void measure_bound(const std::vector<std::string>& msgs, int verifies, const unsigned char* pk, const unsigned char* sk, const unsigned char* sig, std::size_t n) {
  unsigned char out[64];
  for (std::size_t i = 0; i < n; ++i) {
    for (int v = 0; v < verifies; ++v) if (crypto_sign_verify_detached(sig, (const unsigned char*)msgs[0].data(), msgs[0].size(), pk) != 0) std::abort();
    crypto_sign_detached(out, nullptr, (const unsigned char*)msgs[1].data(), msgs[1].size(), sk);
  }
}
int main(int argc, char** argv) {
  const int k = std::atoi(argv[1]); const bool warm = argc > 2;
  FixedClock clock(std::chrono::floor<std::chrono::seconds>(SystemClock().now()));
  std::vector<Identity> p; p.push_back(mk(PrincipalType::kOrg, 1));
  for (int i = 0; i < k; ++i) p.push_back(mk(PrincipalType::kAgent, 10 + i));
  auto svc = mk(PrincipalType::kSvc, 99);
  StaticKeyResolver keys; for (auto& x : p) keys.add(x.did_string(), x.public_key());
  RevocationList rev; std::vector<Json> chain;
  for (int i = 0; i < k; ++i) { DelegationSpec s; s.holder = p[i + 1].did_string(); s.capabilities = {{"billing.invoices.read", Json{{"max_invoices", 100 - i}}, i + 1 < k ? std::optional(true) : std::nullopt}}; s.depth = k - 1 - i; chain.push_back(delegate(p[i], chain, s, clock.now()).value()); }
  AgentAttestation att; att.deployer = p[0].did_string(); att.model = "m"; att.instance_id = "i";
  Agent agent(mk(PrincipalType::kAgent, 10 + k - 1), chain, att);
  auto nonces = make_memory_nonce_store(); auto lim = make_memory_rate_limiter();
  ServiceOptions o; o.chain.trust_roots = {p[0].did_string()}; o.session_ttl = std::chrono::seconds(warm ? 3600 : 0);
  Service service(mk(PrincipalType::kSvc, 99), o, clock, keys, rev, *nonces, *lim);
  Capability c{"billing.invoices.read", Json{{"max_invoices", 10}}, std::nullopt};
  std::optional<std::string> token;
  if (warm) { auto d = service.verify(json::canonicalize(agent.request(svc.did_string(), c, clock.now()).value()).value()); token = d.acceptance->session_token; }
  std::vector<std::string> reqs; for (int i = 0; i < 200; ++i) reqs.push_back(json::canonicalize(agent.request(svc.did_string(), c, clock.now(), token).value()).value());
  measure_service(service, reqs);
  auto doc = json::parse_strict(reqs[0]).value();
  // The bound signs a message of the Acceptance's size (HSK_BOUND_ACCEPTANCE_BYTES=420: the fixed
  // size used before session tickets): a warm Acceptance hands its ticket back, so it grows with it.
  std::string acceptance(420, 'a');
  if (const char* fixed = std::getenv("HSK_BOUND_ACCEPTANCE_BYTES")) {
    acceptance.assign(static_cast<std::size_t>(std::atoi(fixed)), 'a');
  } else {
    auto d = service.verify(json::canonicalize(agent.request(svc.did_string(), c, clock.now(), token).value()).value());
    if (!d.accepted) std::abort();
    acceptance = signing_input(d.response).value();
  }
  std::vector<std::string> msgs = {signing_input(doc).value(), acceptance};
  unsigned char pk[32], sk[64], sig[64]; crypto_sign_keypair(pk, sk);
  crypto_sign_detached(sig, nullptr, (const unsigned char*)msgs[0].data(), msgs[0].size(), sk);
  measure_bound(msgs, warm ? 1 : k + 1, pk, sk, sig, 200);
}
