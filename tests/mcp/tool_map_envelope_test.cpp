// The tool map (YAML) and the envelope helpers.
#include "mcp_fixture.hpp"

#include "handshake/mcp/stdio.hpp"

using namespace mcp_fx;

TEST_CASE("mcp tool map: YAML", "[mcp][tool_map]") {
  const auto map = must(mcp::ToolMap::from_yaml(kToolsYaml));
  CHECK(map.unmapped() == mcp::UnmappedTools::kRefuse);
  const mcp::ToolRule* sum = map.find("get-sum");
  REQUIRE(sum != nullptr);
  CHECK(sum->capability == "math.sum");
  REQUIRE(sum->constraints.size() == 2);
  CHECK(map.find("nope") == nullptr);
  CHECK(must(mcp::ToolMap::from_yaml("unmapped: pass")).unmapped() == mcp::UnmappedTools::kPassThrough);
  CHECK(must(mcp::ToolMap::from_yaml("")).rules().empty());

  SECTION("mistakes are refused, naming the key") {
    for (const char* bad : {"unmapped: maybe", "tool: {}", "tools: [a]", "tools: {t: {capability: x.y, extra: 1}}",
                            "tools: {t: {constraints: {max_a: arguments.a}}}",
                            "tools: {t: {capability: Bad Name}}", "tools: {t: {capability: x.y, constraints: {m: limit}}}",
                            "tools: {t: {capability: x.y, constraints: {m: arguments}}}",
                            "tools: {t: {capability: x.y, constraints: {m: arguments..a}}}",
                            "tools: {t: {capability: x.y, constraints: {m: {from: arguments.a, defualt: 1}}}}",
                            "tools: {t: {capability: handshake.x}}", "[unclosed"}) {
      INFO(bad);
      CHECK_FALSE(mcp::ToolMap::from_yaml(bad).ok());
    }
  }
  SECTION("files") {
    CHECK(mcp::ToolMap::load("/nonexistent/tools.yaml").error().reason == "mcp.tool_map_read");
  }
}

TEST_CASE("mcp tool map: deriving constraint values from arguments", "[mcp][tool_map]") {
  auto src = [](std::string name, std::string from, std::optional<Json> def = std::nullopt) {
    return mcp::ConstraintSource{std::move(name), from, must(mcp::ToolMap::parse_path(from)), std::move(def)};
  };
  const std::vector<mcp::ConstraintSource> sources = {
      src("max_invoices", "arguments.limit"), src("resource_path", "arguments.file.path"),
      src("first", "arguments.items.0"), src("min_amount", "arguments.min", Json(5)), src("absent", "arguments.nope")};
  const Json args{{"limit", 500}, {"file", {{"path", "/a/b"}}}, {"items", {"x", "y"}}};
  const Json d = mcp::derive_constraints(sources, args);
  CHECK(d == Json{{"max_invoices", 500}, {"resource_path", "/a/b"}, {"first", "x"}, {"min_amount", 5}});
  CHECK(mcp::derive_constraints(sources, Json()) == Json{{"min_amount", 5}});
  CHECK(mcp::derive_constraints(sources, Json{{"limit", nullptr}, {"file", "str"}, {"items", Json::object()}}) ==
        Json{{"min_amount", 5}});

  SECTION("the tools/list description round-trips to the agent") {
    mcp::ToolRule rule{"t", "billing.invoices.read", sources};
    const Json meta = mcp::ToolMap::describe(rule, {});
    CHECK(meta["constraints"]["max_invoices"]["type"] == "numeric_max");
    CHECK(meta["constraints"]["resource_path"]["type"] == "exact");
    const auto back = must(mcp::sources_from_tool_meta(meta));
    CHECK(mcp::derive_constraints(back, args) == d);
    CHECK_FALSE(mcp::sources_from_tool_meta(Json{{"constraints", {{"m", {{"from", "x"}}}}}}).ok());
    CHECK_FALSE(mcp::sources_from_tool_meta(Json("x")).ok());
  }
}

TEST_CASE("mcp envelope", "[mcp][envelope]") {
  CHECK(mcp::message_type(Json{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "a"}}) == mcp::MessageType::kRequest);
  CHECK(mcp::message_type(Json{{"jsonrpc", "2.0"}, {"method", "a"}}) == mcp::MessageType::kNotification);
  CHECK(mcp::message_type(Json{{"jsonrpc", "2.0"}, {"id", "x"}, {"result", Json::object()}}) == mcp::MessageType::kResponse);
  CHECK(mcp::message_type(Json{{"jsonrpc", "2.0"}, {"id", nullptr}, {"method", "a"}}) == mcp::MessageType::kInvalid);
  CHECK(mcp::message_type(Json::array()) == mcp::MessageType::kInvalid);
  CHECK(mcp::message_type(Json{{"method", 3}}) == mcp::MessageType::kInvalid);

  const Json result{{"content", Json::array()},
                    {"_meta", {{std::string(mcp::kReceiptKey), 1}, {std::string(mcp::kAcceptanceKey), 2}}}};
  CHECK(mcp::receipt_subject(result) == Json{{"content", Json::array()}});
  const Json with_other_meta{{"content", Json::array()}, {"_meta", {{"x", 1}, {std::string(mcp::kReceiptKey), 1}}}};
  CHECK(mcp::receipt_subject(with_other_meta) == Json{{"content", Json::array()}, {"_meta", {{"x", 1}}}});
  CHECK(mcp::receipt_subject(Json{{"structuredContent", {{"a", 1}}}, {"content", Json::array()}}) == Json{{"a", 1}});
  CHECK(mcp::receipt_status(Json{{"isError", true}}) == "error");
  CHECK(mcp::receipt_status(Json{{"isError", false}}) == "ok");
  CHECK(mcp::receipt_status(Json::object()) == "ok");

  CHECK(mcp::serialize(Json{{"t", "a\nb"}}).find('\n') == std::string::npos);
  CHECK_FALSE(mcp::decode("{").has_value());
  CHECK(mcp::decode("{\"a\":1}").has_value());
  CHECK_FALSE(mcp::refusal_of(mcp::error_response(1, mcp::kInternalError, "x", Json::object())).has_value());
  CHECK_FALSE(mcp::refusal_of(Json{{"result", Json::object()}}).has_value());
}

TEST_CASE("mcp stdio: the id of a message too large to read is found as it passes", "[mcp][stdio]") {
  auto id_of = [](const std::string& text, std::size_t piece) {
    mcp::IdScanner s;
    for (std::size_t i = 0; i < text.size(); i += piece) s.feed(std::string_view(text).substr(i, piece));
    return s.id();
  };
  const std::string pad(3000, 'x');
  for (std::size_t piece : {1u, 7u, 100000u}) {
    CAPTURE(piece);
    // The SDKs put the id last; nested and quoted "id"s are not the message's.
    CHECK(id_of(R"({"method":"tools/call","params":{"id":"inner","s":""id":9)" + pad + R"("},"jsonrpc":"2.0","id":42})", piece) == 42);
    CHECK(id_of(R"({"jsonrpc":"2.0", "id" : "a-\"b",)" + std::string(R"("params":{"x":")") + pad + R"("}})", piece) == "a-\"b");
    CHECK(id_of(R"({"params":{"id":1},"method":"x"})", piece).is_null());
    CHECK(id_of(R"([{"id":1}])", piece).is_null());
    CHECK(id_of(R"({"id":{"a":1},"x":2})", piece).is_null());
    CHECK(id_of(R"({"id":1.5})", piece).is_null());
    CHECK(id_of(R"({"id":")" + pad + R"("})", piece).is_null());  // longer than any id we answer with
  }
  // The framer hands it over with the line's size.
  mcp::LineFramer framer(1024);
  std::vector<std::pair<std::size_t, Json>> over;
  const std::string line = R"({"jsonrpc":"2.0","method":"tools/call","params":{"a":")" + pad + R"("},"id":7})";
  framer.feed(line + "\n", [](std::string_view) {}, [&](std::size_t n, const Json& id) { over.emplace_back(n, id); });
  REQUIRE(over.size() == 1);
  CHECK(over[0].first == line.size());
  CHECK(over[0].second == 7);
}
