#include "handshake/revocation.hpp"

#include <fstream>
#include <sstream>

#include "handshake/ids.hpp"

namespace handshake {

Result<Json> make_revocation(const Identity& issuer, std::optional<std::string> delegation_id,
                             std::optional<std::string> principal, std::string_view reason, Timestamp now,
                             std::optional<Timestamp> effective_at) {
  if (delegation_id.has_value() == principal.has_value()) {
    return make_error(ErrorCode::kInvalidArgument, "revocation.target",
                      "a revocation names exactly one delegation id or one principal");
  }
  RevocationStatement s;
  s.id = ids::make_id(ids::kRevocationPrefix, now);
  s.iss = issuer.did_string();
  s.iat = now;
  s.revoked_delegation_id = std::move(delegation_id);
  s.revoked_principal = std::move(principal);
  s.reason = std::string(reason);
  s.effective_at = effective_at;
  return sign_message(s.to_json(), issuer.key());
}

// ---- RevocationList ----------------------------------------------------------------------------

Result<RevocationStatement> RevocationList::verified(const Json& statement, const KeyResolver& keys) const {
  HSK_ASSIGN_OR_RETURN(auto s, RevocationStatement::from_json(statement));
  const auto key = keys.key_at(s.iss, s.iat);
  if (key.status == KeyResolver::Status::kUnavailable) {
    return make_error(ErrorCode::kUnavailable, "did.unavailable", "cannot resolve " + s.iss + ": " + key.detail);
  }
  if (key.status != KeyResolver::Status::kFound) {
    return make_error(ErrorCode::kNotFound, "did.unresolved", "no key known for " + s.iss);
  }
  HSK_TRY(verify_message_signature(statement, key.key));
  if (s.revoked_principal) {
    std::shared_lock lock(mu_);
    const bool self = *s.revoked_principal == s.iss;
    if (!self && authorities_.count(s.iss) == 0) {
      return make_error(ErrorCode::kPermission, "revocation.authority",
                        s.iss + " may not revoke principal " + *s.revoked_principal);
    }
  }
  return s;
}

Status RevocationList::check_statement(const Json& statement, const KeyResolver& keys) const {
  HSK_TRY(verified(statement, keys));
  return {};
}

Status RevocationList::add_statement(const Json& statement, const KeyResolver& keys) {
  HSK_ASSIGN_OR_RETURN(auto s, verified(statement, keys));
  const Timestamp effective = s.effective_at.value_or(s.iat);
  if (s.revoked_delegation_id) {
    add_delegation(*s.revoked_delegation_id, s.iss, effective);
  } else {
    add_principal(*s.revoked_principal, effective);
  }
  return {};
}

void RevocationList::add_delegation(std::string id, std::string issuer, Timestamp effective_at) {
  std::unique_lock lock(mu_);
  delegations_.emplace(std::move(id), DelegationEntry{std::move(issuer), effective_at});
}

void RevocationList::add_principal(std::string did, Timestamp effective_at) {
  std::unique_lock lock(mu_);
  auto [it, inserted] = principals_.emplace(std::move(did), effective_at);
  if (!inserted && effective_at < it->second) it->second = effective_at;
}

void RevocationList::add_authority(std::string did) {
  std::unique_lock lock(mu_);
  authorities_.insert(std::move(did));
}

RevocationSource::Answer RevocationList::delegation_revoked(std::string_view id, std::string_view issuer,
                                                            Timestamp at) const {
  std::shared_lock lock(mu_);
  auto [lo, hi] = delegations_.equal_range(id);
  for (auto it = lo; it != hi; ++it) {
    if ((it->second.issuer.empty() || it->second.issuer == issuer) && it->second.effective_at <= at) {
      return Answer::kRevoked;
    }
  }
  return Answer::kNotRevoked;
}

RevocationSource::Answer RevocationList::principal_revoked(std::string_view did, Timestamp at) const {
  std::shared_lock lock(mu_);
  auto it = principals_.find(did);
  return it != principals_.end() && it->second <= at ? Answer::kRevoked : Answer::kNotRevoked;
}

std::size_t RevocationList::size() const {
  std::shared_lock lock(mu_);
  return delegations_.size() + principals_.size();
}

Status load_revocation_file(const std::filesystem::path& path, const KeyResolver& keys, RevocationList& list) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorCode::kIo, "revocation.file", "cannot open " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  json::ParseLimits limits;
  limits.max_bytes = 64 * 1024 * 1024;
  HSK_ASSIGN_OR_RETURN(auto doc, json::parse_strict(text.str(), limits));
  if (!doc.is_array()) {
    return make_error(ErrorCode::kSchema, "revocation.file", path.string() + " must hold an array of RevocationStatements");
  }
  std::size_t i = 0;
  for (const auto& s : doc) {
    if (auto st = list.add_statement(s, keys); !st.ok()) {
      Error e = st.error();
      e.message = path.string() + "[" + std::to_string(i) + "]: " + e.message;
      return e;
    }
    ++i;
  }
  return {};
}

}  // namespace handshake
