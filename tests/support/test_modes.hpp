#pragma once
// How the test binary was asked to run (environment set by tests/CMakeLists.txt).

namespace tt {

/// False when TETHER_TEST_RECORD_OFFLOAD=0: the TLS suites' second run, in
/// which every tether_instance keeps its sessions' records in OpenSSL.
bool record_offload_on();

}  // namespace tt
