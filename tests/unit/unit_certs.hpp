#pragma once
// The dev certificates for unit tests that run TLS between memory BIOs.
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <string>

namespace tether_unit {

/// certs/dev/NAME; ctest sets TETHER_CERTS_DIR.
inline std::string cert_path(const char* name) {
  const char* dir = std::getenv("TETHER_CERTS_DIR");
  BOOST_REQUIRE_MESSAGE(dir != nullptr, "TETHER_CERTS_DIR is not set (run through ctest)");
  return std::string(dir) + "/" + name;
}

}  // namespace tether_unit
