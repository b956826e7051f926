#pragma once
// The process: worker threads with their io_contexts, the listeners, the
// admin endpoint, the current configuration generation, reload and drain.
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/signal_set.hpp>

#include "config/config.hpp"
#include "net.hpp"
#include "admin/metrics.hpp"
#include "server/file_stamp.hpp"
#include "server/runtime.hpp"
#include "tls/tls_context.hpp"

namespace tether {

class admin;
class file_watch;
class heap_trimmer;
class listener;
class listener_context;
class worker;

class server {
 public:
  /// Under load, how long a worker waits between batches of ready sockets
  /// instead of blocking in epoll (poller.hpp). In the bench's small-message
  /// cells 25, 50 and 100 µs did about equally well; a busy batch can add up
  /// to this much latency, so the default is not larger.
  static constexpr std::chrono::microseconds default_coalesce{50};

  /// `threads`: 0 means one per core. `coalesce`: zero turns coalescing off.
  server(std::shared_ptr<const config> cfg, std::size_t threads = 0,
         std::chrono::microseconds coalesce = default_coalesce);
  ~server();

  /// Binds every listener and the admin endpoint; empty on success, else the error.
  std::string start();
  /// Runs the workers until the server stops; the calling thread is worker 0.
  void run();
  /// Runs the workers on background threads (tests).
  void run_in_background();
  /// Stops at once and joins background threads.
  void stop();

  /// SIGTERM: /readyz turns 503, listeners close, sessions get 1001 spread
  /// over drain_timeout, then the workers stop.
  void drain();
  /// Installs SIGHUP/SIGTERM/SIGINT handling and the watch on the
  /// configuration's files, against `stamps`, taken before the running
  /// configuration was read (stamp_files); a reload re-reads `config_path`.
  void handle_signals(std::string config_path, std::vector<file_stamp> stamps);
  /// After a change on disk, files are compared once they have been quiet
  /// this long: a Secret's certificate and key, or an editor's several
  /// writes, then give one reload.
  static constexpr std::chrono::milliseconds file_watch_quiet{200};

  std::shared_ptr<const runtime> current() const;
  worker& next_worker();
  metrics& stats() { return metrics_; }
  bool ready() const { return ready_.load() && !draining_.load(); }
  bool draining() const { return draining_.load(); }
  /// Bound port of a listener by name (0 if none), and of the admin endpoint.
  std::uint16_t port(const std::string& listener_name) const;
  std::uint16_t admin_port() const;

 private:
  /// A configuration made ready for use: its runtime (CA bundles, regexes)
  /// and its listeners' certificates. Made on the reloader thread, since
  /// loading all that takes as long as the files and patterns are large.
  struct prepared {
    std::shared_ptr<const runtime> rt;
    std::map<std::string, std::shared_ptr<server_tls>> listener_tls;
  };
  std::optional<prepared> prepare(std::shared_ptr<const config> cfg, std::string& error);
  /// Worker 0: the listeners follow `p`, and new sessions get its runtime.
  std::string apply(prepared p);
  std::string apply_listeners(const config& cfg, std::map<std::string, std::shared_ptr<server_tls>>& tls);
  void drain_worker(worker& w, std::chrono::milliseconds over);
  void worker_drained();
  /// One in-memory TLS handshake per listener on the calling worker thread.
  void warm_up();

  // Before the workers: sessions that the workers' io_contexts destroy
  // still count into their route's and listener's stats.
  metrics metrics_;
  std::vector<std::unique_ptr<worker>> workers_;
  mutable std::mutex mutex_;
  std::shared_ptr<const runtime> runtime_;
  std::map<std::string, std::shared_ptr<listener>> listeners_;
  std::map<std::string, std::shared_ptr<listener_context>> contexts_;
  std::unique_ptr<admin> admin_;
  std::vector<std::thread> threads_;
  // Connections accepted so far: picks their workers round-robin, and tells
  // the heap trimmer when a burst of them is over.
  std::atomic<std::uint64_t> accepted_{0};
  std::unique_ptr<heap_trimmer> trimmer_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> draining_{false};
  std::atomic<std::size_t> workers_drained_{0};
  void on_signal(error_code ec, int sig);
  /// SIGHUP or a file change, on worker 0: reads and prepares the file on
  /// the reloader thread, which posts the result back to finish_reload.
  /// A reload asked for while one is under way runs once that one is done.
  void reload_file();
  /// `stamps`: the files the new configuration names, as they were before
  /// it was read.
  void finish_reload(std::optional<prepared> p, const std::vector<std::string>& errors,
                     std::vector<file_stamp> stamps);
  std::thread reloader_;
  bool reloading_ = false;     // worker 0 only, as are the two below
  bool reload_again_ = false;
  std::unique_ptr<net::signal_set> signals_;
  std::unique_ptr<file_watch> watch_;
  std::string config_path_;
};

}  // namespace tether
