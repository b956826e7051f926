// tether: arguments, configuration, start-up and signals.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <spdlog/spdlog.h>

#include "config/config.hpp"
#include "server/logging.hpp"
#include "server/server.hpp"

namespace {

void raise_file_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

std::string default_config_path() {
  if (const char* env = std::getenv("TETHER_CONFIG"); env != nullptr && *env != '\0') {
    return env;
  }
  return "tether.yaml";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tether: a WebSocket reverse proxy that keeps long-lived links alive"};
  std::string config_path = default_config_path();
  bool check = false;
  bool version = false;
  std::size_t threads = 0;
  app.add_option("-c,--config", config_path, "configuration file (default: $TETHER_CONFIG, else ./tether.yaml)");
  app.add_flag("--check", check, "validate the configuration and exit");
  app.add_flag("--version", version, "print the version and exit");
  app.add_option("--threads", threads, "worker threads (default: one per core)");
  auto coalesce_us = static_cast<std::uint32_t>(tether::server::default_coalesce.count());
  app.add_option("--coalesce-us", coalesce_us,
                 "under load, microseconds a worker waits between busy batches (0: off)")
      ->capture_default_str()
      ->check(CLI::Range(0u, 10'000u));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    std::cerr << "tether: " << e.what() << "\n" << "run 'tether --help' for usage\n";
    return 2;
  }
  if (version) {
    std::cout << "tether " << TETHER_VERSION << "\n";
    return 0;
  }

  // Stamped before they are read: a file that changes from now on reloads.
  auto config_stamp = tether::file_stamp::of(config_path);
  auto loaded = tether::load_config(config_path);
  if (!loaded.value) {
    for (const auto& e : loaded.errors) {
      std::cerr << e << "\n";
    }
    return 1;
  }
  if (check) {
    std::cout << "ok\n";
    return 0;
  }
  tether::setup_logging(loaded.value->log);
  raise_file_limit();
  // OpenSSL writes to sockets with write(2): a peer that resets while a TLS
  // record goes out would otherwise kill the process with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  auto stamps = tether::stamp_files(std::move(config_stamp), *loaded.value);
  try {
    tether::server srv(loaded.value, threads, std::chrono::microseconds(coalesce_us));
    if (auto error = srv.start(); !error.empty()) {
      spdlog::error("{}", error);
      return 1;
    }
    srv.handle_signals(config_path, std::move(stamps));
    spdlog::info("tether {} started with {}", TETHER_VERSION, config_path);
    srv.run();
    spdlog::info("drained, exiting");
  } catch (const std::exception& e) {
    spdlog::error("start-up failed: {}", e.what());
    return 1;
  }
  return 0;
}
