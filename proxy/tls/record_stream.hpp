#pragma once
// A TLS 1.3 leg's records after the handoff from OpenSSL
// (tls/openssl_stream.hpp): client legs, and upstream wss:// legs where
// tether is the TLS client. Records are opened in place in the caller's
// buffer and sealed into a per-thread buffer, so an idle stream owns no
// buffer, only its keys (tls_records.hpp) and a few counters.
#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "io/socket_stream.hpp"
#include "tls/tls_records.hpp"

namespace tether {

class record_stream final : public fd_stream {
 public:
  /// `as_client`: tether is the TLS client (an upstream leg), so the server
  /// may still send session tickets.
  record_stream(const socket_io& io, std::unique_ptr<tls13::record_layer> records, bool as_client);
  ~record_stream() override;

  /// Sessions whose records tether took over from OpenSSL, since start.
  static std::uint64_t handoffs();
  static void count_handoff();

  io_status read(std::span<std::uint8_t> buf, std::size_t& n, error_code& ec) override;
  io_status write(std::span<const std::uint8_t> buf, std::size_t& n, error_code& ec) override;
  bool drained() const override { return io_.last_read_short && rx_plain_ == 0; }
  void shutdown_send() override;
  void close() override;

 private:
  /// Post-handshake messages in one record's plaintext: 0xff, or the alert to end with.
  std::uint8_t open_handshake(const std::uint8_t* p, std::size_t len);
  bool open_records(std::uint8_t* data, std::size_t size, std::size_t& plain, std::size_t& used,
                    error_code& ec);
  /// Sends what tx_ holds; false if the socket did not take all of it.
  bool send_pending();
  /// Seals a record onto tx_; false if the cipher failed.
  bool queue_record(std::uint8_t type, std::span<const std::uint8_t> body);
  void send_alert(std::uint8_t description);
  /// want_write while tx_ waits, or the error it met.
  io_status pending_status(error_code& ec) const;

  std::unique_ptr<tls13::record_layer> records_;
  // Input the caller has not taken (plaintext at the front, then the start
  // of an incomplete record), and sealed output the socket has not taken.
  // Both are empty, and own no memory, while idle.
  std::vector<std::uint8_t> rx_;
  std::size_t rx_plain_ = 0;
  std::vector<std::uint8_t> tx_;
  std::size_t tx_done_ = 0;
  std::size_t tx_plain_ = 0;  // plaintext behind tx_, reported once tx_ is out
  bool tx_failed_ = false;
  bool close_notify_seen_ = false;
  bool close_notify_sent_ = false;  // or a fatal alert: nothing more may be sent
  bool as_client_ = false;
  bool key_update_queued_ = false;  // a KeyUpdate reply in tx_ the socket has not taken
  // A handshake message that spans records: its header so far (plus a
  // KeyUpdate's body byte), then, for a session ticket passed over as it
  // comes, how many body bytes are still to come.
  std::uint8_t hs_len_ = 0;
  std::array<std::uint8_t, 5> hs_{};
  std::uint32_t ticket_left_ = 0;
  int records_without_data_ = 0;  // consecutive, bounded in open_records
};

}  // namespace tether
