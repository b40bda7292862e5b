#include "mcp-bridge/config.h"

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace baton::mcp {
namespace {

using json = nlohmann::json;

bool IsVarChar(char c, bool first) {
  return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (!first && c >= '0' && c <= '9');
}

absl::Status CheckKeys(const json& object, const std::set<std::string>& known, const std::string& where) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (known.count(it.key()) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": unknown field \"", it.key(), "\" (known: ", absl::StrJoin(known, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> GetString(const json& object, const char* key, const std::string& where,
                                      const EnvLookup& env, bool expand) {
  if (!object.contains(key)) return std::string();
  if (!object[key].is_string()) return absl::InvalidArgumentError(absl::StrCat(where, ".", key, ": must be a string"));
  const std::string& raw = object[key].get_ref<const std::string&>();
  if (!expand) return raw;
  absl::StatusOr<std::string> out = ExpandVariables(raw, env);
  if (!out.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ".", key, ": ", out.status().message()));
  return out;
}

absl::StatusOr<std::vector<std::string>> GetStringList(const json& object, const char* key, const std::string& where,
                                                       const EnvLookup& env, bool expand) {
  std::vector<std::string> out;
  if (!object.contains(key)) return out;
  if (!object[key].is_array()) return absl::InvalidArgumentError(absl::StrCat(where, ".", key, ": must be an array of strings"));
  for (const json& item : object[key]) {
    if (!item.is_string()) return absl::InvalidArgumentError(absl::StrCat(where, ".", key, ": must be an array of strings"));
    if (!expand) {
      out.push_back(item.get<std::string>());
      continue;
    }
    absl::StatusOr<std::string> s = ExpandVariables(item.get<std::string>(), env);
    if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ".", key, ": ", s.status().message()));
    out.push_back(std::move(*s));
  }
  return out;
}

absl::StatusOr<std::map<std::string, std::string>> GetStringMap(const json& object, const char* key,
                                                                const std::string& where, const EnvLookup& env) {
  std::map<std::string, std::string> out;
  if (!object.contains(key)) return out;
  if (!object[key].is_object()) return absl::InvalidArgumentError(absl::StrCat(where, ".", key, ": must be an object of strings"));
  for (auto it = object[key].begin(); it != object[key].end(); ++it) {
    if (!it.value().is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ".", key, ".", it.key(), ": must be a string"));
    }
    absl::StatusOr<std::string> s = ExpandVariables(it.value().get<std::string>(), env);
    // The message names the variable, never the value.
    if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ".", key, ".", it.key(), ": ", s.status().message()));
    out[it.key()] = std::move(*s);
  }
  return out;
}

// Reads the limits shared by "defaults" and each server.
absl::Status ReadLimits(const json& object, const std::string& where, ServerConfig* config) {
  auto millis = [&](const char* key, absl::Duration* out, int64_t min_ms) -> absl::Status {
    if (!object.contains(key)) return absl::OkStatus();
    if (!object[key].is_number_integer() || object[key].get<int64_t>() < min_ms) {
      return absl::InvalidArgumentError(absl::StrCat(where, ".", key, ": must be an integer >= ", min_ms));
    }
    *out = absl::Milliseconds(object[key].get<int64_t>());
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(millis("timeout_ms", &config->call_timeout, 1));
  RETURN_IF_ERROR(millis("max_call_duration_ms", &config->max_call_duration, 1));
  RETURN_IF_ERROR(millis("request_timeout_ms", &config->request_timeout, 1));
  RETURN_IF_ERROR(millis("connect_wait_ms", &config->connect_wait, 0));
  RETURN_IF_ERROR(millis("restart_backoff_initial_ms", &config->restart_backoff_initial, 1));
  RETURN_IF_ERROR(millis("restart_backoff_max_ms", &config->restart_backoff_max, 1));
  if (object.contains("max_result_bytes")) {
    if (!object["max_result_bytes"].is_number_integer() || object["max_result_bytes"].get<int64_t>() < 256) {
      return absl::InvalidArgumentError(absl::StrCat(where, ".max_result_bytes: must be an integer >= 256"));
    }
    config->max_result_bytes = object["max_result_bytes"].get<int64_t>();
  }
  if (config->max_call_duration < config->call_timeout) config->max_call_duration = config->call_timeout;
  if (config->restart_backoff_max < config->restart_backoff_initial) {
    config->restart_backoff_max = config->restart_backoff_initial;
  }
  return absl::OkStatus();
}

const std::set<std::string> kLimitKeys = {"timeout_ms",       "max_call_duration_ms",       "request_timeout_ms",
                                          "connect_wait_ms",  "restart_backoff_initial_ms", "restart_backoff_max_ms",
                                          "max_result_bytes"};

}  // namespace

std::string TransportKindName(TransportKind kind) {
  switch (kind) {
    case TransportKind::kStdio:
      return "stdio";
    case TransportKind::kStreamableHttp:
      return "streamable_http";
    case TransportKind::kSse:
      return "sse";
  }
  return "unknown";
}

EnvLookup ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

bool IsValidServerName(std::string_view name) {
  if (name.empty() || name.size() > 32) return false;
  for (char c : name) {
    if (!(c == '-' || c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) {
      return false;
    }
  }
  // mcp__<server>__<tool> must split back unambiguously at the first "__".
  return name.front() != '_' && name.front() != '-' && name.back() != '_' &&
         name.find("__") == std::string_view::npos;
}

absl::StatusOr<std::string> ExpandVariables(std::string_view text, const EnvLookup& env) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c != '$' || i + 1 >= text.size()) {
      out.push_back(c);
      continue;
    }
    if (text[i + 1] == '$') {
      out.push_back('$');
      ++i;
      continue;
    }
    if (text[i + 1] != '{') {
      out.push_back(c);
      continue;
    }
    const size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos) return absl::InvalidArgumentError("unterminated ${ in a string");
    std::string_view body = text.substr(i + 2, close - i - 2);
    std::optional<std::string_view> fallback;
    if (size_t dash = body.find(":-"); dash != std::string_view::npos) {
      fallback = body.substr(dash + 2);
      body = body.substr(0, dash);
    }
    if (body.empty() || !IsVarChar(body[0], true)) {
      return absl::InvalidArgumentError(absl::StrCat("bad variable name \"${", std::string(body), "}\""));
    }
    for (char v : body) {
      if (!IsVarChar(v, false)) {
        return absl::InvalidArgumentError(absl::StrCat("bad variable name \"${", std::string(body), "}\""));
      }
    }
    std::optional<std::string> value = env(std::string(body));
    if (value.has_value() && !(fallback.has_value() && value->empty())) {
      out += *value;
    } else if (fallback.has_value()) {
      out.append(fallback->data(), fallback->size());
    } else {
      return absl::InvalidArgumentError(absl::StrCat("environment variable ", std::string(body), " is not set"));
    }
    i = close;
  }
  return out;
}

absl::StatusOr<BridgeConfig> ParseBridgeConfig(std::string_view text, const EnvLookup& process_env,
                                               const std::string& config_dir) {
  const EnvLookup env = [&](const std::string& name) -> std::optional<std::string> {
    if (name == "CONFIG_DIR") return config_dir;
    return process_env(name);
  };
  json root = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) return absl::InvalidArgumentError("the config is not a JSON object");
  RETURN_IF_ERROR(CheckKeys(root, {"servers", "defaults"}, "config"));
  ServerConfig defaults;
  if (root.contains("defaults")) {
    if (!root["defaults"].is_object()) return absl::InvalidArgumentError("defaults: must be an object");
    RETURN_IF_ERROR(CheckKeys(root["defaults"], kLimitKeys, "defaults"));
    RETURN_IF_ERROR(ReadLimits(root["defaults"], "defaults", &defaults));
  }
  BridgeConfig config;
  if (!root.contains("servers")) return config;
  if (!root["servers"].is_object()) return absl::InvalidArgumentError("servers: must be an object keyed by server name");
  std::set<std::string> server_keys = {"command", "args", "env", "cwd", "url", "headers", "transport",
                                       "enabled", "enabled_tools", "disabled_tools"};
  server_keys.insert(kLimitKeys.begin(), kLimitKeys.end());
  for (auto it = root["servers"].begin(); it != root["servers"].end(); ++it) {
    const std::string where = absl::StrCat("servers.", it.key());
    if (!IsValidServerName(it.key())) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": a server name is 1-32 of [a-zA-Z0-9_-], starts with a letter or digit, does not end with '_' "
                 "and has no \"__\""));
    }
    const json& s = it.value();
    if (!s.is_object()) return absl::InvalidArgumentError(absl::StrCat(where, ": must be an object"));
    RETURN_IF_ERROR(CheckKeys(s, server_keys, where));
    if (s.contains("enabled")) {
      if (!s["enabled"].is_boolean()) return absl::InvalidArgumentError(absl::StrCat(where, ".enabled: must be a boolean"));
      if (!s["enabled"].get<bool>()) continue;
    }
    ServerConfig server = defaults;
    server.name = it.key();
    ASSIGN_OR_RETURN(server.command, GetString(s, "command", where, env, true));
    ASSIGN_OR_RETURN(server.args, GetStringList(s, "args", where, env, true));
    ASSIGN_OR_RETURN(server.env, GetStringMap(s, "env", where, env));
    ASSIGN_OR_RETURN(server.cwd, GetString(s, "cwd", where, env, true));
    ASSIGN_OR_RETURN(server.url, GetString(s, "url", where, env, true));
    ASSIGN_OR_RETURN(server.headers, GetStringMap(s, "headers", where, env));
    ASSIGN_OR_RETURN(server.enabled_tools, GetStringList(s, "enabled_tools", where, env, false));
    ASSIGN_OR_RETURN(server.disabled_tools, GetStringList(s, "disabled_tools", where, env, false));
    ASSIGN_OR_RETURN(std::string transport, GetString(s, "transport", where, env, false));
    RETURN_IF_ERROR(ReadLimits(s, where, &server));
    if (server.command.empty() == server.url.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": exactly one of \"command\" (stdio) or \"url\" (HTTP) is required"));
    }
    if (!server.command.empty()) {
      if (!transport.empty() && transport != "stdio") {
        return absl::InvalidArgumentError(absl::StrCat(where, ".transport: a server with a command is \"stdio\""));
      }
      if (!server.headers.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ".headers: only for HTTP servers"));
      server.transport = TransportKind::kStdio;
    } else {
      if (!server.args.empty() || !server.env.empty() || !server.cwd.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": args, env and cwd are only for stdio servers"));
      }
      if (!absl::StartsWith(server.url, "http://") && !absl::StartsWith(server.url, "https://")) {
        return absl::InvalidArgumentError(absl::StrCat(where, ".url: must start with http:// or https://"));
      }
      if (transport.empty() || transport == "streamable_http" || transport == "http") {
        server.transport = TransportKind::kStreamableHttp;
      } else if (transport == "sse") {
        server.transport = TransportKind::kSse;
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ".transport: \"", transport, "\" is none of stdio, streamable_http, sse"));
      }
    }
    config.servers.push_back(std::move(server));
  }
  return config;
}

absl::StatusOr<BridgeConfig> LoadBridgeConfig(const std::string& path, const EnvLookup& env) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read the config file ", path));
  std::stringstream text;
  text << in.rdbuf();
  std::string dir = ".";
  if (size_t slash = path.rfind('/'); slash != std::string::npos) dir = slash == 0 ? "/" : path.substr(0, slash);
  if (char* real = realpath(dir.c_str(), nullptr)) {
    dir = real;
    std::free(real);
  }
  absl::StatusOr<BridgeConfig> config = ParseBridgeConfig(text.str(), env, dir);
  if (!config.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", config.status().message()));
  return config;
}

}  // namespace baton::mcp
