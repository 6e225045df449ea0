// The command line of every binary of this project (hsk, hsk-mcp-proxy, hsk-a2a-proxy): one
// parser, so every one of them answers the same mistakes the same way. Part of handshake::config.
//
//   --name VALUE and --name=VALUE for options that take a value; --name for flags; --help / -h and
//   --version recorded; with `command_after_dashes`, everything after `--` is a command to run.
// Errors say which argument and why: an unknown option (with the closest known name when there is
// one), a known option without its value, a flag given a value, a stray argument, and, once the
// binary knows its role, an option that belongs to another role.
#pragma once

#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "handshake/result.hpp"

namespace handshake {

struct OptionSpec {
  std::string name;                 // without the leading "--"
  bool valued = true;               // false: a flag
  std::vector<std::string> roles;   // the roles it belongs to; empty: every role
};

struct CommandLineRules {
  std::vector<OptionSpec> options;
  bool positional = false;            // arguments that are not options are kept (else: an error)
  bool command_after_dashes = false;  // `--` ends the options; what follows is command()
};

class CommandLine {
 public:
  // Errors: kInvalidArgument "usage" with the message to print.
  [[nodiscard]] static Result<CommandLine> parse(const std::vector<std::string>& args, const CommandLineRules& rules);

  // Options given that do not belong to `role` (kInvalidArgument "usage", naming the first one).
  [[nodiscard]] Status check_role(const std::string& role) const;

  [[nodiscard]] std::optional<std::string> get(const std::string& name) const;  // the last value given
  [[nodiscard]] const std::vector<std::string>& all(const std::string& name) const;
  [[nodiscard]] bool has(const std::string& name) const { return values_.count(name) > 0; }
  [[nodiscard]] const std::vector<std::string>& positional() const { return positional_; }
  [[nodiscard]] const std::vector<std::string>& command() const { return command_; }
  [[nodiscard]] bool help() const { return help_; }
  [[nodiscard]] bool version() const { return version_; }

 private:
  std::map<std::string, std::vector<std::string>> values_;  // flags: one "" per occurrence
  std::vector<std::string> positional_, command_;
  std::vector<OptionSpec> rules_;
  bool help_ = false, version_ = false;
};

// What `--check` prints: one line per thing checked ("ok: ...", "warning: ...", "error: ..."),
// and the exit code (0 when there is no error; warnings do not fail a check).
class CheckReport {
 public:
  void ok(const std::string& what) { lines_.push_back("ok: " + what); }
  void warning(const std::string& what) { lines_.push_back("warning: " + what); }
  void error(const std::string& what) {
    lines_.push_back("error: " + what);
    ++errors_;
  }
  // `what` is fine, or the error that says why not; true when fine.
  template <typename T>
  bool check(const std::string& what, const Result<T>& r) {
    if (r.ok()) {
      ok(what);
      return true;
    }
    error(what + ": " + r.error().to_string());
    return false;
  }
  [[nodiscard]] const std::vector<std::string>& lines() const { return lines_; }
  [[nodiscard]] int exit_code() const { return errors_ == 0 ? 0 : 1; }
  // Prints the lines to `out` (one per line) and returns exit_code().
  int print(std::FILE* out) const {
    for (const auto& l : lines_) std::fprintf(out, "%s\n", l.c_str());
    return exit_code();
  }

 private:
  std::vector<std::string> lines_;
  int errors_ = 0;
};

// "HOST:PORT" (an IPv6 host in brackets), port 0..65535 (0: any free port). Errors: kInvalidArgument
// "usage" naming what is wrong.
[[nodiscard]] Result<std::pair<std::string, int>> parse_listen(std::string_view text);

// What `--version` prints: "NAME VERSION (Handshake Protocol 0.2.3)".
[[nodiscard]] std::string version_line(std::string_view binary);

}  // namespace handshake
