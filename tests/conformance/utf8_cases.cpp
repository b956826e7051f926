// Autobahn section 6: UTF-8 in text messages, whole and split across
// fragments; each sequence of Markus Kuhn's decoder stress test that
// Autobahn uses is one case. Invalid text ends the sender with 1007 before
// the frame holding the first bad byte is relayed.
#include "conformance_case.hpp"

namespace tt::conformance {
namespace {

const std::string kosme = "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5";

struct sample {
  const char* id;
  const char* what;
  std::string bytes;
  bool valid;
};

std::vector<frame_spec> one_byte_fragments(const std::string& s) {
  std::vector<frame_spec> frames;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool fin = i + 1 == s.size();
    frames.push_back(i == 0 ? text(s.substr(i, 1), fin) : cont(s.substr(i, 1), fin));
  }
  return frames;
}

std::vector<sample> samples() {
  std::vector<sample> s = {
      {"6.5.1", "κόσμε", kosme, true},
      {"6.7.1", "U+0000", std::string(1, '\0'), true},
      {"6.7.2", "U+0080", "\xC2\x80", true},
      {"6.7.3", "U+0800", "\xE0\xA0\x80", true},
      {"6.7.4", "U+10000", "\xF0\x90\x80\x80", true},
      {"6.8.1", "5-byte sequence", "\xF8\x88\x80\x80\x80", false},
      {"6.8.2", "6-byte sequence", "\xFC\x84\x80\x80\x80\x80", false},
      {"6.9.1", "U+007F", "\x7F", true},
      {"6.9.2", "U+07FF", "\xDF\xBF", true},
      {"6.9.3", "U+FFFF", "\xEF\xBF\xBF", true},
      {"6.9.4", "U+10FFFF", "\xF4\x8F\xBF\xBF", true},
      {"6.10.1", "U+1FFFFF", "\xF7\xBF\xBF\xBF", false},
      {"6.10.2", "5-byte max", "\xFB\xBF\xBF\xBF\xBF", false},
      {"6.10.3", "6-byte max", "\xFD\xBF\xBF\xBF\xBF\xBF", false},
      {"6.11.1", "U+D7FF", "\xED\x9F\xBF", true},
      {"6.11.2", "U+E000", "\xEE\x80\x80", true},
      {"6.11.3", "U+FFFD", "\xEF\xBF\xBD", true},
      {"6.11.4", "U+10FFFF then text", "\xF4\x8F\xBF\xBF" "end", true},
      {"6.11.5", "U+110000", "\xF4\x90\x80\x80", false},
      {"6.12.1", "continuation 0x80", "\x80", false},
      {"6.12.2", "continuation 0xBF", "\xBF", false},
      {"6.12.3", "2 continuations", "\x80\xBF", false},
      {"6.12.4", "3 continuations", "\x80\xBF\x80", false},
      {"6.12.5", "4 continuations", "\x80\xBF\x80\xBF", false},
      {"6.12.6", "5 continuations", "\x80\xBF\x80\xBF\x80", false},
      {"6.12.7", "6 continuations", "\x80\xBF\x80\xBF\x80\xBF", false},
      {"6.12.8", "7 continuations", "\x80\xBF\x80\xBF\x80\xBF\x80", false},
      {"6.14.1", "C0 missing its last byte", "\xC0", false},
      {"6.14.2", "E0 80 missing its last byte", "\xE0\x80", false},
      {"6.14.3", "F0 80 80 missing its last byte", "\xF0\x80\x80", false},
      {"6.14.4", "F8 80 80 80 missing its last byte", "\xF8\x80\x80\x80", false},
      {"6.14.5", "FC 80 80 80 80 missing its last byte", "\xFC\x80\x80\x80\x80", false},
      {"6.14.6", "DF missing its last byte", "\xDF", false},
      {"6.14.7", "EF BF missing its last byte", "\xEF\xBF", false},
      {"6.14.8", "F7 BF BF missing its last byte", "\xF7\xBF\xBF", false},
      {"6.14.9", "FB BF BF BF missing its last byte", "\xFB\xBF\xBF\xBF", false},
      {"6.14.10", "FD BF BF BF BF missing its last byte", "\xFD\xBF\xBF\xBF\xBF", false},
      {"6.16.1", "byte FE", "\xFE", false},
      {"6.16.2", "byte FF", "\xFF", false},
      {"6.16.3", "FE FE FF FF", "\xFE\xFE\xFF\xFF", false},
      {"6.17.1", "overlong '/' in 2 bytes", "\xC0\xAF", false},
      {"6.17.2", "overlong '/' in 3 bytes", "\xE0\x80\xAF", false},
      {"6.17.3", "overlong '/' in 4 bytes", "\xF0\x80\x80\xAF", false},
      {"6.17.4", "overlong '/' in 5 bytes", "\xF8\x80\x80\x80\xAF", false},
      {"6.17.5", "overlong '/' in 6 bytes", "\xFC\x80\x80\x80\x80\xAF", false},
      {"6.18.1", "overlong U+007F", "\xC1\xBF", false},
      {"6.18.2", "overlong U+07FF", "\xE0\x9F\xBF", false},
      {"6.18.3", "overlong U+FFFF", "\xF0\x8F\xBF\xBF", false},
      {"6.18.4", "overlong U+1FFFFF", "\xF8\x87\xBF\xBF\xBF", false},
      {"6.18.5", "overlong U+3FFFFFF", "\xFC\x83\xBF\xBF\xBF\xBF", false},
      {"6.19.1", "overlong NUL in 2 bytes", "\xC0\x80", false},
      {"6.19.2", "overlong NUL in 3 bytes", "\xE0\x80\x80", false},
      {"6.19.3", "overlong NUL in 4 bytes", "\xF0\x80\x80\x80", false},
      {"6.19.4", "overlong NUL in 5 bytes", "\xF8\x80\x80\x80\x80", false},
      {"6.19.5", "overlong NUL in 6 bytes", "\xFC\x80\x80\x80\x80\x80", false},
      {"6.20.1", "surrogate U+D800", "\xED\xA0\x80", false},
      {"6.20.2", "surrogate U+DB7F", "\xED\xAD\xBF", false},
      {"6.20.3", "surrogate U+DB80", "\xED\xAE\x80", false},
      {"6.20.4", "surrogate U+DBFF", "\xED\xAF\xBF", false},
      {"6.20.5", "surrogate U+DC00", "\xED\xB0\x80", false},
      {"6.20.6", "surrogate U+DF80", "\xED\xBE\x80", false},
      {"6.20.7", "surrogate U+DFFF", "\xED\xBF\xBF", false},
      {"6.21.1", "surrogates U+D800 U+DC00", "\xED\xA0\x80\xED\xB0\x80", false},
      {"6.21.2", "surrogates U+D800 U+DFFF", "\xED\xA0\x80\xED\xBF\xBF", false},
      {"6.21.3", "surrogates U+DB7F U+DC00", "\xED\xAD\xBF\xED\xB0\x80", false},
      {"6.21.4", "surrogates U+DB7F U+DFFF", "\xED\xAD\xBF\xED\xBF\xBF", false},
      {"6.21.5", "surrogates U+DB80 U+DC00", "\xED\xAE\x80\xED\xB0\x80", false},
      {"6.21.6", "surrogates U+DB80 U+DFFF", "\xED\xAE\x80\xED\xBF\xBF", false},
      {"6.21.7", "surrogates U+DBFF U+DC00", "\xED\xAF\xBF\xED\xB0\x80", false},
      {"6.21.8", "surrogates U+DBFF U+DFFF", "\xED\xAF\xBF\xED\xBF\xBF", false},
      {"6.22.1", "noncharacter U+FFFE", "\xEF\xBF\xBE", true},
      {"6.22.2", "noncharacter U+1FFFE", "\xF0\x9F\xBF\xBE", true},
      {"6.22.3", "noncharacter U+1FFFF", "\xF0\x9F\xBF\xBF", true},
      {"6.22.4", "noncharacter U+FFFFE", "\xF3\xBF\xBF\xBE", true},
      {"6.22.5", "noncharacter U+10FFFE", "\xF4\x8F\xBF\xBE", true},
      {"6.22.6", "noncharacter U+FDD0", "\xEF\xB7\x90", true},
      {"6.22.7", "noncharacter U+FDEF", "\xEF\xB7\xAF", true},
      {"6.23.1", "κόσμε, U+FFFD", kosme + "\xEF\xBF\xBD", true},
  };
  // 6.6: κόσμε cut after each of its 11 bytes; only cuts between characters are valid.
  for (std::size_t n = 1; n <= kosme.size(); ++n) {
    static const char* ids[] = {"6.6.1", "6.6.2", "6.6.3", "6.6.4", "6.6.5", "6.6.6",
                                "6.6.7", "6.6.8", "6.6.9", "6.6.10", "6.6.11"};
    const bool boundary = n == 2 || n == 5 || n == 7 || n == 9 || n == 11;
    s.push_back({ids[n - 1], "first bytes of κόσμε", kosme.substr(0, n), boundary});
  }
  // 6.13: each kind of lead byte followed by a space instead of its continuation.
  s.push_back({"6.13.1", "2-byte lead, then space", "\xC0 \xC5 \xDF ", false});
  s.push_back({"6.13.2", "3-byte lead, then space", "\xE0 \xE8 \xEF ", false});
  s.push_back({"6.13.3", "4-byte lead, then space", "\xF0 \xF4 \xF7 ", false});
  s.push_back({"6.13.4", "5-byte lead, then space", "\xF8 \xFB ", false});
  s.push_back({"6.13.5", "6-byte lead, then space", "\xFC \xFD ", false});
  return s;
}

}  // namespace

std::vector<conf_case> utf8_cases() {
  std::vector<conf_case> out;
  out.push_back({"6.1.1 empty text", {text("")}, relayed({{true, ""}})});
  out.push_back({"6.1.2 empty text in 3 empty fragments", {text("", false), cont("", false), cont("")},
                 relayed({{true, ""}})});
  out.push_back({"6.1.3 text fragments empty, 'middle', empty", {text("", false), cont("middle", false), cont("")},
                 relayed({{true, "middle"}})});
  const std::string hello = "Hello-\xC2\xB5@\xC3\x9F\xC3\xB6\xC3\xA4\xC3\xBC\xC3\xA0\xC3\xA1-UTF-8!!";
  out.push_back({"6.2.1 valid UTF-8, one frame", {text(hello)}, relayed({{true, hello}})});
  out.push_back({"6.2.2 valid UTF-8, fragments cut between characters",
                 {text(hello.substr(0, 8), false), cont(hello.substr(8))}, relayed({{true, hello}})});
  out.push_back({"6.2.3 valid UTF-8, one byte per fragment", one_byte_fragments(hello), relayed({{true, hello}})});
  out.push_back({"6.2.4 κόσμε, one byte per fragment", one_byte_fragments(kosme), relayed({{true, kosme}})});

  const std::string bad = kosme + "\xED\xA0\x80" "edited";
  out.push_back({"6.3.1 invalid UTF-8, one frame", {text(bad)}, rejected(1007)});
  auto fail_fast = rejected(1007);
  fail_fast.partial = message{true, kosme + "\xED"};  // ED may start a character; A0 cannot follow it
  out.push_back({"6.3.2 invalid UTF-8, one byte per fragment", one_byte_fragments(bad), fail_fast});
  auto after_kosme = rejected(1007);
  after_kosme.partial = message{true, kosme};
  auto after_lead = rejected(1007);
  after_lead.partial = message{true, kosme + "\xF4"};
  out.push_back({"6.4.1 invalid middle fragment", {text(kosme, false), cont("\xF4\x90\x80\x80", false), cont("edited")},
                 after_kosme});
  out.push_back({"6.4.2 character cut, bad continuation in the next fragment",
                 {text(kosme + "\xF4", false), cont("\x90\x80\x80", false), cont("edited")}, after_lead});
  out.push_back({"6.4.3 invalid middle fragment, 1-byte writes",
                 {text(kosme, false), chopped(cont("\xF4\x90\x80\x80", false), 1), cont("edited")}, after_kosme});
  out.push_back({"6.4.4 character cut, 1-byte writes",
                 {text(kosme + "\xF4", false), chopped(cont("\x90\x80\x80", false), 1), cont("edited")}, after_lead});
  auto cut_at_end = rejected(1007);
  cut_at_end.partial = message{true, "caf\xC3"};
  out.push_back({"6.4.5 message ends inside a character", {text("caf\xC3", false), cont("")}, cut_at_end});
  const std::string e_acute = "\xC3\xA9";
  std::string wide;
  for (int i = 0; i < 50000; ++i) {
    wide += e_acute;
  }
  out.push_back({"6.4.6 100 KB of 2-byte characters in one streamed frame", {text(wide)}, relayed({{true, wide}})});
  auto dropped = rejected(1007);
  dropped.receiver_dropped = true;  // the frame's start is out: no close frame can follow it
  out.push_back({"6.4.7 invalid UTF-8 deep inside a streamed frame",
                 {text(std::string(60000, 'a') + "\xC0\xAF" + std::string(40000, 'a'))}, dropped});
  out.push_back({"6.4.8 binary is not UTF-8 checked", {binary(bad + "\xFF\xC0")}, relayed({{false, bad + "\xFF\xC0"}})});

  for (const auto& s : samples()) {
    const std::string name = std::string(s.id) + " " + s.what + (s.valid ? " (valid)" : " (invalid)");
    out.push_back({name, {text(s.bytes)}, s.valid ? relayed({{true, s.bytes}}) : rejected(1007)});
  }
  return out;
}

}  // namespace tt::conformance
