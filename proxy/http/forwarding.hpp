#pragma once
// What a reverse proxy does to headers on the way through: drops the
// hop-by-hop ones (RFC 9110 section 7.6.1) and adds X-Forwarded-*.
#include <string_view>

#include "http/http_types.hpp"

namespace tether {

/// Removes Connection, Keep-Alive, Proxy-*, TE, Trailer, Transfer-Encoding,
/// Upgrade and every header named in Connection.
void strip_hop_by_hop(http::fields& fields);

/// Appends the client address to X-Forwarded-For and sets -Proto and -Host
/// ("https"/"http", the client's Host).
void add_forwarded(http::fields& fields, std::string_view client_ip, bool client_tls);

/// The target forwarded upstream: the URL's base path, then the client's
/// target with the route's prefix removed when strip_prefix is set.
std::string upstream_target(std::string_view client_target, std::string_view route_prefix,
                            bool strip_prefix, std::string_view url_path);

}  // namespace tether
