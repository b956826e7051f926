#pragma once
// relay_direction's frame loop, for the session's two policies (included by
// session_relay.cpp only: the loop is instantiated per policy, so the hot
// path makes no virtual call). A policy provides:
//   bool active()                      the session still relays from this source
//   leg* sink()                        the leg messages go to now; null while
//                                      it is away (an upstream being replaced)
//   leg* streaming_sink()              where a frame already streaming goes on
//   void control(header, payload)      ping, pong, close
//   void protocol_error(code, reason)  the source broke RFC 6455
//   bool answer(payload)               a one-frame text message tether answered
//   bool records()                     forwarded messages are wanted in clear
//   void forwarded(op, payload*)       a message went to the sink (payload
//                                      when collected or in one frame)
//   void keep(op, payload)             a whole message that came while the
//                                      sink was away
//   bool may_collect(size)             room for a message collected while the
//                                      sink is away (false: the policy ended it)
#include "admin/metrics.hpp"
#include "session/relay_direction.hpp"

namespace tether {
namespace relay_detail {

/// A frame whose payload came whole in one read, as it was on the wire
/// (header right before payload); empty when its header came in pieces.
inline std::span<std::uint8_t> wire_in_place(const ws::frame_parser& p,
                                             std::span<std::uint8_t> payload) {
  if (!p.header_contiguous()) {
    return {};
  }
  const auto header = p.header_bytes().size();
  return {payload.data() - header, payload.size() + header};
}

}  // namespace relay_detail

template <class Policy>
void relay_direction::feed(leg& source, std::span<std::uint8_t> in, Policy& policy,
                           relay_counts counts) {
  auto& p = source.parser();
  while (!source.reading_done && policy.active()) {
    std::size_t used = 0;
    const auto k = p.next(in, used);
    in = in.subspan(used);
    switch (k) {
      case ws::frame_parser::kind::need_more:
        return;
      case ws::frame_parser::kind::error:
        policy.protocol_error(p.error_code(), p.error_reason());
        return;
      case ws::frame_parser::kind::control:
        policy.control(p.header(), p.payload());
        break;
      case ws::frame_parser::kind::frame_begin:
        begin_frame(p, policy);
        break;
      case ws::frame_parser::kind::data:
        if (!take_piece(source, p, policy, counts)) {
          return;
        }
        break;
      case ws::frame_parser::kind::frame_end:
        end_frame(source, p, policy, counts);
        break;
    }
  }
}

template <class Policy>
void relay_direction::begin_frame(ws::frame_parser& p, Policy& policy) {
  const auto& h = p.header();
  leg* sink = policy.sink();
  frame_ = h;
  hold_.clear();
  hold_header_ = 0;
  delivered_ = false;
  if (h.op != ws::opcode::cont) {
    discard_ = false;
    compressed_ = h.compressed;
    if (compressed_) {
      // Held whole until inflated: it goes to the sink, or is kept, at its end.
      live_ = whole_ = collect_ = streaming_ = masked_ = false;
      message_.clear();
      return;
    }
    // A new message: live to the sink, or collected until it is back.
    live_ = sink != nullptr;
    whole_ = h.fin && h.length <= frame_hold_limit;
    collect_ = !whole_ && (!live_ || policy.records());
    message_.clear();
  } else if (compressed_) {
    return;
  } else if (live_ && sink == nullptr) {
    // Its start went to a sink that is gone: it cannot be finished.
    discard_ = true;
  }
  streaming_ = !discard_ && live_ && h.length > frame_hold_limit;
  if (streaming_) {
    sink->begin_frame(h.op, h.fin, h.length, h.masked ? &h.key : nullptr);
  }
  // A frame tether only passes on is never unmasked: it goes on as the
  // client masked it (the parser unmasks text anyway, to check its UTF-8).
  masked_ = h.masked && live_ && sink != nullptr && !discard_ && !streaming_ && !collect_ &&
            !policy.records();
  if (masked_) {
    p.leave_masked();
    masked_ = p.payload_masked();
  }
}

template <class Policy>
bool relay_direction::take_piece(leg& source, ws::frame_parser& p, Policy& policy,
                                 relay_counts counts) {
  auto piece = p.payload();
  if (discard_) {
    return true;
  }
  if (compressed_) {
    if (frame_.fin && frame_.op != ws::opcode::cont && p.payload_offset() == 0 &&
        piece.size() == frame_.length) {
      delivered_ = true;  // one frame in one read: inflated from where it was read
      return finish_compressed(source, frame_.op, true, piece, policy, counts);
    }
    message_.insert(message_.end(), piece.begin(), piece.end());
    return policy.sink() != nullptr || policy.may_collect(message_.size());
  }
  if (collect_) {
    message_.insert(message_.end(), piece.begin(), piece.end());
    if (!live_ && !policy.may_collect(message_.size())) {
      return false;
    }
  }
  if (streaming_) {
    counts.bytes.add(piece.size());
    policy.streaming_sink()->frame_piece(piece);
  } else if (live_ || whole_) {
    if (p.payload_offset() == 0 && piece.size() == frame_.length) {
      deliver(piece, relay_detail::wire_in_place(p, piece), policy, counts);
      delivered_ = true;
    } else {
      // Collected as on the wire: the frame's header first, then its payload.
      if (hold_.empty()) {
        const auto h = p.header_bytes();
        hold_.assign(h.begin(), h.end());
        hold_header_ = static_cast<std::uint8_t>(h.size());
      }
      hold_.insert(hold_.end(), piece.begin(), piece.end());
    }
  }
  return true;
}

template <class Policy>
void relay_direction::end_frame(leg& source, ws::frame_parser& p, Policy& policy,
                                relay_counts counts) {
  if (compressed_) {
    if (!frame_.fin) {
      return;
    }
    // A message that began with this frame is one frame, however many reads.
    const bool single = frame_.op != ws::opcode::cont;
    const bool ok = delivered_ || finish_compressed(source, p.message_opcode(), single, message_, policy, counts);
    std::vector<std::uint8_t>().swap(message_);  // an idle session keeps no buffer
    if (ok && !answered_) {
      counts.messages.add();
    }
    answered_ = false;
    compressed_ = false;
    return;
  }
  if (!discard_ && !streaming_ && !delivered_ && (live_ || whole_)) {
    // A frame held in pieces (or one without payload, which held nothing).
    deliver(std::span(hold_).subspan(hold_header_), hold_, policy, counts);
  }
  if (!frame_.fin) {
    return;
  }
  if (!discard_ && !answered_) {
    counts.messages.add();
  }
  if (!discard_ && !whole_) {
    const auto op = p.message_opcode();
    if (live_) {
      const std::span<const std::uint8_t> collected(message_);
      policy.forwarded(op, collect_ ? &collected : nullptr);
    } else {
      counts.bytes.add(message_.size());
      policy.keep(op, message_);
    }
  }
  discard_ = false;
  answered_ = false;
}

template <class Policy>
bool relay_direction::finish_compressed(leg& source, ws::opcode op, bool single,
                                        std::span<const std::uint8_t> compressed, Policy& policy,
                                        relay_counts counts) {
  auto& clear = source.inflate_buffer();
  switch (source.inflate_message(compressed, clear)) {
    case ws::inflater::result::ok:
      break;
    case ws::inflater::result::too_big:
      policy.protocol_error(ws::close_code::too_big, "inflated message larger than max_message_size");
      return false;
    case ws::inflater::result::bad_data:
      policy.protocol_error(ws::close_code::invalid_payload, "invalid permessage-deflate data");
      return false;
  }
  const std::span<const std::uint8_t> payload(clear);
  if (op == ws::opcode::text && !is_valid_utf8(payload)) {
    policy.protocol_error(ws::close_code::invalid_payload, "invalid UTF-8 in text message");
    return false;
  }
  // As in clear: only a one-frame text message is tether's to answer.
  if (single && op == ws::opcode::text && policy.answer(payload)) {
    answered_ = true;
    return true;
  }
  counts.bytes.add(payload.size());
  leg* sink = policy.sink();
  if (sink == nullptr) {
    policy.keep(op, payload);
    return true;
  }
  policy.forwarded(op, &payload);
  // Passed on as it came when the sink's peer can inflate it as it is:
  // inflating it was needed anyway (UTF-8, size, answers), deflating is not.
  if (payload.size() >= leg::compress_min && source.inflated_alone() &&
      sink->takes_compressed_from(source.compression())) {
    sink->send_frame(op, true, compressed, nullptr, /*compressed=*/true);
    return true;
  }
  sink->send_message(op, payload);
  return true;
}

template <class Policy>
void relay_direction::deliver(std::span<std::uint8_t> payload, std::span<std::uint8_t> wire,
                              Policy& policy, relay_counts counts) {
  const auto& h = frame_;
  const bool single = h.fin && h.op != ws::opcode::cont;
  if (single && h.op == ws::opcode::text && policy.answer(payload)) {
    answered_ = true;
    return;
  }
  counts.bytes.add(payload.size());
  leg* sink = policy.sink();
  const bool verbatim = !wire.empty() && sink != nullptr;
  if (masked_ && !verbatim) {
    ws::apply_mask(payload, h.key, 0);  // it is kept or copied after all: in clear
  }
  if (sink == nullptr) {
    if (single) {
      policy.keep(h.op, payload);
    }
    return;  // a fragment's message started on a sink that is gone
  }
  if (single) {
    // First, while the payload is in clear: the policy may keep a copy. (A
    // payload left masked is one it wants no copy of.)
    const std::span<const std::uint8_t> clear(payload);
    policy.forwarded(h.op, &clear);
  }
  if (!verbatim) {
    sink->send_frame(h.op, h.fin, payload, h.masked ? &h.key : nullptr);
    return;
  }
  if (h.masked && !masked_) {
    ws::apply_mask(payload, h.key, 0);  // back to the bytes the client sent
  }
  sink->send_wire_frame(h.fin, wire);
}

}  // namespace tether
