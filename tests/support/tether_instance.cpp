#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <sstream>
#include <string>

#include "config/config.hpp"
#include "server/logging.hpp"
#include "server/server.hpp"
#include "test_modes.hpp"
#include "test_support.hpp"

namespace tt {

struct tether_instance::impl {
  std::unique_ptr<tether::server> srv;
};

tether_instance::tether_instance(const std::string& yaml, std::size_t threads) : impl_(std::make_unique<impl>()) {
  auto parsed = tether::parse_config(yaml, "test.yaml");
  std::ostringstream errors;
  for (const auto& e : parsed.errors) {
    errors << e << "\n";
  }
  BOOST_REQUIRE_MESSAGE(parsed.value, "config rejected:\n" << errors.str() << yaml);
  if (!record_offload_on()) {
    // The TLS suites run a second time with OpenSSL keeping every record
    // (tests/CMakeLists.txt): the listener default flips, both legs follow.
    auto cfg = std::make_shared<tether::config>(*parsed.value);
    for (auto& l : cfg->listeners) {
      if (l.tls) {
        l.tls->record_offload = false;
      }
    }
    parsed.value = std::move(cfg);
  }
  tether::log_config quiet;
  quiet.level = std::getenv("TETHER_TEST_LOG") ? std::getenv("TETHER_TEST_LOG") : "error";
  tether::setup_logging(quiet);
  impl_->srv = std::make_unique<tether::server>(parsed.value, threads);
  const auto error = impl_->srv->start();
  BOOST_REQUIRE_MESSAGE(error.empty(), "tether did not start: " << error);
  impl_->srv->run_in_background();
}

tether_instance::~tether_instance() { impl_->srv->stop(); }

std::uint16_t tether_instance::port(const std::string& listener) const { return impl_->srv->port(listener); }
std::uint16_t tether_instance::admin_port() const { return impl_->srv->admin_port(); }

std::string tether_instance::metrics() const { return impl_->srv->stats().render(); }

double tether_instance::metric(const std::string& series) const {
  std::istringstream in(metrics());
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return -1;
}

bool record_offload_on() {
  const char* offload = std::getenv("TETHER_TEST_RECORD_OFFLOAD");
  return offload == nullptr || std::string(offload) != "0";
}

std::string listener_yaml(bool tls, const std::string& name) {
  std::string y = "listeners:\n  - name: " + name + "\n    bind: \"127.0.0.1:0\"\n";
  if (tls) {
    y += "    tls:\n      cert: " + cert_path("server-chain.crt") + "\n      key: " + cert_path("server.key") + "\n";
  }
  return y;
}

}  // namespace tt
