#include "ws/ws_frame.hpp"

#include <algorithm>
#include <cstring>

namespace tether::ws {

bool is_valid_close_code(std::uint16_t code) {
  if (code >= 1000 && code <= 1003) {
    return true;
  }
  // 1004 is reserved, 1005/1006/1015 are only for reporting locally.
  if (code >= 1007 && code <= 1014) {
    return true;
  }
  // Registered (3000-3999) and private (4000-4999) codes.
  return code >= 3000 && code <= 4999;
}

std::size_t write_header(std::uint8_t* out, const frame_header& h) {
  std::size_t n = 0;
  out[n++] = static_cast<std::uint8_t>((h.fin ? 0x80 : 0x00) | (h.compressed ? 0x40 : 0x00) |
                                       static_cast<std::uint8_t>(h.op));
  const std::uint8_t mask_bit = h.masked ? 0x80 : 0x00;
  // Peers must reject non-minimal encodings, so always use the shortest.
  if (h.length < 126) {
    out[n++] = static_cast<std::uint8_t>(mask_bit | h.length);
  } else if (h.length <= 0xFFFF) {
    out[n++] = static_cast<std::uint8_t>(mask_bit | 126);
    out[n++] = static_cast<std::uint8_t>(h.length >> 8);
    out[n++] = static_cast<std::uint8_t>(h.length);
  } else {
    out[n++] = static_cast<std::uint8_t>(mask_bit | 127);
    for (int shift = 56; shift >= 0; shift -= 8) {
      out[n++] = static_cast<std::uint8_t>(h.length >> shift);
    }
  }
  if (h.masked) {
    std::memcpy(out + n, h.key.data(), 4);
    n += 4;
  }
  return n;
}

void apply_mask(std::span<std::uint8_t> data, const std::array<std::uint8_t, 4>& key,
                std::uint64_t offset) {
  std::uint8_t* p = data.data();
  const std::size_t n = data.size();
  const std::size_t rot = static_cast<std::size_t>(offset & 3);
  std::size_t i = 0;
  // Byte at a time up to an 8-byte boundary so the word loop's stores don't
  // straddle cache lines.
  while (i < n && (reinterpret_cast<std::uintptr_t>(p + i) & 7) != 0) {
    p[i] ^= key[(rot + i) & 3];
    ++i;
  }
  if (n - i >= 8) {
    // The key repeated twice, rotated to where the word loop starts; built
    // byte-wise so it is right regardless of endianness.
    std::array<std::uint8_t, 8> k8{};
    for (std::size_t j = 0; j < 8; ++j) {
      k8[j] = key[(rot + i + j) & 3];
    }
    std::uint64_t k;
    std::memcpy(&k, k8.data(), 8);
    for (; n - i >= 8; i += 8) {
      std::uint64_t w;
      std::memcpy(&w, p + i, 8);
      w ^= k;
      std::memcpy(p + i, &w, 8);
    }
  }
  for (; i < n; ++i) {
    p[i] ^= key[(rot + i) & 3];
  }
}

frame_parser::frame_parser(bool expect_masked, std::uint64_t max_message_size, bool check_utf8)
    : expect_masked_(expect_masked), check_utf8_(check_utf8), max_message_size_(max_message_size) {}

std::uint16_t frame_parser::close_code() const {
  if (payload_.size() < 2) {
    return close_code::no_status;
  }
  return static_cast<std::uint16_t>((payload_[0] << 8) | payload_[1]);
}

std::span<const std::uint8_t> frame_parser::close_reason() const {
  if (payload_.size() <= 2) {
    return {};
  }
  return payload_.subspan(2);
}

frame_parser::kind frame_parser::fail(std::uint16_t code, const char* why) {
  error_ = code;
  error_reason_ = why;
  payload_ = {};
  return kind::error;
}

frame_parser::kind frame_parser::next(std::span<std::uint8_t> in, std::size_t& consumed) {
  consumed = 0;
  if (error_ != 0) {
    return kind::error;
  }
  if (cbuf_ && state_ == state::header) {
    cbuf_.reset();  // the pieced-together control frame was handed out last time
  }
  if (message_done_) {
    message_done_ = false;
    message_op_ = opcode::cont;
    message_size_ = 0;
  }
  switch (state_) {
    case state::header:
      return read_header(in, consumed);
    case state::payload:
      return read_payload(in, consumed);
    case state::control_payload:
      return read_control(in, 0, consumed);
  }
  return fail(close_code::protocol_error, "bad parser state");
}

frame_parser::kind frame_parser::read_header(std::span<std::uint8_t> in, std::size_t& consumed) {
  std::size_t used = 0;
  if (hlen_ == 0) {
    header_split_ = false;
  }
  // Copies no further than `want` header bytes so payload stays in `in`.
  auto fill = [&](std::size_t want) {
    const std::size_t n = std::min(want - hlen_, in.size() - used);
    if (n != 0) {
      std::memcpy(hbuf_.data() + hlen_, in.data() + used, n);
    }
    hlen_ += n;
    used += n;
    header_split_ = header_split_ || hlen_ < want;
    return hlen_ == want;
  };

  if (hlen_ < 2) {
    if (!fill(2)) {
      consumed = used;
      return kind::need_more;
    }
    // Everything decidable from the first two bytes is checked now, so a bad
    // frame is refused without waiting for the rest of its header.
    consumed = used;
    const std::uint8_t b0 = hbuf_[0];
    const std::uint8_t b1 = hbuf_[1];
    const std::uint8_t raw_op = b0 & 0x0F;
    // RSV1 is permessage-deflate's, on a message's first frame only (RFC 7692 6.1).
    const bool rsv1_ok = allow_compressed_ && (raw_op == 0x1 || raw_op == 0x2);
    if ((b0 & 0x30) != 0 || ((b0 & 0x40) != 0 && !rsv1_ok)) {
      return fail(close_code::protocol_error, "reserved bits set");
    }
    if ((raw_op >= 0x3 && raw_op <= 0x7) || raw_op >= 0xB) {
      return fail(close_code::protocol_error, "reserved opcode");
    }
    const auto op = static_cast<opcode>(raw_op);
    const bool fin = (b0 & 0x80) != 0;
    const std::uint8_t len7 = b1 & 0x7F;
    if (is_control(op)) {
      if (!fin || len7 > 125) {
        return fail(close_code::protocol_error, "fragmented or oversized control frame");
      }
      // A close body is empty or starts with a 2-byte code.
      if (op == opcode::close && len7 == 1) {
        return fail(close_code::protocol_error, "close frame with a 1-byte body");
      }
    } else if (op == opcode::cont) {
      if (message_op_ == opcode::cont) {
        return fail(close_code::protocol_error, "continuation without a message");
      }
    } else if (message_op_ != opcode::cont) {
      return fail(close_code::protocol_error, "new message inside a fragmented one");
    }
    if (((b1 & 0x80) != 0) != expect_masked_) {
      return fail(close_code::protocol_error, expect_masked_ ? "unmasked frame from a client"
                                                             : "masked frame from a server");
    }
  }

  const std::uint8_t len7 = hbuf_[1] & 0x7F;
  const bool masked = (hbuf_[1] & 0x80) != 0;
  const std::size_t ext = len7 == 126 ? 2 : (len7 == 127 ? 8 : 0);
  const std::size_t size = 2 + ext + (masked ? 4 : 0);
  if (!fill(size)) {
    consumed = used;
    return kind::need_more;
  }
  consumed = used;
  header_size_ = hlen_;
  hlen_ = 0;
  header_end_ = in.data() + used;

  std::uint64_t length = len7;
  if (ext != 0) {
    length = 0;
    for (std::size_t j = 0; j < ext; ++j) {
      length = (length << 8) | hbuf_[2 + j];
    }
    if (ext == 2 && length < 126) {
      return fail(close_code::protocol_error, "non-minimal 16-bit length");
    }
    if (ext == 8 && (length >> 63) != 0) {
      return fail(close_code::protocol_error, "64-bit length with the top bit set");
    }
    if (ext == 8 && length <= 0xFFFF) {
      return fail(close_code::protocol_error, "non-minimal 64-bit length");
    }
  }

  header_.fin = (hbuf_[0] & 0x80) != 0;
  header_.compressed = (hbuf_[0] & 0x40) != 0;
  header_.op = static_cast<opcode>(hbuf_[0] & 0x0F);
  header_.masked = masked;
  header_.key = {};
  if (masked) {
    std::memcpy(header_.key.data(), hbuf_.data() + 2 + ext, 4);
  }
  header_.length = length;
  leave_masked_ = false;
  remaining_ = length;
  piece_offset_ = 0;
  consumed_in_frame_ = 0;
  payload_ = {};

  if (is_control(header_.op)) {
    clen_ = 0;
    state_ = state::control_payload;
    return read_control(in, used, consumed);
  }

  const bool starts_message = header_.op != opcode::cont;
  const std::uint64_t so_far = starts_message ? 0 : message_size_;
  // Refuse before forwarding any of the frame, so the other leg never sees
  // part of a message that is going to be rejected. so_far <= max always.
  // A compressed message is held whole until inflated, where the limit
  // applies to what it inflates to; its compressed form may be a little
  // larger than that when it does not compress (deflate adds at most 5
  // bytes per 16 KiB block).
  const bool compressed = starts_message ? header_.compressed : message_compressed_;
  const std::uint64_t max = compressed ? max_message_size_ + max_message_size_ / 1024 + 64
                                       : max_message_size_;
  if (length > max - std::min(so_far, max)) {
    return fail(close_code::too_big, "message larger than max_message_size");
  }
  if (starts_message) {
    message_compressed_ = header_.compressed;
    message_op_ = header_.op;
    message_size_ = 0;
    utf8_.reset();
  }
  state_ = state::payload;
  frame_open_ = true;
  return kind::frame_begin;
}

frame_parser::kind frame_parser::read_payload(std::span<std::uint8_t> in, std::size_t& consumed) {
  const bool check = check_utf8_ && message_op_ == opcode::text && !message_compressed_;
  if (remaining_ == 0) {
    frame_open_ = false;
    state_ = state::header;
    payload_ = {};
    if (header_.fin) {
      if (check && !utf8_.complete()) {
        return fail(close_code::invalid_payload, "invalid UTF-8 in text message");
      }
      message_done_ = true;
    }
    return kind::frame_end;
  }
  if (in.empty()) {
    // The payload continues in the next input, apart from the header.
    header_split_ = true;
    return kind::need_more;
  }
  const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size()));
  std::span<std::uint8_t> piece = in.first(n);
  consumed = n;
  if (header_.masked && !leave_masked_) {
    apply_mask(piece, header_.key, consumed_in_frame_);
  }
  if (check && !utf8_.feed(piece)) {
    return fail(close_code::invalid_payload, "invalid UTF-8 in text message");
  }
  // The last piece of a message must end on a character: a relay hands this
  // piece on before frame_end, so a check there would come too late.
  if (check && header_.fin && n == remaining_ && !utf8_.complete()) {
    return fail(close_code::invalid_payload, "invalid UTF-8 in text message");
  }
  piece_offset_ = consumed_in_frame_;
  consumed_in_frame_ += n;
  remaining_ -= n;
  message_size_ += n;
  payload_ = piece;
  return kind::data;
}

frame_parser::kind frame_parser::read_control(std::span<std::uint8_t> in, std::size_t used,
                                              std::size_t& consumed) {
  const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size() - used));
  if (clen_ == 0 && n == remaining_) {
    const std::span<std::uint8_t> body = in.subspan(used, n);
    remaining_ = 0;
    return finish_control(body, used + n, consumed);
  }
  if (!cbuf_) {
    cbuf_ = std::make_unique<std::uint8_t[]>(125);
  }
  // memcpy from an empty span's null data() is undefined even for 0 bytes.
  if (n != 0) {
    std::memcpy(cbuf_.get() + clen_, in.data() + used, n);
  }
  clen_ += n;
  remaining_ -= n;
  used += n;
  if (remaining_ != 0) {
    consumed = used;
    return kind::need_more;
  }
  return finish_control({cbuf_.get(), clen_}, used, consumed);
}

frame_parser::kind frame_parser::finish_control(std::span<std::uint8_t> body, std::size_t used,
                                                std::size_t& consumed) {
  consumed = used;
  state_ = state::header;
  if (header_.masked) {
    apply_mask(body, header_.key, 0);
  }
  piece_offset_ = 0;
  payload_ = body;
  if (header_.op == opcode::close && body.size() >= 2) {
    if (!is_valid_close_code(close_code())) {
      return fail(close_code::protocol_error, "invalid close code");
    }
    if (!is_valid_utf8(close_reason())) {
      return fail(close_code::invalid_payload, "invalid UTF-8 in close reason");
    }
  }
  return kind::control;
}

}  // namespace tether::ws
