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

namespace {

using namespace hsk_fuzz;

void check_answer(const hs::Decision& d, const FuzzWorld& w) {
  if (!hs::verify_message_signature(d.response, w.svc.public_key()).ok()) {
    violated("the service's answer is not signed by the service", d.response.dump());
  }
  if (d.accepted) {
    if (d.refusal || !d.acceptance || !d.request) violated("an accepted decision is incomplete");
    if (!hs::Acceptance::from_json(d.response).ok()) violated("an Acceptance does not parse", d.response.dump());
    return;
  }
  if (!d.refusal) violated("a refused decision has no refusal");
  auto r = hs::Refusal::from_json(d.response);
  if (!r.ok()) violated("a Refusal does not parse", d.response.dump());
  if (r->reason.code != hs::to_string(d.refusal->code)) violated("the signed refusal code differs", d.response.dump());
}

void check_accepted(const hs::HandshakeRequest& req, const FuzzWorld& w) {
  const std::string text = req.source.dump();
  if (req.aud != w.svc.did_string()) violated("accepted a request addressed to another service", text);
  const auto key = w.key_of(req.iss);
  if (!key || !hs::verify_message_signature(req.source, *key).ok()) {
    violated("accepted a request whose signature does not verify", text);
  }
  if (req.delegation_chain.empty() || req.delegation_chain.front().iss != w.root.did_string()) {
    violated("accepted a chain that does not start at the trust root", text);
  }
  for (const auto& link : req.delegation_chain) {
    const auto k = w.key_of(link.iss);
    if (!k || !hs::verify_message_signature(link.source, *k).ok()) {
      violated("accepted a chain link whose signature does not verify", text);
    }
  }
}

}  // namespace

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
  check_answer(d, w);
  if (d.accepted) {
    check_accepted(*d.request, w);
    const hs::Decision replay = service.verify(text);
    check_answer(replay, w);
    if (replay.accepted || replay.refusal->code != hs::RefusalCode::kReplayDetected) {
      violated("the same request was not refused as a replay", std::string(text));
    }
  }
  return 0;
}
