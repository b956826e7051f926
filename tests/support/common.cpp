#include "test_support.hpp"

#include <boost/test/unit_test.hpp>

namespace tt {

std::string certs_dir() { return TETHER_CERTS_DIR; }
std::string cert_path(const std::string& name) { return certs_dir() + "/" + name; }

bool wait_until(const std::function<bool()>& pred, ms timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) {
      return true;
    }
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

std::string client_frame(std::uint8_t first_byte, const std::string& payload, bool mask) {
  std::string f;
  f.push_back(static_cast<char>(first_byte));
  const std::uint8_t m = mask ? 0x80 : 0;
  if (payload.size() < 126) {
    f.push_back(static_cast<char>(m | payload.size()));
  } else if (payload.size() <= 0xFFFF) {
    f.push_back(static_cast<char>(m | 126));
    f.push_back(static_cast<char>(payload.size() >> 8));
    f.push_back(static_cast<char>(payload.size() & 0xFF));
  } else {
    f.push_back(static_cast<char>(m | 127));
    for (int i = 7; i >= 0; --i) {
      f.push_back(static_cast<char>((static_cast<std::uint64_t>(payload.size()) >> (8 * i)) & 0xFF));
    }
  }
  const std::uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
  if (mask) {
    f.append(reinterpret_cast<const char*>(key), 4);
  }
  for (std::size_t i = 0; i < payload.size(); ++i) {
    f.push_back(static_cast<char>(mask ? payload[i] ^ key[i % 4] : payload[i]));
  }
  return f;
}

parsed_frame parse_server_frame(const std::string& b) {
  parsed_frame out;
  if (b.size() < 2) {
    return out;
  }
  const auto u = [&](std::size_t i) { return static_cast<std::uint8_t>(b[i]); };
  out.fin = (u(0) & 0x80) != 0;
  out.rsv1 = (u(0) & 0x40) != 0;
  out.opcode = u(0) & 0x0F;
  std::uint64_t len = u(1) & 0x7F;
  std::size_t pos = 2;
  if (len == 126) {
    if (b.size() < 4) {
      return out;
    }
    len = (u(2) << 8) | u(3);
    pos = 4;
  } else if (len == 127) {
    if (b.size() < 10) {
      return out;
    }
    len = 0;
    for (int i = 0; i < 8; ++i) {
      len = (len << 8) | u(2 + i);
    }
    pos = 10;
  }
  if ((u(1) & 0x80) != 0) {
    pos += 4;  // a server must not mask; tolerate it here, tests check separately
  }
  if (b.size() < pos + len) {
    return out;
  }
  out.payload = b.substr(pos, len);
  out.size = pos + len;
  return out;
}

std::uint16_t close_code_of(const std::string& payload) {
  if (payload.size() < 2) {
    return 1005;
  }
  return static_cast<std::uint16_t>((static_cast<std::uint8_t>(payload[0]) << 8) |
                                    static_cast<std::uint8_t>(payload[1]));
}

}  // namespace tt
