#include "server/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>
#include <spdlog/spdlog.h>

#include "admin/admin.hpp"
#include "server/file_watch.hpp"
#include "server/heap_trim.hpp"
#include "server/listener.hpp"
#include "server/listener_context.hpp"
#include "io/poller_wait.hpp"
#include "session/session.hpp"
#include "server/worker.hpp"

namespace tether {
namespace {

/// Timer wheel resolution: fine enough for tests' tens-of-ms intervals,
/// coarse enough that 100k sessions cost nothing between deadlines.
constexpr std::chrono::milliseconds wheel_tick{10};

using work_guard = net::executor_work_guard<net::io_context::executor_type>;

/// What to watch after a failed reload: the configuration still in force,
/// as it was when loaded, but its file as it is now broken, so that it is
/// not retried until it changes again. (Files that only the broken one
/// names are not watched: the loader rejects them before it tells which.)
std::vector<file_stamp> kept_stamps(std::vector<file_stamp> in_force, file_stamp broken) {
  for (auto& s : in_force) {
    if (s.path == broken.path) {
      s = std::move(broken);
      break;
    }
  }
  return in_force;
}

}  // namespace

template <class F>
void worker::for_each_session(F f) {
  for (session* s = sessions_; s != nullptr; s = s->next_in_worker) {
    f(*s);
  }
}

server::server(std::shared_ptr<const config> cfg, std::size_t threads,
               std::chrono::microseconds coalesce)
    : metrics_(threads == 0 ? std::max(1u, std::thread::hardware_concurrency()) : threads) {
  const auto n = threads == 0 ? std::max(1u, std::thread::hardware_concurrency()) : threads;
  std::random_device rd;
  for (std::size_t i = 0; i < n; ++i) {
    workers_.push_back(std::make_unique<worker>(i, wheel_tick, coalesce));
    workers_.back()->seed((static_cast<std::uint64_t>(rd()) << 32) | rd());
  }
  std::string error;
  runtime_ = runtime::make(std::move(cfg), metrics_, error);
  if (!runtime_) {
    throw std::runtime_error(error);
  }
}

server::~server() { stop(); }

namespace {

/// Each TLS listener's certificate and key, loaded; false and `error` when one fails.
bool load_listener_tls(const config& cfg, std::map<std::string, std::shared_ptr<server_tls>>& out,
                       std::string& error) {
  for (const auto& lc : cfg.listeners) {
    if (lc.tls) {
      auto tls = server_tls::make(*lc.tls, error);
      if (!tls) {
        error = "listener " + lc.name + ": " + error;
        return false;
      }
      out[lc.name] = std::move(tls);
    }
  }
  return true;
}

}  // namespace

std::optional<server::prepared> server::prepare(std::shared_ptr<const config> cfg,
                                               std::string& error) {
  prepared p;
  if (!load_listener_tls(*cfg, p.listener_tls, error)) {
    return std::nullopt;
  }
  p.rt = runtime::make(std::move(cfg), metrics_, error);
  if (!p.rt) {
    return std::nullopt;
  }
  return p;
}

std::string server::apply(prepared p) {
  std::lock_guard lock(mutex_);
  if (auto error = apply_listeners(p.rt->cfg(), p.listener_tls); !error.empty()) {
    return error;
  }
  runtime_ = std::move(p.rt);
  return {};
}

std::string server::apply_listeners(const config& cfg,
                                    std::map<std::string, std::shared_ptr<server_tls>>& tls) {
  // Listeners are matched by name: a kept name keeps its socket when its
  // bind address is unchanged, so a reload never drops a connection.
  std::map<std::string, std::shared_ptr<listener>> next;
  for (const auto& lc : cfg.listeners) {
    auto& ctx = contexts_[lc.name];
    if (!ctx) {
      ctx = std::make_shared<listener_context>(lc.name, metrics_.listener(lc.name));
    }
    auto old = listeners_.find(lc.name);
    if (old != listeners_.end() && old->second->cfg().bind.host == lc.bind.host &&
        old->second->cfg().bind.port == lc.bind.port) {
      old->second->set_cfg(lc);
      next[lc.name] = old->second;
    } else {
      auto l = std::make_shared<listener>(*this, lc, ctx);
      if (auto error = l->bind(workers_[0]->ioc()); !error.empty()) {
        return error;
      }
      next[lc.name] = l;
    }
    next[lc.name]->context()->set_tls(lc.tls ? std::move(tls[lc.name]) : nullptr);
    next[lc.name]->context()->set_max_connections(lc.max_connections);
  }
  for (auto& [name, l] : listeners_) {
    if (auto it = next.find(name); it == next.end() || it->second != l) {
      l->stop();
    }
  }
  for (auto& [name, l] : next) {
    auto it = listeners_.find(name);
    if (it == listeners_.end() || it->second != l) {
      l->start();
      spdlog::info("listener {} on {}:{} ({})", name, l->cfg().bind.host, l->port(),
                   l->cfg().tls ? "wss" : "ws");
    }
  }
  listeners_ = std::move(next);
  return {};
}

std::string server::start() {
  std::lock_guard lock(mutex_);
  std::map<std::string, std::shared_ptr<server_tls>> tls;
  if (std::string error; !load_listener_tls(runtime_->cfg(), tls, error)) {
    return error;
  }
  if (auto error = apply_listeners(runtime_->cfg(), tls); !error.empty()) {
    return error;
  }
  if (runtime_->cfg().admin.enabled) {
    admin_ = std::make_unique<admin>(*this, workers_[0]->ioc());
    if (auto error = admin_->bind(runtime_->cfg().admin.bind); !error.empty()) {
      return error;
    }
    admin_->start();
    spdlog::info("admin on {}:{}", runtime_->cfg().admin.bind.host, admin_->port());
  }
  trimmer_ = std::make_unique<heap_trimmer>(workers_[0]->ioc(), accepted_);
  trimmer_->start();
  ready_ = true;
  return {};
}

void server::run() {
  std::vector<work_guard> guards;
  for (auto& w : workers_) {
    guards.emplace_back(w->ioc().get_executor());
    // First thing on each worker's thread: OpenSSL's per-thread state and
    // caches are then built before any client waits on them.
    net::post(w->ioc(), [this] { warm_up(); });
  }
  spdlog::info("{} workers, socket readiness through asio's {} wait", workers_.size(),
               poller_wait::kind());
  for (std::size_t i = 1; i < workers_.size(); ++i) {
    threads_.emplace_back([this, i] { workers_[i]->ioc().run(); });
  }
  // Guards go once draining starts; until then the workers idle-wait.
  net::co_spawn(workers_[0]->ioc(), [this, &guards]() -> awaitable<void> {
    net::steady_timer t(workers_[0]->ioc());
    while (!draining_) {
      t.expires_after(std::chrono::milliseconds(100));
      co_await t.async_wait(net::use_awaitable);
    }
    guards.clear();
  }, net::detached);
  workers_[0]->ioc().run();
  for (auto& t : threads_) {
    t.join();
  }
  threads_.clear();
}

void server::run_in_background() {
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    threads_.emplace_back([this, i] {
      auto guard = work_guard(workers_[i]->ioc().get_executor());
      workers_[i]->ioc().run();
    });
  }
}

void server::stop() {
  for (auto& w : workers_) {
    w->ioc().stop();
  }
  for (auto& t : threads_) {
    if (t.joinable()) {
      t.join();
    }
  }
  threads_.clear();
  if (reloader_.joinable()) {
    reloader_.join();
  }
}

void server::warm_up() {
  std::vector<std::shared_ptr<server_tls>> contexts;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [name, ctx] : contexts_) {
      if (auto tls = ctx->tls()) {
        contexts.push_back(std::move(tls));
      }
    }
  }
  for (const auto& tls : contexts) {
    warm_up_tls(tls->context());
  }
}

std::shared_ptr<const runtime> server::current() const {
  std::lock_guard lock(mutex_);
  return runtime_;
}

worker& server::next_worker() {
  return *workers_[accepted_.fetch_add(1, std::memory_order_relaxed) % workers_.size()];
}

std::uint16_t server::port(const std::string& name) const {
  std::lock_guard lock(mutex_);
  auto it = listeners_.find(name);
  return it == listeners_.end() ? 0 : it->second->port();
}

std::uint16_t server::admin_port() const { return admin_ ? admin_->port() : 0; }

void server::drain() {
  if (draining_.exchange(true)) {
    return;
  }
  std::chrono::milliseconds over;
  {
    std::lock_guard lock(mutex_);
    over = runtime_->cfg().drain_timeout;
    for (auto& [name, l] : listeners_) {
      l->stop();
    }
  }
  net::post(workers_[0]->ioc(), [this] {
    watch_.reset();  // no reloads while draining
    if (trimmer_) {
      trimmer_->stop();
    }
  });
  spdlog::info("draining over {} ms", over.count());
  for (auto& w : workers_) {
    net::post(w->ioc(), [this, &w = *w, over] { drain_worker(w, over); });
  }
}

void server::drain_worker(worker& w, std::chrono::milliseconds over) {
  std::vector<std::weak_ptr<session>> sessions;
  w.for_each_session([&](session& s) { sessions.push_back(s.weak_from_this()); });
  net::co_spawn(w.ioc(), [this, &w, sessions = std::move(sessions), over]() -> awaitable<void> {
    // Closes spread evenly over the drain window, so clients do not all
    // reconnect at the same instant.
    const auto start = steady::now();
    net::steady_timer t(w.ioc());
    const auto n = sessions.size();
    for (std::size_t i = 0; i < n; ++i) {
      t.expires_at(start + over * static_cast<std::int64_t>(i) / static_cast<std::int64_t>(std::max<std::size_t>(n, 1)));
      co_await t.async_wait(net::as_tuple(net::use_awaitable));
      if (auto s = sessions[i].lock()) {
        s->drain();
      }
    }
    // Give the last closing handshakes a moment, bounded by the window.
    while (w.session_count() > 0 && steady::now() < start + over + std::chrono::seconds(1)) {
      t.expires_after(std::chrono::milliseconds(20));
      co_await t.async_wait(net::as_tuple(net::use_awaitable));
    }
    worker_drained();
  }, net::detached);
}

void server::worker_drained() {
  if (workers_drained_.fetch_add(1) + 1 == workers_.size()) {
    // Each worker stops its own wheel: the wheel and its timer belong to the
    // worker's thread, and sessions whose peers ignore the close still use it.
    for (auto& w : workers_) {
      net::post(w->ioc(), [&w = *w] {
        w.wheel().stop();
        w.ioc().stop();
      });
    }
  }
}

void server::handle_signals(std::string config_path, std::vector<file_stamp> stamps) {
  config_path_ = std::move(config_path);
  signals_ = std::make_unique<net::signal_set>(workers_[0]->ioc(), SIGHUP, SIGTERM, SIGINT);
  signals_->async_wait([this](error_code ec, int sig) { on_signal(ec, sig); });
  // On the same thread as SIGHUP, so reload_file() sees both.
  watch_ = std::make_unique<file_watch>(workers_[0]->ioc(), file_watch_quiet, [this] { reload_file(); });
  spdlog::info("watching {} files for changes", stamps.size());
  watch_->watch(std::move(stamps));
}

void server::reload_file() {
  if (draining_) {
    return;
  }
  if (reloading_) {
    reload_again_ = true;
    return;
  }
  reloading_ = true;
  if (reloader_.joinable()) {
    reloader_.join();  // the last one has posted its result: it is done
  }
  reloader_ = std::thread([this] {
    auto config_stamp = file_stamp::of(config_path_);
    auto loaded = load_config(config_path_);
    std::vector<std::string> errors = std::move(loaded.errors);
    std::vector<file_stamp> stamps;
    std::optional<prepared> p;
    if (!loaded.value) {
      stamps.push_back(std::move(config_stamp));
    } else {
      stamps = stamp_files(std::move(config_stamp), *loaded.value);
      std::string error;
      p = prepare(std::move(loaded.value), error);
      if (!p) {
        errors.push_back(std::move(error));
      }
    }
    net::post(workers_[0]->ioc(),
              [this, p = std::move(p), errors = std::move(errors), stamps = std::move(stamps)]() mutable {
                finish_reload(std::move(p), errors, std::move(stamps));
              });
  });
}

void server::finish_reload(std::optional<prepared> p, const std::vector<std::string>& errors,
                           std::vector<file_stamp> stamps) {
  reloading_ = false;
  if (draining_) {
    return;
  }
  std::string error = p ? apply(std::move(*p)) : std::string();
  const bool failed = !p || !error.empty();
  if (failed) {
    metrics_.config_reload(false);
    for (const auto& e : errors) {
      spdlog::error("reload: {}", e);
    }
    if (!error.empty()) {
      spdlog::error("reload: {}", error);
    }
  } else {
    metrics_.config_reload(true);
    spdlog::info("reloaded {}", config_path_);
  }
  if (watch_) {
    watch_->watch(failed ? kept_stamps(watch_->stamps(), std::move(stamps.front())) : std::move(stamps));
  }
  if (reload_again_) {
    reload_again_ = false;
    reload_file();
  }
}

void server::on_signal(error_code ec, int sig) {
  if (ec) {
    return;
  }
  if (sig == SIGHUP) {
    reload_file();
  } else if (draining_) {
    spdlog::warn("second signal: exiting now");
    std::_Exit(1);
  } else {
    drain();
  }
  signals_->async_wait([this](error_code e, int s) { on_signal(e, s); });
}

}  // namespace tether
