// faultshim: an LD_PRELOAD library that makes chosen system calls of an unmodified binary fail,
// so tests can run the real `cairn` (and later `cairnd`) against I/O errors and a full disk
// (issue 5, item 4). The in-process equivalent is FaultEnv (src/io/fault_env.h); this one also
// reaches RocksDB's files, which do not go through the Env.
//
// Configuration, read once at load time from FAULTSHIM (rules separated by ';'):
//
//   call=fdatasync/fsync,errno=EIO,path=*/volumes/*.vol,after=2,count=1
//
//   call    one or more of fdatasync fsync pwrite pwritev write fallocate, '/'-separated
//   errno   EIO, ENOSPC, EDQUOT or EROFS                                        (default EIO)
//   path    fnmatch(3) pattern on the file's path, '*' also matches '/'           (default *)
//   after   the first N matching calls pass                                        (default 0)
//   count   how many calls then fail; -1 = sticky, every one from then on          (default 1)
//   prob    each call past `after` fails with this probability (0..1)              (default 1)
//   seed    seed of the probability's generator (xorshift64*)                      (default 1)
//   mode    for fallocate: only calls whose mode has all these bits (e.g. 3 = PUNCH_HOLE|KEEP_SIZE)
//
// A failing call does nothing and returns -1 with the errno: an fdatasync that fails leaves the
// pages dirty (the kernel may or may not write them later), a pwrite or write writes nothing.
// Each injection appends one line "faultshim <call> <errno> <path>" to $FAULTSHIM_LOG if set, so
// a test can count them. Rules are matched in order; the first one that fires wins; a call is
// counted by every rule it matches.
//
// Thread safety: one mutex around rule matching. Paths come from /proc/self/fd, looked up only
// for calls that some rule names.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

enum Call { kFdatasync, kFsync, kPwrite, kPwritev, kWrite, kFallocate, kCalls };
static const char* const kCallNames[kCalls] = {"fdatasync", "fsync",  "pwrite",
                                               "pwritev",   "write",  "fallocate"};

// Named bound: rules in FAULTSHIM; path pattern length.
#define kMaxRules 16
#define kMaxPattern 256

struct Rule {
  unsigned calls;  // bit per enum Call
  int err;
  char path[kMaxPattern];
  long after;
  long count;  // -1: sticky
  double prob;
  uint64_t rng;
  int mode;  // fallocate mode bits that must be set; -1: any
  long seen;
};

static struct Rule g_rules[kMaxRules];
static int g_nrules;
static unsigned g_watched;  // union of the rules' calls
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_log_fd = -1;

static ssize_t (*real_pwrite)(int, const void*, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void*, size_t, off_t);
static ssize_t (*real_pwritev)(int, const struct iovec*, int, off_t);
static ssize_t (*real_pwritev64)(int, const struct iovec*, int, off_t);
static ssize_t (*real_write)(int, const void*, size_t);
static int (*real_fdatasync)(int);
static int (*real_fsync)(int);
static int (*real_fallocate)(int, int, off_t, off_t);
static int (*real_fallocate64)(int, int, off_t, off_t);

static void Die(const char* msg, const char* what) {
  char buf[512];
  int n = snprintf(buf, sizeof(buf), "faultshim: %s: %s\n", msg, what);
  if (n > 0) (void)!syscall(SYS_write, 2, buf, (size_t)n);
  _exit(99);
}

static int ParseErrno(const char* v) {
  if (strcmp(v, "EIO") == 0) return EIO;
  if (strcmp(v, "ENOSPC") == 0) return ENOSPC;
  if (strcmp(v, "EDQUOT") == 0) return EDQUOT;
  if (strcmp(v, "EROFS") == 0) return EROFS;
  Die("unknown errno (EIO, ENOSPC, EDQUOT, EROFS)", v);
  return 0;
}

static const char* ErrnoName(int e) {
  switch (e) {
    case EIO: return "EIO";
    case ENOSPC: return "ENOSPC";
    case EDQUOT: return "EDQUOT";
    case EROFS: return "EROFS";
  }
  return "?";
}

static unsigned ParseCalls(char* v) {
  unsigned bits = 0;
  for (char* save = NULL, *c = strtok_r(v, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
    int found = 0;
    for (int i = 0; i < kCalls; i++) {
      if (strcmp(c, kCallNames[i]) == 0) {
        bits |= 1u << i;
        found = 1;
      }
    }
    if (!found) Die("unknown call", c);
  }
  return bits;
}

static void ParseRule(char* text) {
  if (g_nrules == kMaxRules) Die("too many rules", text);
  struct Rule* r = &g_rules[g_nrules];
  memset(r, 0, sizeof(*r));
  r->err = EIO;
  strcpy(r->path, "*");
  r->count = 1;
  r->prob = 1.0;
  r->rng = 1;
  r->mode = -1;
  for (char* save = NULL, *kv = strtok_r(text, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
    char* eq = strchr(kv, '=');
    if (eq == NULL) Die("expected key=value", kv);
    *eq = '\0';
    const char* k = kv;
    char* v = eq + 1;
    if (strcmp(k, "call") == 0) {
      r->calls = ParseCalls(v);
    } else if (strcmp(k, "errno") == 0) {
      r->err = ParseErrno(v);
    } else if (strcmp(k, "path") == 0) {
      if (strlen(v) >= kMaxPattern) Die("path pattern too long", v);
      strcpy(r->path, v);
    } else if (strcmp(k, "after") == 0) {
      r->after = strtol(v, NULL, 10);
    } else if (strcmp(k, "count") == 0) {
      r->count = strtol(v, NULL, 10);
    } else if (strcmp(k, "prob") == 0) {
      r->prob = strtod(v, NULL);
    } else if (strcmp(k, "seed") == 0) {
      r->rng = strtoull(v, NULL, 10) * 0x9E3779B97F4A7C15ull + 1;
    } else if (strcmp(k, "mode") == 0) {
      r->mode = (int)strtol(v, NULL, 0);
    } else {
      Die("unknown key (call, errno, path, after, count, prob, seed, mode)", k);
    }
  }
  if (r->calls == 0) Die("a rule needs call=", "");
  g_watched |= r->calls;
  g_nrules++;
}

static double NextUniform(struct Rule* r) {
  r->rng ^= r->rng >> 12;
  r->rng ^= r->rng << 25;
  r->rng ^= r->rng >> 27;
  return (double)((r->rng * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}

__attribute__((constructor)) static void Init(void) {
  real_pwrite = dlsym(RTLD_NEXT, "pwrite");
  real_pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
  real_pwritev = dlsym(RTLD_NEXT, "pwritev");
  real_pwritev64 = dlsym(RTLD_NEXT, "pwritev64");
  real_write = dlsym(RTLD_NEXT, "write");
  real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
  real_fsync = dlsym(RTLD_NEXT, "fsync");
  real_fallocate = dlsym(RTLD_NEXT, "fallocate");
  real_fallocate64 = dlsym(RTLD_NEXT, "fallocate64");
  const char* spec = getenv("FAULTSHIM");
  if (spec != NULL && *spec != '\0') {
    char* copy = strdup(spec);
    for (char* save = NULL, *t = strtok_r(copy, ";", &save); t; t = strtok_r(NULL, ";", &save))
      ParseRule(t);
    free(copy);
  }
  const char* log = getenv("FAULTSHIM_LOG");
  if (log != NULL && *log != '\0')
    g_log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

// Returns the errno to fail this call with, or 0 to let it through.
static int Decide(enum Call call, int fd, int fa_mode) {
  if ((g_watched & (1u << call)) == 0) return 0;
  char path[4096];
  char link[64];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof(path) - 1);
  if (n < 0) return 0;
  path[n] = '\0';
  int err = 0;
  pthread_mutex_lock(&g_mu);
  for (int i = 0; i < g_nrules; i++) {
    struct Rule* r = &g_rules[i];
    if ((r->calls & (1u << call)) == 0 || fnmatch(r->path, path, 0) != 0) continue;
    if (call == kFallocate && r->mode >= 0 && (fa_mode & r->mode) != r->mode) continue;
    long idx = r->seen++;
    if (err != 0 || idx < r->after || r->count == 0) continue;
    if (r->prob < 1.0 && NextUniform(r) >= r->prob) continue;
    if (r->count > 0) r->count--;
    err = r->err;
  }
  pthread_mutex_unlock(&g_mu);
  if (err != 0 && g_log_fd >= 0) {
    char line[4200];
    int len = snprintf(line, sizeof(line), "faultshim %s %s %s\n", kCallNames[call],
                       ErrnoName(err), path);
    if (len > 0) (void)!real_write(g_log_fd, line, (size_t)len);
  }
  return err;
}

#define FAIL_IF(call, fd, mode)           \
  do {                                    \
    int e_ = Decide(call, fd, mode);      \
    if (e_ != 0) {                        \
      errno = e_;                         \
      return -1;                          \
    }                                     \
  } while (0)

ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  FAIL_IF(kPwrite, fd, 0);
  return real_pwrite(fd, buf, n, off);
}
ssize_t pwrite64(int fd, const void* buf, size_t n, off_t off) {
  FAIL_IF(kPwrite, fd, 0);
  return real_pwrite64(fd, buf, n, off);
}
ssize_t pwritev(int fd, const struct iovec* iov, int cnt, off_t off) {
  FAIL_IF(kPwritev, fd, 0);
  return real_pwritev(fd, iov, cnt, off);
}
ssize_t pwritev64(int fd, const struct iovec* iov, int cnt, off_t off) {
  FAIL_IF(kPwritev, fd, 0);
  return real_pwritev64(fd, iov, cnt, off);
}
ssize_t write(int fd, const void* buf, size_t n) {
  FAIL_IF(kWrite, fd, 0);
  return real_write(fd, buf, n);
}
int fdatasync(int fd) {
  FAIL_IF(kFdatasync, fd, 0);
  return real_fdatasync(fd);
}
int fsync(int fd) {
  FAIL_IF(kFsync, fd, 0);
  return real_fsync(fd);
}
int fallocate(int fd, int mode, off_t off, off_t len) {
  FAIL_IF(kFallocate, fd, mode);
  return real_fallocate(fd, mode, off, len);
}
int fallocate64(int fd, int mode, off_t off, off_t len) {
  FAIL_IF(kFallocate, fd, mode);
  return real_fallocate64(fd, mode, off, len);
}
