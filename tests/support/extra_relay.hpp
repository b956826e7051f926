#pragma once
// Helpers for the relay, lifecycle and bad-input suites: a raw WebSocket
// client that reads tether's frames byte-exactly (opcode, FIN, mask bit,
// payload), and builders for hand-made frames and payloads.
#include <optional>
#include <string>

#include "test_support.hpp"

namespace tt {

struct wire_frame {
  std::uint8_t opcode = 0;
  bool fin = false;
  bool masked = false;  // a server must never mask
  std::string payload;
};

/// raw_client after a hand-written upgrade, with a frame reader on top.
class raw_ws {
 public:
  explicit raw_ws(std::uint16_t port, bool tls = false, const std::string& target = "/");
  /// True when the upgrade was answered with 101.
  bool upgraded() const { return upgraded_; }
  const std::string& response_head() const { return head_; }
  boost::system::error_code send(const std::string& bytes) { return c_.write(bytes); }
  /// The next frame tether sends; nullopt on timeout or end of connection.
  std::optional<wire_frame> next_frame(ms timeout = 5000ms);
  /// Skips data and control frames until a close frame; nullopt when the
  /// connection ends or the time runs out first.
  std::optional<wire_frame> wait_close_frame(ms timeout = 5000ms);
  /// Reads (and drops) until the server ends the connection; false on timeout.
  bool wait_eof(ms timeout = 3000ms);
  raw_client& raw() { return c_; }

 private:
  raw_client c_;
  std::string head_;
  std::string buf_;
  bool upgraded_ = false;
};

/// An unmasked frame as a server sends it.
std::string server_frame(std::uint8_t first_byte, const std::string& payload);
/// A close frame body: 2-byte code plus reason.
std::string close_body(std::uint16_t code, const std::string& reason = {});
/// `n` deterministic pseudo-random bytes.
std::string random_bytes(std::size_t n, std::uint32_t seed = 1);

}  // namespace tt
