#include "conformance_case.hpp"

#include "extra_relay.hpp"

namespace tt::conformance {

frame_spec text(std::string payload, bool fin) { return {static_cast<std::uint8_t>(fin ? 0x81 : 0x01), std::move(payload)}; }
frame_spec binary(std::string payload, bool fin) { return {static_cast<std::uint8_t>(fin ? 0x82 : 0x02), std::move(payload)}; }
frame_spec cont(std::string payload, bool fin) { return {static_cast<std::uint8_t>(fin ? 0x80 : 0x00), std::move(payload)}; }
frame_spec ping(std::string payload) { return {0x89, std::move(payload)}; }
frame_spec pong(std::string payload) { return {0x8A, std::move(payload)}; }
frame_spec close_frame(std::uint16_t code, std::string reason) {
  return {0x88, code == 1005 ? std::string() : close_body(code, reason)};
}
frame_spec chopped(frame_spec f, std::size_t piece) {
  f.chop = piece;
  return f;
}

outcome relayed(std::vector<message> messages, std::vector<std::string> pongs) {
  outcome o;
  o.relayed = std::move(messages);
  o.pongs = std::move(pongs);
  return o;
}

outcome rejected(std::uint16_t code, std::vector<message> before, std::vector<std::string> pongs) {
  outcome o;
  o.end = ending::rejected;
  o.code = code;
  o.relayed = std::move(before);
  o.pongs = std::move(pongs);
  return o;
}

outcome closed(std::uint16_t code, std::string reason, std::vector<message> before) {
  outcome o;
  o.end = ending::closed;
  o.code = code;
  o.reason = std::move(reason);
  o.relayed = std::move(before);
  return o;
}

}  // namespace tt::conformance
