#include "handshake/mcp/tool_map.hpp"

namespace handshake::mcp {

ActionMapFormat tool_map_format() { return ActionMapFormat{"tools", "arguments", "mcp.tool_map"}; }

Result<ToolMap> ToolMap::from_json(const Json& document) {
  HSK_ASSIGN_OR_RETURN(auto map, ActionMap::from_json(document, tool_map_format()));
  return ToolMap(std::move(map));
}

Result<ToolMap> ToolMap::from_yaml(std::string_view text) {
  HSK_ASSIGN_OR_RETURN(auto map, ActionMap::from_yaml(text, tool_map_format()));
  return ToolMap(std::move(map));
}

Result<ToolMap> ToolMap::load(const std::filesystem::path& path) {
  HSK_ASSIGN_OR_RETURN(auto map, ActionMap::load(path, tool_map_format()));
  return ToolMap(std::move(map));
}

Result<std::vector<std::string>> ToolMap::parse_path(std::string_view from) {
  return ActionMap::parse_path(from, "arguments", "mcp.tool_map");
}

Result<std::vector<ConstraintSource>> sources_from_tool_meta(const Json& tool_meta) {
  return sources_from_description(tool_meta, "arguments", "mcp.tool_meta");
}

}  // namespace handshake::mcp
