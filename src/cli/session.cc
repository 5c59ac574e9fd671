#include "cli/session.h"

#include <fmt/format.h>

#include "cairn/client.h"
#include "cluster/cached_map_view.h"
#include "cluster/cluster_store.h"
#include "cluster/peer_pool.h"
#include "cli/cluster_commands.h"
#include "cli/command_checks.h"
#include "cli/local_backend.h"
#include "util/check.h"
#include "util/escape.h"

namespace cairn::cli {

namespace {

// What a cluster-mode session keeps alive beside its store.
struct ClusterParts {
  std::unique_ptr<cluster::CachedMapView> view;
  std::unique_ptr<cluster::PeerPool> peers;
};

}  // namespace

Outcome Session::Open(const Context& ctx, OpenMode mode, std::unique_ptr<Session>* out) {
  if (!ctx.cluster.empty()) {
    cluster::CachedMapOptions mo;
    if (Status s = cluster::ParseEtcdEndpoints(ctx.cluster, &mo.etcd.endpoints); !s.ok())
      return Outcome::Usage(s.message() + " (--cluster or CAIRN_CLUSTER)");
    if (Outcome o = EtcdCredentials(&mo.etcd); !o.ok()) return o;
    mo.cluster = ctx.cluster_name;
    mo.use_cache = !ctx.no_map_cache;
    Result<std::optional<ClientKey>> key = FindClientKey(ctx.key_file);
    if (!key.ok())
      return Outcome::Error(key.status().message() + " (--key-file, CAIRN_KEY or CAIRN_KEY_FILE)");
    auto parts = std::make_shared<ClusterParts>();
    Result<std::unique_ptr<cluster::CachedMapView>> view = cluster::CachedMapView::Load(mo);
    if (!view.ok())
      return Outcome::Error("cannot get the cluster map: " + view.status().message());
    parts->view = std::move(*view);
    cluster::PeerOptions po;
    po.key = *key;
    po.connections = 1;
    parts->peers = std::make_unique<cluster::PeerPool>(parts->view.get(), po);
    auto shared = std::make_shared<cluster::ClusterShared>(0, nullptr, nullptr);
    auto store = std::make_unique<cluster::ClusterObjectStore>(
        cluster::ClusterStoreOptions(), parts->view.get(), parts->peers.get(), nullptr, shared);
    out->reset(new Session(ctx, Kind::kCluster, std::move(store)));
    (*out)->keep_ = std::move(parts);
    return Outcome::Ok();
  }
  if (ctx.server.empty()) {
    CAIRN_CHECK(ctx.local != nullptr);  // cairn runs cairn-local for a local store
    return ctx.local->OpenSession(ctx, mode, out);
  }
  ClientOptions co;
  if (Status s = ParseServerAddress(ctx.server, &co.host, &co.port); !s.ok())
    return Outcome::Usage(s.message() + " (--server or CAIRN_SERVER)");
  Result<std::optional<ClientKey>> key = FindClientKey(ctx.key_file);
  if (!key.ok())
    return Outcome::Error(key.status().message() + " (--key-file, CAIRN_KEY or CAIRN_KEY_FILE)");
  co.key = std::move(*key);
  co.connections = 1;
  Result<std::unique_ptr<Client>> client = Client::Create(co);
  if (!client.ok()) return Outcome::Error(client.status().message());
  out->reset(new Session(ctx, Kind::kRemote, std::move(*client)));
  return Outcome::Ok();
}

std::unique_ptr<Session> Session::Local(const Context& ctx, std::unique_ptr<ObjectStore> store,
                                        std::function<Outcome()> close,
                                        std::shared_ptr<void> keep) {
  std::unique_ptr<Session> s(new Session(ctx, Kind::kLocal, std::move(store)));
  s->close_ = std::move(close);
  s->keep_ = std::move(keep);
  return s;
}

std::string Session::Where() const {
  if (cluster()) return fmt::format("cluster:         {} ({})", OneLine(ctx_.cluster_name), OneLine(ctx_.cluster));
  if (remote()) return fmt::format("server:          {}", OneLine(ctx_.server));
  return fmt::format("store:           {}", OneLine(ctx_.store_dir));
}

Outcome Session::Fail(const Status& s) const {
  if (remote() && s.IsUnavailable() && s.message().starts_with("cannot connect"))
    return Outcome::Error(s.message() + " (is cairnd running there? see --server)");
  if (remote() && s.IsPermissionDenied())
    return Outcome::Error(s.message() +
                          " (the key comes from --key-file, CAIRN_KEY, CAIRN_KEY_FILE or " +
                          DefaultKeyFile() + ")");
  return Failure(s);
}

Outcome Session::Close() {
  store_.reset();  // a LocalObjectStore only borrows the Store; a Client closes its connections
  Outcome o = close_ != nullptr ? close_() : Outcome::Ok();
  close_ = nullptr;
  keep_.reset();
  return o;
}

}  // namespace cairn::cli
