#include "tls/handoff_watch.hpp"

#include <cstring>

#include "tls/tls_records.hpp"

namespace tether {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

/// "LABEL <client random hex> <secret hex>" into `out`; its size, or 0.
std::size_t parse_secret(const char* line, std::array<std::uint8_t, 48>& out) {
  const char* hex = std::strchr(line, ' ');
  hex = hex != nullptr ? std::strchr(hex + 1, ' ') : nullptr;
  if (hex == nullptr) {
    return 0;
  }
  ++hex;
  std::size_t n = 0;
  for (; hex[0] != '\0' && hex[1] != '\0'; hex += 2) {
    const int hi = hex_digit(hex[0]);
    const int lo = hex_digit(hex[1]);
    if (hi < 0 || lo < 0 || n == out.size()) {
      return 0;
    }
    out[n++] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return n;
}

bool starts_with(const char* s, const char* prefix) {
  return std::strncmp(s, prefix, std::strlen(prefix)) == 0;
}

}  // namespace

void handoff_watch::on_message(int write_p, int /*version*/, int content_type, const void* buf,
                               std::size_t len, SSL* /*ssl*/, void* arg) {
  auto& w = *static_cast<handoff_watch*>(arg);
  const auto* p = static_cast<const std::uint8_t*>(buf);
  if (len == 0) {
    return;
  }
  if (content_type == SSL3_RT_HEADER) {
    // Every TLS 1.3 record after Finished is sealed under the application
    // secret and has outer type application_data.
    if (p[0] == tls13::content_application_data) {
      if (write_p != 0 && w.finished_written) {
        ++w.write_records;
      } else if (write_p == 0 && w.finished_read) {
        ++w.read_records;
      }
    }
    return;
  }
  if (content_type != SSL3_RT_HANDSHAKE) {
    return;
  }
  const bool after_finished = write_p != 0 ? w.finished_written : w.finished_read;
  if (p[0] == SSL3_MT_FINISHED && !after_finished) {
    (write_p != 0 ? w.finished_written : w.finished_read) = true;
  } else if (after_finished && p[0] != SSL3_MT_NEWSESSION_TICKET) {
    // A KeyUpdate or any other post-handshake message but a session ticket
    // changes what the counters and secrets mean: OpenSSL keeps this session.
    w.spoiled = true;
  }
}

void tls_handoff_keylog(const SSL* ssl, const char* line) {
  auto* w = static_cast<handoff_watch*>(SSL_get_app_data(ssl));
  if (w == nullptr) {
    return;  // not a stream's SSL (the start-up warm-up)
  }
  if (starts_with(line, "CLIENT_TRAFFIC_SECRET_0 ")) {
    w->client_secret_size = parse_secret(line, w->client_secret);
  } else if (starts_with(line, "SERVER_TRAFFIC_SECRET_0 ")) {
    w->server_secret_size = parse_secret(line, w->server_secret);
  }
}

}  // namespace tether
