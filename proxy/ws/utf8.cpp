#include "ws/utf8.hpp"

#include <cstring>

namespace tether {

namespace {

// need_ never exceeds 3 for real input, so this value marks a validator that
// has already rejected its input without adding a member; reset() clears it
// and complete() reports false for it.
constexpr std::uint8_t failed = 0xFF;

constexpr std::uint64_t high_bits = 0x8080808080808080ULL;

}  // namespace

bool utf8_validator::feed(std::span<const std::uint8_t> data) {
  if (need_ == failed) {
    return false;
  }
  const std::uint8_t* p = data.data();
  const std::size_t n = data.size();
  std::size_t i = 0;
  while (i < n) {
    if (need_ == 0) {
      // Text traffic is mostly ASCII; skip it a word at a time.
      while (n - i >= 8) {
        std::uint64_t w;
        std::memcpy(&w, p + i, 8);
        if ((w & high_bits) != 0) {
          break;
        }
        i += 8;
      }
      if (i == n) {
        break;
      }
      const std::uint8_t b = p[i++];
      if (b < 0x80) {
        continue;
      }
      // The bounds for the first continuation byte are what excludes
      // overlongs (E0, F0), surrogates (ED) and code points past U+10FFFF (F4)
      // (RFC 3629 section 4).
      if (b >= 0xC2 && b <= 0xDF) {
        need_ = 1;
        lower_ = 0x80;
        upper_ = 0xBF;
      } else if (b == 0xE0) {
        need_ = 2;
        lower_ = 0xA0;
        upper_ = 0xBF;
      } else if (b == 0xED) {
        need_ = 2;
        lower_ = 0x80;
        upper_ = 0x9F;
      } else if (b >= 0xE1 && b <= 0xEF) {
        need_ = 2;
        lower_ = 0x80;
        upper_ = 0xBF;
      } else if (b == 0xF0) {
        need_ = 3;
        lower_ = 0x90;
        upper_ = 0xBF;
      } else if (b >= 0xF1 && b <= 0xF3) {
        need_ = 3;
        lower_ = 0x80;
        upper_ = 0xBF;
      } else if (b == 0xF4) {
        need_ = 3;
        lower_ = 0x80;
        upper_ = 0x8F;
      } else {
        // Stray continuation byte, C0/C1 (always overlong) or F5..FF.
        need_ = failed;
        return false;
      }
    } else {
      const std::uint8_t b = p[i++];
      if (b < lower_ || b > upper_) {
        need_ = failed;
        return false;
      }
      // Only the first continuation byte has narrowed bounds.
      lower_ = 0x80;
      upper_ = 0xBF;
      --need_;
    }
  }
  return true;
}

bool is_valid_utf8(std::span<const std::uint8_t> data) {
  utf8_validator v;
  return v.feed(data) && v.complete();
}

}  // namespace tether
