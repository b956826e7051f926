#pragma once
// One session run entirely in memory on one worker: no sockets, no threads.
// The client and the backend are memory pipes (proxy/io/memory_stream.hpp);
// the harness writes their bytes, in whatever pieces a test or the fuzzer
// chooses, polls the worker's io_context, and decodes what tether sent each
// way. Reconnects are served from memory too: the harness is the worker's
// upstream connector, and each accepted reconnect is a fresh backend pipe.
//
// Used by tests/unit/session/relay_harness_test.cpp and the session fuzzer
// (tests/fuzz/session). Needs only tether_core: no Beast websocket, no test
// peers.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "admin/metrics.hpp"
#include "http/upstream.hpp"
#include "io/memory_stream.hpp"
#include "server/listener_context.hpp"
#include "server/runtime.hpp"
#include "server/worker.hpp"
#include "ws/ws_frame.hpp"

namespace tether {
class session;
}

namespace tether::testing {

using bytes = std::vector<std::uint8_t>;

bytes to_bytes(std::string_view s);

/// One frame on the wire; masked with `key` when `masked`.
bytes encode_frame(ws::opcode op, bool fin, std::span<const std::uint8_t> payload, bool masked,
                   std::array<std::uint8_t, 4> key = {0x12, 0x34, 0x56, 0x78}, bool rsv1 = false);
/// A permessage-deflate message payload made with zlib itself, not tether's
/// codec: raw deflate at `level`, sync flush, the 00 00 FF FF tail left off
/// (RFC 7692 7.2.1).
bytes deflate_message(std::span<const std::uint8_t> in, int level = 6);
/// A close frame's payload: the code, then the reason.
bytes close_payload(std::uint16_t code, std::string_view reason = {});

struct ws_message {
  ws::opcode op;
  bytes data;
  bool operator==(const ws_message&) const = default;
};

/// Decodes what tether sent to one side: whole messages, control frames and
/// the first close frame. A frame that breaks the rules (wrong masking,
/// reserved bits, bad continuation) is noted in `violation`.
class frame_decoder {
 public:
  /// `from_client_side`: frames come from a client (tether toward the
  /// backend), so they must be masked; else they must not be.
  explicit frame_decoder(bool must_be_masked, bool compressed_ok = false)
      : masked_(must_be_masked), compressed_ok_(compressed_ok) {}
  void feed(std::span<const std::uint8_t> in);

  std::vector<ws_message> messages;  // text and binary, reassembled
  std::vector<ws_message> controls;  // ping and pong
  std::optional<std::uint16_t> close_code;  // 1005 for an empty close body
  std::string close_reason;
  std::string violation;  // empty while everything is well-formed
  bool after_close = false;  // a frame came after the close frame
  std::size_t compressed_messages = 0;  // came with RSV1 (inflated into `messages`)
  bytes last_compressed;                // the last such message as it came

 private:
  bool masked_;
  bool compressed_ok_;  // permessage-deflate negotiated: RSV1 may start a message
  bool message_compressed_ = false;
  bytes buf_;
  std::optional<ws::opcode> message_op_;
  bytes message_;
};

class session_harness final : public upstream_connector {
 public:
  struct options {
    /// Appended to the route (indentation 4), e.g. "    reconnect:\n      enabled: false\n".
    std::string route_yaml;
    std::uint64_t seed = 1;
    /// Reconnects are accepted (a fresh backend pipe) while true; else they
    /// fail as unreachable.
    bool accept_reconnects = true;
    /// permessage-deflate negotiated on both legs (no context takeover), for
    /// every backend including reconnects.
    bool compression = false;
    /// The window tether may deflate with toward the backends.
    std::uint8_t upstream_window_bits = 15;
  };
  session_harness() : session_harness(options{}) {}
  explicit session_harness(options o);
  ~session_harness() override;
  session_harness(const session_harness&) = delete;
  session_harness& operator=(const session_harness&) = delete;

  /// The YAML the harness's config is made of (for error messages).
  static std::string config_yaml(const options& o);

  // The client (masked frames toward tether).
  memory_pipe& client() { return *client_; }
  /// Raw bytes from the client, delivered in pieces of 1..max_piece bytes
  /// (0: one piece), with the worker polled after each piece.
  void client_bytes(std::span<const std::uint8_t> b, std::size_t max_piece = 0);
  /// A whole message from the client, as `fragments` frames (0: random
  /// 1..4), its bytes split at random positions.
  /// `compress`: deflated (zlib, no context), RSV1 on the first frame.
  void client_message(ws::opcode op, std::span<const std::uint8_t> payload, int fragments = 0,
                      bool compress = false);
  void client_text(std::string_view s, int fragments = 0) { client_message(ws::opcode::text, to_bytes(s), fragments); }
  void client_close(std::uint16_t code, std::string_view reason = {});

  // The current backend (unmasked frames toward tether).
  memory_pipe& backend() { return *backends_.back(); }
  std::size_t backend_count() const { return backends_.size(); }
  void backend_bytes(std::span<const std::uint8_t> b, std::size_t max_piece = 0);
  void backend_message(ws::opcode op, std::span<const std::uint8_t> payload, int fragments = 0,
                       bool compress = false);
  void backend_text(std::string_view s, int fragments = 0) { backend_message(ws::opcode::text, to_bytes(s), fragments); }
  void backend_close(std::uint16_t code, std::string_view reason = {});
  /// The backend connection ends without a close frame: EOF, or a reset.
  void backend_drop(bool reset);
  void set_accept_reconnects(bool on) { opts_.accept_reconnects = on; }
  std::size_t reconnect_attempts() const { return attempts_; }

  /// What tether sent the client, decoded (everything so far).
  frame_decoder& to_client() { collect(); return to_client_; }
  /// What tether sent backend `i` (default: the current one).
  frame_decoder& to_backend(std::size_t i = npos);
  /// Every message any backend got, in order of backends.
  std::vector<ws_message> all_backend_messages();

  /// Polls the worker until nothing is ready.
  void poll();
  /// Polls (waiting for timers) until `done` or `limit` passed; returns done().
  bool run_until(const std::function<bool()>& done,
                 std::chrono::milliseconds limit = std::chrono::milliseconds(2000));
  /// The session ended and let go of itself.
  bool session_gone() const { return session_.expired(); }
  bool session_finished() const;

  worker& w() { return *worker_; }
  std::uint64_t random() { return rng_ = rng_ * 6364136223846793005ULL + 1442695040888963407ULL; }
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  // upstream_connector
  awaitable<upstream_attempt> open(const upstream_dial& d) override;

 private:
  void collect();
  void send_pieces(memory_pipe& p, std::span<const std::uint8_t> b, std::size_t max_piece);
  bytes message_frames(ws::opcode op, std::span<const std::uint8_t> payload, int fragments, bool masked,
                       bool compress);

  options opts_;
  std::uint64_t rng_;
  std::unique_ptr<metrics> metrics_;
  std::shared_ptr<const runtime> rt_;
  std::shared_ptr<listener_context> listener_;
  std::unique_ptr<worker> worker_;
  std::shared_ptr<memory_pipe> client_;
  std::vector<std::shared_ptr<memory_pipe>> backends_;
  std::weak_ptr<session> session_;
  frame_decoder to_client_{false};
  std::vector<frame_decoder> to_backends_;
  std::size_t attempts_ = 0;
};

}  // namespace tether::testing
