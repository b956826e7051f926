#pragma once
// The labels that split a metric (metric_list.hpp): for each, an enum the
// counting sites index with, the label's name and its values' names, in the
// enum's order.
#include <array>
#include <iterator>
#include <cstddef>

namespace tether {

enum class direction { client_to_upstream, upstream_to_client };
enum class leg_kind { client, upstream };
enum class reconnect_result { success, gave_up };
enum class status_class { informational, success, redirection, client_error, server_error };
/// The close codes a leg can end with, each its own value; "other" for the
/// rest (application codes 3000-4999 among them), so the label set is bounded.
enum class close_kind {
  c1000, c1001, c1002, c1003, c1005, c1006, c1007, c1008, c1009, c1010, c1011, c1012, c1013,
  c1014, other
};
enum class handshake_failure {
  tls,
  timeout,
  bad_request,
  not_found,
  forbidden,
  overloaded,
  upstream_unreachable,
  upstream_rejected,
};

/// Why a client's TLS handshake failed (tls/tls_failure.hpp sorts
/// OpenSSL's errors into these): a bounded set an operator can act on.
enum class tls_failure {
  timeout,             // not done within limits.handshake_timeout
  closed,              // the client went away mid-handshake (scanners, health checks)
  not_tls,             // plain HTTP or other bytes on a TLS port
  protocol_version,    // no TLS version in common (tls.min_version)
  no_shared_cipher,    // no cipher suite, group or signature algorithm in common
  client_certificate,  // a client certificate missing or not verified (tls.client_ca)
  certificate_rejected,  // the client rejected tether's certificate (expired, unknown CA)
  other,
};

template <class E>
struct label_of;

template <>
struct label_of<direction> {
  static constexpr const char* name = "direction";
  static constexpr std::array<const char*, 2> values{"client_to_upstream", "upstream_to_client"};
};

template <>
struct label_of<leg_kind> {
  static constexpr const char* name = "leg";
  static constexpr std::array<const char*, 2> values{"client", "upstream"};
};

template <>
struct label_of<reconnect_result> {
  static constexpr const char* name = "result";
  static constexpr std::array<const char*, 2> values{"success", "gave_up"};
};

template <>
struct label_of<status_class> {
  static constexpr const char* name = "class";
  static constexpr std::array<const char*, 5> values{"1xx", "2xx", "3xx", "4xx", "5xx"};
};

template <>
struct label_of<close_kind> {
  static constexpr const char* name = "code";
  static constexpr std::array<const char*, 15> values{
      "1000", "1001", "1002", "1003", "1005", "1006", "1007", "1008",
      "1009", "1010", "1011", "1012", "1013", "1014", "other"};
};

constexpr close_kind close_kind_of(unsigned code) {
  constexpr unsigned known[] = {1000, 1001, 1002, 1003, 1005, 1006, 1007,
                                1008, 1009, 1010, 1011, 1012, 1013, 1014};
  for (std::size_t i = 0; i < std::size(known); ++i) {
    if (known[i] == code) {
      return static_cast<close_kind>(i);
    }
  }
  return close_kind::other;
}

/// The class of an HTTP status code (100-599).
constexpr status_class class_of_status(unsigned status) {
  return static_cast<status_class>(status < 100 ? 0 : status >= 599 ? 4 : status / 100 - 1);
}

template <>
struct label_of<handshake_failure> {
  static constexpr const char* name = "reason";
  static constexpr std::array<const char*, 8> values{
      "tls",       "timeout",    "bad_request",          "not_found",
      "forbidden", "overloaded", "upstream_unreachable", "upstream_rejected"};
};

template <>
struct label_of<tls_failure> {
  static constexpr const char* name = "reason";
  static constexpr std::array<const char*, 8> values{
      "timeout",          "closed",             "not_tls",
      "protocol_version", "no_shared_cipher",   "client_certificate",
      "certificate_rejected", "other"};
};

/// The name of one value of a label ("upstream_rejected").
template <class E>
  requires requires { label_of<E>::values; }
constexpr const char* to_string(E e) {
  return label_of<E>::values[static_cast<std::size_t>(e)];
}

}  // namespace tether
