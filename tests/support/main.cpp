#define BOOST_TEST_DYN_LINK
#define BOOST_TEST_MODULE tether_integration
#include <boost/test/unit_test.hpp>

#include <csignal>

namespace {
// A peer that vanishes must not kill the test process with SIGPIPE.
struct ignore_sigpipe {
  ignore_sigpipe() { std::signal(SIGPIPE, SIG_IGN); }
} ignore_sigpipe_instance;
}  // namespace
