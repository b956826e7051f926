#pragma once
// What a peer saw, as text a failing case can print: its frames assembled
// into messages, pings and pongs, the close frame, and how it ended.
#include <functional>
#include <optional>

#include "conformance_peers.hpp"

namespace tt::conformance {

/// Payloads as transcript text: short ones escaped, long ones by size and hash.
std::string show(const std::string& bytes);
std::string show(const message& m, bool partial = false);
/// 1005: a close frame without a body.
std::string show_close(std::uint16_t code, const std::string& reason);
std::string join(const std::vector<std::string>& events);

class transcript {
 public:
  explicit transcript(peer& p);
  /// Reads until `stop` holds for a frame (not recorded), a close frame
  /// (recorded), or the end of the connection.
  std::vector<std::string> until(const std::function<bool(const wire_frame&)>& stop);
  /// Reads to the end of the connection, answering a close frame with the
  /// same code and reason when `answer`.
  std::vector<std::string> to_end(bool answer);

 private:
  void add(const wire_frame& f);
  void flush_partial();
  std::vector<std::string> take() { return std::exchange(events_, {}); }

  peer& p_;
  std::chrono::steady_clock::time_point end_;
  std::vector<std::string> events_;
  std::optional<message> building_;
  std::optional<std::string> close_payload_;
};

}  // namespace tt::conformance
