#define BOOST_TEST_DYN_LINK
#define BOOST_TEST_MODULE tether_integration
#include <boost/test/unit_test.hpp>

#include <sys/resource.h>

#include <csignal>

namespace {
struct process_setup {
  process_setup() {
    // A peer that vanishes must not kill the test process with SIGPIPE.
    std::signal(SIGPIPE, SIG_IGN);
    // Clients, tether and backends share this process: thousands of sockets.
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
      lim.rlim_cur = lim.rlim_max;
      setrlimit(RLIMIT_NOFILE, &lim);
    }
  }
} process_setup_instance;
}  // namespace
