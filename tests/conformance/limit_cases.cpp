// Autobahn section 9 scaled to tether's max_message_size (message_limit):
// large and many messages pass whole and in order; a message over the limit
// ends its sender with 1009 before its first oversized frame is relayed.
#include "conformance_case.hpp"
#include "extra_relay.hpp"

namespace tt::conformance {

std::vector<conf_case> limit_cases() {
  std::vector<conf_case> out;
  const auto limit = message_limit;
  const std::string text_limit(limit, 'x');
  const auto bin_limit = random_bytes(limit, 9);
  out.push_back({"9.1.1 text of 64 KB + 1 (streamed)", {text(std::string(65537, 't'))},
                 relayed({{true, std::string(65537, 't')}})});
  out.push_back({"9.1.2 text of exactly max_message_size", {text(text_limit)}, relayed({{true, text_limit}})});
  out.push_back({"9.1.3 binary of exactly max_message_size", {binary(bin_limit)}, relayed({{false, bin_limit}})});
  out.push_back({"9.1.4 text of max_message_size + 1", {text(text_limit + "x")}, rejected(1009)});
  out.push_back({"9.1.5 binary of max_message_size + 1", {binary(bin_limit + "x")}, rejected(1009)});
  out.push_back({"9.1.6 message after an oversized one is not relayed", {binary(bin_limit + "x"), text("after")},
                 rejected(1009)});

  std::vector<frame_spec> quarters;
  for (std::size_t i = 0; i < 4; ++i) {
    quarters.push_back(i == 0 ? binary(bin_limit.substr(0, limit / 4), false)
                              : cont(bin_limit.substr(i * limit / 4, limit / 4), i == 3));
  }
  out.push_back({"9.2.1 max_message_size in 4 fragments", quarters, relayed({{false, bin_limit}})});
  std::vector<frame_spec> small_pieces;
  for (std::size_t at = 0; at < limit; at += 4096) {
    const bool fin = at + 4096 >= limit;
    small_pieces.push_back(at == 0 ? text(text_limit.substr(at, 4096), fin) : cont(text_limit.substr(at, 4096), fin));
  }
  out.push_back({"9.2.2 max_message_size in 4 KB fragments", small_pieces, relayed({{true, text_limit}})});
  // Messages stream: the limit is checked at each frame's header, so the
  // fragment that fits is out before the one that crosses the limit arrives.
  auto over = rejected(1009);
  over.partial = message{false, bin_limit.substr(0, limit / 2)};
  out.push_back({"9.2.3 fragments adding up to max_message_size + 1",
                 {binary(bin_limit.substr(0, limit / 2), false), cont(bin_limit.substr(limit / 2) + "x")}, over});
  out.push_back({"9.2.4 frame announcing 2^62 bytes", {binary("x")}, rejected(1009)});
  out.back().frames[0].form = length_form::huge;

  std::vector<frame_spec> many;
  std::vector<message> many_out;
  for (int i = 0; i < 1000; ++i) {
    many_out.push_back({i % 2 == 0, (i % 2 == 0 ? "m" : "b") + std::to_string(i)});
    many.push_back(i % 2 == 0 ? text(many_out.back().data) : binary(many_out.back().data));
  }
  out.push_back({"9.3.1 1000 small messages, text and binary", many, relayed(many_out)});
  std::vector<frame_spec> full_frames;
  std::vector<message> full_out;
  for (std::uint32_t i = 0; i < 3; ++i) {
    full_out.push_back({false, random_bytes(65536, 20 + i)});
    full_frames.push_back(binary(full_out.back().data));
  }
  out.push_back({"9.3.2 three 64 KB messages back to back", full_frames, relayed(full_out)});
  std::vector<frame_spec> empties = {binary("", false)};
  for (int i = 0; i < 200; ++i) {
    empties.push_back(cont("", false));
  }
  empties.push_back(cont("end"));
  out.push_back({"9.3.3 binary in 202 fragments, 201 of them empty", empties, relayed({{false, "end"}})});
  return out;
}

}  // namespace tt::conformance
