// The service parses requests without the final JSON Schema pass (see messages_internal.hpp):
// here, on a large corpus of mutated requests, whatever the field checks accept must also pass
// the full reference schema, patterns included.

#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "fixtures.hpp"
#include "handshake/agent.hpp"
#include "handshake/schema.hpp"
#include "messages_internal.hpp"

using handshake::Json;

namespace {

void collect_pointers(const Json& j, const Json::json_pointer& at, std::vector<Json::json_pointer>& out) {
  out.push_back(at);
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) collect_pointers(v, at / k, out);
  } else if (j.is_array()) {
    for (std::size_t i = 0; i < j.size(); ++i) collect_pointers(j[i], at / i, out);
  }
}

Json random_value(std::mt19937_64& rng) {
  static const std::vector<Json> kValues = {
      nullptr, true, false, 0, -1, 1.5, 1e300, "", "x", "did:hsk:agent:abc", "did:hsk:robot:abc",
      "hs_01HZZ000000000000000000001", "dt_01HZZ000000000000000000001", "dt_01hzz000000000000000000001",
      "EdDSA", "ML-DSA-65", "RS256", Json::array(), Json::object(), Json::array({1, 2}), "2026-05-01T12:00:00Z",
      "2026-05-01 12:00:00", "AAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAA", "0.2.3", "0.2.4", "sha-256", "abc",
      "billing.invoices.read", "Billing.read", "files.write:", "files.write:/x\n", std::string(300, 'a')};
  return kValues[rng() % kValues.size()];
}

std::string edit_string(std::string s, std::mt19937_64& rng) {
  static const char* kInserts[] = {" ", "!", "a", "=", "\n", "\xC3\xA9", "+", "/", "Z", "0", ":"};
  switch (rng() % 5) {
    case 0: return s + kInserts[rng() % 11];
    case 1: return s.empty() ? s : s.substr(0, s.size() - 1);
    case 2: return kInserts[rng() % 11] + s;
    case 3:
      if (!s.empty()) s[rng() % s.size()] = static_cast<char>('A' + rng() % 60);
      return s;
    default:
      if (!s.empty()) s.insert(rng() % s.size(), kInserts[rng() % 11]);
      return s;
  }
}

}  // namespace

TEST_CASE("request parse: the field checks never accept what the full schema refuses", "[messages][backstop]") {
  hsk_fx::World w;
  const Json root_link = w.grant(w.root, w.agent, {hsk_fx::read_cap(100, true)}, 1);
  const Json sub_link = w.grant(w.agent, w.sub_agent, {hsk_fx::read_cap(50)}, 0, {root_link});
  const handshake::Agent sub = w.agent_for(hsk_fx::kSubAgentSeed, {root_link, sub_link});
  Json request = w.agent_request(sub, hsk_fx::read_cap(10));
  request["agent_attestation"]["code_hash"] = Json{{"alg", "sha-256"}, {"value", "ab12"}};
  REQUIRE(handshake::schema::validate("handshake-request.json", request).ok());
  Json probe = request;  // request_from_json takes the document it parses
  REQUIRE(handshake::detail::request_from_json(probe, false).ok());

  std::mt19937_64 rng(20261122);
  std::vector<Json::json_pointer> pointers;
  collect_pointers(request, Json::json_pointer(), pointers);
  int accepted = 0, refused = 0;
  for (int i = 0; i < 20000; ++i) {
    Json m = request;
    const int edits = 1 + static_cast<int>(rng() % 2);
    for (int e = 0; e < edits; ++e) {
      const auto& p = pointers[rng() % pointers.size()];
      if (!m.contains(p)) continue;
      Json& target = m[p];
      switch (rng() % 4) {
        case 0: target = random_value(rng); break;
        case 1:
          if (target.is_string()) target = edit_string(target.get<std::string>(), rng);
          else target = random_value(rng);
          break;
        case 2:
          if (!p.empty()) m[p.parent_pointer()].is_object() ? (void)m[p.parent_pointer()].erase(p.back()) : (void)0;
          break;
        case 3:
          if (target.is_object()) target["extra_" + std::to_string(rng() % 3)] = random_value(rng);
          break;
      }
    }
    Json taken = m;
    const bool typed_ok = handshake::detail::request_from_json(taken, false).ok();
    if (typed_ok) {
      ++accepted;
      INFO(m.dump());
      REQUIRE(handshake::schema::validate("handshake-request.json", m).ok());
    } else {
      ++refused;
    }
  }
  // Mutations inside open extension points (agent_attestation, constraints) keep the request
  // acceptable; the corpus must exercise both outcomes.
  CHECK(accepted > 500);
  CHECK(refused > 5000);
}
