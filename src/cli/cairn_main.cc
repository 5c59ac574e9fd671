// cairn: the command-line tool for a local (embedded) Cairn store, or for a cairnd server.
//
//   cairn [--store DIR] [--json] [--durability MODE] [--volume-size SIZE] COMMAND ARGS...
//   cairn --server HOST:PORT [--json] [--durability MODE] COMMAND ARGS...
//   cairn status|top --http HOST:PORT    (a running node's ops listener, cairnd --http-listen)
//   cairn --cluster ETCD cluster add|drain|remove|reweight|status ...   (membership, via etcd)
//
// With --server (or $CAIRN_SERVER) put, get, head, rm, ls and stat talk to cairnd through the
// client library (a RemoteObjectStore, authenticated with --key-file, $CAIRN_KEY,
// $CAIRN_KEY_FILE or the default key file), with the same output and exit codes as on a local
// store (cli/session.h: every one of them prints what an ObjectStore answers);
// bench needs a server; reclaim, verify, import and export work on a local store only.
//
// Global flags may also follow the command. This file only wires arguments to the command
// bodies (commands.h) and turns their Outcome into output and an exit code. Two binaries run it
// (cli/local_backend.h): `cairn`, without the engine and TLS, which execs `cairn-local` for
// a command that needs a local store and for bench, and `cairn-local`, which runs every command.
//
// Exit codes (part of the interface: scripts branch on them; tests/cli_test.sh checks them):
//   0  success (also --help and --version)
//   1  error: I/O, corruption, locked store, not a store, read-only store, unreadable input;
//      verify found problems
//   2  usage: bad flags or arguments (unknown command, bad --durability/--volume-size/--limit
//      value, empty key, key longer than max_key_bytes); a `cluster` change its checks refuse
//      (unknown node, bad weight, too few nodes or zones left: nothing is written)
//   3  not found: get, head or rm of a key that has no live version
// Every failure prints exactly one line to stderr: "cairn: <command>: <message>". import and
// export also print one line per file they skip, before it, and exit 1 if they skipped any.
#include <CLI/CLI.hpp>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "cli/bench.h"  // BenchArgs; RunBench is cairn-local's
#include "cli/cairn_main.h"
#include "cli/cluster_commands.h"
#include "cli/commands.h"
#include "cli/context.h"
#include "cli/local_backend.h"
#include "cli/local_tool.h"
#include "util/escape.h"
#include "cli/node_status.h"
#include "cli/outcome.h"
#include "cli/signals.h"
#include "cli/stream_io.h"

#ifndef CAIRN_VERSION
#define CAIRN_VERSION "unknown"
#endif

namespace cairn::cli {
namespace {

constexpr char kCommandList[] =
    "put, get, head, rm, ls, stat, reclaim, verify, import, export, bench, status, top, cluster";

void PrintFailure(const std::string& command, const std::string& message) {
  std::fflush(stdout);  // what was printed before the failure comes first
  if (command.empty()) {
    std::fprintf(stderr, "cairn: %s\n", OneLine(message).c_str());
  } else {
    std::fprintf(stderr, "cairn: %s: %s\n", OneLine(command).c_str(), OneLine(message).c_str());
  }
}

int Finish(const std::string& command, const Outcome& outcome) {
  // stdout is buffered: a full disk or a closed pipe may show up only now.
  const int stdout_errno = FlushStdout();
  if (int sig = PendingSignal(); sig != 0) {
    // The store is closed by now (each command closes it before returning). A reader that went
    // away (`cairn ls | head`) is not worth a message, as with the default SIGPIPE.
    if (sig != SIGPIPE && !outcome.ok()) PrintFailure(command, "interrupted by " + SignalName(sig));
    DieOfSignal(sig);
  }
  if (!outcome.ok()) {
    PrintFailure(command, outcome.message());
    return static_cast<int>(outcome.code());
  }
  if (stdout_errno != 0) {
    PrintFailure(command, std::string("writing to stdout failed: ") + std::strerror(stdout_errno));
    return static_cast<int>(ExitCode::kError);
  }
  return static_cast<int>(ExitCode::kOk);
}

// CLI11 reports problems with its own wording and exit codes; every one of them is a usage
// error here, and is printed as one line with a pointer to the help.
int UsageFailure(CLI::App& app, const CLI::ParseError& e) {
  std::vector<CLI::App*> parsed = app.get_subcommands();
  if (parsed.empty()) {
    // No command matched. CLI11 reports that as a missing subcommand (or, for flags it does not
    // know, as extras); the first leftover word, if any, is the command the user meant.
    std::vector<std::string> extras = app.remaining();
    if (!extras.empty() && !extras.front().starts_with("-")) {
      PrintFailure(extras.front(), std::string("unknown command; the commands are ") +
                                       kCommandList + " (see cairn --help)");
    } else if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr && extras.empty()) {
      PrintFailure("", std::string("missing command; the commands are ") + kCommandList +
                           " (see cairn --help)");
    } else {
      PrintFailure("", std::string(e.what()) + " (see cairn --help)");
    }
  } else {
    // The innermost command parsed ("cluster reweight").
    std::string name = parsed.back()->get_name();
    for (CLI::App* sub = parsed.back(); !sub->get_subcommands().empty();) {
      sub = sub->get_subcommands().back();
      name += " " + sub->get_name();
    }
    PrintFailure(name, std::string(e.what()) + " (see cairn " + name + " --help)");
  }
  return static_cast<int>(ExitCode::kUsage);
}

bool ParseCount(const std::string& text, uint64_t* out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return !text.empty() && ec == std::errc() && ptr == end;
}

int Run(int argc, char** argv, const LocalBackend* local) {
  CLI::App app{"Cairn object store: command-line tool for a local store or a cairnd server.",
               "cairn"};
  app.set_version_flag("--version", std::string("cairn ") + CAIRN_VERSION);
  app.footer(
      "Exit codes: 0 success, 1 error (for verify: problems found), 2 usage error, 3 key not "
      "found.\n"
      "A key that starts with '-' must follow '--', e.g. cairn get -- -key.");
  // One command per invocation; later words are its arguments even if they name a command
  // (cairn put ls FILE stores the key "ls").
  app.require_subcommand(1);

  GlobalFlags flags;
  app.add_option("--store", flags.store, "Store directory; default $CAIRN_STORE, else ./cairn-data")
      ->envname("CAIRN_STORE");
  app.add_option("--server", flags.server,
                 "Talk to the cairnd at HOST:PORT instead of a local store; default $CAIRN_SERVER")
      ->envname("CAIRN_SERVER");
  app.add_option("--cluster", flags.cluster,
                 "Talk to the cluster whose etcd is at HOST:PORT[,HOST:PORT...] (the map is kept in "
                 "/dev/shm between calls); default $CAIRN_CLUSTER")
      ->envname("CAIRN_CLUSTER");
  app.add_option("--cluster-name", flags.cluster_name, "The cluster's name in etcd (default "
                 "'default'); default $CAIRN_CLUSTER_NAME")
      ->envname("CAIRN_CLUSTER_NAME");
  app.add_flag("--no-map-cache", flags.no_map_cache,
               "With --cluster: fetch the map from etcd on every call instead of /dev/shm");
  app.add_option("--key-file", flags.key_file,
                 "With --server: the file holding the key (ID:SECRET, mode 0600); default "
                 "$CAIRN_KEY, then $CAIRN_KEY_FILE, then ~/.config/cairn/key");
  app.add_flag("--json", flags.json, "Print results as one JSON object");
  app.add_option("--durability", flags.durability,
                 "When writes are acknowledged: sync (default), none, interval, interval=MS");
  app.add_option("--volume-size", flags.volume_size,
                 "Volume file size when the store is created, e.g. 64M (1M..64G; default 1G)");

  std::string key;
  std::string file;
  std::string out;
  std::string limit_text;
  ListArgs list;

  PutArgs put_args;
  CLI::App* put = app.add_subcommand("put", "Store FILE (or stdin) under KEY");
  put->add_option("KEY", key, "Object key (1..1024 bytes)")->required();
  put->add_option("FILE", file, "Input file; '-' or absent means stdin");
  put->add_option("--meta", put_args.meta, "User metadata NAME=VALUE (repeatable)");
  put->add_option("--content-type", put_args.content_type, "The object's content type");

  CLI::App* get = app.add_subcommand("get", "Write the value of KEY to stdout or to a file");
  get->add_option("KEY", key, "Object key")->required();
  get->add_option("-o,--output", out, "Write to FILE (complete or not at all) instead of stdout");

  CLI::App* head = app.add_subcommand(
      "head", "Show the size, checksum, time, version and metadata of KEY");
  head->add_option("KEY", key, "Object key")->required();

  CLI::App* rm = app.add_subcommand("rm", "Delete KEY");
  rm->add_option("KEY", key, "Object key")->required();

  CLI::App* ls = app.add_subcommand("ls", "List keys in key order");
  ls->add_option("--prefix", list.prefix, "Only keys that start with P");
  CLI::Option* limit = ls->add_option("--limit", limit_text, "Print at most N keys");
  ls->add_option("--start-after", list.start_after, "Only keys that sort after K");
  ls->add_option("--delimiter", list.delimiter,
                 "Roll keys that contain D after the prefix up into common prefixes, e.g. /");

  CLI::App* stat = app.add_subcommand("stat", "Show store statistics");

  bool dry_run = false;
  CLI::App* reclaim = app.add_subcommand(
      "reclaim", "Release dead space now: punch holes, compact sparse volumes");
  reclaim->add_flag("--dry-run", dry_run, "Only show what would be released");

  bool repair = false;
  CLI::App* verify = app.add_subcommand(
      "verify", "Check every record, index entry and live object, without opening the store");
  verify->add_flag("--repair", repair,
                   "First rebuild the index from the volumes (the old one is kept aside)");

  BulkArgs bulk;
  CLI::App* import = app.add_subcommand(
      "import", "Store every regular file under DIR, keyed by PREFIX + its relative path");
  CLI::App* exp = app.add_subcommand(
      "export", "Write the objects under PREFIX as files under DIR (key minus PREFIX)");
  for (CLI::App* sub : {import, exp}) {
    sub->add_option("DIR", bulk.dir, "Directory")->required();
    sub->add_option("--prefix", bulk.prefix, "Key prefix, e.g. backup/ (default: none)");
    sub->add_option("--jobs", bulk.jobs, "Files in flight at once, 1..64 (default 16)");
  }

  BenchArgs bench_args;
  CLI::App* bench = app.add_subcommand(
      "bench", "Load a cairnd server (--server) with a mix of verified requests; print ops/s, MB/s, "
               "latency");
  bench->add_option("--connections", bench_args.connections, "Connections (default 16)");
  bench->add_option("--inflight", bench_args.inflight,
                    "Requests in flight per connection (default 8)");
  bench->add_option("--size", bench_args.size, "Value size, e.g. 10K, 1G (default 10K)");
  bench->add_option("--mix", bench_args.mix,
                    "Operation weights, e.g. get=90,put=10,delete=0 (default get=100)");
  bench->add_option("--keys", bench_args.keys, "Distinct keys (default 1000)");
  bench->add_option("--dist", bench_args.dist, "Key distribution: uniform (default) or zipf");
  bench->add_option("--zipf-theta", bench_args.zipf_theta, "Skew of --dist zipf (default 0.99)");
  bench->add_option("--duration", bench_args.duration_s,
                    "Seconds to run (default 10 when --count is not given)");
  bench->add_option("--count", bench_args.count, "Requests to complete, then stop");
  bench->add_option("--rate", bench_args.rate,
                    "Requests per second offered, an open loop whose latency counts from when "
                    "each request was due (default 0: a closed loop of connections x inflight)");
  bench->add_option("--slow-ms", bench_args.slow_ms,
                    "List each request slower than this, with when it was due or sent "
                    "(default 0: none)");
  bench->add_flag("--no-preload", bench_args.no_preload,
                  "Do not write every key once before measuring");
  bench->add_option("--key-prefix", bench_args.key_prefix, "Key prefix (default bench/)");
  bench->add_option("--timeout-ms", bench_args.timeout_ms, "Per-request timeout (default 10000)");
  bench->add_option("--s3", bench_args.s3,
                    "Load an S3 endpoint (http://HOST:PORT) with signed requests instead of a "
                    "cairnd");
  bench->add_option("--s3-key-file", bench_args.s3_key_file,
                    "S3 access key file ACCESS_KEY:SECRET (default ~/.config/cairn/s3key, or "
                    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)");
  bench->add_option("--s3-bucket", bench_args.s3_bucket, "S3 bucket (default bench; created)");

  NodeArgs node;
  TopArgs top_args;
  CLI::App* status = app.add_subcommand(
      "status", "Show a running node's state from its ops listener (cairnd --http-listen)");
  CLI::App* top = app.add_subcommand(
      "top", "Show a running node's request rates and latencies, refreshed live");
  for (CLI::App* sub : {status, top}) {
    sub->add_option("--http", node.http,
                    "The node's ops listener HOST:PORT (cairnd --http-listen); default $CAIRN_HTTP")
        ->envname("CAIRN_HTTP");
    sub->add_option("--timeout-ms", node.timeout_ms, "Per-request timeout (default 5000)");
  }
  top->add_option("--interval", top_args.interval_s, "Seconds between refreshes (default 1)");
  top->add_option("--count", top_args.count, "Refresh this many times, then exit (default: until Ctrl-C)");

  // cairn cluster add|drain|remove|reweight|status (cluster/cluster_admin.h): etcd only.
  CLI::App* cluster = app.add_subcommand(
      "cluster", "Change or show the cluster's membership through its etcd (--cluster): add, drain, "
                 "remove, reweight, status");
  cluster->require_subcommand(1);
  ClusterChangeArgs change;
  uint32_t weight = 0;
  CLI::App* c_add = cluster->add_subcommand(
      "add", "Give a registered node slots (a new node, or one back after being out or drained)");
  CLI::App* c_drain = cluster->add_subcommand(
      "drain", "Move every slot off a node that keeps serving until the move is done");
  CLI::App* c_remove = cluster->add_subcommand(
      "remove", "Take a node that is gone out now: its slots are rebuilt from the other replicas");
  CLI::App* c_reweight = cluster->add_subcommand("reweight", "Change a node's weight and rebalance");
  CLI::Option* weight_opt = nullptr;
  CLI::Option* reweight_opt = nullptr;
  for (CLI::App* sub : {c_add, c_drain, c_remove, c_reweight}) {
    sub->add_option("NODE", change.node, "The node's id (cairn cluster status lists them)")->required();
    sub->add_flag("--wait", change.wait,
                  "Follow the change until its data has moved and nothing waits (progress on stderr)");
    sub->add_option("--timeout", change.timeout_s,
                    "With --wait: give up waiting after this many seconds (0: no limit; the change goes on)")
        ->check(CLI::NonNegativeNumber);
    sub->fallthrough();
  }
  weight_opt = c_add->add_option("--weight", weight, "Its weight, 1..1000 (default: its own, or the one it had)");
  reweight_opt = c_reweight->add_option("--weight", weight, "The new weight, 1..1000")->required();
  ClusterStatusArgs cstatus;
  CLI::App* c_status = cluster->add_subcommand(
      "status", "Nodes by zone, slots, the map epoch, the transition in flight and what waits");
  c_status->add_flag("--watch", cstatus.watch, "Redraw every second until nothing moves or waits");
  c_status->fallthrough();

  for (CLI::App* sub :
       {put, get, head, rm, ls, stat, reclaim, verify, import, exp, bench, status, top, cluster})
    sub->fallthrough();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version arrive as "errors" with exit code 0.
    if (e.get_exit_code() == 0) return app.exit(e);
    return UsageFailure(app, e);
  }

  CLI::App* chosen = app.get_subcommands().front();
  Context ctx;
  if (Outcome o = MakeContext(flags, chosen->get_name(), &ctx); !o.ok())
    return Finish(chosen->get_name(), o);

  if ((!ctx.server.empty() || !ctx.cluster.empty()) &&
      (chosen == reclaim || chosen == verify || chosen == import || chosen == exp))
    return Finish(chosen->get_name(),
                  Outcome::Usage("works on a local store only; drop --server (and unset "
                                 "CAIRN_SERVER) and pass --store DIR"));

  // A local store needs the engine and bench the S3 signer, which `cairn` does not link:
  // cairn-local runs the command, in this process, before anything here has touched a signal,
  // a file or stdout (cli/local_backend.h).
  const bool local_store = ctx.server.empty() && ctx.cluster.empty() && chosen != status &&
                           chosen != top && chosen != bench && chosen != cluster;
  if ((local_store || chosen == bench) && local == nullptr)
    return Finish(chosen->get_name(), ExecLocalTool(argv));
  ctx.local = local;
  InstallSignalHandlers();

  Outcome outcome = Outcome::Ok();
  if (chosen == cluster) {
    if (!ctx.server.empty())
      return Finish("cluster", Outcome::Usage("talks to the cluster's etcd: use --cluster, not --server"));
    CLI::App* sub = cluster->get_subcommands().front();
    if (sub == c_status) {
      outcome = RunClusterStatus(ctx, cstatus);
    } else {
      change.command = sub == c_add      ? cluster::AdminCommand::kAdd
                       : sub == c_drain  ? cluster::AdminCommand::kDrain
                       : sub == c_remove ? cluster::AdminCommand::kRemove
                                         : cluster::AdminCommand::kReweight;
      if ((sub == c_add && weight_opt->count() > 0) || (sub == c_reweight && reweight_opt->count() > 0))
        change.weight = weight;
      outcome = RunClusterChange(ctx, change);
    }
    return Finish("cluster " + sub->get_name(), outcome);
  } else if (chosen == status) {
    outcome = RunStatus(node, ctx.json);
  } else if (chosen == top) {
    outcome = RunTop(node, top_args, ctx.json);
  } else if (chosen == bench) {
    outcome = local->Bench(ctx, bench_args);
  } else if (chosen == put) {
    outcome = RunPut(ctx, key, file, put_args);
  } else if (chosen == get) {
    outcome = RunGet(ctx, key, out);
  } else if (chosen == head) {
    outcome = RunHead(ctx, key);
  } else if (chosen == rm) {
    outcome = RunRm(ctx, key);
  } else if (chosen == ls) {
    if (limit->count() > 0) {
      uint64_t n = 0;
      if (!ParseCount(limit_text, &n))
        return Finish("ls", Outcome::Usage("bad --limit value '" + limit_text +
                                           "'; use a whole number, 0 or more"));
      list.limit = n;
    }
    outcome = RunLs(ctx, list);
  } else if (chosen == reclaim) {
    outcome = local->Reclaim(ctx, dry_run);
  } else if (chosen == verify) {
    outcome = local->Verify(ctx, repair);
  } else if (chosen == import) {
    outcome = local->Import(ctx, bulk);
  } else if (chosen == exp) {
    outcome = local->Export(ctx, bulk);
  } else {
    outcome = RunStat(ctx);
  }
  return Finish(chosen->get_name(), outcome);
}

}  // namespace

int CairnMain(int argc, char** argv, const LocalBackend* local) {
  // Nothing may escape main: an uncaught exception would abort with a multi-line message and a
  // core dump instead of the one-line failure scripts expect.
  try {
    return Run(argc, argv, local);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "cairn: internal error: %s\n", OneLine(e.what()).c_str());
  } catch (...) {
    std::fflush(stdout);
    std::fputs("cairn: internal error: unknown exception\n", stderr);
  }
  return static_cast<int>(ExitCode::kError);
}

}  // namespace cairn::cli

