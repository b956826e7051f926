#include "config/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>

#include "config/config_sections.hpp"
#include "config/config_yaml.hpp"
#include "tls/tls_cipher_lists.hpp"

namespace tether {

namespace {

using config_yaml::field;
using config_yaml::in_quotes;
using config_yaml::map_reader;
using config_yaml::parse_context;

// ---------------------------------------------------------------------------
// Small readers shared by several sections

/// A string that must be present and not empty (names, certificate paths).
const field* read_required_string(map_reader& m, std::string_view key, std::string& out) {
  const field* f = m.require(key);
  if (f == nullptr || !config_yaml::read_string(m.context(), *f, out)) {
    return nullptr;
  }
  if (out.empty()) {
    m.context().error(*f, "must not be empty");
    return nullptr;
  }
  return f;
}

void read_unique_name(map_reader& m, std::vector<std::string>& seen, std::string_view what,
                      std::string& out) {
  const field* f = read_required_string(m, "name", out);
  if (f == nullptr) {
    return;
  }
  if (std::find(seen.begin(), seen.end(), out) != seen.end()) {
    m.context().error(*f, "duplicate " + std::string(what) + " name " + in_quotes(out));
    return;
  }
  seen.push_back(out);
}

std::optional<std::vector<field>> read_non_empty_list(parse_context& ctx, const field& at) {
  auto items = config_yaml::read_list(ctx, at);
  if (items && items->empty()) {
    ctx.error(at, "must not be empty");
    return std::nullopt;
  }
  return items;
}

void read_endpoint(parse_context& ctx, const field& at, endpoint_config& out) {
  std::string text;
  if (!config_yaml::read_string(ctx, at, text)) {
    return;
  }
  std::string error;
  if (auto endpoint = config_yaml::parse_endpoint(text, error)) {
    out = *endpoint;
  } else {
    ctx.error(at, error);
  }
}

void read_host_pattern(parse_context& ctx, const field& at, std::string& out) {
  std::string text;
  if (!config_yaml::read_string(ctx, at, text)) {
    return;
  }
  std::string error;
  if (auto host = config_yaml::normalize_host_pattern(text, error)) {
    out = std::move(*host);
  } else {
    ctx.error(at, error);
  }
}

// ---------------------------------------------------------------------------
// listeners, admin, log, shutdown, defaults

std::optional<sni_cert_config> parse_sni(parse_context& ctx, const field& at) {
  map_reader m(ctx, at, {"names", "cert", "key"});
  if (!m.ok()) {
    return std::nullopt;
  }
  sni_cert_config sni;
  if (const field* names = m.require("names")) {
    for (const auto& item : read_non_empty_list(ctx, *names).value_or(std::vector<field>{})) {
      read_host_pattern(ctx, item, sni.names.emplace_back());
    }
  }
  const field* cert = read_required_string(m, "cert", sni.cert);
  const field* key = read_required_string(m, "key", sni.key);
  if (cert != nullptr && key != nullptr) {
    ctx.add_cert_pair(*cert, *key);
  }
  return sni;
}

/// A cipher list OpenSSL accepts in full (it would silently drop unknown names).
void read_cipher_list(map_reader& m, std::string_view key,
                      std::string (*check)(std::string_view), std::string& out) {
  const field* f = m.find(key);
  std::string text;
  if (f == nullptr || !config_yaml::read_string(m.context(), *f, text)) {
    return;
  }
  if (auto error = check(text); !error.empty()) {
    m.context().error(*f, error);
    return;
  }
  out = std::move(text);
}

listener_tls_config parse_listener_tls(parse_context& ctx, const field& at) {
  listener_tls_config tls;
  map_reader m(ctx, at,
               {"cert", "key", "min_version", "ciphers", "ciphersuites", "record_offload",
                "client_ca", "sni"});
  if (!m.ok()) {
    return tls;
  }
  const field* cert = read_required_string(m, "cert", tls.cert);
  const field* key = read_required_string(m, "key", tls.key);
  if (cert != nullptr && key != nullptr) {
    ctx.add_cert_pair(*cert, *key);
  }
  // YAML reads an unquoted 1.2 as a float; its text is still "1.2".
  m.get_enum("min_version", tls.min_version, {"1.2", "1.3"});
  read_cipher_list(m, "ciphers", &check_tls12_ciphers, tls.ciphers);
  read_cipher_list(m, "ciphersuites", &check_tls13_ciphersuites, tls.ciphersuites);
  m.get_bool("record_offload", tls.record_offload);
  m.get_string("client_ca", tls.client_ca);
  if (!tls.client_ca.empty()) {
    ctx.add_ca_file(*m.find("client_ca"));
  }
  if (const field* sni = m.find("sni")) {
    for (const auto& item : config_yaml::read_list(ctx, *sni).value_or(std::vector<field>{})) {
      if (auto entry = parse_sni(ctx, item)) {
        tls.sni.push_back(std::move(*entry));
      }
    }
  }
  return tls;
}

/// Two listeners on one address would fail at start-up; say so in --check.
void check_bind_unique(parse_context& ctx, const field& at, const config& cfg,
                       const endpoint_config& bind) {
  if (bind.port == 0) {
    return;
  }
  for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
    const auto& other = cfg.listeners[i].bind;
    if (other.host == bind.host && other.port == bind.port) {
      ctx.error(at, "address already used by listeners[" + std::to_string(i) + "]");
      return;
    }
  }
}

std::optional<listener_config> parse_listener(parse_context& ctx, const field& at,
                                              const config& cfg, std::vector<std::string>& names) {
  map_reader m(ctx, at, {"name", "bind", "max_connections", "tls"});
  if (!m.ok()) {
    return std::nullopt;
  }
  listener_config listener;
  read_unique_name(m, names, "listener", listener.name);
  if (const field* bind = m.require("bind")) {
    read_endpoint(ctx, *bind, listener.bind);
    check_bind_unique(ctx, *bind, cfg, listener.bind);
  }
  m.get_count("max_connections", listener.max_connections, 1);
  if (const field* tls = m.find("tls")) {
    listener.tls = parse_listener_tls(ctx, *tls);
  }
  return listener;
}

void parse_listeners(parse_context& ctx, const field& at, config& cfg) {
  std::vector<std::string> names;
  for (const auto& item : read_non_empty_list(ctx, at).value_or(std::vector<field>{})) {
    if (auto listener = parse_listener(ctx, item, cfg, names)) {
      cfg.listeners.push_back(std::move(*listener));
    }
  }
}

void parse_admin(parse_context& ctx, const field& at, admin_config& out) {
  map_reader m(ctx, at, {"bind"});
  if (!m.ok()) {
    return;
  }
  if (const field* bind = m.require("bind")) {
    read_endpoint(ctx, *bind, out.bind);
  }
  out.enabled = true;
}

void parse_log(parse_context& ctx, const field& at, log_config& out) {
  map_reader m(ctx, at, {"level", "format", "access"});
  if (m.ok()) {
    m.get_enum("level", out.level, {"trace", "debug", "info", "warn", "error"});
    m.get_enum("format", out.format, {"text", "json"});
    m.get_bool("access", out.access);
  }
}

void parse_shutdown(parse_context& ctx, const field& at, config& cfg) {
  map_reader m(ctx, at, {"drain_timeout"});
  if (m.ok()) {
    m.get_duration("drain_timeout", cfg.drain_timeout);
  }
}

void parse_defaults(parse_context& ctx, const field& at, config& cfg) {
  map_reader m(ctx, at, {"heartbeat", "reconnect", "limits", "compression"});
  if (!m.ok()) {
    return;
  }
  if (const field* f = m.find("heartbeat")) {
    config_yaml::apply_heartbeat(ctx, *f, cfg.default_heartbeat);
  }
  if (const field* f = m.find("reconnect")) {
    config_yaml::apply_reconnect(ctx, *f, cfg.default_reconnect);
  }
  if (const field* f = m.find("limits")) {
    config_yaml::apply_limits(ctx, *f, cfg.default_limits);
  }
  if (const field* f = m.find("compression")) {
    config_yaml::apply_compression(ctx, *f, cfg.default_compression);
  }
}

// ---------------------------------------------------------------------------
// routes

void read_route_listeners(parse_context& ctx, const field& at, const config& cfg,
                          std::vector<std::string>& out) {
  const auto items = config_yaml::read_list(ctx, at);
  if (items && items->empty()) {
    ctx.error(at, "must not be empty (omit the key to use every listener)");
    return;
  }
  for (const auto& item : items.value_or(std::vector<field>{})) {
    std::string name;
    if (!config_yaml::read_string(ctx, item, name)) {
      continue;
    }
    const bool known = std::any_of(cfg.listeners.begin(), cfg.listeners.end(),
                                   [&](const listener_config& l) { return l.name == name; });
    if (!known) {
      ctx.error(item, "unknown listener " + in_quotes(name));
    }
    out.push_back(std::move(name));
  }
}

void read_match_path(parse_context& ctx, const field& at, std::string& out) {
  std::string path;
  if (!config_yaml::read_string(ctx, at, path)) {
    return;
  }
  if (!path.starts_with('/')) {
    ctx.error(at, "must start with \"/\"");
  } else if (path.find_first_of("?# \t") != std::string::npos) {
    ctx.error(at, "must be a plain path (no query, fragment or spaces)");
  } else {
    out = std::move(path);
  }
}

void parse_match(parse_context& ctx, const field& at, route_config& route) {
  map_reader m(ctx, at, {"host", "path"});
  if (!m.ok()) {
    return;
  }
  if (const field* host = m.find("host")) {
    read_host_pattern(ctx, *host, route.host);
  }
  if (const field* path = m.find("path")) {
    read_match_path(ctx, *path, route.path);
  }
}

void read_url(parse_context& ctx, const field& at, std::vector<upstream_url>& out) {
  std::string text;
  if (!config_yaml::read_string(ctx, at, text)) {
    return;
  }
  std::string error;
  if (auto url = parse_upstream_url(text, error)) {
    out.push_back(std::move(*url));
  } else {
    ctx.error(at, error);
  }
}

void parse_upstream_tls(parse_context& ctx, const field& at, upstream_tls_config& out) {
  map_reader m(ctx, at, {"ca", "verify", "server_name", "cert", "key"});
  if (!m.ok()) {
    return;
  }
  m.get_string("ca", out.ca);
  m.get_bool("verify", out.verify);
  m.get_string("server_name", out.server_name);
  m.get_string("cert", out.cert);
  m.get_string("key", out.key);
  if (!out.ca.empty()) {
    ctx.add_ca_file(*m.find("ca"));
  }
  if (out.cert.empty() != out.key.empty()) {
    ctx.error(at, "\"cert\" and \"key\" must be set together");
  } else if (!out.cert.empty()) {
    ctx.add_cert_pair(*m.find("cert"), *m.find("key"));
  }
}

void parse_upstream(parse_context& ctx, const field& at, upstream_config& out) {
  map_reader m(ctx, at, {"url", "urls", "strip_prefix", "connect_timeout", "tls"});
  if (!m.ok()) {
    return;
  }
  if (const field* chosen = m.require_one_of("url", "urls")) {
    if (chosen == m.find("url")) {
      read_url(ctx, *chosen, out.urls);
    } else {
      for (const auto& item : read_non_empty_list(ctx, *chosen).value_or(std::vector<field>{})) {
        read_url(ctx, item, out.urls);
      }
    }
  }
  m.get_bool("strip_prefix", out.strip_prefix);
  m.get_duration("connect_timeout", out.connect_timeout);
  if (const field* tls = m.find("tls")) {
    parse_upstream_tls(ctx, *tls, out.tls);
  }
}

/// Reads one route on top of the defaults, so it inherits what it omits.
std::optional<route_config> parse_route(parse_context& ctx, const field& at, const config& cfg,
                                        std::vector<std::string>& names) {
  map_reader m(ctx, at,
               {"name", "listeners", "match", "upstream", "allowed_origins", "heartbeat",
                "reconnect", "limits", "compression"});
  if (!m.ok()) {
    return std::nullopt;
  }
  route_config route;
  route.heartbeat = cfg.default_heartbeat;
  route.reconnect = cfg.default_reconnect;
  route.limits = cfg.default_limits;
  route.compression = cfg.default_compression;
  read_unique_name(m, names, "route", route.name);
  if (const field* f = m.find("listeners")) {
    read_route_listeners(ctx, *f, cfg, route.listeners);
  }
  if (const field* f = m.find("match")) {
    parse_match(ctx, *f, route);
  }
  if (const field* f = m.require("upstream")) {
    parse_upstream(ctx, *f, route.upstream);
  }
  if (const field* f = m.find("allowed_origins")) {
    config_yaml::read_string_list(ctx, *f, route.allowed_origins);
  }
  if (const field* f = m.find("heartbeat")) {
    config_yaml::apply_heartbeat(ctx, *f, route.heartbeat);
  }
  if (const field* f = m.find("reconnect")) {
    config_yaml::apply_reconnect(ctx, *f, route.reconnect);
  }
  if (const field* f = m.find("limits")) {
    config_yaml::apply_limits(ctx, *f, route.limits);
  }
  if (const field* f = m.find("compression")) {
    config_yaml::apply_compression(ctx, *f, route.compression);
  }
  return route;
}

void parse_routes(parse_context& ctx, const field& at, config& cfg) {
  std::vector<std::string> names;
  for (const auto& item : read_non_empty_list(ctx, at).value_or(std::vector<field>{})) {
    if (auto route = parse_route(ctx, item, cfg, names)) {
      cfg.routes.push_back(std::move(*route));
    }
  }
}

// ---------------------------------------------------------------------------
// the document

void parse_root(parse_context& ctx, const YAML::Node& root, config& cfg) {
  map_reader m(ctx, field{root, "", root.Mark()},
               {"listeners", "admin", "log", "shutdown", "defaults", "routes"});
  if (!m.ok()) {
    return;
  }
  // Listeners first: routes refer to them by name. Defaults before routes:
  // routes start from them.
  if (const field* f = m.require("listeners")) {
    parse_listeners(ctx, *f, cfg);
  }
  if (const field* f = m.find("admin")) {
    parse_admin(ctx, *f, cfg.admin);
  }
  if (const field* f = m.find("log")) {
    parse_log(ctx, *f, cfg.log);
  }
  if (const field* f = m.find("shutdown")) {
    parse_shutdown(ctx, *f, cfg);
  }
  if (const field* f = m.find("defaults")) {
    parse_defaults(ctx, *f, cfg);
  }
  if (const field* f = m.require("routes")) {
    parse_routes(ctx, *f, cfg);
  }
}

std::shared_ptr<config> parse_document(parse_context& ctx, const std::string& text) {
  const auto root = config_yaml::load_document(ctx, text);
  if (!root) {
    return nullptr;
  }
  auto cfg = std::make_shared<config>();
  try {
    parse_root(ctx, *root, *cfg);
  } catch (const YAML::Exception& e) {
    // Defensive: the readers only use checked accessors, but a yaml-cpp
    // surprise must still become an error message, not a crash in --check.
    ctx.error(e.mark, "", std::string("cannot read the document: ") + e.what());
  }
  return cfg;
}

config_result finish(parse_context& ctx, std::shared_ptr<config> cfg) {
  if (ctx.has_errors() || !cfg) {
    return {nullptr, ctx.sorted_errors()};
  }
  return {std::move(cfg), {}};
}

}  // namespace

config_result parse_config(const std::string& yaml_text, const std::string& source) {
  parse_context ctx(source);
  auto cfg = parse_document(ctx, yaml_text);
  if (cfg) {
    cfg->source = source;
  }
  return finish(ctx, std::move(cfg));
}

// Relative file paths in the configuration (certificates, keys, CAs) are
// resolved against the current working directory, not the config file's
// directory: that is what `tether -c` run from a deploy directory and a
// systemd unit with WorkingDirectory= both expect, and what the TLS code
// does when it opens them later.
config_result load_config(const std::string& path) {
  parse_context ctx(path);
  std::error_code ec;
  const bool directory = std::filesystem::is_directory(path, ec);
  std::ifstream in(path, std::ios::binary);
  if (directory || !in) {
    const char* reason = directory ? "is a directory" : std::strerror(errno);
    ctx.error(YAML::Mark::null_mark(), "", std::string("cannot read file: ") + reason);
    return finish(ctx, nullptr);
  }
  std::ostringstream text;
  text << in.rdbuf();
  auto cfg = parse_document(ctx, text.str());
  if (cfg) {
    cfg->source = path;
  }
  config_yaml::check_files(ctx);
  return finish(ctx, std::move(cfg));
}

}  // namespace tether
