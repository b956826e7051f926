#include "http/forwarding.hpp"

#include <boost/beast/core/string.hpp>
#include <string>
#include <vector>

namespace tether {

void strip_hop_by_hop(http::fields& fields) {
  // Headers listed in Connection are hop-by-hop too (RFC 9110 7.6.1).
  std::vector<std::string> named;
  for (auto it = fields.find(http::field::connection); it != fields.end() && it->name() == http::field::connection; ++it) {
    std::string_view v = it->value();
    while (!v.empty()) {
      auto comma = v.find(',');
      auto token = v.substr(0, comma);
      while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) {
        token.remove_prefix(1);
      }
      while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) {
        token.remove_suffix(1);
      }
      if (!token.empty()) {
        named.emplace_back(token);
      }
      v = comma == std::string_view::npos ? std::string_view{} : v.substr(comma + 1);
    }
  }
  for (const auto& n : named) {
    fields.erase(n);
  }
  for (auto f : {http::field::connection, http::field::keep_alive, http::field::proxy_authenticate,
                 http::field::proxy_authorization, http::field::te, http::field::trailer,
                 http::field::transfer_encoding, http::field::upgrade, http::field::proxy_connection}) {
    fields.erase(f);
  }
}

void add_forwarded(http::fields& fields, std::string_view client_ip, bool client_tls) {
  // Several X-Forwarded-For lines are one list (RFC 9110 5.3): keep them all.
  std::string xff;
  for (auto it = fields.find("X-Forwarded-For"); it != fields.end() && beast::iequals(it->name_string(), "X-Forwarded-For"); ++it) {
    xff += it->value();
    xff += ", ";
  }
  fields.erase("X-Forwarded-For");
  xff += client_ip;
  fields.set("X-Forwarded-For", xff);
  fields.set("X-Forwarded-Proto", client_tls ? "https" : "http");
  if (auto host = fields.find(http::field::host); host != fields.end()) {
    fields.set("X-Forwarded-Host", host->value());
  }
}

std::string upstream_target(std::string_view client_target, std::string_view route_prefix,
                            bool strip_prefix, std::string_view url_path) {
  std::string_view rest = client_target;
  if (strip_prefix && route_prefix != "/" && rest.substr(0, route_prefix.size()) == route_prefix) {
    rest.remove_prefix(route_prefix.size());
    if (!route_prefix.empty() && route_prefix.back() == '/') {
      // The prefix "/ws/" leaves "a" from "/ws/a": put the slash back.
      std::string out(url_path);
      out += '/';
      out += rest;
      return out;
    }
  }
  std::string out(url_path);
  if (rest.empty() || rest.front() == '?') {
    out += '/';
  }
  out += rest;
  return out;
}

}  // namespace tether
