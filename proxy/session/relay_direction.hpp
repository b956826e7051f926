#pragma once
// One direction of the relay: frames parsed from a source leg, handed to the
// leg on the other side (the sink) whole, piecewise or in place, or kept for
// later when the sink is away. The session runs two of these, client to
// upstream and upstream to client; what differs between them is a policy
// (see relay_direction_impl.hpp for what one provides), not a copy:
//  - the client side answers heartbeats itself, records messages for the
//    replay set, and collects messages while the upstream is being replaced;
//  - the upstream side always has its sink (the client leg) and keeps nothing.
// Masking needs no rule of its own: a frame keeps the key it came with, and
// a sink that faces a server masks whatever else it sends.
//
// A compressed message (permessage-deflate) is the exception to streaming:
// it is held whole (in place when it came in one read), inflated with the
// source leg's inflater, and sent on as a whole message, deflated again
// when the sink negotiated compression.
//
// It holds no buffer while idle: only a frame header and a few flags.
#include <cstdint>
#include <span>
#include <vector>

#include "admin/metrics.hpp"
#include "session/leg.hpp"
#include "ws/ws_frame.hpp"

namespace tether {

/// Frames up to this size are relayed whole (held until complete), so that a
/// leg that dies mid-frame never leaves half a message on the other leg.
/// Larger frames stream through piecewise.
inline constexpr std::uint64_t frame_hold_limit = 64 * 1024;

/// A route's counter (this worker's shard) and the session's own tally
/// (for its access-log line), counted together.
struct relay_counter {
  counter& route;
  std::uint64_t& session;
  void add(std::uint64_t n = 1) {
    route.add(n);
    session += n;
  }
};

/// The direction's two counters: payload bytes and messages relayed.
struct relay_counts {
  relay_counter bytes;
  relay_counter messages;
};

class relay_direction {
 public:
  /// Parses and relays `in` (bytes just read from `source`) as `policy` says.
  template <class Policy>
  void feed(leg& source, std::span<std::uint8_t> in, Policy& policy, relay_counts counts);

 private:
  template <class Policy>
  void begin_frame(ws::frame_parser& p, Policy& policy);
  /// False when the policy ended the session (a collected message overflowed).
  template <class Policy>
  bool take_piece(leg& source, ws::frame_parser& p, Policy& policy, relay_counts counts);
  template <class Policy>
  void end_frame(leg& source, ws::frame_parser& p, Policy& policy, relay_counts counts);
  /// A whole compressed message (permessage-deflate): inflated within the
  /// size limit, checked, then handled as a message tether holds in clear.
  /// False when the source was closed for it. `single`: it came in one frame.
  template <class Policy>
  bool finish_compressed(leg& source, ws::opcode op, bool single,
                         std::span<const std::uint8_t> compressed, Policy& policy,
                         relay_counts counts);
  /// A whole frame to the sink. `wire` is empty, or the frame as received
  /// with `payload` inside it, for relaying without a copy; `masked`: the
  /// payload is still masked.
  template <class Policy>
  void deliver(std::span<std::uint8_t> payload, std::span<std::uint8_t> wire, Policy& policy,
               relay_counts counts);

  ws::frame_header frame_;            // current data frame
  std::vector<std::uint8_t> hold_;    // a small frame that came in pieces, header first
  std::vector<std::uint8_t> message_; // a whole message being collected
  std::uint8_t hold_header_ = 0;      // bytes of header at the front of hold_
  bool streaming_ = false;            // current frame is relayed piecewise
  bool discard_ = false;              // rest of this message cannot be delivered
  bool delivered_ = false;            // current frame already sent whole
  bool live_ = false;                 // message goes to the sink as it comes
  bool whole_ = false;                // message is one frame of at most frame_hold_limit
  bool collect_ = false;              // message is collected in message_
  bool answered_ = false;             // tether answered it (not relayed)
  bool masked_ = false;               // current frame's payload left masked
  bool compressed_ = false;           // message came deflated: held whole, then inflated
};

}  // namespace tether
