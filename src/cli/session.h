// Session: the ObjectStore (cairn/object_store.h) a command works on, and how the command ends
// it. With --server (or $CAIRN_SERVER) it is the RemoteObjectStore of that cairnd (the client
// library, authenticated with the key FindClientKey finds); otherwise the LocalObjectStore of
// the store directory. The object commands (put, get, head, rm, ls, stat) are written once
// against ObjectStore and print what it answers, so their output and exit codes do not depend on
// the mode (tests/cli_parity_test.sh).
//
// Thread safety: one command, one thread.
#pragma once

#include <memory>
#include <string>

#include "cairn/local_object_store.h"
#include "cairn/object_store.h"
#include "cli/context.h"
#include "cli/open_store.h"
#include "cli/outcome.h"

namespace cairn::cli {

class Session {
 public:
  // The remote store when ctx.server is set, else the local store opened in `mode`.
  static Outcome Open(const Context& ctx, OpenMode mode, std::unique_ptr<Session>* out);

  ObjectStore& store() { return *store_; }
  bool remote() const { return owned_ == nullptr; }
  bool cluster() const { return keep_ != nullptr; }
  // The first line of `cairn stat`: "store:  DIR" or "server: HOST:PORT".
  std::string Where() const;
  // A failure, with a hint where one helps (a server that cannot be reached, a refused key).
  Outcome Fail(const Status& s) const;
  // Ends the session (a local store writes its checkpoint).
  Outcome Close();

 private:
  Session(const Context& ctx, std::unique_ptr<ObjectStore> store, std::unique_ptr<Store> owned)
      : ctx_(ctx), store_(std::move(store)), owned_(std::move(owned)) {}
  const Context& ctx_;
  std::shared_ptr<void> keep_;          // cluster mode: the map view and peers the store uses
  std::unique_ptr<ObjectStore> store_;  // a LocalObjectStore over owned_, or a Client
  std::unique_ptr<Store> owned_;        // the local store (closed by Close, with its error)
};

}  // namespace cairn::cli
