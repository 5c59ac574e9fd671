// cairn-s3: the S3 gateway (docs/s3.md) alone, in front of a remote cairnd (through the client
// library's RemoteObjectStore), for a node that should not serve S3 itself or, later, the
// cluster. `cairn-s3 --help` lists the options; the s3_* keys and [s3_keys] of cairnd's config
// file apply (--config).
#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "cairn/client.h"
#include "server/s3_options.h"
#include "util/key_file.h"

int main(int argc, char** argv) {
  CLI::App app{"cairn-s3: an S3 endpoint in front of a cairnd (docs/s3.md)"};
  app.set_version_flag("--version", std::string("cairn-s3 ") + CAIRN_VERSION);
  std::string server, key_file, config_file, listen = "127.0.0.1:9000", s3_key_file, port_file,
                                             region;
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
  if (!c.s3.port_file.empty()) {
    std::string tmp = c.s3.port_file + ".tmp";
    {
      std::ofstream f(tmp, std::ios::trunc);
      f << *port << "\n";
    }
    if (std::rename(tmp.c_str(), c.s3.port_file.c_str()) != 0) {
      std::fprintf(stderr, "cairn-s3: cannot write %s\n", c.s3.port_file.c_str());
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
  ep.Stop();
  return 0;
}
