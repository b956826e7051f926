#pragma once
// Sorting a failed client TLS handshake into the bounded reasons of
// tether_tls_handshake_failures_total (admin/metric_labels.hpp).
#include "admin/metric_labels.hpp"
#include "net.hpp"

namespace tether {

/// The reason for `ec`, the error a server-side handshake ended with (an
/// OpenSSL error in asio's SSL category, or a socket error). `timed_out`:
/// the handshake deadline passed first.
tls_failure tls_failure_of(const error_code& ec, bool timed_out);

}  // namespace tether
