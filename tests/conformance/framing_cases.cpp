// Autobahn sections 1 to 4: frame sizes, pings and pongs, reserved bits,
// reserved opcodes; plus the framing rules Autobahn leaves to section 1's
// peers (masking, minimal lengths).
#include "conformance_case.hpp"

namespace tt::conformance {
namespace {

void add_sizes(std::vector<conf_case>& out) {
  int n = 1;
  for (const std::size_t size : {0, 125, 126, 127, 128, 65535, 65536}) {
    const std::string t(size, '*');
    const std::string b(size, '\xFE');
    out.push_back({"1.1." + std::to_string(n) + " text, " + std::to_string(size) + " bytes", {text(t)},
                   relayed({{true, t}})});
    out.push_back({"1.2." + std::to_string(n) + " binary, " + std::to_string(size) + " bytes", {binary(b)},
                   relayed({{false, b}})});
    ++n;
  }
  const std::string t(65536, '*');
  out.push_back({"1.1.8 text, 65536 bytes in writes of 997", {chopped(text(t), 997)}, relayed({{true, t}})});
  const std::string b(65536, '\xFE');
  out.push_back({"1.2.8 binary, 65536 bytes in writes of 997", {chopped(binary(b), 997)}, relayed({{false, b}})});
}

void add_bad_framing(std::vector<conf_case>& out) {
  auto wrong_mask = [](frame_spec f) {
    f.wrong_mask = true;
    return f;
  };
  auto form = [](frame_spec f, length_form l) {
    f.form = l;
    return f;
  };
  out.push_back({"1.3.1 text with the wrong mask bit", {wrong_mask(text("Hello"))}, rejected(1002)});
  out.push_back({"1.3.2 ping with the wrong mask bit", {wrong_mask(ping("Hello"))}, rejected(1002)});
  out.push_back({"1.3.3 message, then a frame with the wrong mask bit", {text("first"), wrong_mask(binary("x"))},
                 rejected(1002, {{true, "first"}})});
  out.push_back({"1.3.4 5 bytes in the 16-bit length form", {form(text("Hello"), length_form::ext16)}, rejected(1002)});
  out.push_back({"1.3.5 5 bytes in the 64-bit length form", {form(text("Hello"), length_form::ext64)}, rejected(1002)});
  out.push_back({"1.3.6 64-bit length with the top bit set", {form(binary("Hello"), length_form::top_bit)},
                 rejected(1002)});
}

void add_pings(std::vector<conf_case>& out) {
  const std::string p125(125, '\xFE');
  const std::string bin("\x00\xFF\xFE\xFD\xFC\xFB\x00\xFF", 8);
  out.push_back({"2.1 ping, empty", {ping("")}, relayed({}, {""})});
  out.push_back({"2.2 ping, text payload", {ping("Hello, world!")}, relayed({}, {"Hello, world!"})});
  out.push_back({"2.3 ping, binary payload", {ping(bin)}, relayed({}, {bin})});
  out.push_back({"2.4 ping, 125 bytes", {ping(p125)}, relayed({}, {p125})});
  out.push_back({"2.5 ping, 126 bytes", {{0x89, std::string(126, '\xFE')}}, rejected(1002)});
  out.push_back({"2.6 ping, 125 bytes in 1-byte writes", {chopped(ping(p125), 1)}, relayed({}, {p125})});
  out.push_back({"2.7 unsolicited pong, empty", {pong("")}, relayed({})});
  out.push_back({"2.8 unsolicited pong, payload", {pong("unsolicited pong payload")}, relayed({})});
  out.push_back({"2.9 unsolicited pong, then ping", {pong("unsolicited pong payload"), ping("ping payload")},
                 relayed({}, {"ping payload"})});
  std::vector<frame_spec> pings, pings_chopped;
  std::vector<std::string> payloads;
  for (int i = 0; i < 10; ++i) {
    payloads.push_back("payload-" + std::to_string(i));
    pings.push_back(ping(payloads.back()));
    pings_chopped.push_back(chopped(ping(payloads.back()), 1));
  }
  out.push_back({"2.10 ten pings", pings, relayed({}, payloads)});
  out.push_back({"2.11 ten pings in 1-byte writes", pings_chopped, relayed({}, payloads)});
  out.push_back({"2.12 ping between two messages", {text("a"), ping("x"), binary("b")},
                 relayed({{true, "a"}, {false, "b"}}, {"x"})});
}

void add_reserved_bits(std::vector<conf_case>& out) {
  const message hello{true, "Hello, world!"};
  out.push_back({"3.1 RSV1 on text", {{0xC1, "Hello, world!"}}, rejected(1002)});
  out.push_back({"3.2 RSV2 on text after a message, then ping", {text(hello.data), {0xA1, "Hello, world!"}, ping("")},
                 rejected(1002, {hello})});
  out.push_back({"3.3 RSV3 on text, 1-byte writes",
                 {chopped(text(hello.data), 1), chopped({0x91, "Hello, world!"}, 1), chopped(ping(""), 1)},
                 rejected(1002, {hello})});
  out.push_back({"3.4 RSV1+RSV3 on text, 1-byte writes",
                 {chopped(text(hello.data), 1), chopped({0xD1, "Hello, world!"}, 1), chopped(ping(""), 1)},
                 rejected(1002, {hello})});
  out.push_back({"3.5 RSV1+RSV2 on binary", {{0xE2, std::string("\x00\xFF\xFE\xFD", 4)}}, rejected(1002)});
  out.push_back({"3.6 RSV1+RSV2+RSV3 on ping", {{0xF9, "Hello, world!"}}, rejected(1002)});
  out.push_back({"3.7 RSV1+RSV2+RSV3 on close", {{0xF8, close_frame(1000).payload}}, rejected(1002)});
  auto rsv_cont = rejected(1002);
  rsv_cont.partial = message{true, "frag"};
  out.push_back({"3.8 RSV2 on a continuation frame", {text("frag", false), {0xA0, "ment"}}, rsv_cont});
}

void add_opcodes(std::vector<conf_case>& out) {
  const message hello{true, "Hello, world!"};
  const std::string payload = "reserved opcode payload";
  for (int op = 3; op <= 15; ++op) {
    if (op >= 8 && op <= 10) {
      continue;
    }
    const auto b0 = static_cast<std::uint8_t>(0x80 | op);
    const std::string sec = op < 8 ? "4.1." : "4.2.";
    const int k = op < 8 ? op - 2 : op - 10;
    const std::string name = sec + std::to_string(k) + " reserved opcode " + std::to_string(op);
    switch (k) {
      case 1:
        out.push_back({name + ", empty", {{b0, ""}}, rejected(1002)});
        break;
      case 2:
        out.push_back({name + ", with payload", {{b0, payload}}, rejected(1002)});
        break;
      case 3:
        out.push_back({name + " after a message, then ping", {text(hello.data), {b0, ""}, ping("")},
                       rejected(1002, {hello})});
        break;
      case 4:
        out.push_back({name + " with payload after a message, then ping", {text(hello.data), {b0, payload}, ping("")},
                       rejected(1002, {hello})});
        break;
      default:
        out.push_back({name + ", 1-byte writes",
                       {chopped(text(hello.data), 1), chopped({b0, payload}, 1), chopped(ping(""), 1)},
                       rejected(1002, {hello})});
    }
  }
}

}  // namespace

std::vector<conf_case> framing_cases() {
  std::vector<conf_case> out;
  add_sizes(out);
  add_bad_framing(out);
  add_pings(out);
  add_reserved_bits(out);
  add_opcodes(out);
  return out;
}

}  // namespace tt::conformance
