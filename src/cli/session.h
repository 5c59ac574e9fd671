// Session: the ObjectStore (cairn/object_store.h) a command works on, and how the command ends
// it. With --cluster (or $CAIRN_CLUSTER) it is a ClusterObjectStore over the cached map; with
// --server (or $CAIRN_SERVER) the RemoteObjectStore of that cairnd (the client library,
// authenticated with the key FindClientKey finds); otherwise the LocalObjectStore of the store
// directory, which only the local backend (cli/local_backend.h, the `cairn-local` binary) can
// open. The object commands (put, get, head, rm, ls, stat) are written once against
// ObjectStore and print what it answers, so their output and exit codes do not depend on the
// mode (tests/cli_parity_test.sh).
//
// Thread safety: one command, one thread.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "cairn/object_store.h"
#include "cli/context.h"
#include "cli/open_mode.h"
#include "cli/outcome.h"

namespace cairn::cli {

class Session {
 public:
  // The cluster's store when ctx.cluster is set, the remote store when ctx.server is set, else
  // the local store opened in `mode` by ctx.local.
  // REQUIRES: ctx.local is set unless ctx.cluster or ctx.server is (cairn execs cairn-local
  // before any command that needs the local store: cli/cairn_main.h).
  static Outcome Open(const Context& ctx, OpenMode mode, std::unique_ptr<Session>* out);

  // For the local backend: a session over a local store. `close` ends the store (writing its
  // checkpoint) once `store`, which may borrow it, is gone; `keep` is destroyed last.
  static std::unique_ptr<Session> Local(const Context& ctx, std::unique_ptr<ObjectStore> store,
                                        std::function<Outcome()> close,
                                        std::shared_ptr<void> keep);

  ObjectStore& store() { return *store_; }
  bool remote() const { return kind_ != Kind::kLocal; }
  bool cluster() const { return kind_ == Kind::kCluster; }
  // The first line of `cairn stat`: "store:  DIR", "server: HOST:PORT" or "cluster: NAME (...)".
  std::string Where() const;
  // A failure, with a hint where one helps (a server that cannot be reached, a refused key).
  Outcome Fail(const Status& s) const;
  // Ends the session (a local store writes its checkpoint).
  Outcome Close();

 private:
  enum class Kind { kLocal, kRemote, kCluster };
  Session(const Context& ctx, Kind kind, std::unique_ptr<ObjectStore> store)
      : ctx_(ctx), kind_(kind), store_(std::move(store)) {}
  const Context& ctx_;
  Kind kind_;
  std::shared_ptr<void> keep_;          // what store_ uses: the local Store, the cluster's map
  std::unique_ptr<ObjectStore> store_;  // destroyed before close_ runs and keep_ goes
  std::function<Outcome()> close_;      // local: closes the Store, reporting its error
};

}  // namespace cairn::cli
