// A small MCP server (stdio) with the Handshake middleware in-process.
//
//   hsk-mcp-example-server                                   plain MCP server, no handshakes
//   hsk-mcp-example-server --config service.yaml --tools tools.yaml
//                                                            every tools/call gated by handshake::mcp
//
// Tools: echo {message} -> "Echo: <message>"; get-sum {a, b} -> "The sum of a and b is s."
// (structuredContent {sum}); list-invoices {limit} -> `limit` made-up invoices (structuredContent);
// fail -> a result with isError: true; version -> the server's version.
#include <iostream>
#include <string>

#include "handshake/config.hpp"
#include "handshake/did_document.hpp"
#include "handshake/mcp/envelope.hpp"
#include "handshake/mcp/service_gate.hpp"

namespace {

using handshake::Json;
namespace mcp = handshake::mcp;

Json text_result(const std::string& text) {
  return Json{{"content", Json::array({Json{{"type", "text"}, {"text", text}}})}};
}

Json tools_list() {
  auto schema = [](Json properties, Json required) {
    return Json{{"type", "object"}, {"properties", std::move(properties)}, {"required", std::move(required)}};
  };
  return Json{{"tools", Json::array({
      Json{{"name", "echo"}, {"description", "Echoes the message"},
           {"inputSchema", schema({{"message", {{"type", "string"}}}}, {"message"})}},
      Json{{"name", "get-sum"}, {"description", "Adds two numbers"},
           {"inputSchema", schema({{"a", {{"type", "number"}}}, {"b", {{"type", "number"}}}}, {"a", "b"})}},
      Json{{"name", "list-invoices"}, {"description", "Lists invoices"},
           {"inputSchema", schema({{"limit", {{"type", "integer"}}}}, {"limit"})}},
      Json{{"name", "fail"}, {"description", "Always fails (isError)"}, {"inputSchema", schema(Json::object(), Json::array())}},
      Json{{"name", "version"}, {"description", "The server's version"}, {"inputSchema", schema(Json::object(), Json::array())}},
  })}};
}

Json call_tool(const Json& params) {
  const std::string name = params.value("name", "");
  const Json args = params.contains("arguments") && params["arguments"].is_object() ? params["arguments"] : Json::object();
  if (name == "echo") return text_result("Echo: " + (args.contains("message") && args["message"].is_string() ? args["message"].get<std::string>() : ""));
  if (name == "get-sum") {
    const double a = args.contains("a") && args["a"].is_number() ? args["a"].get<double>() : 0;
    const double b = args.contains("b") && args["b"].is_number() ? args["b"].get<double>() : 0;
    Json r = text_result("The sum of " + handshake::json::format_number(a) + " and " + handshake::json::format_number(b) +
                         " is " + handshake::json::format_number(a + b) + ".");
    r["structuredContent"] = Json{{"sum", a + b}};
    return r;
  }
  if (name == "list-invoices") {
    const std::int64_t limit = args.contains("limit") && args["limit"].is_number_integer() ? args["limit"].get<std::int64_t>() : 0;
    Json list = Json::array();
    for (std::int64_t i = 0; i < std::min<std::int64_t>(limit, 100); ++i) {
      list.push_back(Json{{"id", "inv-" + std::to_string(i + 1)}, {"total_cents", 1000 * (i + 1)}});
    }
    Json r = text_result(std::to_string(list.size()) + " invoices");
    r["structuredContent"] = Json{{"invoices", std::move(list)}};
    return r;
  }
  if (name == "version") return text_result("hsk-mcp-example-server 0.2.3");
  if (name == "fail") {
    Json r = text_result("the tool failed, on purpose");
    r["isError"] = true;
    return r;
  }
  return Json();  // unknown tool
}

// The server's own JSON-RPC handler, unaware of handshakes.
Json handle(const Json& m) {
  const auto type = mcp::message_type(m);
  if (type != mcp::MessageType::kRequest) return Json();  // notifications and responses: nothing to say
  const Json& id = m["id"];
  const std::string_view method = mcp::method_of(m);
  auto ok = [&](Json result) { return Json{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}}; };
  if (method == "initialize") {
    std::string version = "2025-11-25";
    if (m.contains("params") && m["params"].is_object() && m["params"].contains("protocolVersion") &&
        m["params"]["protocolVersion"].is_string()) {
      const std::string asked = m["params"]["protocolVersion"].get<std::string>();
      if (asked == "2025-06-18" || asked == "2025-03-26") version = asked;
    }
    return ok(Json{{"protocolVersion", version},
                   {"capabilities", {{"tools", Json::object()}}},
                   {"serverInfo", {{"name", "hsk-mcp-example-server"}, {"version", "0.2.3"}}}});
  }
  if (method == "ping") return ok(Json::object());
  if (method == "tools/list") return ok(tools_list());
  if (method == "tools/call") {
    Json r = call_tool(m.contains("params") ? m["params"] : Json::object());
    if (r.is_null()) return mcp::error_response(id, mcp::kInvalidParams, "Unknown tool");
    return ok(std::move(r));
  }
  return mcp::error_response(id, -32601, "Method not found");
}

}  // namespace

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  std::string config, tools;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--config") config = argv[i + 1];
    else if (k == "--tools") tools = argv[i + 1];
    else {
      std::cerr << "usage: hsk-mcp-example-server [--config SERVICE.yaml --tools TOOLS.yaml]\n";
      return 2;
    }
  }
  mcp::Handler handler = handle;
  std::unique_ptr<handshake::ServiceSetup> setup;
  std::unique_ptr<handshake::Service> service;
  std::unique_ptr<mcp::ServiceGate> gate;
  std::unique_ptr<mcp::Middleware> middleware;
  static const handshake::SystemClock clock;
  if (!config.empty() || !tools.empty()) {
    auto s = handshake::ServiceSetup::load(config);
    if (!s.ok()) return std::cerr << config << ": " << s.error().to_string() << "\n", 1;
    setup = std::move(s).value();
    auto map = mcp::ToolMap::load(tools);
    if (!map.ok()) return std::cerr << tools << ": " << map.error().to_string() << "\n", 1;
    service = setup->make_service(clock);
    mcp::GateOptions options;
    handshake::DidDocumentOptions o;
    o.version_time = handshake::time::parse_rfc3339("2020-01-01T00:00:00Z").value();
    if (auto doc = handshake::make_did_document(service->identity(), o); doc.ok()) options.did_document = *doc;
    gate = std::make_unique<mcp::ServiceGate>(*service, std::move(map).value(), std::move(options));
    middleware = std::make_unique<mcp::Middleware>(*gate);
  }
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    std::string out;
    if (middleware) {
      out = middleware->handle_line(line, handler);
    } else {
      auto m = mcp::decode(line);
      out = m ? mcp::serialize(handler(*m)) : mcp::serialize(mcp::error_response(nullptr, mcp::kParseError, "Parse error"));
      if (out == "null") out.clear();
    }
    if (!out.empty()) std::cout << out << '\n' << std::flush;
  }
  return 0;
}
