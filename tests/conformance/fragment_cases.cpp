// Autobahn section 5: fragmented messages, control frames between
// fragments, and every way a continuation can be out of place.
#include "conformance_case.hpp"

namespace tt::conformance {
namespace {

std::vector<frame_spec> chop_all(std::vector<frame_spec> frames, std::size_t piece) {
  for (auto& f : frames) {
    f = chopped(f, piece);
  }
  return frames;
}

outcome with_partial(outcome o, message partial) {
  o.partial = std::move(partial);
  return o;
}

}  // namespace

std::vector<conf_case> fragment_cases() {
  std::vector<conf_case> out;
  const message whole{true, "fragment1fragment2"};
  out.push_back({"5.1 ping in 2 fragments", {{0x09, "ping payload"}, cont("ping payload")}, rejected(1002)});
  out.push_back({"5.2 pong in 2 fragments", {{0x0A, "pong payload"}, cont("pong payload")}, rejected(1002)});

  const std::vector<frame_spec> two = {text("fragment1", false), cont("fragment2")};
  out.push_back({"5.3 text in 2 fragments", two, relayed({whole})});
  out.push_back({"5.4 text in 2 fragments, 1-byte writes", chop_all(two, 1), relayed({whole})});
  out.push_back({"5.5 text in 2 fragments, 3-byte writes", chop_all(two, 3), relayed({whole})});

  const std::vector<frame_spec> with_ping = {text("fragment1", false), ping("ping payload"), cont("fragment2")};
  out.push_back({"5.6 text in 2 fragments, ping between", with_ping, relayed({whole}, {"ping payload"})});
  out.push_back({"5.7 text in 2 fragments, ping between, 1-byte writes", chop_all(with_ping, 1),
                 relayed({whole}, {"ping payload"})});
  out.push_back({"5.8 text in 2 fragments, ping between, 3-byte writes", chop_all(with_ping, 3),
                 relayed({whole}, {"ping payload"})});

  const std::vector<frame_spec> orphan_fin = {cont("fragment1"), text("fragment2"), ping("")};
  out.push_back({"5.9 final continuation without a message", orphan_fin, rejected(1002)});
  out.push_back({"5.10 final continuation without a message, 1-byte writes", chop_all(orphan_fin, 1), rejected(1002)});
  out.push_back({"5.11 final continuation without a message, 3-byte writes", chop_all(orphan_fin, 3), rejected(1002)});
  const std::vector<frame_spec> orphan = {cont("fragment1", false), text("fragment2"), ping("")};
  out.push_back({"5.12 continuation without a message", orphan, rejected(1002)});
  out.push_back({"5.13 continuation without a message, 1-byte writes", chop_all(orphan, 1), rejected(1002)});
  out.push_back({"5.14 continuation without a message, 3-byte writes", chop_all(orphan, 3), rejected(1002)});

  out.push_back({"5.15 continuation after a finished message",
                 {text("fragment1", false), cont("fragment2"), cont("fragment3", false), text("fragment4")},
                 rejected(1002, {whole})});
  out.push_back({"5.16 continuation, then text, twice",
                 {cont("fragment1", false), text("fragment2", false), cont("fragment3"), cont("fragment4", false),
                  text("fragment5", false), cont("fragment6")},
                 rejected(1002)});
  out.push_back({"5.17 final continuation, then text, twice",
                 {cont("fragment1"), text("fragment2", false), cont("fragment3"), cont("fragment4"),
                  text("fragment5", false), cont("fragment6")},
                 rejected(1002)});
  out.push_back({"5.18 text inside a fragmented text", {text("fragment1", false), text("fragment2")},
                 with_partial(rejected(1002), {true, "fragment1"})});
  const std::vector<frame_spec> five = {text("fragment1", false), cont("fragment2", false), ping("pongme 1!"),
                                        cont("fragment3", false),  cont("fragment4", false), ping("pongme 2!"),
                                        cont("fragment5")};
  const message five_whole{true, "fragment1fragment2fragment3fragment4fragment5"};
  out.push_back({"5.19 text in 5 fragments, 2 pings between", five, relayed({five_whole}, {"pongme 1!", "pongme 2!"})});
  out.push_back({"5.20 text in 5 fragments, 2 pings between, 3-byte writes", chop_all(five, 3),
                 relayed({five_whole}, {"pongme 1!", "pongme 2!"})});

  out.push_back({"5.21 binary in 3 fragments", {binary("\x01\x02", false), cont("\x03", false), cont("\xFF")},
                 relayed({{false, "\x01\x02\x03\xFF"}})});
  out.push_back({"5.22 text in 3 empty fragments", {text("", false), cont("", false), cont("")}, relayed({{true, ""}})});
  out.push_back({"5.23 empty first fragment", {text("", false), cont("rest")}, relayed({{true, "rest"}})});
  std::vector<frame_spec> bytes = {binary("b", false)};
  for (int i = 0; i < 98; ++i) {
    bytes.push_back(cont(std::string(1, static_cast<char>(i)), false));
  }
  bytes.push_back(cont("e"));
  std::string all = "b";
  for (int i = 0; i < 98; ++i) {
    all += static_cast<char>(i);
  }
  out.push_back({"5.24 binary in 100 one-byte fragments", bytes, relayed({{false, all + "e"}})});
  out.push_back({"5.25 text inside a fragmented binary", {binary("\x01", false), text("t")},
                 with_partial(rejected(1002), {false, "\x01"})});
  out.push_back({"5.26 fragmented ping inside a fragmented text", {text("frag", false), {0x09, "p"}, cont("ment")},
                 with_partial(rejected(1002), {true, "frag"})});
  out.push_back({"5.27 two fragmented messages back to back",
                 {text("a", false), cont("b"), binary("c", false), cont("d")},
                 relayed({{true, "ab"}, {false, "cd"}})});
  return out;
}

}  // namespace tt::conformance
