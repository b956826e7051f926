#pragma once
// What a TLS 1.3 handshake reveals that OpenSSL does not export, for the
// handoff of its records from OpenSSL (tls/openssl_stream.hpp) to tether
// (tls/record_stream.hpp): the application traffic secrets (keylog
// callback) and how many records each side has sealed under them (message
// callback). Anything unusual (a KeyUpdate or other post-handshake message
// but a ticket) spoils it, and OpenSSL keeps the session.
#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include <array>
#include <cstddef>
#include <cstdint>

namespace tether {

struct handoff_watch {
  std::array<std::uint8_t, 48> client_secret{};
  std::array<std::uint8_t, 48> server_secret{};
  std::size_t client_secret_size = 0;
  std::size_t server_secret_size = 0;
  std::uint64_t read_records = 0;   // the peer's records under its application secret
  std::uint64_t write_records = 0;  // ours under our application secret
  bool we_are_client = false;
  bool finished_read = false;
  bool finished_written = false;
  bool spoiled = false;

  handoff_watch() = default;
  handoff_watch(const handoff_watch&) = delete;
  handoff_watch& operator=(const handoff_watch&) = delete;
  ~handoff_watch() {
    OPENSSL_cleanse(client_secret.data(), client_secret.size());
    OPENSSL_cleanse(server_secret.data(), server_secret.size());
  }

  static void on_message(int write_p, int version, int content_type, const void* buf,
                         std::size_t len, SSL* ssl, void* arg);
};

/// SSL_CTX_set_keylog_callback for tether's contexts: hands the application
/// traffic secrets to the stream that will take the records over.
void tls_handoff_keylog(const SSL* ssl, const char* line);

}  // namespace tether
