// The verifier a service runs (service.hpp, chain.hpp), with a fixed configuration: fixed keys,
// a fixed clock, one trust root, typed capabilities, a policy, rate limits, a revoked principal.
//
// Properties, for every input:
//   - the answer is a signed Acceptance or Refusal that parses, by the service's key;
//   - a refusal carries a §14 code, the same in the Decision and in the signed Refusal;
//   - an accepted request is addressed to the service, its signature verifies with its issuer's
//     key, every link of its chain verifies with its issuer's key, and the chain starts at the
//     trust root (so a mutated request is accepted only if it is a validly signed request);
//   - the same bytes presented again are refused as a replay.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.hpp"

using namespace hsk_fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const FuzzWorld& w = world();
  auto nonces = hs::make_memory_nonce_store(1024);
  auto limiter = hs::make_memory_rate_limiter(1024);
  hs::Service service(clone(w.svc), w.options, w.clock, w.keys, w.revocations, *nonces, *limiter);
  const auto text = as_text(data, size);

  const hs::Decision d = service.verify(text);
  if (std::getenv("HSK_FUZZ_VERBOSE") != nullptr) {
    std::fprintf(stderr, "%s %s\n", d.accepted ? "accepted" : std::string(hs::to_string(d.refusal->code)).c_str(),
                 d.refusal ? d.refusal->detail.c_str() : "");
  }
  check_decision(d, w);
  if (d.accepted) {
    check_accepted_request(*d.request, w);
    const hs::Decision replay = service.verify(text);
    check_decision(replay, w);
    if (replay.accepted || replay.refusal->code != hs::RefusalCode::kReplayDetected) {
      violated("the same request was not refused as a replay", std::string(text));
    }
  }
  return 0;
}
