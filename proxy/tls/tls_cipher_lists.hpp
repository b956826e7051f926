#pragma once
// The cipher lists a listener offers (tls.ciphers for TLS 1.2, tls.ciphersuites
// for TLS 1.3), their defaults, and the check that makes a list OpenSSL would
// quietly shorten (it drops names it does not know) a configuration error.
#include <string>
#include <string_view>

namespace tether {

/// ECDHE with AEAD only: forward secrecy, and no CBC (Lucky 13 and friends).
inline constexpr std::string_view default_tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
/// OpenSSL's three AEAD suites, which are also the ones tether's own
/// record layer does (tls_records.hpp).
inline constexpr std::string_view default_tls13_ciphersuites =
    "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256";

/// Empty if OpenSSL knows every element of the TLS 1.2 list and the list
/// leaves at least one TLS 1.2 cipher; otherwise what is wrong.
std::string check_tls12_ciphers(std::string_view list);
/// Same for a TLS 1.3 list (suite names only, no keywords).
std::string check_tls13_ciphersuites(std::string_view list);

}  // namespace tether
