// The published mapping from OAuth scopes to Handshake capabilities (§13.3), read from YAML:
//
//   unmapped_scopes: ignore          # or: refuse (any scope not listed refuses the whole token)
//   scopes:
//     - scope: "invoices:read"       # exact scope
//       capability: billing.invoices.read
//       constraints: {max_invoices: 100}
//       delegable: false             # optional, default false
//     - scope: "files:*"             # a trailing * matches every scope with that prefix
//       capability: files.read
//
// One scope may match several entries; every match contributes its capability. A capability
// named twice keeps the first entry's constraints (order in the file is the operator's choice).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "handshake/json.hpp"
#include "handshake/messages.hpp"
#include "handshake/result.hpp"

namespace handshake::oauth {

class ScopeMap {
 public:
  struct Entry {
    std::string scope;  // exact, or a prefix followed by '*'
    Capability capability;
  };
  enum class Unmapped { kIgnore, kRefuse };

  // Errors: kParse "yaml.invalid", kSchema "oauth.scope_map" naming the entry at fault (unknown
  // key, missing scope/capability, a capability name that is not valid §10 grammar, constraints
  // not an object, delegable not a boolean, a '*' anywhere but at the end).
  [[nodiscard]] static Result<ScopeMap> from_yaml(std::string_view text);
  [[nodiscard]] static Result<ScopeMap> from_json(const Json& doc);

  // The capabilities `scopes` grant. Errors: kPermission "oauth.unmapped_scope" (a scope with no
  // entry while unmapped_scopes is refuse), kPermission "oauth.no_capability" (nothing mapped).
  [[nodiscard]] Result<std::vector<Capability>> capabilities_for(const std::vector<std::string>& scopes) const;

  [[nodiscard]] const std::vector<Entry>& entries() const noexcept { return entries_; }
  [[nodiscard]] Unmapped unmapped() const noexcept { return unmapped_; }

 private:
  std::vector<Entry> entries_;
  Unmapped unmapped_ = Unmapped::kIgnore;
};

}  // namespace handshake::oauth
