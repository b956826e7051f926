#pragma once
// The conformance suite's case format: what the sending peer writes, and
// what each peer must then see. A case is written once, in terms of
// "sender" and "receiver", and runs both ways through tether: the
// direction decides which peer masks and which close code the receiver
// gets when tether rejects the sender.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace tt::conformance {

/// How a frame's payload length is written. ext16, ext64 and top_bit are
/// protocol errors (RFC 6455 5.2); huge announces 2^62 bytes, over any limit.
enum class length_form { minimal, ext16, ext64, top_bit, huge };

/// One frame as the sender writes it.
struct frame_spec {
  std::uint8_t first_byte = 0;  // FIN | RSV | opcode
  std::string payload;
  std::size_t chop = 0;      // written in writes of this many bytes (0: one write)
  bool wrong_mask = false;   // masked from a backend, unmasked from a client
  length_form form = length_form::minimal;
};

enum class ending {
  stays_open,  // the session carries on; the suite closes it normally
  rejected,    // tether closes the sender with `code` (and the receiver with 1001/1014/1009)
  closed,      // the sender's close frame (`code`, `reason`) is relayed and answered
};

struct outcome {
  ending end = ending::stays_open;
  std::vector<message> relayed;      // whole messages the receiver gets, in order
  std::optional<message> partial;    // the start of a message it gets before the end
  std::vector<std::string> pongs;    // pong payloads the sender gets, in order
  std::uint16_t code = 0;            // rejected / closed; 1005: a close frame without a body
  std::string reason;                // closed
  bool receiver_dropped = false;     // rejected mid-frame: the receiver's connection ends without a close frame
};

struct conf_case {
  std::string name;
  std::vector<frame_spec> frames;
  outcome expect;
  /// A known tether bug: the case runs, and its failures are reported as expected.
  std::string known_bug;
};

// Builders for the tables.
frame_spec text(std::string payload, bool fin = true);
frame_spec binary(std::string payload, bool fin = true);
frame_spec cont(std::string payload, bool fin = true);
frame_spec ping(std::string payload);
frame_spec pong(std::string payload);
frame_spec close_frame(std::uint16_t code, std::string reason = {});
frame_spec chopped(frame_spec f, std::size_t piece);

outcome relayed(std::vector<message> messages, std::vector<std::string> pongs = {});
outcome rejected(std::uint16_t code, std::vector<message> before = {}, std::vector<std::string> pongs = {});
outcome closed(std::uint16_t code, std::string reason = {}, std::vector<message> before = {});

// The tables, by Autobahn section.
std::vector<conf_case> framing_cases();        // 1 framing, 2 pings, 3 reserved bits, 4 opcodes
std::vector<conf_case> fragment_cases();       // 5 fragmentation
std::vector<conf_case> utf8_cases();           // 6 UTF-8
std::vector<conf_case> close_cases();          // 7 close handling and codes
std::vector<conf_case> limit_cases();          // 9 sizes and max_message_size

/// max_message_size of the tether the cases run against.
inline constexpr std::size_t message_limit = 256 * 1024;

}  // namespace tt::conformance
