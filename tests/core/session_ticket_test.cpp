// Session tickets (session_ticket.hpp): key files, sealing and opening, rotation, and every way a
// ticket can be wrong; the payload codec against hostile bytes. (The session_keys key of a
// service's configuration is driven through hsk service verify in tests/cli/cli_protocol_test.sh.)
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "core/fixtures.hpp"
#include "handshake/session_ticket.hpp"
#include "session_ticket_internal.hpp"
#include "test_util.hpp"

using namespace hsk_fx;
namespace fs = std::filesystem;
using hs::ErrorCode;
using hs::Json;
using hs::SessionTicket;
using hs::SessionTicketKeys;

namespace {

using hsk_test::TempDir;

unsigned file_mode(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return static_cast<unsigned>(st.st_mode & 07777);
}

void write_file(const fs::path& p, const std::string& text, unsigned mode = 0600) {
  {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
  }
  REQUIRE(::chmod(p.c_str(), static_cast<mode_t>(mode)) == 0);
}

std::shared_ptr<const SessionTicketKeys> keys_from(const std::vector<fs::path>& files) {
  auto k = SessionTicketKeys::from_files(files);
  INFO(why(k));
  REQUIRE(k.ok());
  return *k;
}

// A new key file in `dir`; returns its path.
fs::path new_key(const TempDir& dir, const std::string& name) {
  const fs::path p = dir / name;
  auto id = hs::write_session_key_file(p);
  INFO(why(id));
  REQUIRE(id.ok());
  return p;
}

constexpr const char* kAudience = "did:hsk:svc:zServiceA";

// A ticket as the cold path fills it: two links, a scope with an accumulated pattern.
SessionTicket sample_ticket() {
  SessionTicket t;
  const auto org = make_identity(hs::PrincipalType::kOrg, kRootSeed);
  const auto agent = make_identity(hs::PrincipalType::kAgent, kAgentSeed);
  const auto sub = make_identity(hs::PrincipalType::kAgent, kSubAgentSeed);
  t.agent = sub.did_string();
  t.agent_key = sub.public_key();
  t.granted_name = "billing.invoices.read";
  hs::capability::CapabilitySchemaSet schemas;
  schemas.add({"billing.invoices.read", "", {{"memo", hs::capability::ConstraintType::kStringPattern}}});
  auto root = hs::capability::ConstraintSet::from_link(Json{{"max_invoices", 100}, {"memo", "[a-z]+"}},
                                                       "billing.invoices.read", schemas);
  REQUIRE(std::holds_alternative<hs::capability::ConstraintSet>(root));
  t.chain_scope = std::get<hs::capability::ConstraintSet>(std::move(root));
  REQUIRE_FALSE(t.chain_scope.narrow(Json{{"max_invoices", 50}, {"memo", "[a-z]{1,8}"}}).has_value());
  t.delegations = {{"dt_01HZX0000000000000000000A1", org.did_string()},
                   {"dt_01HZX0000000000000000000A2", agent.did_string()}};
  t.principals = {org.did_string(), agent.did_string(), sub.did_string()};
  t.expires_at = t0() + std::chrono::seconds(300);
  return t;
}

void check_same(const SessionTicket& a, const SessionTicket& b) {
  CHECK(a.agent == b.agent);
  CHECK(a.agent_key == b.agent_key);
  CHECK(a.granted_name == b.granted_name);
  CHECK(a.chain_scope.to_state_json() == b.chain_scope.to_state_json());
  CHECK(a.delegations == b.delegations);
  CHECK(a.principals == b.principals);
  CHECK(a.expires_at == b.expires_at);
  CHECK(a.root_delegation() == b.root_delegation());
}

void expect_invalid(const hs::Result<SessionTicket>& r) {
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::kInvalidArgument);
  CHECK(r.error().reason == "session_ticket.invalid");
}

}  // namespace

// ---- key files -----------------------------------------------------------------------------------

TEST_CASE("session ticket keys: a generated key file is owner-only and loads", "[session_ticket][keyfile]") {
  TempDir dir;
  const fs::path p = dir / "s.key";
  auto id = hs::write_session_key_file(p);
  REQUIRE(id.ok());
  CHECK(id->size() == 8);
  CHECK(file_mode(p) == 0600);
  // The documented one-line shape.
  const std::string text = hsk_test::read_file(p.string());
  CHECK(text.rfind("handshake-session-key v1 ", 0) == 0);
  CHECK(text.size() == std::string("handshake-session-key v1 ").size() + 43 + 1);
  CHECK(text.back() == '\n');
  const auto keys = keys_from({p});
  CHECK(keys->key_ids() == std::vector<std::string>{*id});

  // Never replaced unless asked; a replaced key is a new key.
  auto again = hs::write_session_key_file(p);
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().reason == "keyfile.exists");
  CHECK(hsk_test::read_file(p.string()) == text);
  auto replaced = hs::write_session_key_file(p, /*overwrite=*/true);
  REQUIRE(replaced.ok());
  CHECK(*replaced != *id);
  CHECK(file_mode(p) == 0600);
  CHECK(keys_from({p})->key_ids() == std::vector<std::string>{*replaced});
}

TEST_CASE("session ticket keys: a key file group or others may read is refused", "[session_ticket][keyfile]") {
  TempDir dir;
  const fs::path p = new_key(dir, "s.key");
  for (unsigned mode : {0644U, 0640U, 0604U, 0660U, 0602U}) {
    INFO("mode " << std::oct << mode);
    REQUIRE(::chmod(p.c_str(), static_cast<mode_t>(mode)) == 0);
    auto k = SessionTicketKeys::from_files({p});
    REQUIRE_FALSE(k.ok());
    CHECK(k.error().code == ErrorCode::kPermission);
    CHECK(k.error().reason == "keyfile.permissions");
  }
  REQUIRE(::chmod(p.c_str(), 0400) == 0);
  CHECK(SessionTicketKeys::from_files({p}).ok());
  // A loose second (previous) key is refused as well.
  const fs::path loose = new_key(dir, "old.key");
  REQUIRE(::chmod(loose.c_str(), 0644) == 0);
  auto both = SessionTicketKeys::from_files({p, loose});
  REQUIRE_FALSE(both.ok());
  CHECK(both.error().reason == "keyfile.permissions");
  // A symlink to a good key file is not followed.
  fs::create_symlink(p, dir / "link.key");
  auto linked = SessionTicketKeys::from_files({dir / "link.key"});
  REQUIRE_FALSE(linked.ok());
  CHECK(linked.error().reason == "keyfile.read");
}

TEST_CASE("session ticket keys: anything but a session key file is refused", "[session_ticket][keyfile]") {
  TempDir dir;
  const std::string prefix = "handshake-session-key v1 ";
  const std::string good = hsk_test::read_file(new_key(dir, "good.key").string());
  const std::string b64 = good.substr(prefix.size(), 43);
  const std::vector<std::string> bad = {
      "",
      "\n",
      prefix + "\n",
      prefix + b64.substr(0, 42) + "\n",           // 42 characters
      prefix + b64 + "A\n",                         // 44 characters
      prefix + b64 + "\n\n",                        // two newlines
      prefix + b64 + " \n",                         // trailing space
      " " + prefix + b64 + "\n",                    // leading space
      "handshake-session-key v2 " + b64 + "\n",    // another version
      prefix + b64.substr(0, 42) + "+\n",           // not base64url
      prefix + b64.substr(0, 42) + "=\n",           // padding
      prefix + std::string(42, 'A') + "B\n",        // non-zero trailing bits
      prefix + b64 + "\r\n",
      std::string(prefix.size() + 44, 'x'),
  };
  for (std::size_t i = 0; i < bad.size(); ++i) {
    INFO("case " << i << ": " << bad[i]);
    const fs::path p = dir / ("bad" + std::to_string(i) + ".key");
    write_file(p, bad[i]);
    auto k = SessionTicketKeys::from_files({p});
    REQUIRE_FALSE(k.ok());
    CHECK(k.error().code == ErrorCode::kKey);
    CHECK(k.error().reason == "session_key.format");
    // The message names the file, never its content.
    CHECK_THAT(k.error().message, Catch::Contains(p.string()));
    if (b64.size() > 8) CHECK_THAT(k.error().message, !Catch::Contains(b64.substr(0, 12)));
  }
  // An identity key file is not a session key file.
  const auto id = make_identity(hs::PrincipalType::kSvc, kServiceSeed);
  REQUIRE(hs::save_key_file(id, dir / "svc.key").ok());
  auto k = SessionTicketKeys::from_files({dir / "svc.key"});
  REQUIRE_FALSE(k.ok());
  CHECK(k.error().code == ErrorCode::kKey);  // too large for a session key file, or not one
  // Without a newline it still loads.
  write_file(dir / "nonl.key", prefix + b64);
  CHECK(keys_from({dir / "nonl.key"})->key_ids() == keys_from({dir / "good.key"})->key_ids());
  // No file, a missing file, the same key twice.
  auto none = SessionTicketKeys::from_files({});
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().reason == "session_key.none");
  auto missing = SessionTicketKeys::from_files({dir / "nope.key"});
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().reason == "keyfile.read");
  write_file(dir / "copy.key", good);
  auto dup = SessionTicketKeys::from_files({dir / "good.key", dir / "copy.key"});
  REQUIRE_FALSE(dup.ok());
  CHECK(dup.error().reason == "session_key.duplicate");
}

// ---- sealing and opening -------------------------------------------------------------------------

TEST_CASE("session tickets: sealed, opened, compact, one nonce each", "[session_ticket]") {
  TempDir dir;
  const auto keys = keys_from({new_key(dir, "a.key")});
  const SessionTicket t = sample_ticket();
  auto sealed = keys->seal(kAudience, t);
  INFO(why(sealed));
  REQUIRE(sealed.ok());
  const std::string& ticket = *sealed;
  CHECK(ticket.size() <= hs::kMaxSessionTicketChars);
  // An opaque base64url string (the Acceptance's session_token).
  CHECK(hs::encoding::base64url_decode(ticket).ok());
  // Compact: the three DIDs are stored once each, though they appear up to three times.
  CHECK(ticket.size() < 560);
  auto opened = keys->open(kAudience, ticket);
  INFO(why(opened));
  REQUIRE(opened.ok());
  check_same(*opened, t);
  // The scope behaves as the original: the accumulated patterns and the typed name.
  CHECK_FALSE(opened->chain_scope.check_request(Json{{"memo", "abc"}}, t0()).has_value());
  CHECK(opened->chain_scope.check_request(Json{{"memo", "abcdefghij"}}, t0()).has_value());
  CHECK(opened->chain_scope.check_request(Json{{"max_invoices", 51}}, t0()).has_value());
  // A fresh nonce per ticket: the same session seals to different tickets.
  std::set<std::string> seen;
  for (int i = 0; i < 20; ++i) seen.insert(keys->seal(kAudience, t).value());
  CHECK(seen.size() == 20);
  // The key id leads (after the version), in the clear.
  const auto raw = hs::encoding::base64url_decode(ticket).value();
  CHECK(raw[0] == hs::kSessionTicketVersion);
  CHECK(hs::encoding::hex_encode(std::span<const std::uint8_t>(raw.data() + 1, 4)) == keys->key_ids()[0]);
}

TEST_CASE("session tickets: a generated key opens only its own tickets", "[session_ticket]") {
  auto a = SessionTicketKeys::generate();
  auto b = SessionTicketKeys::generate();
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK((*a)->key_ids() != (*b)->key_ids());
  const std::string ticket = (*a)->seal(kAudience, sample_ticket()).value();
  CHECK((*a)->open(kAudience, ticket).ok());
  expect_invalid((*b)->open(kAudience, ticket));
}

TEST_CASE("session tickets: every wrong ticket is refused, none throws", "[session_ticket]") {
  TempDir dir;
  const auto keys = keys_from({new_key(dir, "a.key")});
  const auto other = keys_from({new_key(dir, "b.key")});
  const std::string ticket = keys->seal(kAudience, sample_ticket()).value();
  REQUIRE(keys->open(kAudience, ticket).ok());

  SECTION("each character changed") {
    const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    int refused = 0;
    for (std::size_t i = 0; i < ticket.size(); ++i) {
      std::string t = ticket;
      t[i] = alphabet[(alphabet.find(t[i]) + 1 + i % 7) % alphabet.size()];
      if (!keys->open(kAudience, t).ok()) ++refused;
    }
    // The last character carries only 2 or 4 bits of the encoding; every character must count.
    CHECK(refused == static_cast<int>(ticket.size()));
  }
  SECTION("each byte's bits flipped") {
    const auto raw = hs::encoding::base64url_decode(ticket).value();
    for (std::size_t i = 0; i < raw.size(); ++i) {
      for (std::uint8_t bit : {std::uint8_t{0x01}, std::uint8_t{0x80}}) {
        auto changed = raw;
        changed[i] ^= bit;
        INFO("byte " << i);
        expect_invalid(keys->open(kAudience, hs::encoding::base64url_encode(changed)));
      }
    }
  }
  SECTION("truncated at every length, extended") {
    for (std::size_t n = 0; n < ticket.size(); ++n) {
      INFO("length " << n);
      expect_invalid(keys->open(kAudience, ticket.substr(0, n)));
    }
    expect_invalid(keys->open(kAudience, ticket + "A"));
    expect_invalid(keys->open(kAudience, ticket + "AAAA"));
    const auto raw = hs::encoding::base64url_decode(ticket).value();
    auto longer = raw;
    longer.push_back(0);
    expect_invalid(keys->open(kAudience, hs::encoding::base64url_encode(longer)));
  }
  SECTION("garbage, empty, padded, too long") {
    for (const std::string& g :
         {std::string(), std::string("A"), std::string("not a ticket"), std::string(43, 'A'), std::string(600, 'A'),
          ticket + "=", ticket + "==", std::string("\0\0\0", 3), std::string(hs::kMaxSessionTicketChars + 1, 'A'),
          std::string(1 << 20, '_'), std::string("c2Vzc2lvbi10b2tlbi10aGF0LWRvZXMtbm90LWV4aXN0")}) {
      expect_invalid(keys->open(kAudience, g));
    }
  }
  SECTION("another key") {
    expect_invalid(other->open(kAudience, ticket));
    // Even with the key id of the right key in front.
    auto raw = hs::encoding::base64url_decode(ticket).value();
    const auto forged_body = hs::encoding::base64url_decode(other->seal(kAudience, sample_ticket()).value()).value();
    auto forged = forged_body;
    std::copy(raw.begin() + 1, raw.begin() + 5, forged.begin() + 1);
    expect_invalid(keys->open(kAudience, hs::encoding::base64url_encode(forged)));
  }
  SECTION("another audience") {
    expect_invalid(keys->open("did:hsk:svc:zServiceB", ticket));
    expect_invalid(keys->open("", ticket));
    expect_invalid(keys->open(std::string(kAudience) + "x", ticket));
  }
  SECTION("another version") {
    auto raw = hs::encoding::base64url_decode(ticket).value();
    raw[0] = 2;
    auto r = keys->open(kAudience, hs::encoding::base64url_encode(raw));
    expect_invalid(r);
    CHECK_THAT(r.error().message, Catch::Contains("version"));
  }
}

TEST_CASE("session tickets: rotation, the new key first and the old one second", "[session_ticket][rotation]") {
  TempDir dir;
  const fs::path old_key = new_key(dir, "old.key");
  const fs::path new_key_file = new_key(dir, "new.key");
  const auto old_only = keys_from({old_key});
  const auto rotated = keys_from({new_key_file, old_key});
  const auto new_only = keys_from({new_key_file});
  CHECK(rotated->key_ids() == std::vector<std::string>{new_only->key_ids()[0], old_only->key_ids()[0]});

  const SessionTicket t = sample_ticket();
  const std::string old_ticket = old_only->seal(kAudience, t).value();
  // The rotated keys open tickets sealed under the old key...
  auto opened = rotated->open(kAudience, old_ticket);
  REQUIRE(opened.ok());
  check_same(*opened, t);
  // ... and seal under the new one, which instances not yet rotated cannot open.
  const std::string new_ticket = rotated->seal(kAudience, t).value();
  CHECK(new_only->open(kAudience, new_ticket).ok());
  expect_invalid(old_only->open(kAudience, new_ticket));
  // Once the old key is dropped, its tickets are refused.
  auto dropped = new_only->open(kAudience, old_ticket);
  expect_invalid(dropped);
  CHECK_THAT(dropped.error().message, Catch::Contains("key"));
}

TEST_CASE("session tickets: a session too large to carry is not sealed", "[session_ticket]") {
  const auto keys = SessionTicketKeys::generate().value();
  SessionTicket t = sample_ticket();
  std::vector<std::string> patterns;
  for (int i = 0; i < 8; ++i) patterns.push_back("[a-z]{" + std::to_string(i + 1) + "}" + std::string(500, 'x'));
  REQUIRE_FALSE(t.chain_scope.narrow(Json{{"memo", patterns}}).has_value());
  auto sealed = keys->seal(kAudience, t);
  REQUIRE_FALSE(sealed.ok());
  CHECK(sealed.error().reason == "session_ticket.too_large");
  // And one with no delegation is not a session.
  SessionTicket none = sample_ticket();
  none.delegations.clear();
  auto refused = keys->seal(kAudience, none);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().reason == "session_ticket.invalid");
}

// ---- the payload codec ---------------------------------------------------------------------------

TEST_CASE("session ticket payload: round trip and strict decoding", "[session_ticket][payload]") {
  const SessionTicket t = sample_ticket();
  const auto payload = hs::detail::encode_session_payload(t).value();
  auto back = hs::detail::decode_session_payload(payload);
  INFO(why(back));
  REQUIRE(back.ok());
  check_same(*back, t);

  SECTION("a default scope and a negative expiry round-trip too") {
    SessionTicket u = t;
    u.chain_scope = hs::capability::ConstraintSet();
    u.expires_at = hs::Timestamp(std::chrono::microseconds(-5));
    u.principals.clear();
    auto again = hs::detail::decode_session_payload(hs::detail::encode_session_payload(u).value());
    REQUIRE(again.ok());
    check_same(*again, u);
  }
  SECTION("every truncation is refused") {
    for (std::size_t n = 0; n < payload.size(); ++n) {
      INFO("length " << n);
      expect_invalid(hs::detail::decode_session_payload(std::span(payload.data(), n)));
    }
  }
  SECTION("trailing bytes after the scope are refused") {
    for (const std::string& tail : {std::string(" x"), std::string("{}"), std::string("\0", 1), std::string("\x01\x00")}) {
      auto longer = payload;
      longer.insert(longer.end(), tail.begin(), tail.end());
      expect_invalid(hs::detail::decode_session_payload(longer));
    }
  }
  SECTION("random bytes are refused") {
    std::mt19937 rng(20260429);
    for (int i = 0; i < 2000; ++i) {
      std::vector<std::uint8_t> junk(rng() % 300);
      for (auto& b : junk) b = static_cast<std::uint8_t>(rng());
      // Half of them keep the valid header and string table, so the later fields are reached.
      if (i % 2 == 1) {
        junk.insert(junk.begin(), payload.begin(), payload.begin() + static_cast<std::ptrdiff_t>(payload.size() / 2));
      }
      INFO("case " << i);
      expect_invalid(hs::detail::decode_session_payload(junk));
    }
  }
  SECTION("hand-built payloads") {
    auto payload_of = [](std::initializer_list<std::uint8_t> bytes, const std::string& tail = {}) {
      std::vector<std::uint8_t> p(8 + 32, 0);  // expires_at, agent_key
      for (std::uint8_t b : bytes) p.push_back(b);
      for (char c : tail) p.push_back(static_cast<std::uint8_t>(c));
      return p;
    };
    auto decode = [](const std::vector<std::uint8_t>& p) { return hs::detail::decode_session_payload(p); };
    // strings ["a"]; agent 0, granted 0; delegations [(0, 0)]; principals [0]; scope: capability 0,
    // no schema, no constraints.
    auto minimal = decode(payload_of({1, 1, 'a', 0, 0, 1, 0, 0, 1, 0, 0, 0, 0}));
    INFO(why(minimal));
    REQUIRE(minimal.ok());
    CHECK(minimal->agent == "a");
    CHECK(minimal->delegations == std::vector<std::pair<std::string, std::string>>{{"a", "a"}});
    // strings ["a", "max_x"]; constraint max_x numeric_max 10 (type code 0, JSON text "10").
    auto one = decode(payload_of({2, 1, 'a', 5, 'm', 'a', 'x', '_', 'x', 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 1, 0, 2, '1', '0'}));
    INFO(why(one));
    REQUIRE(one.ok());
    CHECK(one->chain_scope.to_state_json() ==
          Json{{"capability", "a"}, {"schema", Json::object()}, {"constraints", {{"max_x", {"numeric_max", 10}}}}});
    CHECK(one->chain_scope.check_request(Json{{"max_x", 11}}, t0()).has_value());

    // An index out of range (agent; a principal).
    expect_invalid(decode(payload_of({1, 1, 'a', 1, 0, 1, 0, 0, 1, 0, 0, 0, 0})));
    expect_invalid(decode(payload_of({1, 1, 'a', 0, 0, 1, 0, 0, 1, 2, 0, 0, 0})));
    // No strings at all, yet an index.
    expect_invalid(decode(payload_of({0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0})));
    // No delegation.
    expect_invalid(decode(payload_of({1, 1, 'a', 0, 0, 0, 1, 0, 0, 0, 0})));
    // A non-minimal varint (0 as 0x80 0x00), a varint longer than five bytes.
    expect_invalid(decode(payload_of({1, 1, 'a', 0x80, 0x00, 0, 1, 0, 0, 1, 0, 0, 0, 0})));
    expect_invalid(decode(payload_of({1, 1, 'a', 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0, 1, 0, 0, 1, 0, 0, 0, 0})));
    // A string count or length beyond the payload.
    expect_invalid(decode(payload_of({0xFF, 0x7F})));
    expect_invalid(decode(payload_of({1, 0xFF, 0x7F, 'a'})));
    // An unknown type code; a schema entry or a constraint named twice.
    expect_invalid(decode(payload_of({1, 1, 'a', 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 8, 0})));
    expect_invalid(decode(payload_of({2, 1, 'a', 1, 'b', 0, 0, 1, 0, 0, 1, 0, 0, 2, 1, 0, 1, 1, 0})));
    expect_invalid(decode(payload_of({2, 1, 'a', 5, 'm', 'a', 'x', '_', 'x', 0, 0, 1, 0, 0, 1, 0, 0, 0, 2, 1, 0, 1,
                                      '1', 1, 0, 1, '2'})));
    // A value that is not JSON, of the wrong shape for its type, or nested too deep.
    expect_invalid(decode(payload_of({2, 1, 'a', 5, 'm', 'a', 'x', '_', 'x', 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 1, 0, 3},
                                     "ten")));
    expect_invalid(decode(payload_of({2, 1, 'a', 5, 'm', 'a', 'x', '_', 'x', 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 1, 0, 5},
                                     "\"ten\"")));
    expect_invalid(decode(payload_of({2, 1, 'a', 5, 'm', 'a', 'x', '_', 'x', 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 1, 7, 200, 1},
                                     std::string(100, '[') + std::string(100, ']'))));
    // A value length beyond the payload.
    expect_invalid(decode(payload_of({2, 1, 'a', 5, 'm', 'a', 'x', '_', 'x', 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 1, 0, 3},
                                     "10")));
    // A capability name that is not one; trailing bytes.
    expect_invalid(decode(payload_of({1, 1, 'A', 0, 0, 1, 0, 0, 1, 0, 0, 0, 0})));
    expect_invalid(decode(payload_of({1, 1, 'a', 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0})));
  }
}
