// Reproducers of what the fuzz harnesses (tests/fuzz/) found, one test case each, kept as unit
// tests so that the normal suite guards the fix.
#include <string>

#include <catch2/catch.hpp>

#include "core/fixtures.hpp"

using namespace hsk_fx;
using hs::Json;

// fuzz_messages, property "a parsed message, written back, parses": a DelegationToken whose exp
// was "9999-12-31T23:59:59-01:00" parsed (the offset carried it into year 10000 UTC), and its
// to_json() wrote "10000-01-01T00:59:59Z", which no RFC 3339 parser reads; "0000-01-01T00:00:00+00:01"
// likewise became "-001-12-31T23:59:00Z".
TEST_CASE("fuzz regression: timestamps outside years 0000-9999 UTC are refused", "[fuzz-regression][time]") {
  for (const char* text : {"9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59.5-00:01", "0000-01-01T00:00:00+00:01",
                           "0000-01-01T00:59:59+01:00"}) {
    INFO(text);
    const auto t = hs::time::parse_rfc3339(text);
    REQUIRE_FALSE(t.ok());
    CHECK(t.error().reason == "time.invalid");
  }
  // The edges themselves, and offsets that stay inside, still parse and write back.
  for (const char* text : {"9999-12-31T23:59:59.999999Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59+01:00",
                           "0000-01-01T00:00:00-01:00"}) {
    INFO(text);
    const auto t = hs::time::parse_rfc3339(text);
    REQUIRE(t.ok());
    const auto again = hs::time::parse_rfc3339(hs::time::format_rfc3339(*t));
    REQUIRE(again.ok());
    CHECK(*again == *t);
  }
}

TEST_CASE("fuzz regression: a message whose time leaves years 0000-9999 does not parse", "[fuzz-regression][messages]") {
  World w;
  const Json honest = sign_token(token(w.root.did_string(), w.agent.did_string(), {read_cap(10)}, 0, w.now()), w.root);
  REQUIRE(hs::DelegationToken::from_json(honest).ok());

  Json late = honest;
  late["exp"] = "9999-12-31T23:59:59-01:00";
  late = resign(late, w.root);
  const auto parsed = hs::DelegationToken::from_json(late);
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.error().reason == "message.field");

  // Through the service: a request carrying such a link is not a well-formed 0.2.3 request.
  const auto a = w.agent_for(kAgentSeed, {late});
  const Json req = w.request(a, read_cap(5));
  w.expect_refusal(w.service().verify(req), hs::RefusalCode::kProtocolVersionUnsupported, req);
}
