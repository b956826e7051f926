// tether on two worker threads, reloaded and drained by real signals while
// sessions carry traffic: what a deployment does to a busy proxy. Besides
// their own assertions these suites are the ThreadSanitizer run's workload
// (scripts/test.sh builds build-tsan for them): reload swaps the runtime and
// the TLS contexts that both workers read, drain reaches every worker's
// sessions from the signal's thread, metrics are scraped meanwhile.
#include <boost/test/unit_test.hpp>
#include <atomic>
#include <csignal>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "config/config.hpp"
#include "server/logging.hpp"
#include "server/server.hpp"
#include "server/worker.hpp"
#include "test_support.hpp"

using namespace tt;

namespace {

using steady = std::chrono::steady_clock;

/// tether as main() runs it, minus the process: a config file, two workers
/// (or `workers`), SIGHUP/SIGTERM handling and the file watch.
class signalled_tether {
 public:
  explicit signalled_tether(std::string path, std::size_t workers = 2) : path_(std::move(path)) {
    auto stamp = tether::file_stamp::of(path_);
    auto loaded = tether::load_config(path_);
    BOOST_REQUIRE_MESSAGE(loaded.value, "config rejected: " << (loaded.errors.empty() ? "" : loaded.errors[0]));
    tether::log_config quiet;
    quiet.level = std::getenv("TETHER_TEST_LOG") ? std::getenv("TETHER_TEST_LOG") : "error";
    tether::setup_logging(quiet);
    srv_ = std::make_unique<tether::server>(loaded.value, workers);
    const auto error = srv_->start();
    BOOST_REQUIRE_MESSAGE(error.empty(), "tether did not start: " << error);
    srv_->handle_signals(path_, tether::stamp_files(std::move(stamp), *loaded.value));
    srv_->run_in_background();
  }
  ~signalled_tether() { srv_->stop(); }
  tether::server& srv() { return *srv_; }
  std::uint16_t port() const { return srv_->port("main"); }
  double metric(const std::string& series) {
    std::istringstream in(srv_->stats().render());
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(series + " ", 0) == 0) {
        return std::stod(line.substr(series.size() + 1));
      }
    }
    return -1;
  }

 private:
  std::string path_;
  std::unique_ptr<tether::server> srv_;
};

/// The slow configuration: this many wss:// routes, each loading a CA
/// bundle of this many certificates when the configuration is compiled.
constexpr int slow_routes = 100;
constexpr int slow_bundle_certs = 10;

std::string temp_config_path(const std::string& name) {
  return "/tmp/tether-threads-" + std::to_string(::getpid()) + "-" + name + ".yaml";
}

void write_file(const std::string& path, const std::string& text) {
  // Written whole under another name and renamed, as editors and Kubernetes
  // do: the file watch never sees half a file.
  const auto tmp = path + ".new";
  std::ofstream(tmp) << text;
  BOOST_REQUIRE(std::rename(tmp.c_str(), path.c_str()) == 0);
}

std::string config_for(const test_backend& b, bool tls, const std::string& ping = "20s") {
  return listener_yaml(tls) + "shutdown:\n  drain_timeout: 1s\n" +
         "defaults:\n  heartbeat:\n    client: {ping_interval: " + ping + "}\n" +
         "routes:\n  - name: r\n    upstream:\n      url: \"" + b.url() + "\"\n";
}

/// Problems seen on traffic threads (Boost.Test's assertions are for the
/// test's own thread).
class problems {
 public:
  void add(std::string what) {
    std::lock_guard lock(mutex_);
    if (list_.size() < 20) {
      list_.push_back(std::move(what));
    }
    ++count_;
  }
  std::size_t count() const {
    std::lock_guard lock(mutex_);
    return count_;
  }
  std::string text() const {
    std::lock_guard lock(mutex_);
    std::string s;
    for (const auto& p : list_) {
      s += p + "\n";
    }
    return s;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> list_;
  std::size_t count_ = 0;
};

/// One echo round trip on `c`; false (and a problem) on a wrong or missing echo.
bool round_trip(ws_client& c, const std::string& text, problems& p) {
  if (c.send_text(text)) {
    p.add(text + ": send failed");
    return false;
  }
  auto m = c.read();
  if (!m || m->data != text) {
    p.add(text + ": echo " + (m ? "'" + m->data + "'" : "missing"));
    return false;
  }
  return true;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(threads_test)

BOOST_AUTO_TEST_CASE(sighup_reloads_under_traffic_move_new_sessions_and_keep_running_ones) {
  test_backend a;
  test_backend b;
  const auto path = temp_config_path("reload");
  write_file(path, config_for(a, true));
  signalled_tether t(path);
  client_options tls_opts;
  tls_opts.tls = true;

  // Long sessions on both workers, each thread owning its clients.
  std::atomic<bool> stop{false};
  problems p;
  std::atomic<std::size_t> long_trips{0};
  std::atomic<std::size_t> new_sessions{0};
  std::vector<std::thread> threads;
  for (int th = 0; th < 2; ++th) {
    threads.emplace_back([&, th] {
      std::vector<std::unique_ptr<ws_client>> clients;
      boost::system::error_code ec;
      for (int i = 0; i < 4; ++i) {
        clients.push_back(ws_client::connect(t.port(), tls_opts, ec));
        if (!clients.back()) {
          p.add("long session did not connect: " + ec.message());
          return;
        }
      }
      for (std::size_t k = 0; !stop; ++k) {
        for (std::size_t i = 0; i < clients.size(); ++i) {
          if (!round_trip(*clients[i], "long " + std::to_string(th) + "." + std::to_string(i) + " " + std::to_string(k), p)) {
            return;
          }
          ++long_trips;
        }
      }
    });
  }
  // New sessions throughout: each TLS handshake reads whichever runtime and
  // contexts the last reload installed.
  threads.emplace_back([&] {
    for (std::size_t k = 0; !stop; ++k) {
      boost::system::error_code ec;
      auto c = ws_client::connect(t.port(), tls_opts, ec);
      if (!c) {
        p.add("new session " + std::to_string(k) + " did not connect: " + ec.message());
        return;
      }
      if (!round_trip(*c, "new " + std::to_string(k), p)) {
        return;
      }
      c->close(1000);
      ++new_sessions;
    }
  });

  constexpr int reloads = 21;
  for (int r = 1; r <= reloads; ++r) {
    // Odd reloads to b, even ones back to a; the heartbeat changes each time.
    write_file(path, config_for(r % 2 ? b : a, true, std::to_string(10 + r) + "s"));
    ::kill(::getpid(), SIGHUP);
    // Not REQUIRE: the traffic threads must be joined before the test ends.
    if (!wait_until([&] { return t.metric("tether_config_reloads_total{result=\"success\"}") >= r; }, 10000ms)) {
      BOOST_ERROR("reload " << r << " did not happen");
      break;
    }
    // At least one new session under each configuration, however slow the
    // machine (TSan): about half of them land on b.
    const auto before = new_sessions.load();
    if (!wait_until([&] { return new_sessions > before + 1 || p.count() > 0; }, 10000ms)) {
      BOOST_ERROR("no new session after reload " << r);
      break;
    }
  }
  // The file watch may add a reload of its own for a write; never a failure.
  BOOST_CHECK_EQUAL(t.metric("tether_config_reloads_total{result=\"failure\"}"), 0);
  stop = true;
  for (auto& th : threads) {
    th.join();
  }
  BOOST_CHECK_MESSAGE(p.count() == 0, p.text());
  BOOST_CHECK_GT(long_trips.load(), 8u * reloads);
  BOOST_CHECK_GE(new_sessions.load(), 2u * reloads);
  // Both backends served new sessions; the long ones stayed on a.
  BOOST_CHECK_GE(b.handshakes().size(), 5u);
  BOOST_CHECK_GE(a.handshakes().size(), 8u);
  // The last reload (odd) points to b: a new session lands there.
  const auto a_before = a.handshakes().size();
  const auto b_before = b.handshakes().size();
  auto c = ws_client::connect(t.port(), tls_opts);
  BOOST_CHECK(round_trip(*c, "after", p));
  BOOST_CHECK_EQUAL(b.handshakes().size(), b_before + 1);
  BOOST_CHECK_EQUAL(a.handshakes().size(), a_before);
  std::remove(path.c_str());
}

// A configuration that takes long to load (here many wss:// routes, each
// loading a large CA bundle) is read and compiled off the workers' threads:
// the only worker keeps answering while it loads, and its sessions never
// wait for more than a small part of it.
BOOST_AUTO_TEST_CASE(a_slow_reload_never_holds_up_the_sessions_of_the_worker_that_receives_the_signal) {
  test_backend backend;
  const auto bundle = temp_config_path("bundle") + ".pem";
  {
    std::ifstream ca(certs_dir() + "/ca.crt");
    const std::string pem((std::istreambuf_iterator<char>(ca)), std::istreambuf_iterator<char>());
    std::ofstream out(bundle);
    for (int i = 0; i < slow_bundle_certs; ++i) {
      out << pem;
    }
  }
  std::string yaml = listener_yaml(false) + "routes:\n";
  for (int i = 0; i < slow_routes; ++i) {
    yaml += "  - name: slow" + std::to_string(i) + "\n    match: {path: /slow/" + std::to_string(i) +
            "}\n    upstream:\n      url: \"wss://127.0.0.1:9/\"\n      tls: {ca: \"" + bundle + "\"}\n";
  }
  yaml += "  - name: r\n    upstream:\n      url: \"" + backend.url() + "\"\n";
  const auto path = temp_config_path("slow");
  write_file(path, yaml);
  signalled_tether t(path, 1);
  auto c = ws_client::connect(t.port());
  problems p;
  BOOST_REQUIRE(round_trip(*c, "before", p));

  const auto hup = steady::now();
  ::kill(::getpid(), SIGHUP);
  auto slowest = steady::duration::zero();
  int trips = 0;
  while (t.metric("tether_config_reloads_total{result=\"success\"}") < 1 &&
         steady::now() - hup < 60s) {
    const auto sent = steady::now();
    if (!round_trip(*c, "during " + std::to_string(trips), p)) {
      break;
    }
    slowest = std::max(slowest, steady::now() - sent);
    ++trips;
  }
  const auto took = steady::now() - hup;
  const auto ms = [](steady::duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  BOOST_TEST_MESSAGE("reload took " << ms(took) << " ms; " << trips << " round trips meanwhile, the slowest "
                                    << ms(slowest) << " ms");
  BOOST_CHECK_MESSAGE(p.count() == 0, p.text());
  BOOST_CHECK_EQUAL(t.metric("tether_config_reloads_total{result=\"success\"}"), 1);
  // Only a long reload can show the difference: one on the worker's thread
  // holds a round trip up for most of it.
  BOOST_REQUIRE_MESSAGE(took >= 600ms, "the reload took only " << ms(took) << " ms: make the config slower");
  BOOST_CHECK_GT(trips, 5);
  BOOST_CHECK_LT(ms(slowest), 150);
  std::remove(path.c_str());
  std::remove(bundle.c_str());
}

BOOST_AUTO_TEST_CASE(sigterm_drains_sessions_under_traffic_with_1001_spread_over_the_window) {
  test_backend backend;
  const auto path = temp_config_path("drain");
  write_file(path, config_for(backend, false));
  signalled_tether t(path);

  constexpr std::size_t per_thread = 10;
  problems p;
  std::atomic<std::size_t> connected{0};
  std::atomic<bool> traffic_seen{false};
  std::mutex mutex;
  std::vector<std::uint16_t> codes;
  std::vector<steady::time_point> closed_at;
  std::vector<std::thread> threads;
  for (int th = 0; th < 2; ++th) {
    threads.emplace_back([&, th] {
      std::vector<std::unique_ptr<ws_client>> clients;
      for (std::size_t i = 0; i < per_thread; ++i) {
        boost::system::error_code ec;
        clients.push_back(ws_client::connect(t.port(), {}, ec));
        if (!clients.back()) {
          p.add("session did not connect: " + ec.message());
          return;
        }
        ++connected;
      }
      std::vector<bool> open(per_thread, true);
      std::size_t left = per_thread;
      for (std::size_t k = 0; left > 0; ++k) {
        for (std::size_t i = 0; i < per_thread; ++i) {
          if (!open[i]) {
            continue;
          }
          const auto text = std::to_string(th) + "." + std::to_string(i) + " " + std::to_string(k);
          auto& c = *clients[i];
          std::optional<message> m;
          if (!c.send_text(text)) {
            m = c.read();
          }
          if (m) {
            if (m->data != text) {
              p.add(text + ": echo '" + m->data + "'");
            }
            traffic_seen = true;
            continue;
          }
          // The drain's close: until it comes, every message was echoed.
          auto closed = c.wait_close(3000ms);
          std::lock_guard lock(mutex);
          codes.push_back(closed ? closed->first : 0);
          closed_at.push_back(steady::now());
          open[i] = false;
          --left;
        }
      }
    });
  }
  // Not REQUIRE: SIGTERM below ends the traffic threads, which must be joined.
  BOOST_CHECK(wait_until([&] { return connected == 2 * per_thread && traffic_seen; }, 10000ms));
  std::this_thread::sleep_for(200ms);
  const auto t0 = steady::now();
  ::kill(::getpid(), SIGTERM);
  BOOST_CHECK(wait_until([&] { return !t.srv().ready(); }, 2000ms));
  // No new session once draining: the listener is closed.
  std::this_thread::sleep_for(100ms);
  boost::system::error_code ec;
  client_options quick;
  quick.timeout = 1000ms;
  BOOST_CHECK(!ws_client::connect(t.port(), quick, ec));
  for (auto& th : threads) {
    th.join();
  }
  BOOST_CHECK_MESSAGE(p.count() == 0, p.text());
  BOOST_REQUIRE_EQUAL(codes.size(), 2 * per_thread);
  for (auto code : codes) {
    BOOST_CHECK_EQUAL(code, 1001);
  }
  auto [first, last] = std::minmax_element(closed_at.begin(), closed_at.end());
  // Spread over drain_timeout (1 s): timers never fire early, so the last
  // close comes at least most of the window after the first.
  BOOST_CHECK_GE(std::chrono::duration_cast<ms>(*last - *first).count(), 600);
  BOOST_CHECK_LE(std::chrono::duration_cast<ms>(*last - t0).count(), 1000 + 3000);
  BOOST_REQUIRE(backend.wait_closes(2 * per_thread));
  for (const auto& [code, reason] : backend.closes()) {
    BOOST_CHECK_EQUAL(code, 1001);
  }
  std::remove(path.c_str());
}

BOOST_AUTO_TEST_CASE(sigterm_drain_ends_on_time_with_sessions_that_never_answer_the_close) {
  // Peers that ignore the close keep their sessions (and the sessions'
  // timers on each worker's wheel) past the drain window: the workers stop
  // anyway once the window and its 1 s grace are over, every worker from its
  // own thread (under TSan: the wheel of one worker stopped from another
  // worker's thread was a data race).
  test_backend backend;
  const auto path = temp_config_path("drain-deaf");
  write_file(path, config_for(backend, false));
  signalled_tether t(path);
  std::vector<std::unique_ptr<raw_client>> peers;
  for (int i = 0; i < 4; ++i) {  // round robin: two on each worker
    peers.push_back(std::make_unique<raw_client>(t.port()));
    BOOST_REQUIRE(peers.back()->upgrade("/").find(" 101 ") != std::string::npos);
  }
  BOOST_REQUIRE(wait_until([&] { return backend.open_sessions() == 4; }));
  const auto t0 = steady::now();
  ::kill(::getpid(), SIGTERM);
  for (auto& peer : peers) {
    BOOST_CHECK_EQUAL(peer->wait_close_code(3000ms).value_or(0), 1001);
  }
  auto& w1 = t.srv().next_worker();
  auto& w2 = t.srv().next_worker();
  BOOST_CHECK(&w1 != &w2);
  // drain_timeout 1 s + 1 s grace, well before tether's 5 s wait for a close answer.
  BOOST_CHECK(wait_until([&] { return w1.ioc().stopped() && w2.ioc().stopped(); }, 4000ms));
  BOOST_CHECK_LT(std::chrono::duration_cast<ms>(steady::now() - t0).count(), 4500);
  std::remove(path.c_str());
}

BOOST_AUTO_TEST_SUITE_END()
