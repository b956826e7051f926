// The handshake each worker runs in memory at start: it must complete
// against a listener's own context, leave OpenSSL's error queue empty, and
// do no harm on a listener that demands client certificates.
#include <boost/test/unit_test.hpp>
#include <openssl/err.h>

#include "tls/tls_context.hpp"
#include "unit_certs.hpp"

using namespace tether;

namespace {

using tether_unit::cert_path;

std::shared_ptr<server_tls> make_listener_tls(const std::string& client_ca) {
  listener_tls_config cfg;
  cfg.cert = cert_path("server-chain.crt");
  cfg.key = cert_path("server.key");
  cfg.min_version = "1.3";
  cfg.client_ca = client_ca;
  std::string error;
  auto tls = server_tls::make(cfg, error);
  BOOST_REQUIRE_MESSAGE(tls, error);
  return tls;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(tls_warm_up_test)

BOOST_AUTO_TEST_CASE(completes_one_handshake_in_memory) {
  auto tls = make_listener_tls("");
  BOOST_REQUIRE_EQUAL(SSL_CTX_sess_accept_good(tls->context()), 0);
  warm_up_tls(tls->context());
  BOOST_CHECK_EQUAL(SSL_CTX_sess_accept_good(tls->context()), 1);
  BOOST_CHECK_EQUAL(ERR_peek_error(), 0UL);
}

BOOST_AUTO_TEST_CASE(listener_demanding_client_certificates) {
  auto tls = make_listener_tls(cert_path("ca.crt"));
  warm_up_tls(tls->context());
  // The in-memory client has no certificate, so the handshake fails part-way.
  BOOST_CHECK_EQUAL(SSL_CTX_sess_accept_good(tls->context()), 0);
  BOOST_CHECK_EQUAL(ERR_peek_error(), 0UL);
}

BOOST_AUTO_TEST_SUITE_END()
