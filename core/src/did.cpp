#include "handshake/did.hpp"

#include "handshake/encoding.hpp"

namespace handshake {

std::string_view to_string(PrincipalType t) noexcept {
  switch (t) {
    case PrincipalType::kUser: return "user";
    case PrincipalType::kAgent: return "agent";
    case PrincipalType::kSvc: return "svc";
    case PrincipalType::kOrg: return "org";
  }
  return "?";
}

Result<PrincipalType> parse_principal_type(std::string_view text) {
  if (text == "user") return PrincipalType::kUser;
  if (text == "agent") return PrincipalType::kAgent;
  if (text == "svc") return PrincipalType::kSvc;
  if (text == "org") return PrincipalType::kOrg;
  return make_error(ErrorCode::kInvalidArgument, "did.unknown_type",
                    "principal type must be user, agent, svc or org");
}

std::string Did::str() const { return "did:hsk:" + std::string(to_string(type)) + ":" + id; }

Result<Did> parse_did(std::string_view text) {
  auto bad = [&](const char* why) {
    return make_error(ErrorCode::kInvalidArgument, "did.invalid", std::string("not a did:hsk DID: ") + why);
  };
  if (text.size() > kMaxDidLength) return bad("longer than 512 bytes");
  constexpr std::string_view kPrefix = "did:hsk:";
  if (text.substr(0, kPrefix.size()) != kPrefix) return bad("must start with did:hsk:");
  const auto rest = text.substr(kPrefix.size());
  const auto colon = rest.find(':');
  if (colon == std::string_view::npos) return bad("missing identifier");
  auto type = parse_principal_type(rest.substr(0, colon));
  if (!type.ok()) return bad("type must be user, agent, svc or org");
  const auto id = rest.substr(colon + 1);
  if (id.empty()) return bad("empty identifier");
  for (char c : id) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '@' || c == ':' || c == '%' || c == '-';
    if (!ok) return bad("identifier may only contain A-Z a-z 0-9 . _ @ : % -");
  }
  return Did{*type, std::string(id)};
}

std::string key_hash_id(const crypto::PublicKey& key) {
  const auto digest = crypto::sha256(key);
  return encoding::multibase_z_encode(digest);
}

Did did_for_key(PrincipalType type, const crypto::PublicKey& key) { return Did{type, key_hash_id(key)}; }

bool is_key_hash_id(std::string_view id) {
  if (id.size() < 2 || id.size() > 64) return false;
  auto bytes = encoding::multibase_decode(id);
  return bytes.ok() && bytes->size() == crypto::kSha256Bytes;
}

bool did_binds_key(const Did& did, const crypto::PublicKey& key) {
  return did.type != PrincipalType::kUser && did.id == key_hash_id(key);
}

}  // namespace handshake
