#include "config/routes.hpp"

#include <algorithm>
#include <cctype>
#include <string>

namespace tether {

namespace {

enum class host_class { exact = 0, wildcard = 1, any = 2 };

host_class class_of(const route_config& route) {
  if (route.host.empty()) {
    return host_class::any;
  }
  return route.host.starts_with("*.") ? host_class::wildcard : host_class::exact;
}

/// SPEC section 3: exact host, then wildcard, then no host; among
/// wildcards the longer (more specific) suffix first, as nginx does; then
/// the longer path prefix. stable_sort keeps file order for ties.
bool precedes(const route_config* a, const route_config* b) {
  const host_class ca = class_of(*a);
  const host_class cb = class_of(*b);
  if (ca != cb) {
    return ca < cb;
  }
  if (ca == host_class::wildcard && a->host.size() != b->host.size()) {
    return a->host.size() > b->host.size();
  }
  return a->path.size() > b->path.size();
}

char lower_char(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower_char(x) == lower_char(y); });
}

/// A Host header as the config writes hosts: lower-case, no port, IPv6
/// without brackets, no trailing dot.
std::string normalize_host(std::string_view host) {
  if (host.starts_with('[')) {
    const auto close = host.find(']');
    host = close == std::string_view::npos ? host.substr(1) : host.substr(1, close - 1);
  } else if (const auto colon = host.find(':'); colon != std::string_view::npos &&
                                                 host.find(':', colon + 1) == std::string_view::npos) {
    // Exactly one colon: "name:port". More than one is an unbracketed
    // IPv6 address, which has no port to strip.
    host = host.substr(0, colon);
  }
  if (host.ends_with('.')) {
    host.remove_suffix(1);
  }
  std::string out(host);
  std::transform(out.begin(), out.end(), out.begin(), lower_char);
  return out;
}

/// The path of a request target: query and fragment removed.
std::string_view path_of(std::string_view target) {
  target = target.substr(0, target.find_first_of("?#"));
  return target.empty() ? std::string_view("/") : target;
}

bool serves_listener(const route_config& route, std::string_view listener) {
  return route.listeners.empty() ||
         std::find(route.listeners.begin(), route.listeners.end(), listener) != route.listeners.end();
}

}  // namespace

route_table::route_table(std::shared_ptr<const config> cfg) : cfg_(std::move(cfg)) {
  if (!cfg_) {
    return;
  }
  ordered_.reserve(cfg_->routes.size());
  for (const auto& route : cfg_->routes) {
    ordered_.push_back(&route);
  }
  std::stable_sort(ordered_.begin(), ordered_.end(), precedes);
}

const route_config* route_table::match(std::string_view listener, std::string_view host,
                                       std::string_view target) const {
  const std::string host_name = normalize_host(host);
  const std::string_view path = path_of(target);
  for (const route_config* route : ordered_) {
    if (serves_listener(*route, listener) && host_matches(host_name, route->host) &&
        path_has_prefix(path, route->path)) {
      return route;
    }
  }
  return nullptr;
}

bool route_table::path_has_prefix(std::string_view path, std::string_view prefix) {
  if (!path.starts_with(prefix)) {
    return false;
  }
  // A prefix ending in '/' ("/" itself, "/ws/") already ends on a segment.
  return prefix.empty() || prefix.ends_with('/') || path.size() == prefix.size() ||
         path[prefix.size()] == '/';
}

bool route_table::host_matches(std::string_view host, std::string_view pattern) {
  // An empty pattern is a route without `match.host`: any host, even none.
  if (pattern.empty()) {
    return true;
  }
  if (pattern.starts_with("*.")) {
    const std::string_view suffix = pattern.substr(1);  // ".example.com"
    return host.size() > suffix.size() && iequals(host.substr(host.size() - suffix.size()), suffix);
  }
  return iequals(host, pattern);
}

}  // namespace tether
