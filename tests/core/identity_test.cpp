// Identities and key files (identity.hpp).
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "handshake/crypto.hpp"
#include "handshake/did.hpp"
#include "handshake/encoding.hpp"
#include "handshake/identity.hpp"
#include "handshake/json.hpp"
#include "test_util.hpp"

namespace crypto = handshake::crypto;
namespace enc = handshake::encoding;
namespace fs = std::filesystem;
using handshake::ErrorCode;
using handshake::Identity;
using handshake::IdentityOptions;
using handshake::Json;
using handshake::PrincipalType;

namespace {

constexpr const char* kRfc8032Seed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
constexpr const char* kRfc8032Public = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

// A fresh directory under the system temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "hsk-identity-test-XXXXXX").string();
    char* made = ::mkdtemp(tmpl.data());
    REQUIRE(made != nullptr);
    path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const fs::path& path() const { return path_; }
  [[nodiscard]] fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

// Restores the process umask when it goes out of scope.
class UmaskGuard {
 public:
  explicit UmaskGuard(mode_t m) : saved_(::umask(m)) {}
  ~UmaskGuard() { ::umask(saved_); }
  UmaskGuard(const UmaskGuard&) = delete;
  UmaskGuard& operator=(const UmaskGuard&) = delete;

 private:
  mode_t saved_;
};

std::vector<std::uint8_t> rfc8032_seed() {
  auto s = enc::hex_decode(kRfc8032Seed);
  REQUIRE(s.ok());
  return *s;
}

Identity generate(PrincipalType type, std::optional<std::string> handle = std::nullopt,
                  std::optional<std::string> domain = std::nullopt,
                  std::optional<std::vector<std::uint8_t>> seed = std::nullopt) {
  IdentityOptions o;
  o.type = type;
  o.handle = std::move(handle);
  o.domain = std::move(domain);
  o.seed = std::move(seed);
  auto r = Identity::generate(o);
  if (!r.ok()) INFO(r.error().to_string());
  REQUIRE(r.ok());
  return std::move(r).value();
}

void expect_options_error(const IdentityOptions& o) {
  auto r = Identity::generate(o);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::kInvalidArgument);
  CHECK(r.error().reason == "identity.options");
}

unsigned file_mode(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return static_cast<unsigned>(st.st_mode & 07777);
}

// Writes `text` to `path` with exactly `mode`.
void write_file(const fs::path& path, const std::string& text, fs::perms mode = fs::perms::owner_read | fs::perms::owner_write) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    REQUIRE(out.good());
    out << text;
    REQUIRE(out.good());
  }
  fs::permissions(path, mode, fs::perm_options::replace);
}

Json read_key_json(const fs::path& path) {
  auto j = handshake::json::parse_strict(hsk_test::read_file(path.string()));
  REQUIRE(j.ok());
  return *j;
}

std::string dump(const Json& j) { return j.dump(); }

// Every 8-character window of the secret's base64url text, the secret's hex and its raw bytes:
// none may appear in an error's message.
void check_no_secret(const handshake::Error& e, const std::string& seed_b64, const std::vector<std::uint8_t>& seed) {
  const std::string full = e.to_string() + "\n" + e.message + "\n" + e.reason;
  INFO("error: " << e.to_string());
  for (std::size_t i = 0; i + 8 <= seed_b64.size(); ++i) {
    CHECK(full.find(seed_b64.substr(i, 8)) == std::string::npos);
  }
  const std::string hex = enc::hex_encode(seed);
  for (std::size_t i = 0; i + 16 <= hex.size(); i += 2) CHECK(full.find(hex.substr(i, 16)) == std::string::npos);
  const std::string raw(seed.begin(), seed.end());
  for (std::size_t i = 0; i + 8 <= raw.size(); ++i) CHECK(full.find(raw.substr(i, 8)) == std::string::npos);
}

}  // namespace

// ---- generate ------------------------------------------------------------------------------------

TEST_CASE("Identity::generate: agent, svc and org are named by their key's hash", "[identity]") {
  for (const auto type : {PrincipalType::kAgent, PrincipalType::kSvc, PrincipalType::kOrg}) {
    const Identity id = generate(type);
    INFO(id.did_string());
    CHECK(id.did().type == type);
    CHECK(id.key_version() == 1);
    CHECK(id.did().id == "z" + enc::base58btc_encode(crypto::sha256(id.public_key())));
    CHECK(handshake::did_binds_key(id.did(), id.public_key()));
    CHECK(id.did_string() == "did:hsk:" + std::string(handshake::to_string(type)) + ":" + id.did().id);
    CHECK(id.public_key() == id.key().public_key());
    auto parsed = handshake::parse_did(id.did_string());
    REQUIRE(parsed.ok());
    CHECK(*parsed == id.did());
    // Without a seed every call is a new key.
    const Identity other = generate(type);
    CHECK(other.did() != id.did());
    CHECK(other.public_key() != id.public_key());
  }
}

TEST_CASE("Identity::generate: a user needs a handle and is named by it", "[identity]") {
  const Identity bob = generate(PrincipalType::kUser, "bob@acme.com");
  CHECK(bob.did_string() == "did:hsk:user:bob@acme.com");
  CHECK(bob.did().type == PrincipalType::kUser);
  CHECK(bob.key_version() == 1);
  CHECK_FALSE(handshake::did_binds_key(bob.did(), bob.public_key()));

  IdentityOptions no_handle;
  no_handle.type = PrincipalType::kUser;
  expect_options_error(no_handle);

  for (const char* bad : {"", "bob smith@acme.com", "bob/acme", "b\xD0\xBE" "b@acme.com", "bob#1", "bob\n"}) {
    INFO("handle " << bad);
    IdentityOptions o;
    o.type = PrincipalType::kUser;
    o.handle = bad;
    expect_options_error(o);
  }
  // The 512-byte bound of the whole DID applies to the handle.
  IdentityOptions too_long;
  too_long.type = PrincipalType::kUser;
  too_long.handle = std::string(500, 'a');
  expect_options_error(too_long);
  too_long.handle = std::string(499, 'a');
  CHECK(Identity::generate(too_long).ok());
}

TEST_CASE("Identity::generate: handle only for users, domain only for orgs", "[identity]") {
  for (const auto type : {PrincipalType::kAgent, PrincipalType::kSvc, PrincipalType::kOrg}) {
    IdentityOptions o;
    o.type = type;
    o.handle = "bob@acme.com";
    INFO(handshake::to_string(type));
    expect_options_error(o);
  }
  for (const auto type : {PrincipalType::kUser, PrincipalType::kAgent, PrincipalType::kSvc}) {
    IdentityOptions o;
    o.type = type;
    o.domain = "acme.com";
    if (type == PrincipalType::kUser) o.handle = "bob@acme.com";
    INFO(handshake::to_string(type));
    expect_options_error(o);
  }
  // An org may be named by its domain.
  const Identity acme = generate(PrincipalType::kOrg, std::nullopt, "acme.com");
  CHECK(acme.did_string() == "did:hsk:org:acme.com");
  CHECK_FALSE(handshake::did_binds_key(acme.did(), acme.public_key()));
  CHECK(generate(PrincipalType::kOrg, std::nullopt, "eu-west.handshake.example").did_string() ==
        "did:hsk:org:eu-west.handshake.example");
}

TEST_CASE("Identity::generate: malformed domains are refused", "[identity]") {
  for (const char* bad : {"", "acme", "Acme.com", "ACME.COM", ".acme.com", "acme.com.", "-acme.com", "ac me.com",
                          "acme_corp.com", "acme.com/path", "acme.com:443", "bob@acme.com", "\xD0\xB0" "cme.com",
                          "acme..com", "acme.-com", "acme-.com", "..", "."}) {
    INFO("domain \"" << bad << "\"");
    IdentityOptions o;
    o.type = PrincipalType::kOrg;
    o.domain = bad;
    expect_options_error(o);
  }
  // Labels are at most 63 characters.
  IdentityOptions o;
  o.type = PrincipalType::kOrg;
  o.domain = std::string(64, 'a') + ".com";
  expect_options_error(o);
  o.domain = std::string(63, 'a') + ".com";
  auto ok = Identity::generate(o);
  REQUIRE(ok.ok());
  CHECK(ok->did_string() == "did:hsk:org:" + std::string(63, 'a') + ".com");
}

TEST_CASE("Identity::generate: a seed gives a deterministic key and DID", "[identity]") {
  const auto seed = rfc8032_seed();
  const Identity a = generate(PrincipalType::kAgent, std::nullopt, std::nullopt, seed);
  const Identity b = generate(PrincipalType::kAgent, std::nullopt, std::nullopt, seed);
  CHECK(a.did() == b.did());
  CHECK(a.public_key() == b.public_key());
  CHECK(enc::hex_encode(a.public_key()) == kRfc8032Public);
  CHECK(a.did_string() == "did:hsk:agent:z3HhGPB6ht33n51YFaocqBtGePb3xqT4VgnjYbd81eeZW");
  const auto msg = enc::as_bytes("deterministic");
  CHECK(a.key().try_sign(msg).value() == b.key().try_sign(msg).value());
  // Same seed, different type: same key, same identifier, different DID.
  const Identity s = generate(PrincipalType::kSvc, std::nullopt, std::nullopt, seed);
  CHECK(s.did().id == a.did().id);
  CHECK(s.did_string() == "did:hsk:svc:z3HhGPB6ht33n51YFaocqBtGePb3xqT4VgnjYbd81eeZW");
  // A seeded user keeps the handle as its name.
  CHECK(generate(PrincipalType::kUser, "bob@acme.com", std::nullopt, seed).public_key() == a.public_key());

  for (const std::size_t len : {0, 16, 31, 33, 64}) {
    INFO("seed length " << len);
    IdentityOptions o;
    o.type = PrincipalType::kAgent;
    o.seed = std::vector<std::uint8_t>(len, 7);
    auto r = Identity::generate(o);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::kKey);
    CHECK(r.error().reason == "key.seed_length");
  }
}

TEST_CASE("Identity::from_key and rotated()", "[identity]") {
  const Identity a = generate(PrincipalType::kAgent);
  auto same_key = crypto::SigningKey::from_seed(dynamic_cast<const handshake::crypto::SigningKey&>(a.key()).seed_bytes());
  REQUIRE(same_key.ok());
  auto wrapped = Identity::from_key(a.did(), std::move(same_key).value());
  REQUIRE(wrapped.ok());
  CHECK(wrapped->did() == a.did());
  CHECK(wrapped->key_version() == 1);

  // Version 1 of a self-certifying DID must be the hashed key.
  auto mismatch = Identity::from_key(a.did(), crypto::SigningKey::generate(), 1);
  REQUIRE_FALSE(mismatch.ok());
  CHECK(mismatch.error().code == ErrorCode::kKey);
  CHECK(mismatch.error().reason == "identity.did_mismatch");
  // A later version may hold any key.
  auto later = Identity::from_key(a.did(), crypto::SigningKey::generate(), 2);
  REQUIRE(later.ok());
  CHECK(later->key_version() == 2);
  // Version 0 does not exist.
  auto zero = Identity::from_key(a.did(), crypto::SigningKey::generate(), 0);
  REQUIRE_FALSE(zero.ok());
  CHECK(zero.error().code == ErrorCode::kInvalidArgument);
  CHECK(zero.error().reason == "identity.options");
  // Handles and domains bind no key, so any key is accepted for them.
  CHECK(Identity::from_key(handshake::Did{PrincipalType::kUser, "bob@acme.com"}, crypto::SigningKey::generate()).ok());
  CHECK(Identity::from_key(handshake::Did{PrincipalType::kOrg, "acme.com"}, crypto::SigningKey::generate()).ok());

  const Identity r = a.rotated();
  CHECK(r.did() == a.did());
  CHECK(r.key_version() == 2);
  CHECK(r.public_key() != a.public_key());
  const Identity r3 = r.rotated();
  CHECK(r3.key_version() == 3);
  CHECK(r3.did() == a.did());
  CHECK(r3.public_key() != r.public_key());
}

// ---- key files -----------------------------------------------------------------------------------

TEST_CASE("key file: save then load round trip", "[identity][keyfile]") {
  TempDir dir;
  for (const auto type : {PrincipalType::kUser, PrincipalType::kAgent, PrincipalType::kSvc, PrincipalType::kOrg}) {
    const Identity id = type == PrincipalType::kUser ? generate(type, "bob@acme.com") : generate(type);
    const fs::path file = dir / (std::string(handshake::to_string(type)) + ".key");
    REQUIRE(handshake::save_key_file(id, file).ok());
    CHECK(file_mode(file) == 0600);

    auto loaded = handshake::load_key_file(file);
    if (!loaded.ok()) INFO(loaded.error().to_string());
    REQUIRE(loaded.ok());
    CHECK(loaded->did() == id.did());
    CHECK(loaded->public_key() == id.public_key());
    CHECK(loaded->key_version() == id.key_version());
    const auto msg = enc::as_bytes("round trip");
    CHECK(loaded->key().try_sign(msg).value() == id.key().try_sign(msg).value());

    // The file is the documented JSON shape.
    const Json j = read_key_json(file);
    CHECK(j.at("type") == "handshake-key");
    CHECK(j.at("format_version") == 1);
    CHECK(j.at("did") == id.did_string());
    CHECK(j.at("key_version") == 1);
    CHECK(j.at("alg") == "Ed25519");
    CHECK(j.at("public_key") == enc::base64url_encode(id.public_key()));
    CHECK(j.at("seed") == enc::base64url_encode(dynamic_cast<const handshake::crypto::SigningKey&>(id.key()).seed_bytes()));
    CHECK(j.size() == 7);
  }

  // A rotated identity keeps its version through the file.
  const Identity rotated = generate(PrincipalType::kAgent).rotated();
  REQUIRE(handshake::save_key_file(rotated, dir / "rotated.key").ok());
  auto loaded = handshake::load_key_file(dir / "rotated.key");
  REQUIRE(loaded.ok());
  CHECK(loaded->key_version() == 2);
  CHECK(loaded->did() == rotated.did());
  CHECK(loaded->public_key() == rotated.public_key());
}

TEST_CASE("key file: mode is 0600 whatever the umask", "[identity][keyfile]") {
  TempDir dir;
  const Identity id = generate(PrincipalType::kAgent);
  {
    UmaskGuard guard(0);
    REQUIRE(handshake::save_key_file(id, dir / "a.key").ok());
    REQUIRE(handshake::save_key_file(id, dir / "a.key", /*overwrite=*/true).ok());
    REQUIRE(handshake::save_key_file(id, dir / "b.key", /*overwrite=*/true).ok());
  }
  CHECK(file_mode(dir / "a.key") == 0600);
  CHECK(file_mode(dir / "b.key") == 0600);
  {
    UmaskGuard guard(0777);
    REQUIRE(handshake::save_key_file(id, dir / "c.key").ok());
  }
  CHECK(file_mode(dir / "c.key") == 0600);
  CHECK(handshake::load_key_file(dir / "c.key").ok());
}

TEST_CASE("key file: an existing file is replaced only with overwrite", "[identity][keyfile]") {
  TempDir dir;
  const fs::path file = dir / "id.key";
  const Identity first = generate(PrincipalType::kAgent);
  const Identity second = generate(PrincipalType::kAgent);
  REQUIRE(handshake::save_key_file(first, file).ok());

  auto refused = handshake::save_key_file(second, file);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == ErrorCode::kIo);
  CHECK(refused.error().reason == "keyfile.exists");
  {
    auto still = handshake::load_key_file(file);
    REQUIRE(still.ok());
    CHECK(still->did() == first.did());
  }
  // Not even an unrelated file is clobbered.
  write_file(dir / "notes.txt", "keep me");
  auto refused2 = handshake::save_key_file(second, dir / "notes.txt");
  REQUIRE_FALSE(refused2.ok());
  CHECK(refused2.error().reason == "keyfile.exists");
  CHECK(hsk_test::read_file((dir / "notes.txt").string()) == "keep me");

  REQUIRE(handshake::save_key_file(second, file, /*overwrite=*/true).ok());
  auto replaced = handshake::load_key_file(file);
  REQUIRE(replaced.ok());
  CHECK(replaced->did() == second.did());
  CHECK(replaced->public_key() == second.public_key());
  CHECK(file_mode(file) == 0600);
  // The atomic replacement leaves no temporary file behind.
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    (void)e;
    ++entries;
  }
  CHECK(entries == 2);  // id.key and notes.txt

  // A directory that does not exist is a write error.
  auto nowhere = handshake::save_key_file(first, dir / "missing" / "id.key");
  REQUIRE_FALSE(nowhere.ok());
  CHECK(nowhere.error().code == ErrorCode::kIo);
  CHECK(nowhere.error().reason == "keyfile.write");
}

TEST_CASE("key file: refused when group or others have any access", "[identity][keyfile]") {
  TempDir dir;
  const Identity id = generate(PrincipalType::kAgent);
  const fs::path file = dir / "id.key";
  REQUIRE(handshake::save_key_file(id, file).ok());
  const std::string seed_b64 = enc::base64url_encode(dynamic_cast<const handshake::crypto::SigningKey&>(id.key()).seed_bytes());
  const std::vector<std::uint8_t> seed(dynamic_cast<const handshake::crypto::SigningKey&>(id.key()).seed_bytes().begin(), dynamic_cast<const handshake::crypto::SigningKey&>(id.key()).seed_bytes().end());

  using P = fs::perms;
  const P rw = P::owner_read | P::owner_write;
  for (const P mode : {rw | P::group_read | P::others_read,  // 0644
                       rw | P::group_read,                   // 0640
                       rw | P::others_read,                  // 0604
                       rw | P::group_write,                  // 0620
                       rw | P::others_exec,                  // 0601
                       P::owner_read | P::group_read}) {     // 0440
    fs::permissions(file, mode, fs::perm_options::replace);
    INFO("mode " << std::oct << file_mode(file));
    auto r = handshake::load_key_file(file);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::kPermission);
    CHECK(r.error().reason == "keyfile.permissions");
    check_no_secret(r.error(), seed_b64, seed);
  }
  // Owner-only modes are accepted.
  for (const P mode : {rw, P::owner_read, P::owner_all}) {
    fs::permissions(file, mode, fs::perm_options::replace);
    INFO("mode " << std::oct << file_mode(file));
    auto r = handshake::load_key_file(file);
    CHECK(r.ok());
  }
}

TEST_CASE("key file: malformed contents are refused without revealing the seed", "[identity][keyfile]") {
  TempDir dir;
  const Identity id = generate(PrincipalType::kAgent);
  const fs::path good = dir / "good.key";
  REQUIRE(handshake::save_key_file(id, good).ok());
  const Json base = read_key_json(good);
  const std::string seed_b64 = base.at("seed").get<std::string>();
  const std::vector<std::uint8_t> seed(dynamic_cast<const handshake::crypto::SigningKey&>(id.key()).seed_bytes().begin(), dynamic_cast<const handshake::crypto::SigningKey&>(id.key()).seed_bytes().end());
  const Identity other = generate(PrincipalType::kAgent);

  struct Case {
    const char* name;
    std::function<std::string()> text;
    ErrorCode code;
    const char* reason;
  };
  auto edited = [&](std::function<void(Json&)> f) {
    return [&base, f]() {
      Json j = base;
      f(j);
      return dump(j);
    };
  };
  const std::vector<Case> cases = {
      {"tampered public_key", edited([&](Json& j) { j["public_key"] = enc::base64url_encode(other.public_key()); }),
       ErrorCode::kKey, "keyfile.mismatch"},
      {"public_key not base64url", edited([](Json& j) { j["public_key"] = "not base64!"; }), ErrorCode::kKey,
       "keyfile.format"},
      {"public_key one bit off", edited([&](Json& j) {
         auto pk = id.public_key();
         pk[0] ^= 1;
         j["public_key"] = enc::base64url_encode(pk);
       }),
       ErrorCode::kKey, "keyfile.mismatch"},
      {"unknown member", edited([](Json& j) { j["comment"] = "hello"; }), ErrorCode::kKey, "keyfile.format"},
      {"private_key member", edited([&](Json& j) { j["private_key"] = j["seed"]; }), ErrorCode::kKey,
       "keyfile.format"},
      // The secret misplaced as a member name must not be echoed back either.
      {"seed as a member name", edited([&](Json& j) { j[seed_b64] = true; }), ErrorCode::kKey, "keyfile.format"},
      {"seed as a member name, no seed member", edited([&](Json& j) {
         j.erase("seed");
         j[seed_b64] = "seed";
       }),
       ErrorCode::kKey, "keyfile.format"},
      {"seed as the type", edited([&](Json& j) { j["type"] = seed_b64; }), ErrorCode::kKey, "keyfile.format"},
      {"seed as the alg", edited([&](Json& j) { j["alg"] = seed_b64; }), ErrorCode::kKey, "keyfile.format"},
      {"seed in a malformed did", edited([&](Json& j) { j["did"] = "did:hsk:robot:" + seed_b64; }), ErrorCode::kKey,
       "keyfile.format"},
      {"wrong type value", edited([](Json& j) { j["type"] = "ssh-key"; }), ErrorCode::kKey, "keyfile.format"},
      {"type not a string", edited([](Json& j) { j["type"] = 1; }), ErrorCode::kKey, "keyfile.format"},
      {"type missing", edited([](Json& j) { j.erase("type"); }), ErrorCode::kKey, "keyfile.format"},
      {"format_version 2", edited([](Json& j) { j["format_version"] = 2; }), ErrorCode::kKey, "keyfile.format"},
      {"format_version string", edited([](Json& j) { j["format_version"] = "1"; }), ErrorCode::kKey,
       "keyfile.format"},
      {"alg not Ed25519", edited([](Json& j) { j["alg"] = "ML-DSA-65"; }), ErrorCode::kKey, "keyfile.format"},
      {"alg not a string", edited([](Json& j) { j["alg"] = Json::array({"Ed25519"}); }), ErrorCode::kKey,
       "keyfile.format"},
      {"did not a string", edited([](Json& j) { j["did"] = 7; }), ErrorCode::kKey, "keyfile.format"},
      {"did malformed", edited([](Json& j) { j["did"] = "did:hsk:robot:abc"; }), ErrorCode::kKey, "keyfile.format"},
      {"key_version string", edited([](Json& j) { j["key_version"] = "1"; }), ErrorCode::kKey, "keyfile.format"},
      {"key_version 0", edited([](Json& j) { j["key_version"] = 0; }), ErrorCode::kKey, "keyfile.format"},
      {"key_version negative", edited([](Json& j) { j["key_version"] = -1; }), ErrorCode::kKey, "keyfile.format"},
      {"key_version fraction", edited([](Json& j) { j["key_version"] = 1.5; }), ErrorCode::kKey, "keyfile.format"},
      {"seed not a string", edited([](Json& j) { j["seed"] = Json::array({1, 2, 3}); }), ErrorCode::kKey,
       "keyfile.format"},
      {"seed missing", edited([](Json& j) { j.erase("seed"); }), ErrorCode::kKey, "keyfile.format"},
      {"public_key missing", edited([](Json& j) { j.erase("public_key"); }), ErrorCode::kKey, "keyfile.format"},
      {"seed of 31 bytes", edited([&](Json& j) {
         j["seed"] = enc::base64url_encode(std::span<const std::uint8_t>(seed).first(31));
       }),
       ErrorCode::kKey, "keyfile.format"},
      {"seed of 33 bytes", edited([&](Json& j) {
         std::vector<std::uint8_t> s = seed;
         s.push_back(0);
         j["seed"] = enc::base64url_encode(s);
       }),
       ErrorCode::kKey, "keyfile.format"},
      {"seed padded", edited([&](Json& j) { j["seed"] = seed_b64 + "="; }), ErrorCode::kKey, "keyfile.format"},
      {"seed as standard base64", edited([&](Json& j) {
         std::string s = seed_b64;
         for (char& c : s) c = c == '-' ? '+' : c == '_' ? '/' : c;
         j["seed"] = s + "+";
       }),
       ErrorCode::kKey, "keyfile.format"},
      {"DID of another key at version 1", edited([&](Json& j) { j["did"] = other.did_string(); }), ErrorCode::kKey,
       "identity.did_mismatch"},
      {"array document", [&]() { return "[" + dump(base) + "]"; }, ErrorCode::kKey, "keyfile.format"},
      {"non-JSON", []() { return std::string("this is not a key file"); }, ErrorCode::kParse, "json.syntax"},
      {"truncated JSON", [&]() { return dump(base).substr(0, dump(base).size() - 1); }, ErrorCode::kParse,
       "json.syntax"},
      {"JSON with trailing data", [&]() { return dump(base) + " x"; }, ErrorCode::kParse, "json.trailing_data"},
      {"empty file", []() { return std::string(); }, ErrorCode::kParse, "json.syntax"},
      {"duplicate seed member", [&]() { return "{\"seed\":\"" + seed_b64 + "\"," + dump(base).substr(1); },
       ErrorCode::kParse, "json.duplicate_key"},
  };

  int n = 0;
  for (const auto& c : cases) {
    INFO(c.name);
    const fs::path file = dir / ("case" + std::to_string(n++) + ".key");
    write_file(file, c.text());
    auto r = handshake::load_key_file(file);
    REQUIRE_FALSE(r.ok());
    INFO(r.error().to_string());
    CHECK(r.error().code == c.code);
    CHECK(r.error().reason == c.reason);
    check_no_secret(r.error(), seed_b64, seed);
  }

  // Control: the DID of a rotated key is accepted at key_version 2, and the unedited file loads.
  {
    Json j = base;
    j["key_version"] = 2;
    j["did"] = other.did_string();
    write_file(dir / "v2.key", dump(j));
    auto r = handshake::load_key_file(dir / "v2.key");
    REQUIRE(r.ok());
    CHECK(r->key_version() == 2);
    CHECK(r->did() == other.did());
    CHECK(r->public_key() == id.public_key());
  }
  CHECK(handshake::load_key_file(good).ok());
  // Re-serialized with different whitespace and member order, the file still loads.
  write_file(dir / "pretty.key", base.dump(4));
  CHECK(handshake::load_key_file(dir / "pretty.key").ok());
}

TEST_CASE("key file: missing file and non-regular files", "[identity][keyfile]") {
  TempDir dir;
  auto missing = handshake::load_key_file(dir / "absent.key");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == ErrorCode::kIo);
  CHECK(missing.error().reason == "keyfile.read");

  fs::create_directory(dir / "d.key");
  fs::permissions(dir / "d.key", fs::perms::owner_all, fs::perm_options::replace);
  auto directory = handshake::load_key_file(dir / "d.key");
  REQUIRE_FALSE(directory.ok());
  CHECK(directory.error().code != ErrorCode::kPermission);
}
