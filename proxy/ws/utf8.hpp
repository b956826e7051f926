#pragma once
// Incremental UTF-8 validation (RFC 3629: no overlongs, no surrogates,
// nothing above U+10FFFF) for text messages that arrive in pieces.
#include <cstddef>
#include <cstdint>
#include <span>

namespace tether {

class utf8_validator {
 public:
  /// Checks the next piece; false as soon as the input cannot be UTF-8.
  bool feed(std::span<const std::uint8_t> data);
  /// True when the input so far ended on a character boundary.
  bool complete() const { return need_ == 0; }
  void reset() { need_ = 0; lower_ = 0x80; upper_ = 0xBF; }

 private:
  std::uint8_t need_ = 0;  // continuation bytes still expected
  std::uint8_t lower_ = 0x80;
  std::uint8_t upper_ = 0xBF;
};

/// Whole-buffer convenience.
bool is_valid_utf8(std::span<const std::uint8_t> data);

}  // namespace tether
