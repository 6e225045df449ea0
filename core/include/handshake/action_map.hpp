// Which actions of a transport need a handshake, for which capability, and where the constraint
// values of a call come from (design: "Arguments are checked, not only declarations"). One home
// for the rule; each adapter names its actions and its argument root:
//   MCP  tools   (section "tools",  root "arguments": the tools/call arguments)
//   A2A  skills  (section "skills", root "data": the message's first data part)
//
// YAML (or the same as JSON), e.g. for MCP:
//   unmapped: refuse            # refuse (default) | pass: actions not listed run without a handshake
//   tools:
//     list-invoices:
//       capability: billing.invoices.read
//       constraints:
//         max_invoices: arguments.limit                 # value of the call's arguments.limit
//         resource_path: {from: arguments.path}         # same, long form
//         min_amount: {from: arguments.min, default: 0} # used when the argument is absent
//     echo:
//       capability: text.echo                           # no constraints derived
// A source path is the root followed by ".member" or ".N" (array index) segments; a member name
// may not contain '.'. A constraint whose source is absent and that has no default is not derived
// (the declared value alone then applies): give a default equal to the action's own default
// where it has one. Unknown keys are refused, so a typo cannot silently disable a check.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handshake/capability.hpp"
#include "handshake/json.hpp"
#include "handshake/result.hpp"
#include "handshake/service.hpp"

namespace handshake {

struct ActionMapFormat {
  std::string section = "tools";   // the key listing the actions
  std::string root = "arguments";  // the first segment of every source path
  std::string reason = "mcp.tool_map";  // the reason token of configuration errors
};

struct ConstraintSource {
  std::string name;                 // the constraint's name, e.g. max_invoices
  std::string from;                 // the path as written, e.g. arguments.limit
  std::vector<std::string> path;    // its segments after the root
  std::optional<Json> fallback;     // "default"
};

struct ActionRule {
  std::string action;  // tool name, skill id, ...
  std::string capability;
  std::vector<ConstraintSource> constraints;
};

enum class UnmappedActions { kRefuse, kPassThrough };

class ActionMap {
 public:
  // Errors: kSchema format.reason naming the offending key; capability names are checked with
  // capability::validate_name (kInvalidArgument "capability.name" / "capability.reserved").
  [[nodiscard]] static Result<ActionMap> from_json(const Json& document, const ActionMapFormat& format);
  // Errors: those of yaml_to_json and from_json.
  [[nodiscard]] static Result<ActionMap> from_yaml(std::string_view text, const ActionMapFormat& format);
  // Errors: kIo "<reason>_read", those of from_yaml.
  [[nodiscard]] static Result<ActionMap> load(const std::filesystem::path& path, const ActionMapFormat& format);

  // Parses one source path ("arguments.a.b", "arguments.items.0"). Errors: kSchema `reason`.
  [[nodiscard]] static Result<std::vector<std::string>> parse_path(std::string_view from, std::string_view root,
                                                                   std::string_view reason);

  // The rule for `action`, or nullptr when it is not mapped.
  [[nodiscard]] const ActionRule* find(std::string_view action) const;
  [[nodiscard]] UnmappedActions unmapped() const noexcept { return unmapped_; }
  [[nodiscard]] const std::map<std::string, ActionRule, std::less<>>& rules() const noexcept { return rules_; }
  [[nodiscard]] const ActionMapFormat& format() const noexcept { return format_; }

  void add(ActionRule rule);
  void set_unmapped(UnmappedActions u) noexcept { unmapped_ = u; }

  // How a rule is published to agents (MCP tools/list _meta, A2A Agent Card extension params):
  // {"capability", "constraints": {name: {"type", "from"[, "default"]}}}, types from `schemas`.
  [[nodiscard]] static Json describe(const ActionRule& rule, const capability::CapabilitySchemaSet& schemas);

 private:
  std::map<std::string, ActionRule, std::less<>> rules_;
  UnmappedActions unmapped_ = UnmappedActions::kRefuse;
  ActionMapFormat format_;
};

// The constraint values of a call: for every source, the value at its path in `arguments` (the
// object the root names, or null for none), or its default; absent ones are skipped. Used by the
// service (authoritative) and by the agent (to declare what it will ask for). Never fails: a path
// that does not resolve counts as absent.
[[nodiscard]] Json derive_constraints(const std::vector<ConstraintSource>& sources, const Json& arguments);

// The ActionBinding a service checks a call against: the rule's capability and the constraint
// values derived from `arguments`.
[[nodiscard]] ActionBinding bind_action(const ActionRule& rule, const Json& arguments);

// The sources of a published description (ActionMap::describe), on the agent side. Errors:
// kSchema `reason` for a malformed entry.
[[nodiscard]] Result<std::vector<ConstraintSource>> sources_from_description(const Json& description,
                                                                            std::string_view root,
                                                                            std::string_view reason);

}  // namespace handshake
