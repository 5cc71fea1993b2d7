// An engine ticking at 60 Hz whose metrics are served at http://127.0.0.1:<port>/metrics in the
// Prometheus text format (report/prometheus.hpp), for a Prometheus server to scrape.
//
//   example_metrics_server [--port N] [--seconds S] [--once]
//     --port N     listen on 127.0.0.1:N (default 0: the system picks; the port is printed)
//     --seconds S  stop after S seconds (default 0: run until SIGINT or SIGTERM)
//     --once       tick 30 times, print the metrics to stdout and exit (no server)
//
// The main thread owns the engine: it submits deltas, ticks, and after every tick writes the
// exposition into a string and swaps it, under a mutex, with the one the server thread answers
// from. The server is a minimal HTTP/1.0 responder: one request per connection, GET /metrics
// answered with 200, anything else with 404. It listens on the loopback address only.
#include <tickflow/engine/engine.hpp>
#include <tickflow/engine/tick.hpp>
#include <tickflow/report/prometheus.hpp>
#include <tickflow/semiring/builtin.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace tickflow;

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop.store(true); }

int usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--port N] [--seconds S] [--once]\n", argv0);
  return 2;
}

bool parse_number(const char* s, unsigned long max, unsigned long& out) {
  if (s == nullptr || *s == '\0') return false;
  char* end = nullptr;
  errno = 0;
  const unsigned long v = std::strtoul(s, &end, 10);
  if (errno != 0 || *end != '\0' || v > max || s[0] == '-') return false;
  out = v;
  return true;
}

class metrics_page {
 public:
  void publish(std::string& fresh) {
    std::lock_guard lock(mu_);
    text_.swap(fresh);
  }
  std::string copy() const {
    std::lock_guard lock(mu_);
    return text_;
  }

 private:
  mutable std::mutex mu_;
  std::string text_ = "# no tick yet\n";
};

void send_all(int fd, std::string_view s) {
  while (!s.empty()) {
    const ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    s.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Answers one connection: reads until the end of the request head (or 8 KiB, or 2 s).
void answer(int fd, const metrics_page& page) {
  std::string request;
  char buf[1024];
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < 8192) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 2000) <= 0) break;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    request.append(buf, static_cast<std::size_t>(n));
  }
  const bool metrics = request.rfind("GET /metrics ", 0) == 0 || request.rfind("GET /metrics?", 0) == 0;
  if (!metrics) {
    send_all(fd, "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\nConnection: close\r\n\r\nnot found\n");
    return;
  }
  const std::string body = page.copy();
  const std::string head = "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  send_all(fd, head);
  send_all(fd, body);
}

}  // namespace

int main(int argc, char** argv) {
  unsigned long port = 0, seconds = 0;
  bool once = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--port" && i + 1 < argc) {
      if (!parse_number(argv[++i], 65535, port)) return usage(argv[0]);
    } else if (a == "--seconds" && i + 1 < argc) {
      if (!parse_number(argv[++i], 86400, seconds)) return usage(argv[0]);
    } else if (a == "--once") {
      once = true;
    } else {
      return usage(argv[0]);
    }
  }

  // The engine: 256 source pages of 8 doubles feed 16 derived pages (real semiring, weight 0.5).
  using engine_t = reference_engine<double, semiring_kernel<real_semiring<double>>, thread_pool>;
  engine_t e({}, 2);
  std::vector<page_id> sources;
  for (int i = 0; i < 256; ++i) sources.push_back(*e.create_page(64));
  std::vector<page_id> derived;
  for (int i = 0; i < 16; ++i) derived.push_back(*e.create_page(64));
  graph_edit<double> edit;
  for (std::size_t i = 0; i < sources.size(); ++i) edit.add_edge({sources[i], derived[i % derived.size()], edge_kind::data, 0.5});
  if (!e.edit_graph(edit)) return 1;

  tick_options options;
  options.mode = once ? tick_mode::as_fast_as_possible : tick_mode::fixed_rate;  // fixed rate: 60 Hz
  auto ticks = tick_orchestrator<engine_t>::make(e, options);
  if (!ticks) return 1;

  std::uint64_t next_id = 1;
  auto feed = [&](std::uint64_t at) {
    for (std::size_t k = 0; k < 64; ++k) {
      delta d;
      d.page = sources[(at * 64 + k) % sources.size()];
      d.at = epoch{static_cast<std::uint32_t>(at)};
      d.id = delta_id{next_id++};
      d.length = 64;  // the whole page: 8 doubles
      d.mask.assign(1, ~std::uint64_t{0});
      const double v = static_cast<double>(at) + static_cast<double>(k) / 64.0;
      d.payload.resize(64);
      for (std::size_t j = 0; j < 8; ++j) std::memcpy(d.payload.data() + 8 * j, &v, 8);
      if (!e.submit(d)) return false;
    }
    return true;
  };

  std::string text;
  text.reserve(16 * 1024);
  if (once) {
    for (std::uint64_t t = 1; t <= 30; ++t) {
      if (!feed(t) || !ticks->tick()) return 1;
    }
    if (auto ok = prometheus::write_engine_metrics(text, e, *ticks); !ok) {
      std::fprintf(stderr, "metrics: %s\n", ok.error().message);
      return 1;
    }
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }

  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  if (listener < 0) return 1;
  const int yes = 1;
  (void)::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listener, 16) != 0) {
    std::fprintf(stderr, "cannot listen on 127.0.0.1:%lu: %s\n", port, std::strerror(errno));
    ::close(listener);
    return 1;
  }
  socklen_t len = sizeof addr;
  (void)::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  std::printf("listening on 127.0.0.1:%u\n", static_cast<unsigned>(ntohs(addr.sin_port)));
  std::fflush(stdout);

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  metrics_page page;
  std::thread server([&] {
    while (!g_stop.load()) {
      pollfd p{listener, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const int fd = ::accept(listener, nullptr, nullptr);
      if (fd < 0) continue;
      answer(fd, page);
      ::close(fd);
    }
  });

  const auto start = std::chrono::steady_clock::now();
  int rc = 0;
  for (std::uint64_t t = 1; !g_stop.load(); ++t) {
    if (seconds != 0 && std::chrono::steady_clock::now() - start >= std::chrono::seconds(seconds)) break;
    if (!feed(t) || !ticks->run(1)) {
      rc = 1;
      break;
    }
    text.clear();
    if (!prometheus::write_engine_metrics(text, e, *ticks)) {
      rc = 1;
      break;
    }
    page.publish(text);
  }
  g_stop.store(true);
  server.join();
  ::close(listener);
  std::printf("ticks %llu, deltas applied %llu\n", static_cast<unsigned long long>(ticks->ticks()),
              static_cast<unsigned long long>(e.counters().deltas_applied));
  return rc;
}
