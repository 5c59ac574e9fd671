// store_op: one write or head of a store, with issue 15's conditions and metadata, for the
// black-box power-loss test (tests/powerloss_test.sh), which runs it on powerfs beside the real
// cairn CLI (the CLI has no conditional writes yet).
//
//   store_op STORE put KEY FILE [--if-none-match] [--if-newer-now WRITER] [--if-newer-ancient]
//                               [--content-type T]
//   store_op STORE rm KEY [--if-newer-now WRITER] [--if-newer-ancient]
//   store_op STORE head KEY       prints "content_type=T version=HEX"
//   store_op STORE check KEY WANT [KEY WANT...]
//     WANT "-": the key is absent; "ct:T": present with content type T (empty T: none). Every
//     key also refuses a write of an ancient version (a deleted key never comes back). Prints
//     each mismatch; exit 1 if there was one.
//
// --if-newer-now: kIfNewer with the version (now in ms, logical 0, WRITER); --if-newer-ancient:
// kIfNewer with a version from 1970, which the store must always refuse. Durability sync.
// Exit: 0 OK, 3 NotFound, 4 Conflict, 1 another error, 2 usage.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "cairn/store.h"

namespace {

int Usage() {
  std::fprintf(stderr, "usage: store_op STORE put KEY FILE [options] | rm KEY [options] | head KEY\n");
  return 2;
}

int Exit(const cairn::Status& s) {
  if (s.ok()) return 0;
  std::fprintf(stderr, "store_op: %s\n", s.ToString().c_str());
  if (s.IsNotFound()) return 3;
  if (s.IsConflict()) return 4;
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace cairn;
  if (argc < 4) return Usage();
  const std::string dir = argv[1], cmd = argv[2], key = argv[3];
  int i = 4;
  std::string file;
  if (cmd == "put") {
    if (argc < 5) return Usage();
    file = argv[i++];
  } else if (cmd == "check") {
    if (argc % 2 != 1) return Usage();
    i = argc;
  } else if (cmd != "rm" && cmd != "head") {
    return Usage();
  }
  WriteOptions wo;
  for (; i < argc; i++) {
    const std::string a = argv[i];
    if (a == "--if-none-match") {
      wo.condition = WriteCondition::kIfNoneMatch;
    } else if (a == "--if-newer-now" && i + 1 < argc) {
      wo.condition = WriteCondition::kIfNewer;
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
      wo.version = Version::Make(static_cast<uint64_t>(ms), 0,
                                 static_cast<uint32_t>(std::stoul(argv[++i])));
    } else if (a == "--if-newer-ancient") {
      wo.condition = WriteCondition::kIfNewer;
      wo.version = Version::Make(1000, 0, 1);
    } else if (a == "--content-type" && i + 1 < argc) {
      wo.metadata.content_type = argv[++i];
    } else {
      return Usage();
    }
  }
  StoreOptions o;
  o.create_if_missing = false;
  o.durability = Durability::kSync;
  o.background_reclaim = false;
  o.info_log = [](const std::string&) {};
  auto opened = Store::Open(dir, o);
  if (!opened.ok()) return Exit(opened.status());
  Store* s = opened->get();
  if (cmd == "head") {
    auto h = s->Head(key);
    if (!h.ok()) return Exit(h.status());
    std::printf("content_type=%s version=%s\n", h->metadata.content_type.c_str(),
                h->version.ToString().c_str());
    return 0;
  }
  if (cmd == "check") {
    int bad = 0;
    for (int k = 3; k + 1 < argc; k += 2) {
      const std::string name = argv[k], want = argv[k + 1];
      auto h = s->Head(name);
      if (want == "-") {
        if (!h.status().IsNotFound()) {
          std::printf("%s: should be absent, Head says %s\n", name.c_str(),
                      h.ok() ? "present" : h.status().ToString().c_str());
          bad++;
        }
      } else if (!h.ok()) {
        std::printf("%s: should be present, Head says %s\n", name.c_str(),
                    h.status().ToString().c_str());
        bad++;
      } else if ("ct:" + h->metadata.content_type != want) {
        std::printf("%s: content type \"%s\", want \"%s\"\n", name.c_str(),
                    h->metadata.content_type.c_str(), want.substr(3).c_str());
        bad++;
      }
      WriteOptions ancient;
      ancient.condition = WriteCondition::kIfNewer;
      ancient.version = Version::Make(1000, 0, 1);
      Status a = s->Put(name, "ancient", ancient);
      if (!a.IsConflict()) {
        std::printf("%s: a write of an ancient version returned %s\n", name.c_str(),
                    a.ToString().c_str());
        bad++;
      }
    }
    return bad == 0 ? 0 : 1;
  }
  if (cmd == "rm") return Exit(s->Delete(key, wo));
  std::ifstream in(file, std::ios::binary);
  if (!in) return Exit(Status::NotFound("cannot read " + file));
  std::stringstream ss;
  ss << in.rdbuf();
  return Exit(s->Put(key, ss.str(), wo));
}
