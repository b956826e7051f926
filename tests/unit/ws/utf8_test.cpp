#include <boost/test/unit_test.hpp>

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ws/utf8.hpp"

namespace {

using bytes = std::vector<std::uint8_t>;

bytes to_bytes(std::string_view s) { return bytes(s.begin(), s.end()); }

std::string hex(const bytes& b) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (std::uint8_t c : b) {
    out += digits[c >> 4];
    out += digits[c & 0xF];
    out += ' ';
  }
  return out;
}

// Independent of the validator under test: decodes code points and checks
// the RFC 3629 ranges, instead of tracking allowed byte ranges.
bool reference_valid(const bytes& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const std::uint8_t b = s[i];
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (b < 0x80) {
      len = 1;
      cp = b;
    } else if ((b & 0xE0) == 0xC0) {
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
    if (i + len > s.size()) {
      return false;
    }
    for (std::size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) {
        return false;
      }
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    static constexpr std::array<std::uint32_t, 5> min_cp{0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

// Feeds `s` split at `cuts` (ascending) and says whether it was accepted as a
// whole message.
bool feed_split(const bytes& s, const std::vector<std::size_t>& cuts) {
  tether::utf8_validator v;
  std::size_t start = 0;
  bool ok = true;
  auto piece = [&](std::size_t end) {
    // Exactly sized copies so ASan catches reads past a piece.
    bytes chunk(s.begin() + static_cast<std::ptrdiff_t>(start), s.begin() + static_cast<std::ptrdiff_t>(end));
    if (!v.feed(chunk)) {
      ok = false;
    }
    start = end;
  };
  for (std::size_t c : cuts) {
    piece(c);
  }
  piece(s.size());
  return ok && v.complete();
}

// Index of the byte at which feeding one byte at a time first fails, or
// s.size() when no byte fails.
std::size_t first_failing_byte(const bytes& s) {
  tether::utf8_validator v;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (!v.feed(std::span<const std::uint8_t>(&s[i], 1))) {
      return i;
    }
  }
  return s.size();
}

// Every way of cutting `s` into 1, 2 or 3 pieces, plus byte at a time, must
// agree with `expected`.
void check_all_splits(const bytes& s, bool expected) {
  const std::size_t n = s.size();
  std::size_t mismatches = 0;
  std::string first_mismatch;
  auto check = [&](const std::vector<std::size_t>& cuts) {
    if (feed_split(s, cuts) != expected) {
      if (mismatches++ == 0) {
        for (std::size_t c : cuts) {
          first_mismatch += std::to_string(c) + ",";
        }
      }
    }
  };
  check({});
  for (std::size_t a = 0; a <= n; ++a) {
    check({a});
    for (std::size_t b = a; b <= n; ++b) {
      check({a, b});
    }
  }
  std::vector<std::size_t> each;
  for (std::size_t i = 1; i < n; ++i) {
    each.push_back(i);
  }
  check(each);
  BOOST_TEST(mismatches == 0u, "input " << hex(s) << " expected " << expected << ", first bad split at "
                                        << first_mismatch);
}

struct invalid_case {
  const char* what;
  bytes input;
  // Byte at which a fail-fast validator must reject; input.size() when only
  // the missing end of a sequence makes it invalid.
  std::size_t fails_at;
};

std::vector<invalid_case> invalid_cases() {
  return {
      {"stray continuation 80", {0x80}, 0},
      {"stray continuation bf", {0xBF}, 0},
      {"continuation after ascii", {'a', 0x80, 'b'}, 1},
      {"extra continuation after 2-byte", {0xC2, 0x80, 0x80}, 2},
      {"overlong C0 AF ('/')", {0xC0, 0xAF}, 0},
      {"overlong C1 BF", {0xC1, 0xBF}, 0},
      {"overlong E0 80 AF", {0xE0, 0x80, 0xAF}, 1},
      {"overlong E0 9F BF", {0xE0, 0x9F, 0xBF}, 1},
      {"overlong F0 80 80 AF", {0xF0, 0x80, 0x80, 0xAF}, 1},
      {"overlong F0 8F BF BF", {0xF0, 0x8F, 0xBF, 0xBF}, 1},
      {"surrogate D800", {0xED, 0xA0, 0x80}, 1},
      {"surrogate DFFF", {0xED, 0xBF, 0xBF}, 1},
      {"surrogate pair", {0xED, 0xA0, 0x80, 0xED, 0xB0, 0x80}, 1},
      {"U+110000", {0xF4, 0x90, 0x80, 0x80}, 1},
      {"F4 BF BF BF", {0xF4, 0xBF, 0xBF, 0xBF}, 1},
      {"F5 lead", {0xF5, 0x80, 0x80, 0x80}, 0},
      {"F7 lead", {0xF7, 0xBF, 0xBF, 0xBF}, 0},
      {"5-byte F8", {0xF8, 0x88, 0x80, 0x80, 0x80}, 0},
      {"6-byte FC", {0xFC, 0x84, 0x80, 0x80, 0x80, 0x80}, 0},
      {"FE", {0xFE}, 0},
      {"FF", {0xFF}, 0},
      {"lead then ascii", {0xC2, 0x41}, 1},
      {"3-byte lead then ascii", {0xE1, 0x80, 0x41}, 2},
      {"4-byte lead then ascii", {0xF1, 0x80, 0x80, 0x41}, 3},
      {"lead then lead", {0xE1, 0xC2, 0x80}, 1},
      {"truncated 2-byte", {0xC2}, 1},
      {"truncated 3-byte", {0xE1, 0x80}, 2},
      {"truncated 4-byte", {'x', 0xF0, 0x90, 0x80}, 4},
      // Autobahn 6.4.1: "κόσμε" followed by an invalid byte inside a
      // 4-byte-looking sequence.
      {"autobahn 6.4.1",
       {0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xF4, 0x90, 0x80, 0x80, 0x65,
        0x64, 0x69, 0x74, 0x65, 0x64},
       12},
  };
}

std::vector<bytes> valid_cases() {
  return {
      {},
      to_bytes("Hello, world"),
      {0x00},
      {0x7F},
      {0xC2, 0x80},              // U+0080
      {0xDF, 0xBF},              // U+07FF
      {0xE0, 0xA0, 0x80},        // U+0800
      {0xED, 0x9F, 0xBF},        // U+D7FF, just below the surrogates
      {0xEE, 0x80, 0x80},        // U+E000, just above them
      {0xEF, 0xBF, 0xBD},        // U+FFFD
      {0xEF, 0xBF, 0xBF},        // U+FFFF
      {0xF0, 0x90, 0x80, 0x80},  // U+10000
      {0xF3, 0xBF, 0xBF, 0xBF},
      {0xF4, 0x8F, 0xBF, 0xBF},  // U+10FFFF
      // Autobahn 6.2.1: "κόσμε".
      {0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5},
      to_bytes("Hello-\xC2\xB5@\xC3\x9F\xC3\xB6\xC3\xA4\xC3\xBC\xC3\xA0\xC3\xA1-UTF-8!!"),
      to_bytes("ascii run of sixteen+ \xF0\x9D\x84\x9E then more ascii text after it \xE2\x82\xAC"),
  };
}

}  // namespace

BOOST_AUTO_TEST_SUITE(utf8)

BOOST_AUTO_TEST_CASE(valid_sequences_are_accepted_at_every_split) {
  for (const bytes& s : valid_cases()) {
    BOOST_TEST_CONTEXT("input " << hex(s)) {
      BOOST_TEST(tether::is_valid_utf8(s));
      BOOST_TEST(reference_valid(s));
      BOOST_TEST(first_failing_byte(s) == s.size());
      check_all_splits(s, true);
    }
  }
}

BOOST_AUTO_TEST_CASE(invalid_sequences_are_rejected_at_every_split) {
  for (const invalid_case& c : invalid_cases()) {
    BOOST_TEST_CONTEXT(c.what << ": " << hex(c.input)) {
      BOOST_TEST(!tether::is_valid_utf8(c.input));
      BOOST_TEST(!reference_valid(c.input));
      check_all_splits(c.input, false);
    }
  }
}

BOOST_AUTO_TEST_CASE(rejects_at_the_first_bad_byte) {
  // Fail fast: a relay must not forward bytes after the point where the text
  // stopped being UTF-8 (Autobahn 6.4.x).
  for (const invalid_case& c : invalid_cases()) {
    BOOST_TEST_CONTEXT(c.what << ": " << hex(c.input)) {
      BOOST_TEST(first_failing_byte(c.input) == c.fails_at);
      tether::utf8_validator v;
      bool all_fed = true;
      for (std::uint8_t b : c.input) {
        all_fed = v.feed(std::span<const std::uint8_t>(&b, 1)) && all_fed;
      }
      if (c.fails_at == c.input.size()) {
        BOOST_TEST(all_fed);
        BOOST_TEST(!v.complete());
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(four_byte_sequence_split_everywhere_inside_ascii) {
  // The 4-byte character at every offset in a buffer long enough for the
  // word-at-a-time ASCII path, cut at every position.
  const bytes clef{0xF0, 0x9D, 0x84, 0x9E};
  for (std::size_t at = 0; at <= 20; ++at) {
    bytes s(20, 'a');
    s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), clef.begin(), clef.end());
    check_all_splits(s, true);
    bytes truncated = s;
    truncated.erase(truncated.begin() + static_cast<std::ptrdiff_t>(at) + 3);
    check_all_splits(truncated, false);
  }
}

BOOST_AUTO_TEST_CASE(ascii_fast_path_does_not_skip_high_bytes) {
  for (std::size_t len = 1; len <= 40; ++len) {
    for (std::size_t at = 0; at < len; ++at) {
      BOOST_TEST_CONTEXT("len " << len << " bad byte at " << at) {
        bytes s(len, 'z');
        s[at] = 0x80;
        BOOST_TEST(!tether::is_valid_utf8(s));
        BOOST_TEST(first_failing_byte(s) == at);
        s[at] = 0xFF;
        BOOST_TEST(!tether::is_valid_utf8(s));
        // A lead byte at the very end must leave the validator incomplete
        // rather than be skipped.
        s[at] = 0xC3;
        BOOST_TEST(!tether::is_valid_utf8(s));
        tether::utf8_validator v;
        BOOST_TEST(v.feed(std::span<const std::uint8_t>(s.data(), at + 1)));
        BOOST_TEST(!v.complete());
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(failure_is_sticky_until_reset) {
  tether::utf8_validator v;
  const bytes bad{0xC0, 0x80};
  const bytes good = to_bytes("plain ascii");
  BOOST_TEST(!v.feed(bad));
  BOOST_TEST(!v.feed(good));
  // Bytes that would continue a sequence must not revive it either.
  const bytes continuations{0x80, 0x80, 0x80};
  BOOST_TEST(!v.feed(continuations));
  BOOST_TEST(!v.complete());
  v.reset();
  BOOST_TEST(v.complete());
  BOOST_TEST(v.feed(good));
  BOOST_TEST(v.complete());

  // reset() also forgets a half-read sequence and its narrowed bounds.
  const bytes e0{0xE0};
  BOOST_TEST(v.feed(e0));
  BOOST_TEST(!v.complete());
  v.reset();
  const bytes cont{0x80};
  BOOST_TEST(!v.feed(cont));
}

BOOST_AUTO_TEST_CASE(matches_reference_on_all_two_byte_inputs) {
  std::size_t mismatches = 0;
  bytes s(2);
  for (unsigned a = 0; a < 256; ++a) {
    for (unsigned b = 0; b < 256; ++b) {
      s[0] = static_cast<std::uint8_t>(a);
      s[1] = static_cast<std::uint8_t>(b);
      if (tether::is_valid_utf8(s) != reference_valid(s)) {
        ++mismatches;
      }
    }
  }
  BOOST_TEST(mismatches == 0u);
}

BOOST_AUTO_TEST_CASE(matches_reference_on_three_and_four_byte_inputs) {
  // All lead and second bytes against boundary values for the rest covers
  // every range the validator distinguishes.
  const std::array<std::uint8_t, 14> tails{0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F,
                                           0xA0, 0xBF, 0xC0, 0xC2, 0xE0, 0xF0, 0xFF};
  std::size_t mismatches = 0;
  std::string first;
  bytes s3(3);
  for (unsigned a = 0; a < 256; ++a) {
    for (unsigned b = 0; b < 256; ++b) {
      for (std::uint8_t c : tails) {
        s3 = {static_cast<std::uint8_t>(a), static_cast<std::uint8_t>(b), c};
        if (tether::is_valid_utf8(s3) != reference_valid(s3) && mismatches++ == 0) {
          first = hex(s3);
        }
      }
    }
  }
  bytes s4(4);
  for (unsigned a = 0xE0; a < 0x100; ++a) {
    for (unsigned b = 0; b < 256; ++b) {
      for (std::uint8_t c : tails) {
        for (std::uint8_t d : tails) {
          s4 = {static_cast<std::uint8_t>(a), static_cast<std::uint8_t>(b), c, d};
          if (tether::is_valid_utf8(s4) != reference_valid(s4) && mismatches++ == 0) {
            first = hex(s4);
          }
        }
      }
    }
  }
  BOOST_TEST(mismatches == 0u, "first mismatch " << first);
}

BOOST_AUTO_TEST_SUITE_END()
