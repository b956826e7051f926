#pragma once
// RFC 6455 framing without I/O: an incremental parser that hands out payload
// in place (unmasked, unless a relay asks to forward it as received), and
// helpers to write frame headers. The relay uses
// these directly so that a frame can be forwarded piece by piece without
// holding the whole message, and without a Beast stream per leg.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "ws/utf8.hpp"

namespace tether::ws {

enum class opcode : std::uint8_t {
  cont = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

inline bool is_control(opcode op) { return (static_cast<std::uint8_t>(op) & 0x8) != 0; }

/// Close codes tether itself sends (RFC 6455 section 7.4.1 plus 1012-1014).
namespace close_code {
inline constexpr std::uint16_t normal = 1000;
inline constexpr std::uint16_t going_away = 1001;
inline constexpr std::uint16_t protocol_error = 1002;
inline constexpr std::uint16_t no_status = 1005;   // never sent on the wire
inline constexpr std::uint16_t abnormal = 1006;    // never sent on the wire
inline constexpr std::uint16_t invalid_payload = 1007;
inline constexpr std::uint16_t policy = 1008;
inline constexpr std::uint16_t too_big = 1009;
inline constexpr std::uint16_t internal_error = 1011;
inline constexpr std::uint16_t service_restart = 1012;
inline constexpr std::uint16_t try_again_later = 1013;
inline constexpr std::uint16_t bad_gateway = 1014;
}  // namespace close_code

/// True for a code a peer may put in a close frame (1000-1003, 1007-1014,
/// 3000-4999). 1004-1006, 1015 and everything else are protocol errors.
bool is_valid_close_code(std::uint16_t code);

struct frame_header {
  bool fin = false;
  opcode op = opcode::cont;
  bool masked = false;
  std::array<std::uint8_t, 4> key{};
  std::uint64_t length = 0;
  bool compressed = false;  // RSV1: a permessage-deflate message's first frame
};

/// Maximum encoded header size: 2 + 8 (length) + 4 (mask).
inline constexpr std::size_t max_header_size = 14;

/// Writes a header for a frame into `out` (at least max_header_size bytes)
/// and returns its size. `key` is written when `masked`.
std::size_t write_header(std::uint8_t* out, const frame_header& h);

/// XORs `data` with `key`, as if `data` started `offset` bytes into the
/// frame's payload. Applying it twice restores the input.
void apply_mask(std::span<std::uint8_t> data, const std::array<std::uint8_t, 4>& key,
                std::uint64_t offset);

/// Incremental frame parser for one direction of one leg.
///
/// Feed it whatever a read returned; it yields one event at a time. Data
/// payload comes out in place (unmasked in the caller's buffer) in pieces as
/// it arrives; control frames (at most 125 bytes) are handed out whole, in
/// place when they came in one piece, else collected inside the parser
/// first. Text messages are checked for UTF-8 across
/// frames when `check_utf8` is on.
class frame_parser {
 public:
  enum class kind {
    need_more,     // everything given was consumed; feed more
    frame_begin,   // header of a data frame: header() is valid
    data,          // a piece of the current data frame's payload: payload()
    frame_end,     // the current data frame is complete (fin in header())
    control,       // a whole control frame: header() and payload()
    error,         // protocol violation: error_code() says which close code
  };

  /// `expect_masked`: frames from a client must be masked, frames from a
  /// server must not be.
  frame_parser(bool expect_masked, std::uint64_t max_message_size, bool check_utf8 = true);

  /// Parses from `in`; `consumed` is set to the bytes used. Call again with
  /// the rest until it returns need_more. Payload spans point into `in`, or
  /// into the parser for a control frame that came in pieces; valid until
  /// the next call.
  kind next(std::span<std::uint8_t> in, std::size_t& consumed);

  const frame_header& header() const { return header_; }
  /// The current frame's header as it was on the wire.
  std::span<const std::uint8_t> header_bytes() const { return {hbuf_.data(), header_size_}; }
  /// The header came in one piece of input and the current payload piece
  /// follows it in that same input, so the header sits right before the
  /// payload (which lets a relay forward header and payload as one). A
  /// header that ended one input is never contiguous with a payload that
  /// starts the next, even when both inputs share a buffer.
  bool header_contiguous() const { return !header_split_ && payload_.data() == header_end_; }
  std::span<std::uint8_t> payload() const { return payload_; }
  /// The rest of the current frame's payload is handed out as received,
  /// still masked, for a relay that forwards it verbatim. Not for text, whose
  /// UTF-8 the parser checks.
  void leave_masked() { leave_masked_ = message_op_ != opcode::text; }
  bool payload_masked() const { return header_.masked && leave_masked_; }
  /// Offset of the current data piece within its frame's payload.
  std::uint64_t payload_offset() const { return piece_offset_; }
  /// After `error`: 1002, 1007 or 1009.
  std::uint16_t error_code() const { return error_; }
  /// After `error`: what was wrong, for the log line that explains the close.
  const char* error_reason() const { return error_reason_; }
  /// After a `control` close frame: the code (1005 when the frame had no body)
  /// and the reason.
  std::uint16_t close_code() const;
  std::span<const std::uint8_t> close_reason() const;
  /// Opcode of the message in progress (text/binary), or cont when between messages.
  opcode message_opcode() const { return message_op_; }
  /// Bytes of the message in progress seen so far.
  std::uint64_t message_size() const { return message_size_; }
  void set_max_message_size(std::uint64_t n) { max_message_size_ = n; }
  std::uint64_t max_message_size() const { return max_message_size_; }
  /// permessage-deflate was negotiated: RSV1 may start a text or binary
  /// message, whose payload is then compressed (its UTF-8 is checked after
  /// inflating, by the relay).
  void allow_compressed(bool on) { allow_compressed_ = on; }
  /// The message in progress (or just ended) came compressed.
  bool message_compressed() const { return message_compressed_; }

 private:
  enum class state { header, payload, control_payload };
  kind fail(std::uint16_t code, const char* why);
  kind read_header(std::span<std::uint8_t> in, std::size_t& consumed);
  kind read_payload(std::span<std::uint8_t> in, std::size_t& consumed);
  kind read_control(std::span<std::uint8_t> in, std::size_t used, std::size_t& consumed);
  kind finish_control(std::span<std::uint8_t> body, std::size_t used, std::size_t& consumed);

  bool expect_masked_;
  bool check_utf8_;
  bool allow_compressed_ = false;
  bool message_compressed_ = false;
  std::uint64_t max_message_size_;
  state state_ = state::header;
  std::array<std::uint8_t, max_header_size> hbuf_{};
  std::size_t hlen_ = 0;
  std::size_t header_size_ = 0;
  bool header_split_ = false;
  const std::uint8_t* header_end_ = nullptr;  // where the header ended in its input
  bool leave_masked_ = false;
  frame_header header_;
  std::uint64_t remaining_ = 0;     // payload bytes left in the current frame
  std::uint64_t piece_offset_ = 0;  // offset of payload_ within the frame
  std::uint64_t consumed_in_frame_ = 0;
  std::span<std::uint8_t> payload_;
  // A control frame that arrives in pieces is collected here; one that comes
  // whole (nearly always) is handed out in place, so idle legs keep no buffer.
  std::unique_ptr<std::uint8_t[]> cbuf_;
  std::size_t clen_ = 0;
  opcode message_op_ = opcode::cont;
  std::uint64_t message_size_ = 0;
  utf8_validator utf8_;
  std::uint16_t error_ = 0;
  const char* error_reason_ = "";
  bool frame_open_ = false;  // frame_begin emitted, frame_end not yet
  // The final frame_end was returned; message_opcode()/message_size() still
  // describe that message until the next call, so a caller can read them at
  // frame_end.
  bool message_done_ = false;
};

}  // namespace tether::ws
