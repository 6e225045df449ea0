// Every message parser: the six signed kinds of messages.hpp (each parser on every input, not only
// the one "kind" names) and DID Documents (did_document.hpp).
//
// Properties, for every message a parser accepts:
//   - its signing input exists (it can be canonicalized) and its source is the document;
//   - its typed form written back (to_json) parses again, to the same typed form;
//   - verifying its signature with an unrelated key never succeeds, and never crashes.
// For a DID Document that parses: checking its proof and building a one-version history do not
// crash, and an accepted self-certifying history's key is the document's key.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.hpp"

namespace {

using namespace hsk_fuzz;

template <typename M>
void check_kind(const Json& doc, const char* kind) {
  auto m = M::from_json(doc);
  if (!m.ok()) return;
  if (!hs::signing_input(doc).ok()) violated("a parsed message has no signing input", kind);
  if (m->source != doc) violated("a parsed message's source is not its document", kind);
  const Json written = m->to_json();
  auto again = M::from_json(written);
  if (!again.ok()) violated("a parsed message, written back, does not parse", std::string(kind) + ": " + again.error().to_string() + "\n" + written.dump());
  if (again->to_json() != written) violated("a parsed message, written back, parses to another message", kind);
  // A key no message in the corpus was signed with (seed 0xEE).
  static const hs::Identity stranger = fixed_identity(hs::PrincipalType::kAgent, 0xEE);
  if (hs::verify_message_signature(doc, stranger.public_key()).ok()) violated("a signature verified with an unrelated key", kind);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto parsed = hs::json::parse_strict(as_text(data, size));
  if (!parsed.ok()) return 0;
  const Json& doc = *parsed;

  (void)hs::kind_of(doc);
  if (auto m = hs::parse_message(doc); m.ok()) {
    if (hs::source_of(*m) != doc) violated("parse_message: source differs");
    (void)hs::signer_of(*m);
  }
  check_kind<hs::DelegationToken>(doc, "DelegationToken");
  check_kind<hs::HandshakeRequest>(doc, "HandshakeRequest");
  check_kind<hs::Acceptance>(doc, "Acceptance");
  check_kind<hs::Refusal>(doc, "Refusal");
  check_kind<hs::Receipt>(doc, "Receipt");
  check_kind<hs::RevocationStatement>(doc, "RevocationStatement");
  (void)hs::signing_time(doc);

  if (auto d = hs::parse_did_document(doc); d.ok()) {
    (void)hs::verify_did_document_proof(*d);
    for (const bool trusted : {false, true}) {
      auto h = hs::DidKeyHistory::build({doc}, trusted);
      if (h.ok()) {
        auto k = h->key_at(world().now);
        if (k.ok() && *k != d->key) violated("a one-version history answers with another key");
      }
    }
  }
  return 0;
}
