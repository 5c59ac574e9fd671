#include "server/s3_options.h"

#include <algorithm>
#include <thread>

namespace cairn::server {

gateway::GatewayOptions S3GatewayOptions(const ServerConfig& c) {
  gateway::GatewayOptions o;
  for (const auto& [id, k] : c.s3.keys) o.keys[id] = gateway::S3Key{k.secret, k.buckets};
  o.region = c.s3.region;
  o.max_clock_skew_s = c.s3.max_clock_skew_s;
  o.upload_max_age_s = c.s3.upload_max_age_s;
  o.upload_cleanup_interval_s = c.s3.upload_cleanup_interval_s;
  o.keepalive_ms = c.s3.keepalive_ms;
  o.service.max_key_bytes = c.limits.max_key_bytes;
  o.service.max_meta_bytes = c.limits.max_meta_bytes;
  o.service.max_list_limit = c.limits.max_list_limit;
  o.service.max_object_bytes = c.limits.max_object_bytes;
  o.service.max_buffered_body_bytes = c.limits.max_buffered_body_bytes;
  return o;
}

gateway::S3EndpointOptions S3EndpointOptionsFrom(const ServerConfig& c, uint32_t threads) {
  gateway::S3EndpointOptions e;
  e.http.listen = c.s3.listen;
  e.http.tls_cert_file = c.s3.tls_cert_file;
  e.http.tls_key_file = c.s3.tls_key_file;
  e.http.limits.max_connections = c.limits.max_connections;
  e.http.limits.header_timeout_ms = c.limits.header_timeout_ms;
  e.http.limits.idle_timeout_ms = std::min<uint32_t>(c.limits.idle_timeout_ms, 60000);
  e.http.server_header = "cairn-s3";
  uint32_t t = threads != 0 ? threads : c.threads;
  if (t == 0) t = std::max(1u, std::thread::hardware_concurrency());
  e.threads = t;
  e.io_threads = c.io_threads;
  return e;
}

}  // namespace cairn::server
