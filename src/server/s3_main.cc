// cairn-s3: the S3 gateway (docs/s3.md) alone, in front of a remote cairnd (through the client
// library's RemoteObjectStore), for a node that should not serve S3 itself or, later, the
// cluster. `cairn-s3 --help` lists the options; the s3_* keys and [s3_keys] of cairnd's config
// file apply (--config). With --http-listen it also serves /metrics (the gateway's request
// metrics, as cairnd's /metrics has them when it serves S3), /healthz and /readyz (ready while
// the cairnd behind it answers), on a listener of their own with the ops listener's limits.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "cairn/client.h"
#include "net/loop_group.h"
#include "ops/exposition.h"
#include "ops/ops_handler.h"
#include "server/ops_listener.h"
#include "server/s3_options.h"
#include "util/key_file.h"

namespace {

// /metrics, /healthz and /readyz of cairn-s3 (no status page): the ops listener's routes and
// limits (server/ops_listener.h) on a loop and a small pool of their own.
class GatewayOps {
 public:
  GatewayOps(std::string listen, cairn::gateway::S3Endpoint* ep, cairn::Client* backend,
             std::string backend_addr)
      : listen_(std::move(listen)), ep_(ep), backend_(backend), backend_addr_(std::move(backend_addr)) {}
  ~GatewayOps() { Stop(); }

  cairn::Result<uint16_t> Start() {
    const cairn::net::HttpServerOptions o = cairn::server::OpsHttpServerOptions(listen_, "cairn-s3");
    cairn::ops::OpsEndpoints e;
    e.metrics = [this] {
      cairn::ops::ExpositionWriter w;
      w.Family("cairn_build_info", "The running build (value 1).", cairn::ops::MetricType::kGauge);
      w.Sample("cairn_build_info", {{"version", CAIRN_VERSION}, {"program", "cairn-s3"}}, uint64_t{1});
      ep_->WriteMetrics(w);
      return w.Take();
    };
    e.readiness = [this] {
      cairn::Result<cairn::StoreStats> st = backend_->Stats();
      if (st.ok()) return cairn::ops::Readiness{};
      return cairn::ops::Readiness{false, "the cairnd behind it (" + backend_addr_ +
                                              ") does not answer: " + st.status().ToString()};
    };
    http_ = std::make_unique<cairn::net::HttpServer>(o, &loop_, &pool_,
                                                     cairn::ops::MakeOpsHandler(std::move(e)));
    cairn::Result<uint16_t> port = http_->Start();
    if (!port.ok()) {
      http_.reset();
      return port.status().WithContext("--http-listen");
    }
    loop_.Start();
    return port;
  }
  void Stop() {
    if (http_ == nullptr) return;
    http_->Stop(1000);
    loop_.Stop();
    loop_.loop(0).stop();
    loop_.Join();
    pool_.join();
    http_.reset();
  }

 private:
  std::string listen_;
  cairn::gateway::S3Endpoint* ep_;
  cairn::Client* backend_;
  std::string backend_addr_;
  cairn::net::LoopGroup loop_{1};
  cairn::net::asio::thread_pool pool_{2};
  std::unique_ptr<cairn::net::HttpServer> http_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cairn-s3: an S3 endpoint in front of a cairnd (docs/s3.md)"};
  app.set_version_flag("--version", std::string("cairn-s3 ") + CAIRN_VERSION);
  std::string server, key_file, config_file, listen = "127.0.0.1:9000", s3_key_file, port_file,
                                             region, http_listen, http_port_file;
  uint32_t threads = 1, io_threads = 16, connections = 8;
  const char* tmp = std::getenv("TMPDIR");
  std::string spool_dir = tmp != nullptr && tmp[0] != '\0' ? tmp : "/tmp";
  app.add_option("--server", server, "the cairnd to serve, HOST:PORT")->required();
  app.add_option("--key-file", key_file,
                 "the key cairn-s3 proves to cairnd (default: as the cairn tool finds it)");
  app.add_option("--config", config_file, "TOML file with s3_* keys and [s3_keys] tables");
  app.add_option("--s3-listen,--listen", listen, "HOST:PORT to serve S3 on (default 127.0.0.1:9000)");
  app.add_option("--s3-key-file", s3_key_file,
                 "one line ACCESS_KEY:SECRET (mode 0600): an access key granted every bucket");
  app.add_option("--s3-port-file,--port-file", port_file, "write the bound port to this file");
  app.add_option("--s3-region", region, "what ?location answers (default us-east-1)");
  app.add_option("--http-listen", http_listen,
                 "HOST:PORT for /metrics, /healthz and /readyz (default: none; it does not "
                 "authenticate, keep it on loopback or a monitoring network)");
  app.add_option("--http-port-file", http_port_file, "write the --http-listen port to this file");
  app.add_option("--threads", threads, "event loops (default 1)");
  app.add_option("--io-threads", io_threads, "threads for calls to cairnd (default 16)");
  app.add_option("--connections", connections, "pooled connections to cairnd (default 8)");
  app.add_option("--spool-dir", spool_dir,
                 "where streamed bodies are spooled (unlinked files) so their MD5 is known before "
                 "they are sent to cairnd (default $TMPDIR or /tmp)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  signal(SIGPIPE, SIG_IGN);

  std::string text;
  if (!config_file.empty()) {
    cairn::Result<std::string> r = cairn::ReadPrivateFile(config_file, "config file");
    if (!r.ok()) {
      std::fprintf(stderr, "cairn-s3: %s\n", r.status().message().c_str());
      return 2;
    }
    text = std::move(*r);
  }
  std::vector<std::pair<std::string, std::string>> overrides = {{"s3_listen", listen}};
  if (!s3_key_file.empty()) overrides.emplace_back("s3_key_file", s3_key_file);
  if (!port_file.empty()) overrides.emplace_back("s3_port_file", port_file);
  if (!region.empty()) overrides.emplace_back("s3_region", region);
  cairn::Result<cairn::server::ServerConfig> cfg = cairn::server::ParseConfig(text, overrides);
  if (cfg.ok()) {
    cairn::Status s = cairn::server::LoadS3Keys(&*cfg);
    if (!s.ok()) cfg = s;
  }
  if (!cfg.ok()) {
    std::fprintf(stderr, "cairn-s3: %s\n", cfg.status().message().c_str());
    return 2;
  }
  cairn::server::ServerConfig& c = *cfg;
  c.io_threads = io_threads;

  cairn::ClientOptions co;
  cairn::Status s = cairn::ParseServerAddress(server, &co.host, &co.port);
  if (!s.ok()) {
    std::fprintf(stderr, "cairn-s3: --server: %s\n", s.message().c_str());
    return 2;
  }
  cairn::Result<std::optional<cairn::ClientKey>> key = cairn::FindClientKey(key_file);
  if (!key.ok()) {
    std::fprintf(stderr, "cairn-s3: %s\n", key.status().message().c_str());
    return 2;
  }
  co.key = *key;
  co.connections = static_cast<int>(connections);
  cairn::Result<std::unique_ptr<cairn::Client>> client = cairn::Client::Create(co);
  if (!client.ok()) {
    std::fprintf(stderr, "cairn-s3: cannot reach %s: %s\n", server.c_str(),
                 client.status().ToString().c_str());
    return 1;
  }
  cairn::gateway::GatewayOptions go = cairn::server::S3GatewayOptions(c);
  go.spool_dir = spool_dir;
  cairn::gateway::S3Endpoint ep(client->get(), std::move(go),
                                cairn::server::S3EndpointOptionsFrom(c, threads));
  cairn::Result<uint16_t> port = ep.Start();
  if (!port.ok()) {
    std::fprintf(stderr, "cairn-s3: %s\n", port.status().ToString().c_str());
    return 1;
  }
  if (!c.s3.port_file.empty() && !cairn::server::WritePortFile(c.s3.port_file, *port)) {
    std::fprintf(stderr, "cairn-s3: cannot write %s\n", c.s3.port_file.c_str());
    return 1;
  }
  std::unique_ptr<GatewayOps> ops;
  if (!http_listen.empty()) {
    ops = std::make_unique<GatewayOps>(http_listen, &ep, client->get(), server);
    cairn::Result<uint16_t> http_port = ops->Start();
    if (!http_port.ok()) {
      std::fprintf(stderr, "cairn-s3: %s\n", http_port.status().ToString().c_str());
      return 1;
    }
    if (!http_port_file.empty() && !cairn::server::WritePortFile(http_port_file, *http_port)) {
      std::fprintf(stderr, "cairn-s3: cannot write %s\n", http_port_file.c_str());
      return 1;
    }
  }
  std::string host;
  uint16_t unused = 0;
  (void)cairn::net::ParseListenAddress(c.s3.listen, &host, &unused);
  std::printf("cairn-s3 serving %s on http%s://%s:%u; stop with Ctrl-C or SIGTERM\n",
              server.c_str(), c.s3.tls_cert_file.empty() ? "" : "s", host.c_str(),
              static_cast<unsigned>(*port));
  std::fflush(stdout);

  namespace asio = cairn::net::asio;
  asio::io_context main_loop(1);
  asio::signal_set signals(main_loop, SIGTERM, SIGINT);
  bool stop = false;
  signals.async_wait([&](const boost::system::error_code&, int) { stop = true; });
  while (!stop) main_loop.run_one();
  if (ops != nullptr) ops->Stop();
  ep.Stop();
  return 0;
}
