// Helpers shared by the hsk subcommands (defined in main.cpp): argument parsing, exit codes,
// input reading and the one-line error forms.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "handshake/identity.hpp"
#include "handshake/json.hpp"
#include "handshake/result.hpp"
#include "handshake/time.hpp"

namespace hsk::cli {

inline constexpr int kOk = 0;
inline constexpr int kRefused = 1;
inline constexpr int kUsage = 2;
// A command whose input the service refused (the signed Refusal is printed).
inline constexpr int kServiceRefused = 3;

struct Args {
  std::map<std::string, std::vector<std::string>> options;  // --name -> values
  std::vector<std::string> positional;
  bool help = false;
};

// Options listed in `with_value` take the next argument (or --name=value); other --names listed
// in `flags` are flags; anything else starting with "--" is an error.
std::optional<Args> parse_args(const std::vector<std::string>& argv, const std::vector<std::string>& with_value,
                               const std::vector<std::string>& flags, std::string& error);
// The last value given for --name.
std::optional<std::string> opt(const Args& a, const std::string& name);
bool flag(const Args& a, const std::string& name);

// "hsk CMD: message (see hsk CMD --help)" on stderr; returns kUsage.
int usage_error(const std::string& cmd, const std::string& message);
// "hsk CMD: reason: message" on stderr, on one line whatever the library put in the message;
// returns kRefused.
int refused(const std::string& cmd, const handshake::Error& e);
// The same error, its message prefixed with where it came from (a file name), unless it names it.
handshake::Error in_file(const std::string& where, handshake::Error e);

// FILE, or standard input for "-" or no argument; at most 16 MiB.
handshake::Result<std::string> read_input(const std::optional<std::string>& path);
// read_input then json::parse_strict.
handshake::Result<handshake::Json> read_json_input(const std::optional<std::string>& path);

std::string canonical(const handshake::Json& j);
// Writes `text` to `path` (replacing it). Errors: kIo "output.write".
handshake::Status write_text_file(const std::string& path, const std::string& text);
const handshake::SystemClock& wall_clock();

// A new identity of `type` in a key file at `path` (mode 0600; an existing file is replaced only
// when `overwrite`), read back from the file as a deployment does. Used by hsk init and hsk demo
// (init_cmd.cpp). Errors: those of Identity::generate, save_key_file and load_key_file.
handshake::Result<handshake::Identity> new_key_file(handshake::PrincipalType type, const std::filesystem::path& path,
                                                    bool overwrite);

// hsk init mcp|a2a DIR: keys, DID Documents, configuration and a delegation to start from (init_cmd.cpp).
int cmd_init(const std::vector<std::string>& argv);

}  // namespace hsk::cli
