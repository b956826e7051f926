#pragma once
// An independent TLS 1.3 endpoint for attacking tether's record layer
// (proxy/tls/record_stream.cpp): OpenSSL does only the handshake, on a
// blocking socket; the keys come from its keylog callback, and every record
// after the handshake is sealed and opened here, with EVP calls of its own
// (not tether's code), so a test can send what no TLS library would:
// empty handshake records, bad padding, split KeyUpdates, broken alerts.
// One suite only (TLS_AES_128_GCM_SHA256): the record rules do not depend on it.
#include <openssl/ssl.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "test_support.hpp"

namespace tt {

/// One direction's AES-128-GCM key, IV and sequence number.
struct tls13_direction {
  std::array<std::uint8_t, 32> secret{};
  std::array<std::uint8_t, 16> key{};
  std::array<std::uint8_t, 12> iv{};
  std::uint64_t seq = 0;
  void install(const std::uint8_t* s);  // 32 bytes, seq 0
  void next_generation();              // KeyUpdate (RFC 8446 7.2)
};

class tls13_peer {
 public:
  /// TLS client to 127.0.0.1:port (SNI localhost, certs/dev CA).
  static std::unique_ptr<tls13_peer> connect(std::uint16_t port);
  /// TLS client on a connected descriptor of any stream socket (a
  /// socketpair, say); it owns `fd` from here.
  static std::unique_ptr<tls13_peer> connect_fd(int fd);
  /// TLS server on one connection accepted from `listen_fd` (certs/dev
  /// server certificate, no session tickets); nullptr after `timeout`.
  static std::unique_ptr<tls13_peer> accept(int listen_fd, ms timeout = 5000ms);
  ~tls13_peer();
  tls13_peer(const tls13_peer&) = delete;
  tls13_peer& operator=(const tls13_peer&) = delete;

  // Content types and alerts, as on the wire.
  static constexpr std::uint8_t alert = 21;
  static constexpr std::uint8_t handshake = 22;
  static constexpr std::uint8_t application_data = 23;

  /// One record whose TLSInnerPlaintext is `content`, `type`, then
  /// `padding` zeros; sealed under the current write key.
  std::string seal(std::uint8_t type, const std::string& content, std::size_t padding = 0);
  /// One record whose TLSInnerPlaintext is exactly `inner` (no type added).
  std::string seal_inner(const std::string& inner);
  bool send_raw(const std::string& bytes);
  bool send(std::uint8_t type, const std::string& content, std::size_t padding = 0) {
    return send_raw(seal(type, content, padding));
  }
  /// A KeyUpdate of ours: sent, then the write key moves on.
  bool send_key_update(bool update_requested);
  void update_write_key() { write_.next_generation(); }
  /// Non-blocking send; false when the socket takes nothing now.
  bool try_send_raw(const std::string& bytes, std::size_t& sent);

  struct record {
    std::uint8_t type = 0;
    std::string content;
  };
  /// The next record, opened. A KeyUpdate from the peer moves the read key
  /// on (it is still returned). nullopt: end of connection, timeout or a
  /// record that does not open (see eof()).
  std::optional<record> read_record(ms timeout = 5000ms);
  /// Application data until `delim` has been seen (handshake records, such
  /// as tickets and KeyUpdates, are passed over); what came, whole.
  std::string read_until(const std::string& delim, ms timeout = 5000ms);
  /// Application data bytes: at least `n`, or fewer on timeout/end.
  std::string read_app(std::size_t n, ms timeout = 5000ms);
  /// How the peer ended the connection after whatever we sent.
  struct ending {
    bool timed_out = false;
    bool alert = false;  // an alert record came (level, description)
    std::uint8_t level = 0;
    std::uint8_t description = 0;
    bool closed = false;  // the connection ended (after the alert, if any)
  };
  /// Reads until an alert arrives and the connection closes, or `timeout`.
  ending wait_end(ms timeout = 5000ms);
  bool eof() const { return eof_; }
  int key_updates_received() const { return key_updates_received_; }
  int fd() const { return fd_; }

  // WebSocket helpers over the records.
  /// Client: sends an upgrade for `target`; true when 101 comes back.
  bool ws_upgrade(const std::string& target = "/");
  /// Server: reads an upgrade request and answers 101.
  bool ws_accept();
  /// A masked (client) or unmasked (server) single-frame text message.
  std::string ws_text_frame(const std::string& text) const;
  /// The next data message's payload (single frame), or nullopt.
  std::optional<std::string> ws_read_text(ms timeout = 5000ms);

  static void keylog(const SSL* ssl, const char* line);

 private:
  explicit tls13_peer(int fd, bool is_client);
  bool do_handshake(SSL_CTX* ctx, ms timeout);
  bool fill(std::size_t n, ms timeout);
  /// Opens records into plain_ until `enough`, an alert, the end or `timeout`.
  void read_app_until(const std::function<bool()>& enough, ms timeout);
  std::string take_plain(std::size_t n);

  int fd_ = -1;
  bool is_client_ = true;
  bool eof_ = false;
  int key_updates_received_ = 0;
  std::string rx_;     // bytes received, not yet a whole record
  std::string plain_;  // application data opened, not yet taken
  std::array<std::uint8_t, 32> client_secret_{};
  std::array<std::uint8_t, 32> server_secret_{};
  int secrets_ = 0;
  tls13_direction read_;
  tls13_direction write_;
};

/// A listening TCP socket on 127.0.0.1, port chosen by the kernel.
struct test_listener {
  int fd = -1;
  std::uint16_t port = 0;
  test_listener();
  ~test_listener();
  test_listener(const test_listener&) = delete;
  test_listener& operator=(const test_listener&) = delete;
};

}  // namespace tt
