// Frame parser and incremental UTF-8 validator, fed a byte stream split at
// fuzzer-chosen points.
//
// Input: [mode][max chunk][seed hi][seed lo] then the wire bytes.
//   mode bit 0:    frames must be masked (client side) or not (server side)
//   mode bit 1:    check UTF-8 of text messages
//   mode bit 2:    leave_masked() on every data frame (the relay's verbatim path)
//   mode bits 3-5: max_message_size, from a table of edge values
//   max chunk:     longest piece fed at once (0: a random mix of sizes)
//
// Invariants: the parser reads only the piece it is given (each piece is its
// own heap block, so ASan sees any overrun); events come as
// frame_begin -> data* -> frame_end with control frames whole in between;
// every frame re-serialises to its wire bytes (write_header of header() equals
// header_bytes() and the wire, the payload re-masked equals the wire); the
// UTF-8 verdict on text agrees with a separate reference written below.
//
// The re-serialisation uses header_bytes(), not payload().data() minus the
// header size: header_contiguous() is known to be wrong when a header ends
// exactly at the end of one piece (being fixed on main).
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "../fuzz_check.hpp"
#include "ws/utf8.hpp"
#include "ws/ws_frame.hpp"

namespace {

namespace ws = tether::ws;
using kind = ws::frame_parser::kind;

// Reference UTF-8 check by code point arithmetic, unlike tether's table of
// first-continuation-byte bounds. `prefix`: accept input that ends inside a
// character as long as some continuation could still make it valid.
bool reference_utf8(std::span<const std::uint8_t> s, bool prefix) {
  std::size_t i = 0;
  while (i < s.size()) {
    const std::uint8_t b = s[i];
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (b < 0x80) {
      ++i;
      continue;
    }
    if ((b & 0xE0) == 0xC0) {
      len = 2;
      cp = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      len = 3;
      cp = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      len = 4;
      cp = b & 0x07;
    } else {
      return false;
    }
    const std::size_t have = std::min(len, s.size() - i);
    for (std::size_t j = 1; j < have; ++j) {
      if ((s[i + j] & 0xC0) != 0x80) {
        return false;
      }
      cp = (cp << 6) | (s[i + j] & 0x3F);
    }
    // The missing continuation bytes span [lo, hi] of code points.
    std::uint32_t lo = cp;
    std::uint32_t hi = cp;
    for (std::size_t j = have; j < len; ++j) {
      lo = lo << 6;
      hi = (hi << 6) | 0x3F;
    }
    if (have < len && !prefix) {
      return false;
    }
    static constexpr std::array<std::uint32_t, 5> min_cp{0, 0, 0x80, 0x800, 0x10000};
    const std::uint32_t a = std::max(lo, min_cp[len]);
    const std::uint32_t z = std::min(hi, std::uint32_t{0x10FFFF});
    if (a > z || (a >= 0xD800 && z <= 0xDFFF)) {
      return false;  // overlong, beyond U+10FFFF or a surrogate, however it ends
    }
    i += have;
  }
  return true;
}

constexpr std::array<std::uint64_t, 8> max_sizes{0, 1, 125, 126, 65535, 65536, 1 << 20, UINT64_MAX};

struct splitter {
  std::uint32_t state;
  std::size_t max_chunk;
  std::uint32_t next() {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
  }
  std::size_t size(std::size_t left) {
    const std::uint32_t r = next();
    std::size_t n = 0;
    if (max_chunk != 0) {
      n = r % (max_chunk + 1);
    } else {
      switch (r & 3) {
        case 0: n = (r >> 2) % 3; break;
        case 1: n = (r >> 2) % 16; break;
        case 2: n = (r >> 2) % 300; break;
        default: n = left; break;
      }
    }
    return std::min(n, left);
  }
};

/// What the fuzzer knows about the frame and message in progress.
struct tracker {
  bool masked_mode = false;
  bool check_utf8 = false;
  bool leave_masked = false;
  std::uint64_t max_size = 0;
  std::span<const std::uint8_t> wire;
  std::size_t pos = 0;  // wire bytes consumed so far

  bool in_frame = false;
  std::size_t frame_start = 0;  // wire offset of the current frame's header
  std::uint64_t frame_seen = 0;
  ws::opcode message = ws::opcode::cont;
  std::vector<std::uint8_t> text;  // unmasked text message so far

  void check_header(const ws::frame_parser& p, std::size_t header_end) {
    const auto& h = p.header();
    std::array<std::uint8_t, ws::max_header_size> out{};
    const std::size_t n = ws::write_header(out.data(), h);
    const auto hb = p.header_bytes();
    FUZZ_CHECK(hb.size() == n);
    FUZZ_CHECK(std::equal(hb.begin(), hb.end(), out.begin()));
    FUZZ_CHECK(header_end >= n);
    FUZZ_CHECK(std::equal(hb.begin(), hb.end(), wire.begin() + static_cast<std::ptrdiff_t>(header_end - n)));
    FUZZ_CHECK(h.masked == masked_mode);
  }

  // `piece` as the parser handed it out (`still_masked`: as on the wire),
  // `at` its wire offset, `offset` its offset in the payload. Returns it unmasked.
  std::vector<std::uint8_t> check_payload(const ws::frame_parser& p, std::span<const std::uint8_t> piece,
                                          std::size_t at, std::uint64_t offset, bool still_masked) {
    std::vector<std::uint8_t> plain(piece.begin(), piece.end());
    std::vector<std::uint8_t> on_wire(piece.begin(), piece.end());
    const auto& h = p.header();
    if (h.masked) {
      ws::apply_mask(still_masked ? plain : on_wire, h.key, offset);
    }
    FUZZ_CHECK(std::equal(on_wire.begin(), on_wire.end(), wire.begin() + static_cast<std::ptrdiff_t>(at)));
    return plain;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) {
    return 0;
  }
  tracker t;
  t.masked_mode = (data[0] & 1) != 0;
  t.check_utf8 = (data[0] & 2) != 0;
  t.leave_masked = (data[0] & 4) != 0;
  t.max_size = max_sizes[(data[0] >> 3) & 7];
  splitter split{static_cast<std::uint32_t>(data[2] << 8 | data[3]) | 0x10000u, data[1]};
  t.wire = {data + 4, size - 4};

  ws::frame_parser parser(t.masked_mode, t.max_size, t.check_utf8);
  std::size_t empty_feeds = 0;
  while (t.pos < t.wire.size() || empty_feeds == 0) {
    const std::size_t n = split.size(t.wire.size() - t.pos);
    if (n == 0 && ++empty_feeds > size) {
      break;  // bounds the work for a seed that keeps choosing empty pieces
    }
    // Its own allocation, so that reading past the piece is a heap overflow.
    std::vector<std::uint8_t> chunk(t.wire.begin() + static_cast<std::ptrdiff_t>(t.pos),
                                    t.wire.begin() + static_cast<std::ptrdiff_t>(t.pos + n));
    std::span<std::uint8_t> in = n == 0 ? std::span<std::uint8_t>{} : std::span<std::uint8_t>(chunk);
    std::size_t used = 0;
    for (;;) {
      std::size_t consumed = 12345;
      const auto rest = in.subspan(used);
      const kind k = parser.next(rest, consumed);
      FUZZ_CHECK(consumed <= rest.size());
      const std::size_t at = t.pos + used;
      used += consumed;
      const auto& h = parser.header();
      if (k == kind::need_more) {
        FUZZ_CHECK(used == in.size());
        break;
      }
      if (k == kind::error) {
        const auto code = parser.error_code();
        FUZZ_CHECK(code == 1002 || code == 1007 || code == 1009);
        if (code == 1009) {
          const std::uint64_t so_far = h.op == ws::opcode::cont ? parser.message_size() : 0;
          FUZZ_CHECK(h.length > t.max_size || so_far > t.max_size - h.length);
        }
        if (code == 1007 && t.message == ws::opcode::text && t.in_frame) {
          FUZZ_CHECK(t.check_utf8);
          // The failing piece was unmasked in place but not handed out.
          FUZZ_CHECK(reference_utf8(t.text, true));
          std::vector<std::uint8_t> all = t.text;
          all.insert(all.end(), rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(consumed));
          // A message's last piece (or its empty final frame) must also end on a character.
          const bool at_end = h.fin && t.frame_seen + consumed == h.length;
          FUZZ_CHECK(at_end ? !reference_utf8(all, false) : !reference_utf8(all, true));
        }
        std::size_t again = 1;
        FUZZ_CHECK(parser.next(rest.subspan(consumed), again) == kind::error && again == 0);
        return 0;
      }
      switch (k) {
        case kind::frame_begin: {
          FUZZ_CHECK(!t.in_frame);
          FUZZ_CHECK(!ws::is_control(h.op));
          FUZZ_CHECK((h.op == ws::opcode::cont) == (t.message != ws::opcode::cont));
          t.check_header(parser, at + consumed);
          t.in_frame = true;
          t.frame_start = at + consumed - parser.header_bytes().size();
          t.frame_seen = 0;
          if (h.op != ws::opcode::cont) {
            t.message = h.op;
            t.text.clear();
          }
          FUZZ_CHECK(parser.message_opcode() == t.message);
          if (t.leave_masked) {
            parser.leave_masked();
          }
          break;
        }
        case kind::data: {
          FUZZ_CHECK(t.in_frame);
          const auto piece = parser.payload();
          FUZZ_CHECK(piece.size() == consumed && !piece.empty());
          FUZZ_CHECK(piece.data() == rest.data());  // data comes out in place
          FUZZ_CHECK(parser.payload_offset() == t.frame_seen);
          const bool still_masked = parser.payload_masked();
          FUZZ_CHECK(!still_masked || (t.leave_masked && h.masked && t.message != ws::opcode::text));
          auto plain = t.check_payload(parser, piece, at, t.frame_seen, still_masked);
          t.frame_seen += piece.size();
          FUZZ_CHECK(t.frame_seen <= h.length);
          FUZZ_CHECK(parser.message_size() <= t.max_size);
          if (t.message == ws::opcode::text) {
            t.text.insert(t.text.end(), plain.begin(), plain.end());
            if (t.check_utf8) {
              FUZZ_CHECK(reference_utf8(t.text, true));
            }
          }
          break;
        }
        case kind::frame_end: {
          FUZZ_CHECK(t.in_frame && consumed == 0);
          FUZZ_CHECK(t.frame_seen == h.length);
          t.in_frame = false;
          if (h.fin) {
            if (t.message == ws::opcode::text && t.check_utf8) {
              FUZZ_CHECK(reference_utf8(t.text, false));
            }
            t.message = ws::opcode::cont;
          }
          break;
        }
        case kind::control: {
          FUZZ_CHECK(!t.in_frame);
          FUZZ_CHECK(ws::is_control(h.op) && h.fin && h.length <= 125);
          const auto body = parser.payload();
          FUZZ_CHECK(body.size() == h.length);
          // The whole frame was consumed by now; its header sits before the body.
          const std::size_t body_at = at + consumed - body.size();
          t.check_header(parser, body_at);
          t.check_payload(parser, body, body_at, 0, false);
          if (h.op == ws::opcode::close) {
            FUZZ_CHECK(body.size() != 1);
            if (body.size() >= 2) {
              FUZZ_CHECK(ws::is_valid_close_code(parser.close_code()));
              FUZZ_CHECK(reference_utf8(parser.close_reason(), false));
            } else {
              FUZZ_CHECK(parser.close_code() == ws::close_code::no_status);
            }
          }
          break;
        }
        default:
          FUZZ_CHECK(false);
      }
    }
    t.pos += n;
  }
  return 0;
}
