// The one command-line parser (command_line.hpp).
#include "handshake/command_line.hpp"

#include <algorithm>

#include "handshake/messages.hpp"

#ifndef HSK_VERSION
#define HSK_VERSION "0.0.0"
#endif

namespace handshake {

namespace {

Error usage(std::string message) { return make_error(ErrorCode::kInvalidArgument, "usage", std::move(message)); }

// Levenshtein distance, for "did you mean": names are short.
std::size_t distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

const OptionSpec* find(const std::vector<OptionSpec>& rules, std::string_view name) {
  for (const auto& r : rules) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

}  // namespace

Result<CommandLine> CommandLine::parse(const std::vector<std::string>& args, const CommandLineRules& rules) {
  CommandLine cl;
  cl.rules_ = rules.options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& s = args[i];
    if (s == "--help" || s == "-h") {
      cl.help_ = true;
      continue;
    }
    if (s == "--version") {
      cl.version_ = true;
      continue;
    }
    if (s == "--" && rules.command_after_dashes) {
      cl.command_.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
      break;
    }
    if (s.rfind("--", 0) != 0 || s.size() == 2) {
      if (!rules.positional) return usage("unexpected argument '" + s + "'");
      cl.positional_.push_back(s);
      continue;
    }
    std::string name = s.substr(2);
    std::optional<std::string> value;
    if (const auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    const OptionSpec* spec = find(rules.options, name);
    if (spec == nullptr) {
      std::string msg = "unknown option --" + name;
      const OptionSpec* best = nullptr;
      std::size_t best_d = 3;  // suggest only close names
      for (const auto& r : rules.options) {
        if (const std::size_t d = distance(name, r.name); d < best_d) best = &r, best_d = d;
      }
      if (best != nullptr) msg += " (did you mean --" + best->name + "?)";
      return usage(msg);
    }
    if (!spec->valued) {
      if (value) return usage("--" + name + " is a flag and takes no value");
      cl.values_[name].emplace_back();
      continue;
    }
    if (!value) {
      if (i + 1 >= args.size()) return usage("--" + name + " needs a value");
      value = args[++i];
    }
    cl.values_[name].push_back(std::move(*value));
  }
  return cl;
}

Status CommandLine::check_role(const std::string& role) const {
  for (const auto& [name, v] : values_) {
    const OptionSpec* spec = find(rules_, name);
    if (spec == nullptr || spec->roles.empty()) continue;
    if (std::find(spec->roles.begin(), spec->roles.end(), role) != spec->roles.end()) continue;
    std::string belongs;
    for (const auto& r : spec->roles) belongs += (belongs.empty() ? "--role " : " or --role ") + r;
    return usage("--" + name + " belongs to " + belongs + ", not --role " + role);
  }
  return ok_status();
}

std::optional<std::string> CommandLine::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

const std::vector<std::string>& CommandLine::all(const std::string& name) const {
  static const std::vector<std::string> kNone;
  auto it = values_.find(name);
  return it == values_.end() ? kNone : it->second;
}

Result<std::pair<std::string, int>> parse_listen(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return usage("--listen must be HOST:PORT, not '" + std::string(text) + "'");
  std::string host(text.substr(0, colon));
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return usage("--listen: an IPv6 host goes in brackets, [::1]:PORT");
    host = host.substr(1, host.size() - 2);
  }
  const std::string_view port_text = text.substr(colon + 1);
  if (port_text.empty() || port_text.size() > 5 ||
      !std::all_of(port_text.begin(), port_text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return usage("--listen: the port must be a number from 0 to 65535, not '" + std::string(port_text) + "'");
  }
  const int port = std::stoi(std::string(port_text));
  if (port > 65535) return usage("--listen: the port must be a number from 0 to 65535, not " + std::string(port_text));
  return std::make_pair(std::move(host), port);
}

std::string version_line(std::string_view binary) {
  return std::string(binary) + " " + HSK_VERSION + " (Handshake Protocol " + std::string(kProtocolVersion) + ")";
}

}  // namespace handshake
