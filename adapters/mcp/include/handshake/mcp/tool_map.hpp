// Which tools need a handshake, for which capability, and where their constraint values come from.
//
// YAML (or the same as JSON):
//   unmapped: refuse            # refuse (default) | pass: tools not listed below run without a handshake
//   tools:
//     list-invoices:
//       capability: billing.invoices.read
//       constraints:
//         max_invoices: arguments.limit                 # value of the call's arguments.limit
//         resource_path: {from: arguments.path}         # same, long form
//         min_amount: {from: arguments.min, default: 0} # used when the argument is absent
//     echo:
//       capability: text.echo                           # no constraints derived
// A source path is "arguments" followed by ".member" or ".N" (array index) segments; a member
// name may not contain '.'. A constraint whose argument is absent and that has no default is not
// derived (the declared value alone then applies, as for any constraint the call does not bind):
// give a default equal to the tool's own default where the tool has one.
// Unknown keys are refused, so a typo cannot silently disable a check.
#pragma once

#include <filesystem>
#include <string_view>
#include <vector>

#include "handshake/action_map.hpp"
#include "handshake/json.hpp"
#include "handshake/result.hpp"

namespace handshake::mcp {

// The rule lives in core (action_map.hpp, shared with the A2A skill map); MCP names its actions
// tools and roots its sources at "arguments".
using ConstraintSource = handshake::ConstraintSource;
using ToolRule = ActionRule;
using UnmappedTools = UnmappedActions;
using handshake::derive_constraints;

// Section "tools", root "arguments", errors "mcp.tool_map".
[[nodiscard]] ActionMapFormat tool_map_format();

class ToolMap : public ActionMap {
 public:
  ToolMap() = default;
  explicit ToolMap(ActionMap map) : ActionMap(std::move(map)) {}
  // Errors: kSchema "mcp.tool_map" naming the offending key; capability names are checked with
  // capability::validate_name (kInvalidArgument "capability.name" / "capability.reserved").
  [[nodiscard]] static Result<ToolMap> from_json(const Json& document);
  // Errors: those of yaml_to_json and from_json.
  [[nodiscard]] static Result<ToolMap> from_yaml(std::string_view text);
  // Errors: kIo "mcp.tool_map_read", those of from_yaml.
  [[nodiscard]] static Result<ToolMap> load(const std::filesystem::path& path);
  // Parses one source path ("arguments.a.b", "arguments.items.0"). Errors: kSchema "mcp.tool_map".
  [[nodiscard]] static Result<std::vector<std::string>> parse_path(std::string_view from);
};

// The sources published in a tool's `_meta["ai.handshake/tool"]` (agent side). Errors: kSchema
// "mcp.tool_meta" for a malformed entry.
[[nodiscard]] Result<std::vector<ConstraintSource>> sources_from_tool_meta(const Json& tool_meta);

}  // namespace handshake::mcp
