// Local policy (§14 policy_denied): a service may refuse an action even inside the delegated scope.
//
// Shape (JSON, or the same in the service's YAML config under "policy"):
//   {"default": "allow" | "deny",
//    "rules": [{"effect": "deny" | "allow",
//               "capability": "<glob over the capability name>",     (optional)
//               "agents": ["did:..."], "deployers": ["did:..."],      (optional)
//               "models": ["<glob>"],                                 (optional)
//               "detail": "shown in the Refusal"}]}                   (optional)
// Rules are tried in order; the first whose every given matcher matches decides. With no match,
// "default" decides (allow when absent). Policy only ever narrows: it cannot grant what the
// delegation chain does not.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "handshake/json.hpp"
#include "handshake/messages.hpp"
#include "handshake/result.hpp"

namespace handshake {

class Policy {
 public:
  // Errors: kSchema "policy.invalid" naming the offending member.
  [[nodiscard]] static Result<Policy> from_json(const Json& doc);

  // The reason to deny `request`, or nothing when it is allowed.
  [[nodiscard]] std::optional<std::string> denies(const HandshakeRequest& request) const;

 private:
  struct Rule {
    bool deny = true;
    std::optional<std::string> capability;
    std::vector<std::string> agents, deployers, models;
    std::string detail;
  };
  bool default_deny_ = false;
  std::vector<Rule> rules_;
};

}  // namespace handshake
