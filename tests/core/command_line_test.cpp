// The one command-line parser of every binary (handshake/command_line.hpp).
#include <catch2/catch.hpp>

#include "handshake/command_line.hpp"

using handshake::CommandLine;
using handshake::CommandLineRules;

namespace {

const CommandLineRules& proxy_rules() {
  static const CommandLineRules r = [] {
    CommandLineRules c;
    c.command_after_dashes = true;
    c.options = {{"role", true, {}},   {"listen", true, {}},        {"tools", true, {"service"}},
                 {"key", true, {"agent"}}, {"optional", false, {"service"}}, {"receipts", true, {"service", "agent"}}};
    return c;
  }();
  return r;
}

std::string error_of(const std::vector<std::string>& args, const CommandLineRules& rules = proxy_rules()) {
  auto r = CommandLine::parse(args, rules);
  return r.ok() ? std::string("ok") : r.error().reason + ": " + r.error().message;
}

}  // namespace

TEST_CASE("command line: values, flags, --name=value, the command after --", "[cli][command_line]") {
  auto r = CommandLine::parse({"--role", "service", "--tools=t.yaml", "--optional", "--receipts", "a", "--receipts", "b",
                               "--", "node", "--role", "x"},
                              proxy_rules());
  REQUIRE(r.ok());
  CHECK(r->get("role") == "service");
  CHECK(r->get("tools") == "t.yaml");
  CHECK(r->has("optional"));
  CHECK(r->get("receipts") == "b");
  CHECK(r->all("receipts") == std::vector<std::string>{"a", "b"});
  CHECK(r->command() == std::vector<std::string>{"node", "--role", "x"});
  CHECK_FALSE(r->help());
  CHECK_FALSE(r->get("key"));
  CHECK(CommandLine::parse({"--version"}, proxy_rules())->version());
  CHECK(CommandLine::parse({"-h"}, proxy_rules())->help());
}

TEST_CASE("command line: every mistake named", "[cli][command_line]") {
  CHECK(error_of({"--tols", "x"}) == "usage: unknown option --tols (did you mean --tools?)");
  CHECK(error_of({"--zzzzzz", "x"}) == "usage: unknown option --zzzzzz");
  // An unknown last option is unknown, not "needs a value".
  CHECK(error_of({"--role", "agent", "--bogus"}) == "usage: unknown option --bogus");
  CHECK(error_of({"--role"}) == "usage: --role needs a value");
  CHECK(error_of({"--optional=yes"}) == "usage: --optional is a flag and takes no value");
  CHECK(error_of({"stray"}) == "usage: unexpected argument 'stray'");
  CommandLineRules positional = proxy_rules();
  positional.positional = true;
  auto p = CommandLine::parse({"a.json", "--role", "x", "b.json"}, positional);
  REQUIRE(p.ok());
  CHECK(p->positional() == std::vector<std::string>{"a.json", "b.json"});
}

TEST_CASE("command line: an option of the other role is refused, naming both", "[cli][command_line]") {
  auto r = CommandLine::parse({"--role", "agent", "--tools", "t.yaml", "--receipts", "r"}, proxy_rules());
  REQUIRE(r.ok());
  auto st = r->check_role("agent");
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().message == "--tools belongs to --role service, not --role agent");
  CHECK(r->check_role("service").ok());
  auto flag = CommandLine::parse({"--optional"}, proxy_rules());
  CHECK_FALSE(flag->check_role("agent").ok());
}

TEST_CASE("command line: --listen HOST:PORT", "[cli][command_line]") {
  auto ok = handshake::parse_listen("127.0.0.1:8380");
  REQUIRE(ok.ok());
  CHECK(ok->first == "127.0.0.1");
  CHECK(ok->second == 8380);
  auto v6 = handshake::parse_listen("[::1]:0");
  REQUIRE(v6.ok());
  CHECK(v6->first == "::1");
  CHECK(v6->second == 0);
  for (const char* bad : {"8380", ":8380", "host:", "host:99999", "host:80a", "host:-1", "[::1:80", "[]:80"}) {
    CAPTURE(bad);
    auto r = handshake::parse_listen(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "usage");
  }
}

TEST_CASE("command line: --version names the binary, the release and the protocol", "[cli][command_line]") {
  CHECK_THAT(handshake::version_line("hsk"), Catch::Matches(R"(hsk \d+\.\d+\.\d+ \(Handshake Protocol 0\.2\.3\))"));
}
