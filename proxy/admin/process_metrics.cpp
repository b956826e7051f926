#include "admin/process_metrics.hpp"

#include <dirent.h>
#include <fmt/format.h>
#include <openssl/crypto.h>
#include <unistd.h>

#include <boost/version.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace tether {

namespace {

void sample(std::string& out, const char* name, const char* type, const char* help, double value) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name,
                 type, name, value);
}

std::size_t open_fds() {
  std::size_t n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (const dirent* e = ::readdir(d)) {
      n += e->d_name[0] != '.';
    }
    ::closedir(d);
    --n;  // the directory stream's own descriptor
  }
  return n;
}

/// Seconds since the epoch at which the machine booted (/proc/stat btime).
double boot_time() {
  std::ifstream in("/proc/stat");
  std::string key;
  double value = 0;
  while (in >> key) {
    if (key == "btime") {
      in >> value;
      return value;
    }
    in.ignore(4096, '\n');
  }
  return 0;
}

}  // namespace

void render_process_metrics(std::string& out) {
  // /proc/self/stat: the fields after the command name, which is in
  // parentheses and may hold spaces; utime and stime are the 12th and 13th
  // of them, starttime the 20th, rss (in pages) the 22nd.
  std::ifstream in("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = stat.rfind(')');
  std::istringstream fields(close == std::string::npos ? std::string() : stat.substr(close + 2));
  std::string f[24];
  for (auto& v : f) {
    fields >> v;
  }
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  auto num = [](const std::string& s) { return s.empty() ? 0.0 : std::stod(s); };
  sample(out, "process_cpu_seconds_total", "counter", "User and system CPU time spent.",
        (num(f[11]) + num(f[12])) / ticks);
  sample(out, "process_resident_memory_bytes", "gauge", "Resident memory size.", num(f[21]) * page);
  sample(out, "process_open_fds", "gauge", "Open file descriptors.", static_cast<double>(open_fds()));
  sample(out, "process_start_time_seconds", "gauge", "Start time of the process since the epoch.",
        boot_time() + num(f[19]) / ticks);
  fmt::format_to(std::back_inserter(out),
                 "# HELP tether_build_info tether's version and the libraries it was built with.\n"
                 "# TYPE tether_build_info gauge\n"
                 "tether_build_info{{version=\"{}\",boost=\"{}.{}.{}\",openssl=\"{}\"}} 1\n",
                 TETHER_VERSION, BOOST_VERSION / 100000, BOOST_VERSION / 100 % 1000,
                 BOOST_VERSION % 100, OpenSSL_version(OPENSSL_VERSION_STRING));
}

}  // namespace tether
