#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ws/ws_frame.hpp"

namespace {

namespace ws = tether::ws;
using kind = ws::frame_parser::kind;
using bytes = std::vector<std::uint8_t>;
using mask_key = std::array<std::uint8_t, 4>;

constexpr mask_key rfc_key{0x37, 0xFA, 0x21, 0x3D};

bytes to_bytes(std::string_view s) { return bytes(s.begin(), s.end()); }

bytes cat(std::initializer_list<bytes> parts) {
  bytes out;
  for (const bytes& p : parts) {
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}

bytes pattern(std::size_t n, std::uint8_t seed = 0) {
  bytes out(n);
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = static_cast<std::uint8_t>(i * 31 + seed);
  }
  return out;
}

// Encodes a frame the way a peer would: write_header, then the payload masked
// in place when `masked`.
bytes frame(bool fin, ws::opcode op, const bytes& payload, bool masked, mask_key key = rfc_key) {
  ws::frame_header h;
  h.fin = fin;
  h.op = op;
  h.masked = masked;
  h.key = key;
  h.length = payload.size();
  bytes out(ws::max_header_size + payload.size());
  const std::size_t n = ws::write_header(out.data(), h);
  std::copy(payload.begin(), payload.end(), out.begin() + static_cast<std::ptrdiff_t>(n));
  out.resize(n + payload.size());
  if (masked) {
    ws::apply_mask(std::span<std::uint8_t>(out.data() + n, payload.size()), key, 0);
  }
  return out;
}

bytes close_body(std::uint16_t code, std::string_view reason = {}) {
  bytes out{static_cast<std::uint8_t>(code >> 8), static_cast<std::uint8_t>(code)};
  out.insert(out.end(), reason.begin(), reason.end());
  return out;
}

// One parser event, with data pieces of a frame merged so that runs with
// different input splits can be compared.
struct ev {
  kind k = kind::need_more;
  ws::opcode op = ws::opcode::cont;
  bool fin = false;
  ws::opcode msg_op = ws::opcode::cont;
  std::uint64_t msg_size = 0;
  bytes payload;
  std::uint16_t code = 0;
};

ev begin_ev(ws::opcode op, bool fin, ws::opcode msg_op, std::uint64_t msg_size) {
  return {kind::frame_begin, op, fin, msg_op, msg_size, {}, 0};
}
ev data_ev(bytes payload, ws::opcode msg_op, std::uint64_t msg_size) {
  return {kind::data, ws::opcode::cont, false, msg_op, msg_size, std::move(payload), 0};
}
ev end_ev(ws::opcode op, bool fin, ws::opcode msg_op, std::uint64_t msg_size) {
  return {kind::frame_end, op, fin, msg_op, msg_size, {}, 0};
}
ev control_ev(ws::opcode op, bytes payload, ws::opcode msg_op, std::uint64_t msg_size,
              std::uint16_t code = 0) {
  return {kind::control, op, true, msg_op, msg_size, std::move(payload), code};
}
ev error_ev(std::uint16_t code) { return {kind::error, ws::opcode::cont, false, ws::opcode::cont, 0, {}, code}; }

std::string quote(const bytes& b) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out = "'";
  for (std::uint8_t c : b) {
    if (c >= 0x20 && c < 0x7F && c != '\\' && c != '\'') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += digits[c >> 4];
      out += digits[c & 0xF];
    }
  }
  return out + "'";
}

std::string describe_one(const ev& e) {
  auto op = [](ws::opcode o) { return std::to_string(static_cast<int>(o)); };
  const std::string msg = " msg=" + op(e.msg_op) + "/" + std::to_string(e.msg_size);
  switch (e.k) {
    case kind::need_more:
      return "need_more";
    case kind::frame_begin:
      return "begin op=" + op(e.op) + " fin=" + std::to_string(e.fin) + msg;
    case kind::data:
      return "data " + quote(e.payload) + msg;
    case kind::frame_end:
      return "end op=" + op(e.op) + " fin=" + std::to_string(e.fin) + msg;
    case kind::control:
      return "control op=" + op(e.op) + " " + quote(e.payload) + msg + " code=" + std::to_string(e.code);
    case kind::error:
      return "error " + std::to_string(e.code);
  }
  return "?";
}

std::string describe(const std::vector<ev>& events) {
  std::string out;
  for (const ev& e : events) {
    out += describe_one(e) + "\n";
  }
  return out;
}

struct options {
  bool expect_masked = true;
  std::uint64_t max = 1 << 20;
  bool check_utf8 = true;
};

struct run_result {
  std::vector<ev> events;
  std::string problems;  // API contract violations seen while feeding
  std::string text() const { return describe(events) + problems; }
  std::uint16_t error() const {
    return !events.empty() && events.back().k == kind::error ? events.back().code : 0;
  }
};

// Feeds `stream` to `p` cut at `cuts` (ascending, may repeat or include the
// ends to produce empty pieces), each piece an exactly sized copy so ASan sees
// any read past it, and records the events plus any contract violations.
run_result run(ws::frame_parser& p, const bytes& stream, const std::vector<std::size_t>& cuts) {
  run_result r;
  std::uint64_t frame_bytes = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    const std::size_t end = i < cuts.size() ? cuts[i] : stream.size();
    bytes chunk(stream.begin() + static_cast<std::ptrdiff_t>(start),
                stream.begin() + static_cast<std::ptrdiff_t>(end));
    start = end;
    std::span<std::uint8_t> rest(chunk);
    for (int guard = 0;; ++guard) {
      if (guard > 1000000) {
        r.problems += "no progress\n";
        return r;
      }
      std::size_t consumed = 0xDEAD;
      std::uint8_t* before = rest.data();
      const kind k = p.next(rest, consumed);
      if (consumed > rest.size()) {
        r.problems += "consumed more than given\n";
        return r;
      }
      rest = rest.subspan(consumed);
      switch (k) {
        case kind::need_more:
          if (!rest.empty()) {
            r.problems += "need_more with input left\n";
          }
          break;
        case kind::frame_begin:
          frame_bytes = 0;
          r.events.push_back(begin_ev(p.header().op, p.header().fin, p.message_opcode(), p.message_size()));
          break;
        case kind::data: {
          const auto piece = p.payload();
          if (piece.data() != before || piece.size() != consumed || piece.empty()) {
            r.problems += "data not handed out in place\n";
          }
          if (p.payload_offset() != frame_bytes) {
            r.problems += "payload_offset " + std::to_string(p.payload_offset()) + " expected " +
                          std::to_string(frame_bytes) + "\n";
          }
          frame_bytes += piece.size();
          if (r.events.empty() || r.events.back().k != kind::data) {
            r.events.push_back(data_ev({}, p.message_opcode(), 0));
          }
          ev& d = r.events.back();
          d.payload.insert(d.payload.end(), piece.begin(), piece.end());
          d.msg_op = p.message_opcode();
          d.msg_size = p.message_size();
          break;
        }
        case kind::frame_end:
          if (frame_bytes != p.header().length) {
            r.problems += "frame_end after " + std::to_string(frame_bytes) + " of " +
                          std::to_string(p.header().length) + " bytes\n";
          }
          r.events.push_back(end_ev(p.header().op, p.header().fin, p.message_opcode(), p.message_size()));
          break;
        case kind::control: {
          const auto body = p.payload();
          if (body.size() != p.header().length) {
            r.problems += "control payload not whole\n";
          }
          const std::uint16_t code = p.header().op == ws::opcode::close ? p.close_code() : 0;
          r.events.push_back(control_ev(p.header().op, bytes(body.begin(), body.end()), p.message_opcode(),
                                        p.message_size(), code));
          break;
        }
        case kind::error: {
          r.events.push_back(error_ev(p.error_code()));
          std::size_t again = 0xDEAD;
          if (p.next(rest, again) != kind::error || again != 0 || p.error_code() != r.events.back().code) {
            r.problems += "error not sticky\n";
          }
          return r;
        }
      }
      if (k == kind::need_more) {
        break;
      }
    }
  }
  return r;
}

run_result run(const options& o, const bytes& stream, const std::vector<std::size_t>& cuts = {}) {
  ws::frame_parser p(o.expect_masked, o.max, o.check_utf8);
  return run(p, stream, cuts);
}

std::vector<std::size_t> every_byte(std::size_t n) {
  std::vector<std::size_t> cuts;
  for (std::size_t i = 1; i < n; ++i) {
    cuts.push_back(i);
  }
  return cuts;
}

// Byte at a time and every two-piece cut (including empty pieces) must give
// `expected`.
void check_every_split(const options& o, const bytes& stream, const std::string& expected) {
  std::size_t bad = 0;
  std::string first;
  auto check = [&](const std::vector<std::size_t>& cuts) {
    const std::string got = run(o, stream, cuts).text();
    if (got != expected && bad++ == 0) {
      first = got;
    }
  };
  check(every_byte(stream.size()));
  for (std::size_t at = 0; at <= stream.size(); ++at) {
    check({at});
  }
  BOOST_TEST(bad == 0u, bad << " splits differ; first got:\n" << first << "expected:\n" << expected);
}

// Whole stream must end in `code`, and so must every split of it.
void check_error(const options& o, const bytes& stream, std::uint16_t code) {
  const run_result whole = run(o, stream);
  BOOST_TEST(whole.error() == code, "whole stream: " << whole.text());
  BOOST_TEST(whole.problems.empty(), whole.problems);
  std::size_t bad = 0;
  for (std::size_t at = 0; at <= stream.size(); ++at) {
    if (run(o, stream, {at}).error() != code) {
      ++bad;
    }
  }
  const run_result bytewise = run(o, stream, every_byte(stream.size()));
  BOOST_TEST(bytewise.error() == code, "byte at a time: " << bytewise.text());
  BOOST_TEST(bad == 0u);
}

const options client{true, 1 << 20, true};
const options server{false, 1 << 20, true};

}  // namespace

BOOST_AUTO_TEST_SUITE(ws_frame)

BOOST_AUTO_TEST_CASE(close_code_validity) {
  for (std::uint16_t c : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
                          4000, 4999}) {
    BOOST_TEST(ws::is_valid_close_code(c), c);
  }
  for (std::uint16_t c : {0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    BOOST_TEST(!ws::is_valid_close_code(c), c);
  }
  std::size_t valid = 0;
  for (unsigned c = 0; c <= 0xFFFF; ++c) {
    valid += ws::is_valid_close_code(static_cast<std::uint16_t>(c)) ? 1 : 0;
  }
  BOOST_TEST(valid == 4u + 8u + 2000u);
}

BOOST_AUTO_TEST_CASE(write_header_uses_minimal_encoding) {
  struct tc {
    ws::frame_header h;
    bytes expected;
  };
  const std::vector<tc> cases{
      {{true, ws::opcode::text, false, {}, 5}, {0x81, 0x05}},
      {{true, ws::opcode::text, false, {}, 0}, {0x81, 0x00}},
      {{false, ws::opcode::text, false, {}, 1}, {0x01, 0x01}},
      {{false, ws::opcode::cont, false, {}, 2}, {0x00, 0x02}},
      {{true, ws::opcode::close, false, {}, 125}, {0x88, 0x7D}},
      {{false, ws::opcode::binary, false, {}, 126}, {0x02, 0x7E, 0x00, 0x7E}},
      {{true, ws::opcode::binary, false, {}, 256}, {0x82, 0x7E, 0x01, 0x00}},
      {{true, ws::opcode::binary, false, {}, 0xFFFF}, {0x82, 0x7E, 0xFF, 0xFF}},
      {{true, ws::opcode::binary, false, {}, 0x10000}, {0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0}},
      {{true, ws::opcode::binary, false, {}, 0x0102030405060708ULL},
       {0x82, 0x7F, 1, 2, 3, 4, 5, 6, 7, 8}},
      {{true, ws::opcode::ping, true, rfc_key, 5}, {0x89, 0x85, 0x37, 0xFA, 0x21, 0x3D}},
      {{true, ws::opcode::pong, true, {1, 2, 3, 4}, 0}, {0x8A, 0x80, 1, 2, 3, 4}},
      {{true, ws::opcode::binary, true, {9, 8, 7, 6}, 300}, {0x82, 0xFE, 0x01, 0x2C, 9, 8, 7, 6}},
      {{true, ws::opcode::binary, true, {9, 8, 7, 6}, 70000},
       {0x82, 0xFF, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70, 9, 8, 7, 6}},
  };
  for (const tc& c : cases) {
    std::array<std::uint8_t, ws::max_header_size + 2> out;
    out.fill(0xEE);
    const std::size_t n = ws::write_header(out.data(), c.h);
    BOOST_TEST(bytes(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n)) == c.expected,
               boost::test_tools::per_element());
    // Nothing written past the returned size.
    BOOST_TEST(std::all_of(out.begin() + static_cast<std::ptrdiff_t>(n), out.end(),
                           [](std::uint8_t b) { return b == 0xEE; }));
  }
}

BOOST_AUTO_TEST_CASE(apply_mask_matches_bytewise_definition) {
  const mask_key key{0x01, 0x5A, 0xC3, 0xFF};
  std::size_t mismatches = 0;
  for (std::size_t misalign = 0; misalign < 8; ++misalign) {
    for (std::size_t len = 0; len <= 70; ++len) {
      for (std::uint64_t offset : {0ULL, 1ULL, 2ULL, 3ULL, 4ULL, 5ULL, 7ULL, 0x100000001ULL, ~0ULL}) {
        bytes buf = pattern(misalign + len + 8, static_cast<std::uint8_t>(len));
        const bytes original = buf;
        std::span<std::uint8_t> data(buf.data() + misalign, len);
        ws::apply_mask(data, key, offset);
        for (std::size_t i = 0; i < buf.size(); ++i) {
          std::uint8_t want = original[i];
          if (i >= misalign && i < misalign + len) {
            want ^= key[(offset + (i - misalign)) % 4];
          }
          mismatches += buf[i] != want ? 1 : 0;
        }
        ws::apply_mask(data, key, offset);
        mismatches += buf != original ? 1 : 0;
      }
    }
  }
  BOOST_TEST(mismatches == 0u);
}

BOOST_AUTO_TEST_CASE(apply_mask_in_pieces_equals_whole) {
  const mask_key key{0xDE, 0xAD, 0xBE, 0xEF};
  const bytes plain = pattern(200, 7);
  bytes whole = plain;
  ws::apply_mask(whole, key, 0);
  for (std::size_t at = 0; at <= plain.size(); ++at) {
    bytes split = plain;
    ws::apply_mask(std::span<std::uint8_t>(split.data(), at), key, 0);
    ws::apply_mask(std::span<std::uint8_t>(split.data() + at, split.size() - at), key, at);
    BOOST_TEST(split == whole, "split at " << at);
  }
}

BOOST_AUTO_TEST_CASE(rfc6455_examples) {
  // RFC 6455 section 5.7, byte for byte.
  const bytes hello_unmasked{0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F};
  const bytes hello_masked{0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58};
  const bytes ping_unmasked{0x89, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F};
  const bytes pong_masked{0x8A, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58};
  const bytes hello = to_bytes("Hello");
  BOOST_TEST(frame(true, ws::opcode::text, hello, false) == hello_unmasked, boost::test_tools::per_element());
  BOOST_TEST(frame(true, ws::opcode::text, hello, true) == hello_masked, boost::test_tools::per_element());

  const ws::opcode t = ws::opcode::text;
  BOOST_TEST(run(server, hello_unmasked).text() ==
             describe({begin_ev(t, true, t, 0), data_ev(hello, t, 5), end_ev(t, true, t, 5)}));
  BOOST_TEST(run(client, hello_masked).text() ==
             describe({begin_ev(t, true, t, 0), data_ev(hello, t, 5), end_ev(t, true, t, 5)}));
  BOOST_TEST(run(server, ping_unmasked).text() ==
             describe({control_ev(ws::opcode::ping, hello, ws::opcode::cont, 0)}));
  BOOST_TEST(run(client, pong_masked).text() ==
             describe({control_ev(ws::opcode::pong, hello, ws::opcode::cont, 0)}));

  const bytes fragmented{0x01, 0x03, 0x48, 0x65, 0x6C, 0x80, 0x02, 0x6C, 0x6F};
  BOOST_TEST(run(server, fragmented).text() ==
             describe({begin_ev(t, false, t, 0), data_ev(to_bytes("Hel"), t, 3), end_ev(t, false, t, 3),
                       begin_ev(ws::opcode::cont, true, t, 3), data_ev(to_bytes("lo"), t, 5),
                       end_ev(ws::opcode::cont, true, t, 5)}));
}

BOOST_AUTO_TEST_CASE(masked_round_trip_recovers_payload) {
  const mask_key keys[] = {{0, 0, 0, 0}, {0x12, 0x34, 0x56, 0x78}, {0xFF, 0x00, 0xFF, 0x01}};
  for (std::size_t len : {0, 1, 3, 4, 5, 8, 9, 125, 126, 127, 1000, 65535, 65536, 70001}) {
    for (const mask_key& key : keys) {
      for (ws::opcode op : {ws::opcode::text, ws::opcode::binary}) {
        BOOST_TEST_CONTEXT("len " << len << " op " << static_cast<int>(op)) {
          // Text must stay UTF-8, so use ASCII for it.
          bytes payload = op == ws::opcode::text ? bytes(len, 'q') : pattern(len, 3);
          const bytes wire = frame(true, op, payload, true, key);
          if (len > 0 && key != mask_key{0, 0, 0, 0}) {
            BOOST_TEST(!std::equal(payload.begin(), payload.end(), wire.end() - static_cast<std::ptrdiff_t>(len)));
          }
          std::vector<ev> expected{begin_ev(op, true, op, 0)};
          if (len > 0) {
            expected.push_back(data_ev(payload, op, len));
          }
          expected.push_back(end_ev(op, true, op, len));
          BOOST_TEST(run(client, wire).text() == describe(expected));
          // Odd piece sizes so pieces start at every mask phase.
          std::vector<std::size_t> cuts;
          for (std::size_t at = 1; at < wire.size(); at += 1 + at % 7) {
            cuts.push_back(at);
          }
          BOOST_TEST(run(client, wire, cuts).text() == describe(expected));
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(header_accumulates_across_calls) {
  ws::frame_parser p(true, 1 << 20);
  bytes wire = frame(true, ws::opcode::binary, pattern(300), true);  // 8-byte header
  std::size_t consumed = 0;
  for (std::size_t i = 0; i < 7; ++i) {
    BOOST_TEST((p.next(std::span<std::uint8_t>(wire.data() + i, 1), consumed) == kind::need_more));
    BOOST_TEST(consumed == 1u);
  }
  // The last header byte plus payload: only the header byte is taken.
  std::span<std::uint8_t> rest(wire.data() + 7, wire.size() - 7);
  BOOST_TEST((p.next(rest, consumed) == kind::frame_begin));
  BOOST_TEST(consumed == 1u);
  BOOST_TEST(p.header().length == 300u);
  BOOST_TEST(p.header().masked);
  BOOST_TEST(p.header().fin);
  BOOST_TEST((p.header().op == ws::opcode::binary));
  rest = rest.subspan(1);
  BOOST_TEST((p.next(rest, consumed) == kind::data));
  BOOST_TEST(consumed == 300u);
  BOOST_TEST(p.payload_offset() == 0u);
  BOOST_TEST(bytes(p.payload().begin(), p.payload().end()) == pattern(300));
  BOOST_TEST((p.next(rest.subspan(300), consumed) == kind::frame_end));
  BOOST_TEST(consumed == 0u);
  BOOST_TEST((p.next(rest.subspan(300), consumed) == kind::need_more));
}

BOOST_AUTO_TEST_CASE(header_bytes_and_contiguity) {
  bytes wire = frame(true, ws::opcode::binary, pattern(300), true);  // 8-byte header
  const bytes header(wire.begin(), wire.begin() + 8);
  std::size_t consumed = 0;
  {
    ws::frame_parser p(true, 1 << 20);
    std::span<std::uint8_t> in(wire);
    BOOST_TEST((p.next(in, consumed) == kind::frame_begin));
    BOOST_TEST(bytes(p.header_bytes().begin(), p.header_bytes().end()) == header);
    BOOST_TEST((p.next(in.subspan(consumed), consumed) == kind::data));
    BOOST_TEST(p.header_contiguous());
  }
  {
    ws::frame_parser p(true, 1 << 20);
    BOOST_TEST((p.next(std::span<std::uint8_t>(wire.data(), 3), consumed) == kind::need_more));
    std::span<std::uint8_t> rest(wire.data() + 3, wire.size() - 3);
    BOOST_TEST((p.next(rest, consumed) == kind::frame_begin));
    BOOST_TEST(bytes(p.header_bytes().begin(), p.header_bytes().end()) == header);
    BOOST_TEST((p.next(rest.subspan(consumed), consumed) == kind::data));
    BOOST_TEST(!p.header_contiguous());
  }
}

BOOST_AUTO_TEST_CASE(header_ending_an_input_is_not_contiguous_with_the_next) {
  // A relay reads every input into the same buffer from its start: a header
  // that ended one read must not be taken to sit before a payload that
  // starts the next one (the 1002s of fragmented messages came from that).
  bytes wire = frame(true, ws::opcode::binary, pattern(300), true);  // 8-byte header
  bytes buffer = wire;
  std::size_t consumed = 0;
  ws::frame_parser p(true, 1 << 20);
  BOOST_TEST((p.next(std::span<std::uint8_t>(buffer.data(), 8), consumed) == kind::frame_begin));
  BOOST_TEST((p.next(std::span<std::uint8_t>(buffer.data() + 8, 0), consumed) == kind::need_more));
  // The next read lands at the start of the same buffer.
  std::copy(wire.begin() + 8, wire.end(), buffer.begin());
  BOOST_TEST((p.next(std::span<std::uint8_t>(buffer.data(), 300), consumed) == kind::data));
  BOOST_TEST(p.payload_offset() == 0u);
  BOOST_TEST(p.payload().size() == 300u);
  BOOST_TEST(!p.header_contiguous());
  // Even a caller that never saw need_more: the payload is not where the header ended.
  ws::frame_parser q(true, 1 << 20);
  buffer = wire;
  BOOST_TEST((q.next(std::span<std::uint8_t>(buffer.data(), 8), consumed) == kind::frame_begin));
  std::copy(wire.begin() + 8, wire.end(), buffer.begin());
  BOOST_TEST((q.next(std::span<std::uint8_t>(buffer.data(), 300), consumed) == kind::data));
  BOOST_TEST(!q.header_contiguous());
}

BOOST_AUTO_TEST_CASE(leave_masked_hands_out_binary_as_received_but_not_text) {
  for (ws::opcode op : {ws::opcode::binary, ws::opcode::text}) {
    BOOST_TEST_CONTEXT("op " << static_cast<int>(op)) {
      const bytes payload(100, 'q');
      bytes wire = frame(true, op, payload, true);
      const bytes masked(wire.end() - 100, wire.end());
      ws::frame_parser p(true, 1 << 20);
      std::size_t consumed = 0;
      std::span<std::uint8_t> in(wire);
      BOOST_TEST((p.next(in, consumed) == kind::frame_begin));
      p.leave_masked();
      const bool left = op == ws::opcode::binary;
      BOOST_TEST(p.payload_masked() == left);
      in = in.subspan(consumed);
      BOOST_TEST((p.next(in.first(40), consumed) == kind::data));
      BOOST_TEST((p.next(in.subspan(40), consumed) == kind::data));
      BOOST_TEST(bytes(in.begin(), in.end()) == (left ? masked : payload));
      BOOST_TEST((p.next(in.subspan(100), consumed) == kind::frame_end));
      // The next frame is unmasked again.
      bytes next = frame(true, ws::opcode::binary, payload, true);
      BOOST_TEST((p.next(next, consumed) == kind::frame_begin));
      BOOST_TEST(!p.payload_masked());
      std::span<std::uint8_t> rest(next.data() + consumed, next.size() - consumed);
      BOOST_TEST((p.next(rest, consumed) == kind::data));
      BOOST_TEST(bytes(p.payload().begin(), p.payload().end()) == payload);
    }
  }
}

BOOST_AUTO_TEST_CASE(sixteen_and_sixty_four_bit_lengths) {
  for (std::size_t len : {125, 126, 127, 1000, 65535, 65536, 65537, 200000}) {
    for (bool masked : {false, true}) {
      BOOST_TEST_CONTEXT("len " << len << " masked " << masked) {
        const bytes payload = pattern(len, 11);
        const bytes wire = frame(true, ws::opcode::binary, payload, masked);
        const std::size_t header = (len < 126 ? 2 : len <= 0xFFFF ? 4 : 10) + (masked ? 4 : 0);
        BOOST_TEST(wire.size() == header + len);
        const ws::opcode b = ws::opcode::binary;
        const std::string expected =
            describe({begin_ev(b, true, b, 0), data_ev(payload, b, len), end_ev(b, true, b, len)});
        const options o{masked, 1 << 20, true};
        BOOST_TEST(run(o, wire).text() == expected);
        std::vector<std::size_t> cuts;
        for (std::size_t at = 3; at < wire.size(); at += 4093) {
          cuts.push_back(at);
        }
        BOOST_TEST(run(o, wire, cuts).text() == expected);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(fragmented_text_with_controls_at_every_split) {
  // A text message whose fragments end inside multi-byte characters, with a
  // ping, a pong and an empty fragment between the pieces, then a 16-bit
  // length binary message and a close.
  const bytes text = to_bytes("H\xC3\xA9llo w\xC3\xB6rld \xE2\x82\xAC \xF0\x9D\x84\x9E!");
  const auto clef = static_cast<std::size_t>(std::find(text.begin(), text.end(), 0xF0) - text.begin());
  const bytes a(text.begin(), text.begin() + 2);                                      // "H\xC3"
  const bytes b(text.begin() + 2, text.begin() + static_cast<std::ptrdiff_t>(clef) + 2);  // up to "\xF0\x9D"
  const bytes c(text.begin() + static_cast<std::ptrdiff_t>(clef) + 2, text.end());
  const bytes ping = to_bytes("are you there?");
  const bytes bin = pattern(130, 5);
  const bytes close = close_body(1000, "bye");

  const bytes stream =
      cat({frame(false, ws::opcode::text, a, true, {1, 2, 3, 4}), frame(true, ws::opcode::ping, ping, true, {5, 6, 7, 8}),
           frame(false, ws::opcode::cont, b, true, {9, 10, 11, 12}), frame(true, ws::opcode::pong, {}, true, {13, 14, 15, 16}),
           frame(false, ws::opcode::cont, {}, true, {17, 18, 19, 20}), frame(true, ws::opcode::cont, c, true, {21, 22, 23, 24}),
           frame(true, ws::opcode::binary, bin, true, {25, 26, 27, 28}),
           frame(true, ws::opcode::close, close, true, {29, 30, 31, 32})});

  const ws::opcode t = ws::opcode::text;
  const ws::opcode k = ws::opcode::cont;
  const ws::opcode bn = ws::opcode::binary;
  const std::size_t ab = a.size() + b.size();
  const std::string expected = describe({
      begin_ev(t, false, t, 0),
      data_ev(a, t, a.size()),
      end_ev(t, false, t, a.size()),
      control_ev(ws::opcode::ping, ping, t, a.size()),
      begin_ev(k, false, t, a.size()),
      data_ev(b, t, ab),
      end_ev(k, false, t, ab),
      control_ev(ws::opcode::pong, {}, t, ab),
      begin_ev(k, false, t, ab),
      end_ev(k, false, t, ab),
      begin_ev(k, true, t, ab),
      data_ev(c, t, text.size()),
      end_ev(k, true, t, text.size()),
      begin_ev(bn, true, bn, 0),
      data_ev(bin, bn, bin.size()),
      end_ev(bn, true, bn, bin.size()),
      control_ev(ws::opcode::close, close, k, 0, 1000),
  });
  BOOST_TEST(run(client, stream).text() == expected);
  check_every_split(client, stream, expected);

  // Three pieces, over the text message part (where the interesting
  // boundaries are) to keep the run short.
  const std::size_t text_part = stream.size() - 130 - 8 - close.size() - 6;
  std::size_t bad = 0;
  for (std::size_t x = 0; x <= text_part; ++x) {
    for (std::size_t y = x; y <= text_part; ++y) {
      bad += run(client, stream, {x, y}).text() != expected ? 1 : 0;
    }
  }
  BOOST_TEST(bad == 0u);
}

BOOST_AUTO_TEST_CASE(control_frame_is_delivered_whole) {
  const bytes body = pattern(125, 9);
  const bytes wire = frame(true, ws::opcode::ping, body, true);
  ws::frame_parser p(true, 1 << 20);
  std::size_t consumed = 0;
  // Byte at a time: nothing but need_more until the last byte.
  for (std::size_t i = 0; i + 1 < wire.size(); ++i) {
    bytes one{wire[i]};
    BOOST_REQUIRE((p.next(one, consumed) == kind::need_more));
    BOOST_TEST(consumed == 1u);
  }
  bytes last{wire.back()};
  BOOST_REQUIRE((p.next(last, consumed) == kind::control));
  BOOST_TEST(consumed == 1u);
  BOOST_TEST((p.header().op == ws::opcode::ping));
  BOOST_TEST(p.header().length == 125u);
  // The payload lives in the parser, not in the caller's (one-byte) buffer.
  last[0] ^= 0xFF;
  BOOST_TEST(bytes(p.payload().begin(), p.payload().end()) == body);

  // A control frame followed by data in the same buffer takes only its own bytes.
  bytes two = cat({frame(true, ws::opcode::pong, to_bytes("pp"), true), frame(true, ws::opcode::binary, {7}, true)});
  BOOST_REQUIRE((p.next(two, consumed) == kind::control));
  BOOST_TEST(consumed == 8u);
  BOOST_TEST(bytes(p.payload().begin(), p.payload().end()) == to_bytes("pp"));
  // Whole in the input, it is handed out in place (unmasked there).
  BOOST_TEST((p.payload().data() == two.data() + 6));
}

BOOST_AUTO_TEST_CASE(close_frames) {
  const ws::opcode c = ws::opcode::close;
  const ws::opcode k = ws::opcode::cont;
  BOOST_TEST(run(client, frame(true, c, {}, true)).text() == describe({control_ev(c, {}, k, 0, 1005)}));
  {
    ws::frame_parser p(true, 1 << 20);
    bytes wire = frame(true, c, {}, true);
    std::size_t consumed = 0;
    BOOST_REQUIRE((p.next(wire, consumed) == kind::control));
    BOOST_TEST(p.close_code() == 1005u);
    BOOST_TEST(p.close_reason().empty());
  }
  for (std::uint16_t code : {1000, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4999}) {
    ws::frame_parser p(true, 1 << 20);
    bytes wire = frame(true, c, close_body(code, "g\xC3\xBC" "ter Grund"), true);
    std::size_t consumed = 0;
    BOOST_REQUIRE((p.next(wire, consumed) == kind::control));
    BOOST_TEST(p.close_code() == code);
    BOOST_TEST(bytes(p.close_reason().begin(), p.close_reason().end()) == to_bytes("g\xC3\xBC" "ter Grund"));
  }
  // Only the code, no reason.
  {
    ws::frame_parser p(false, 1 << 20);
    bytes wire = frame(true, c, close_body(1001), false);
    std::size_t consumed = 0;
    BOOST_REQUIRE((p.next(wire, consumed) == kind::control));
    BOOST_TEST(p.close_code() == 1001u);
    BOOST_TEST(p.close_reason().empty());
  }
  // 123 bytes of reason: the largest a close frame can carry.
  const std::string longest(123, 'r');
  BOOST_TEST(run(client, frame(true, c, close_body(4000, longest), true)).text() ==
             describe({control_ev(c, close_body(4000, longest), k, 0, 4000)}));
}

BOOST_AUTO_TEST_CASE(error_reserved_bits) {
  for (std::uint8_t rsv : {0x40, 0x20, 0x10, 0x70}) {
    for (ws::opcode op : {ws::opcode::text, ws::opcode::binary, ws::opcode::ping, ws::opcode::close}) {
      BOOST_TEST_CONTEXT("rsv " << int(rsv) << " op " << int(op)) {
        bytes wire = frame(true, op, op == ws::opcode::close ? close_body(1000) : to_bytes("ab"), true);
        wire[0] |= rsv;
        check_error(client, wire, 1002);
      }
    }
    // On a continuation frame of a message in progress.
    bytes wire = cat({frame(false, ws::opcode::binary, {1}, true), frame(true, ws::opcode::cont, {2}, true)});
    wire[7] |= rsv;
    check_error(client, wire, 1002);
  }
}

BOOST_AUTO_TEST_CASE(error_unknown_opcodes) {
  for (std::uint8_t op : {0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
    BOOST_TEST_CONTEXT("opcode " << int(op)) {
      bytes wire = frame(true, ws::opcode::binary, to_bytes("x"), true);
      wire[0] = static_cast<std::uint8_t>(0x80 | op);
      check_error(client, wire, 1002);
      wire[0] = op;
      check_error(client, wire, 1002);
    }
  }
}

BOOST_AUTO_TEST_CASE(error_bad_control_frames) {
  for (ws::opcode op : {ws::opcode::ping, ws::opcode::pong, ws::opcode::close}) {
    BOOST_TEST_CONTEXT("op " << int(op)) {
      const bytes body = op == ws::opcode::close ? close_body(1000, std::string(124, 'x')) : bytes(126, 'x');
      check_error(client, frame(true, op, body, true), 1002);
      // 64-bit length; the error is in the header, so the payload can be left off.
      const bytes long_frame = frame(true, op, bytes(70000, 'x'), true);
      check_error(client, bytes(long_frame.begin(), long_frame.begin() + 20), 1002);
      check_error(client, frame(false, op, op == ws::opcode::close ? close_body(1000) : to_bytes("x"), true), 1002);
      check_error(client, frame(false, op, {}, true), 1002);
    }
  }
  // 125 bytes is fine.
  BOOST_TEST(run(client, frame(true, ws::opcode::ping, bytes(125, 'x'), true)).error() == 0u);
}

BOOST_AUTO_TEST_CASE(error_mask_mismatch) {
  for (ws::opcode op : {ws::opcode::text, ws::opcode::binary, ws::opcode::ping, ws::opcode::close}) {
    check_error(client, frame(true, op, {}, false), 1002);
    check_error(server, frame(true, op, {}, true), 1002);
  }
  // A masked continuation of an unmasked message.
  check_error(server, cat({frame(false, ws::opcode::text, to_bytes("a"), false),
                           frame(true, ws::opcode::cont, to_bytes("b"), true)}),
              1002);
}

BOOST_AUTO_TEST_CASE(error_continuation_without_message) {
  check_error(client, frame(true, ws::opcode::cont, to_bytes("x"), true), 1002);
  check_error(client, frame(false, ws::opcode::cont, to_bytes("x"), true), 1002);
  check_error(client, frame(true, ws::opcode::cont, {}, true), 1002);
  // After a finished message.
  const bytes after = cat({frame(true, ws::opcode::text, to_bytes("done"), true),
                           frame(true, ws::opcode::cont, to_bytes("x"), true)});
  check_error(client, after, 1002);
  const ws::opcode t = ws::opcode::text;
  BOOST_TEST(run(client, after).text() == describe({begin_ev(t, true, t, 0), data_ev(to_bytes("done"), t, 4),
                                                     end_ev(t, true, t, 4), error_ev(1002)}));
  // After a finished fragmented message.
  check_error(client, cat({frame(false, ws::opcode::binary, to_bytes("a"), true),
                           frame(true, ws::opcode::cont, to_bytes("b"), true),
                           frame(false, ws::opcode::cont, to_bytes("c"), true)}),
              1002);
}

BOOST_AUTO_TEST_CASE(error_new_message_inside_fragmented_one) {
  for (ws::opcode first : {ws::opcode::text, ws::opcode::binary}) {
    for (ws::opcode second : {ws::opcode::text, ws::opcode::binary}) {
      check_error(client, cat({frame(false, first, to_bytes("a"), true), frame(true, second, to_bytes("b"), true)}),
                  1002);
      check_error(client, cat({frame(false, first, to_bytes("a"), true), frame(true, ws::opcode::ping, {}, true),
                               frame(false, second, to_bytes("b"), true)}),
                  1002);
    }
  }
}

BOOST_AUTO_TEST_CASE(error_bad_length_encodings) {
  const bytes key(rfc_key.begin(), rfc_key.end());
  // 64-bit length with the most significant bit set.
  check_error(client, cat({{0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0}, key}), 1002);
  check_error(client, cat({{0x82, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, key}), 1002);
  check_error(server, {0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 1}, 1002);
  // 16-bit length that would have fit in 7 bits.
  check_error(client, cat({{0x82, 0xFE, 0x00, 0x7D}, key, bytes(125, 0)}), 1002);
  check_error(client, cat({{0x82, 0xFE, 0x00, 0x00}, key}), 1002);
  check_error(server, cat({{0x81, 0x7E, 0x00, 0x05}, to_bytes("hello")}), 1002);
  // 64-bit length that would have fit in 16 bits.
  check_error(client, cat({{0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF}, key}), 1002);
  check_error(client, cat({{0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0x00, 0x7E}, key}), 1002);
  check_error(client, cat({{0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0x00, 0x00}, key}), 1002);
  // The smallest lengths of each size are accepted.
  BOOST_TEST(run(client, cat({{0x82, 0xFE, 0x00, 0x7E}, key, bytes(126, 0)})).error() == 0u);
  BOOST_TEST(run(client, cat({{0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0}, key, bytes(65536, 0)})).error() == 0u);
}

BOOST_AUTO_TEST_CASE(error_message_too_big) {
  const options o{false, 10, true};
  const ws::opcode t = ws::opcode::text;
  const ws::opcode k = ws::opcode::cont;
  // Exactly the limit is fine, in one frame or several, and the count starts
  // over with each message; control frames do not count.
  const bytes exact = cat({frame(true, t, bytes(10, 'a'), false), frame(false, t, bytes(4, 'b'), false),
                           frame(true, ws::opcode::ping, bytes(100, 'p'), false), frame(false, k, {}, false),
                           frame(true, k, bytes(6, 'c'), false)});
  const std::string exact_events = describe({
      begin_ev(t, true, t, 0), data_ev(bytes(10, 'a'), t, 10), end_ev(t, true, t, 10),
      begin_ev(t, false, t, 0), data_ev(bytes(4, 'b'), t, 4), end_ev(t, false, t, 4),
      control_ev(ws::opcode::ping, bytes(100, 'p'), t, 4),
      begin_ev(k, false, t, 4), end_ev(k, false, t, 4),
      begin_ev(k, true, t, 4), data_ev(bytes(6, 'c'), t, 10), end_ev(k, true, t, 10),
  });
  BOOST_TEST(run(o, exact).text() == exact_events);
  check_every_split(o, exact, exact_events);

  // One byte over: refused at the header, before any of that frame's payload.
  const bytes single = frame(true, t, bytes(11, 'a'), false);
  BOOST_TEST(run(o, single).text() == describe({error_ev(1009)}));
  check_every_split(o, single, describe({error_ev(1009)}));

  const bytes across = cat({frame(false, t, bytes(4, 'b'), false), frame(true, k, bytes(7, 'c'), false)});
  const std::string across_events =
      describe({begin_ev(t, false, t, 0), data_ev(bytes(4, 'b'), t, 4), end_ev(t, false, t, 4), error_ev(1009)});
  BOOST_TEST(run(o, across).text() == across_events);
  check_every_split(o, across, across_events);

  // Lengths near 2^63 must not wrap around the limit check.
  check_error(o, {0x82, 0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, 1009);
  check_error(o, cat({frame(false, ws::opcode::binary, bytes(10, 'b'), false),
                      {0x00, 0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}}),
              1009);
  check_error(o, cat({frame(false, ws::opcode::binary, bytes(3, 'b'), false),
                      {0x00, 0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xF9}}),
              1009);

  // The limit can change between messages.
  ws::frame_parser p(false, 10);
  p.set_max_message_size(5);
  BOOST_TEST(run(p, frame(true, ws::opcode::binary, bytes(6, 0), false), {}).error() == 1009u);
}

BOOST_AUTO_TEST_CASE(error_invalid_utf8_in_text) {
  const ws::opcode t = ws::opcode::text;
  const ws::opcode k = ws::opcode::cont;
  check_error(client, frame(true, t, to_bytes("\xC0\xAF"), true), 1007);
  check_error(client, frame(true, t, to_bytes("ok \xED\xA0\x80"), true), 1007);
  check_error(client, frame(true, t, to_bytes("\xF4\x90\x80\x80"), true), 1007);
  check_error(client, frame(true, t, to_bytes("abc\x80"), true), 1007);
  // Invalid across a fragment boundary.
  check_error(client, cat({frame(false, t, to_bytes("a\xE2"), true), frame(true, k, to_bytes("\x41"), true)}), 1007);
  // The message ends inside a character: the final piece is refused, not
  // handed out (a relay forwards a piece before the frame's end).
  check_error(client, frame(true, t, to_bytes("a\xE2\x82"), true), 1007);
  check_error(client, cat({frame(false, t, to_bytes("a\xE2"), true), frame(true, k, to_bytes("\x82"), true)}), 1007);
  BOOST_TEST(run(client, frame(true, t, to_bytes("a\xE2\x82"), true)).text() ==
             describe({begin_ev(t, true, t, 0), error_ev(1007)}));
  // ...but a non-final fragment may end inside one.
  BOOST_TEST(run(client, cat({frame(false, t, to_bytes("a\xE2"), true), frame(true, k, to_bytes("\x82\xAC"), true)}))
                 .error() == 0u);

  // Binary is never checked, and text is not when checking is off.
  BOOST_TEST(run(client, frame(true, ws::opcode::binary, to_bytes("\xC0\xAF\xFF"), true)).error() == 0u);
  const options unchecked{true, 1 << 20, false};
  BOOST_TEST(run(unchecked, frame(true, t, to_bytes("\xC0\xAF\xE2"), true)).error() == 0u);

  // Fail fast: the bad byte is reported without waiting for the frame's end.
  ws::frame_parser p(true, 1 << 20);
  bytes text(1000, 'a');
  text[10] = 0xFF;
  bytes wire = frame(true, t, text, true);
  const run_result r = run(p, bytes(wire.begin(), wire.begin() + 8 + 20), {});
  BOOST_TEST(r.error() == 1007u, r.text());
}

BOOST_AUTO_TEST_CASE(error_bad_close_frames) {
  const ws::opcode c = ws::opcode::close;
  check_error(client, frame(true, c, {0x03}, true), 1002);
  for (std::uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535}) {
    BOOST_TEST_CONTEXT("code " << code) {
      check_error(client, frame(true, c, close_body(code), true), 1002);
      check_error(client, frame(true, c, close_body(code, "why"), true), 1002);
    }
  }
  check_error(client, frame(true, c, close_body(1000, "\xC0\xAF"), true), 1007);
  check_error(client, frame(true, c, close_body(1000, "cut \xE2\x82"), true), 1007);
  check_error(client, frame(true, c, close_body(1000, "\xED\xA0\x80"), true), 1007);
  // A bad close in the middle of a fragmented message.
  check_error(client, cat({frame(false, ws::opcode::text, to_bytes("a"), true), frame(true, c, close_body(1005), true)}),
              1002);
}

BOOST_AUTO_TEST_CASE(message_state_follows_frames) {
  ws::frame_parser p(false, 1 << 20);
  bytes wire = cat({frame(false, ws::opcode::text, to_bytes("ab"), false),
                    frame(true, ws::opcode::cont, to_bytes("cde"), false), frame(true, ws::opcode::binary, {}, false)});
  std::span<std::uint8_t> rest(wire);
  std::size_t consumed = 0;
  auto step = [&](kind expected) {
    const kind got = p.next(rest, consumed);
    BOOST_TEST((got == expected));
    rest = rest.subspan(consumed);
  };
  BOOST_TEST((p.message_opcode() == ws::opcode::cont));
  step(kind::frame_begin);
  BOOST_TEST((p.message_opcode() == ws::opcode::text));
  BOOST_TEST(p.message_size() == 0u);
  step(kind::data);
  BOOST_TEST(p.message_size() == 2u);
  step(kind::frame_end);
  BOOST_TEST(!p.header().fin);
  BOOST_TEST((p.message_opcode() == ws::opcode::text));
  step(kind::frame_begin);
  BOOST_TEST((p.header().op == ws::opcode::cont));
  BOOST_TEST((p.message_opcode() == ws::opcode::text));
  BOOST_TEST(p.message_size() == 2u);
  step(kind::data);
  BOOST_TEST(p.payload_offset() == 0u);
  BOOST_TEST(p.message_size() == 5u);
  step(kind::frame_end);
  BOOST_TEST(p.header().fin);
  // Still describes the message at its final frame_end...
  BOOST_TEST((p.message_opcode() == ws::opcode::text));
  BOOST_TEST(p.message_size() == 5u);
  // ...and an empty binary message comes next: begin and end, no data.
  step(kind::frame_begin);
  BOOST_TEST((p.message_opcode() == ws::opcode::binary));
  BOOST_TEST(p.message_size() == 0u);
  BOOST_TEST(p.header().length == 0u);
  step(kind::frame_end);
  BOOST_TEST((p.message_opcode() == ws::opcode::binary));
  BOOST_TEST(rest.empty());
  // ...and from the next call on, no message is in progress.
  step(kind::need_more);
  BOOST_TEST((p.message_opcode() == ws::opcode::cont));
  BOOST_TEST(p.message_size() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(compressed_frames)

namespace {

/// The first event's kind and the parser's view of it, with RSV1 allowed.
ws::frame_parser::kind first_event(ws::frame_parser& p, bytes& wire) {
  p.allow_compressed(true);
  std::size_t consumed = 0;
  return p.next(wire, consumed);
}

}  // namespace

BOOST_AUTO_TEST_CASE(rsv1_starts_a_compressed_message_when_negotiated) {
  for (ws::opcode op : {ws::opcode::text, ws::opcode::binary}) {
    ws::frame_parser p(true, 1 << 20);
    // Not valid UTF-8 in clear: compressed text is checked after inflating.
    bytes wire = frame(true, op, {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, true);
    wire[0] |= 0x40;
    BOOST_REQUIRE((first_event(p, wire) == ws::frame_parser::kind::frame_begin));
    BOOST_TEST(p.header().compressed);
    BOOST_TEST(p.message_compressed());
    std::size_t consumed = 0;
    std::span<std::uint8_t> rest(wire);
    rest = rest.subspan(2 + 4);
    BOOST_REQUIRE((p.next(rest, consumed) == ws::frame_parser::kind::data));
    rest = rest.subspan(consumed);
    BOOST_REQUIRE((p.next(rest, consumed) == ws::frame_parser::kind::frame_end));
  }
}

BOOST_AUTO_TEST_CASE(rsv1_elsewhere_is_still_a_protocol_error) {
  // On a control frame, on a continuation, and RSV2/RSV3 anywhere.
  for (std::uint8_t rsv : {0x40, 0x20, 0x10}) {
    ws::frame_parser ping(true, 1 << 20);
    bytes wire = frame(true, ws::opcode::ping, to_bytes("x"), true);
    wire[0] |= rsv;
    BOOST_TEST((first_event(ping, wire) == ws::frame_parser::kind::error));
    BOOST_TEST(ping.error_code() == 1002u);
    ws::frame_parser cont(true, 1 << 20);
    bytes two = cat({frame(false, ws::opcode::binary, {1}, true), frame(true, ws::opcode::cont, {2}, true)});
    two[7] |= rsv;
    cont.allow_compressed(true);
    std::span<std::uint8_t> in(two);
    ws::frame_parser::kind k{};
    for (int i = 0; i < 8 && !in.empty(); ++i) {
      std::size_t used = 0;
      k = cont.next(in, used);
      in = in.subspan(used);
      if (k == ws::frame_parser::kind::error) {
        break;
      }
    }
    BOOST_TEST((k == ws::frame_parser::kind::error));
    if (rsv != 0x40) {
      ws::frame_parser text(true, 1 << 20);
      bytes t = frame(true, ws::opcode::text, to_bytes("ab"), true);
      t[0] |= rsv;
      BOOST_TEST((first_event(text, t) == ws::frame_parser::kind::error));
    }
  }
}

BOOST_AUTO_TEST_CASE(compressed_message_gets_a_little_slack_over_the_limit) {
  // Incompressible data grows a little when deflated: a message that
  // inflates to the limit must not be refused for its compressed size.
  ws::frame_parser p(true, 1000);
  bytes wire = frame(true, ws::opcode::binary, bytes(1005, 0), true);
  wire[0] |= 0x40;
  BOOST_TEST((first_event(p, wire) == ws::frame_parser::kind::frame_begin));
  ws::frame_parser plain(true, 1000);
  bytes clear = frame(true, ws::opcode::binary, bytes(1005, 0), true);
  BOOST_TEST((first_event(plain, clear) == ws::frame_parser::kind::error));
  BOOST_TEST(plain.error_code() == 1009u);
}

BOOST_AUTO_TEST_SUITE_END()
