#pragma once
// Runs conformance cases through one tether and one backend: each case in
// a session of its own, one after the other.
#include "conformance_case.hpp"
#include "conformance_peers.hpp"

namespace tt::conformance {

enum class direction { client_to_backend, backend_to_client };

class runner {
 public:
  runner(direction d, bool tls);
  /// Runs one case and checks both peers' transcripts against its outcome.
  void run(const conf_case& c, std::size_t index);
  /// Sessions tether still counts as active (0 once every case has ended).
  double active_sessions() const;

 private:
  direction dir_;
  bool tls_;
  backend_pool backend_;
  tether_instance tether_;
};

}  // namespace tt::conformance
