#include "config/config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <iterator>
#include <limits>
#include <string_view>

#include "config/config_yaml.hpp"

// The text values inside the YAML: durations, sizes, addresses, URLs and
// host patterns. Pure string handling, shared by the parser and its tests.
namespace tether {

using config_yaml::in_quotes;

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

/// Digits at the front of `text` as a number; nullopt on none or overflow.
std::optional<std::uint64_t> leading_number(std::string_view text, std::size_t& used) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  used = static_cast<std::size_t>(end - text.data());
  if (ec != std::errc() || used == 0) {
    return std::nullopt;
  }
  return value;
}

bool is_host_name(std::string_view host) {
  return !host.empty() && std::all_of(host.begin(), host.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '.' || c == '_';
  });
}

bool is_ipv6_literal(std::string_view host) {
  return host.find(':') != std::string_view::npos &&
         std::all_of(host.begin(), host.end(),
                     [](unsigned char c) { return std::isxdigit(c) || c == ':' || c == '.'; });
}

struct host_port {
  std::string host;  // without brackets
  std::optional<std::string> port;
};

/// "host", "host:port", "[v6]" or "[v6]:port".
std::optional<host_port> split_host_port(std::string_view text, std::string& error) {
  host_port out;
  std::string_view rest;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) {
      error = "unterminated IPv6 address";
      return std::nullopt;
    }
    out.host = std::string(text.substr(1, close - 1));
    rest = text.substr(close + 1);
    if (!is_ipv6_literal(out.host)) {
      error = "invalid IPv6 address " + in_quotes(out.host);
      return std::nullopt;
    }
  } else {
    const auto colon = text.find(':');
    if (colon != std::string_view::npos && text.find(':', colon + 1) != std::string_view::npos) {
      error = "IPv6 addresses must be in brackets";
      return std::nullopt;
    }
    out.host = std::string(text.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view() : text.substr(colon);
    if (out.host.empty()) {
      error = "missing host";
      return std::nullopt;
    }
    if (!is_host_name(out.host)) {
      error = "invalid host " + in_quotes(out.host);
      return std::nullopt;
    }
  }
  if (!rest.empty()) {
    if (rest.front() != ':') {
      error = "unexpected " + in_quotes(rest) + " after the host";
      return std::nullopt;
    }
    out.port = std::string(rest.substr(1));
  }
  return out;
}

std::optional<std::uint16_t> parse_port(std::string_view text, std::uint16_t min) {
  std::size_t used = 0;
  const auto value = leading_number(text, used);
  if (!value || used != text.size() || *value < min || *value > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(*value);
}

}  // namespace

namespace config_yaml {

std::optional<endpoint_config> parse_endpoint(std::string_view text, std::string& error) {
  const auto parts = split_host_port(text, error);
  if (parts && !parts->port) {
    error = "missing port";
  }
  if (!parts || !parts->port) {
    error = "invalid address " + in_quotes(text) + ": " + error + " (want host:port or [v6]:port)";
    return std::nullopt;
  }
  const auto port = parse_port(*parts->port, 0);
  if (!port) {
    error = "invalid port " + in_quotes(*parts->port) + " (want 0 to 65535)";
    return std::nullopt;
  }
  return endpoint_config{parts->host, *port};
}

std::optional<std::string> normalize_host_pattern(std::string_view text, std::string& error) {
  std::string host = lower(text);
  if (host.empty()) {
    error = "must not be empty";
    return std::nullopt;
  }
  if (host.front() == '[' && host.back() == ']' && is_ipv6_literal(host.substr(1, host.size() - 2))) {
    return host.substr(1, host.size() - 2);
  }
  const std::string_view name = host.starts_with("*.") ? std::string_view(host).substr(2) : host;
  if (name.find('*') != std::string_view::npos) {
    error = "invalid wildcard " + in_quotes(text) + " (want an exact name or \"*.suffix\")";
    return std::nullopt;
  }
  if (!is_host_name(name) || name.front() == '.') {
    error = "invalid host " + in_quotes(text) + " (want a name, \"*.suffix\" or \"[v6]\", no port)";
    return std::nullopt;
  }
  // "example.com." names the same host; Host headers are compared without it.
  if (host.back() == '.') {
    host.pop_back();
  }
  return host;
}

}  // namespace config_yaml

std::optional<duration> parse_duration(const std::string& text) {
  // Caps at about 31 years so that callers may convert to nanoseconds.
  constexpr std::uint64_t max_ms = 1'000'000'000'000;
  std::size_t used = 0;
  const auto whole = leading_number(text, used);
  if (!whole || !is_digit(text.front())) {
    return std::nullopt;
  }
  std::string_view rest = std::string_view(text).substr(used);
  std::uint64_t fraction = 0;
  std::uint64_t scale = 1;
  if (rest.starts_with('.')) {
    rest.remove_prefix(1);
    for (; !rest.empty() && is_digit(rest.front()) && scale < 1'000'000'000; rest.remove_prefix(1)) {
      fraction = fraction * 10 + static_cast<std::uint64_t>(rest.front() - '0');
      scale *= 10;
    }
    if (scale == 1) {
      return std::nullopt;
    }
  }
  std::uint64_t unit = 0;
  if (rest == "ms") {
    unit = 1;
  } else if (rest == "s") {
    unit = 1000;
  } else if (rest == "m") {
    unit = 60'000;
  } else if (rest == "h") {
    unit = 3'600'000;
  } else {
    return std::nullopt;
  }
  // Durations below a millisecond cannot be represented; refuse them
  // rather than round "0.4ms" to "off".
  if (*whole > max_ms / unit || (fraction * unit) % scale != 0) {
    return std::nullopt;
  }
  const std::uint64_t total = *whole * unit + fraction * unit / scale;
  if (total > max_ms) {
    return std::nullopt;
  }
  return duration(static_cast<duration::rep>(total));
}

std::optional<std::size_t> parse_size(const std::string& text) {
  std::size_t used = 0;
  const auto number = leading_number(text, used);
  if (!number || !is_digit(text.front())) {
    return std::nullopt;
  }
  const std::string_view unit = std::string_view(text).substr(used);
  struct unit_factor {
    std::string_view name;
    std::uint64_t factor;
  };
  static constexpr unit_factor units[] = {
      {"", 1},         {"B", 1},           {"KiB", 1ULL << 10}, {"MiB", 1ULL << 20},
      {"GiB", 1ULL << 30}, {"KB", 1'000}, {"MB", 1'000'000},   {"GB", 1'000'000'000},
  };
  const auto* found = std::find_if(std::begin(units), std::end(units),
                                   [&](const unit_factor& u) { return u.name == unit; });
  constexpr std::uint64_t max = std::numeric_limits<std::size_t>::max();
  if (found == std::end(units) || *number > max / found->factor) {
    return std::nullopt;
  }
  return static_cast<std::size_t>(*number * found->factor);
}

std::optional<upstream_url> parse_upstream_url(const std::string& text, std::string& error) {
  const auto fail = [&](std::string message) -> std::optional<upstream_url> {
    error = std::move(message);
    return std::nullopt;
  };
  const auto scheme_end = text.find("://");
  if (scheme_end == std::string::npos) {
    return fail("invalid URL " + in_quotes(text) + " (want ws://host[:port][/path] or wss://...)");
  }
  const std::string scheme = text.substr(0, scheme_end);
  const std::string scheme_lower = lower(scheme);
  if (scheme_lower != "ws" && scheme_lower != "wss") {
    return fail("unsupported scheme " + in_quotes(scheme) + " (want ws or wss)");
  }
  const std::string_view rest = std::string_view(text).substr(scheme_end + 3);
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return fail("invalid URL " + in_quotes(text) + ": query and fragment are not allowed");
  }
  if (std::any_of(rest.begin(), rest.end(), [](unsigned char c) { return c <= ' ' || c == 0x7f; })) {
    return fail("invalid URL " + in_quotes(text) + ": contains spaces or control characters");
  }
  const auto authority_end = rest.find('/');
  const std::string_view authority = rest.substr(0, authority_end);
  if (authority.find('@') != std::string_view::npos) {
    return fail("invalid URL " + in_quotes(text) + ": user info is not allowed");
  }
  std::string host_error;
  const auto parts = split_host_port(authority, host_error);
  if (!parts) {
    return fail("invalid URL " + in_quotes(text) + ": " + host_error);
  }
  upstream_url url;
  url.tls = scheme_lower == "wss";
  url.host = parts->host;
  url.port = url.tls ? 443 : 80;
  if (parts->port) {
    const auto port = parse_port(*parts->port, 1);
    if (!port) {
      return fail("invalid URL " + in_quotes(text) + ": invalid port " + in_quotes(*parts->port) +
                  " (want 1 to 65535)");
    }
    url.port = *port;
  }
  url.path = authority_end == std::string_view::npos ? "" : std::string(rest.substr(authority_end));
  while (url.path.ends_with('/')) {
    url.path.pop_back();
  }
  url.text = text;
  return url;
}

}  // namespace tether
