// Autobahn section 7: the closing handshake passes through tether with its
// code and reason, nothing the sender writes after its close is relayed,
// and a close frame tether cannot pass on (bad code, bad length, bad UTF-8)
// is a protocol error.
#include "conformance_case.hpp"
#include "extra_relay.hpp"

namespace tt::conformance {

std::vector<conf_case> close_cases() {
  std::vector<conf_case> out;
  const message hello{true, "Hello World!"};
  out.push_back({"7.1.1 message, then close", {text(hello.data), close_frame(1000)}, closed(1000, {}, {hello})});
  out.push_back({"7.1.2 close twice", {close_frame(1000), close_frame(1000)}, closed(1000)});
  out.push_back({"7.1.3 close, then ping", {close_frame(1000), ping("after close")}, closed(1000)});
  out.push_back({"7.1.4 close, then message", {close_frame(1000), text("after close")}, closed(1000)});
  auto mid_message = closed(1000);
  mid_message.partial = message{true, "fragment1"};
  out.push_back({"7.1.5 close between fragments", {text("fragment1", false), close_frame(1000), cont("fragment2")},
                 mid_message});
  const std::string big(200 * 1024, '\x5A');
  out.push_back({"7.1.6 200 KB message, then close", {binary(big), close_frame(1000)}, closed(1000, {}, {{false, big}})});
  auto pong_first = closed(1000, "after ping");
  pong_first.pongs = {"before close"};
  out.push_back({"7.1.7 ping, then close", {ping("before close"), close_frame(1000, "after ping")}, pong_first});

  out.push_back({"7.3.1 close without a body", {close_frame(1005)}, closed(1005)});
  out.push_back({"7.3.2 close with a 1-byte body", {{0x88, "\x03"}}, rejected(1002)});
  out.push_back({"7.3.3 close 1000 without a reason", {close_frame(1000)}, closed(1000)});
  out.push_back({"7.3.4 close 1000 with a reason", {close_frame(1000, "Hello World!")}, closed(1000, "Hello World!")});
  const std::string r123(123, '*');
  out.push_back({"7.3.5 close with a 123-byte reason", {close_frame(1000, r123)}, closed(1000, r123)});
  out.push_back({"7.3.6 close with a 124-byte reason", {{0x88, close_body(1000, std::string(124, '*'))}},
                 rejected(1002)});
  out.push_back({"7.3.7 close in 1-byte writes", {chopped(close_frame(1000, "chopped"), 1)}, closed(1000, "chopped")});
  out.push_back({"7.5.1 close reason with invalid UTF-8",
                 {close_frame(1000, "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xED\xA0\x80" "edited")},
                 rejected(1007)});
  const std::string kosme = "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5";
  out.push_back({"7.5.2 close reason in UTF-8", {close_frame(1000, kosme)}, closed(1000, kosme)});

  int n = 1;
  for (const std::uint16_t code :
       {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999}) {
    out.push_back({"7.7." + std::to_string(n++) + " close code " + std::to_string(code) + " passes",
                   {close_frame(code, "code " + std::to_string(code))}, closed(code, "code " + std::to_string(code))});
  }
  n = 1;
  for (const std::uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    // close_body, not close_frame: 1005 must go on the wire as a code here.
    out.push_back({"7.9." + std::to_string(n++) + " close code " + std::to_string(code) + " is refused",
                   {{0x88, close_body(code)}}, rejected(1002)});
  }
  return out;
}

}  // namespace tt::conformance
