// Measures the two ways a large PUT body can go from a loopback socket into a pre-written
// volume file, with its CRC-32C computed before the write may commit (issue 4, item 3):
//   recv:   recv into a 4 MiB buffer, CRC it, pwrite it (what cairnd does);
//   splice: splice socket -> pipe -> file, then CRC the just-written page-cache pages through
//           a read-only mmap of the file (no copy to user space, but a second pass over them).
// Usage: put_path_bench FILE [total_MiB] [piece_KiB]. FILE is overwritten (pre-written first).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "util/crc32c.h"

namespace {

int Listen(uint16_t* port) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  listen(s, 1);
  socklen_t l = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &l);
  *port = ntohs(a.sin_port);
  return s;
}

void Sender(uint16_t port, uint64_t total) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  std::string buf(1 << 20, 'x');
  for (size_t i = 0; i < buf.size(); i++) buf[i] = static_cast<char>(i * 131);
  while (total > 0) {
    ssize_t n = send(s, buf.data(), std::min<uint64_t>(total, buf.size()), 0);
    if (n <= 0) break;
    total -= n;
  }
  close(s);
}

double Run(const char* path, uint64_t total, size_t piece, bool use_splice, uint32_t* crc_out) {
  int fd = open(path, O_RDWR);
  uint16_t port;
  int ls = Listen(&port);
  std::thread t(Sender, port, total);
  int s = accept(ls, nullptr, nullptr);
  auto t0 = std::chrono::steady_clock::now();
  uint32_t crc = 0;
  uint64_t off = 0;
  if (!use_splice) {
    std::string buf(piece, '\0');
    while (off < total) {
      size_t have = 0;
      while (have < piece && off + have < total) {
        ssize_t n = recv(s, buf.data() + have, std::min<uint64_t>(piece - have, total - off - have), 0);
        if (n <= 0) break;
        have += n;
      }
      crc = cairn::crc32c::Extend(crc, buf.data(), have);
      pwrite(fd, buf.data(), have, off);
      off += have;
    }
  } else {
    int p[2];
    pipe(p);
    fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
    char* map = static_cast<char*>(mmap(nullptr, total, PROT_READ, MAP_SHARED, fd, 0));
    while (off < total) {
      uint64_t end = std::min<uint64_t>(total, off + piece);
      uint64_t start = off;
      while (off < end) {
        ssize_t n = splice(s, nullptr, p[1], nullptr, end - off, SPLICE_F_MOVE);
        if (n <= 0) break;
        loff_t o = off;
        ssize_t left = n;
        while (left > 0) {
          ssize_t w = splice(p[0], nullptr, fd, &o, left, SPLICE_F_MOVE);
          if (w <= 0) break;
          left -= w;
        }
        off += n;
      }
      crc = cairn::crc32c::Extend(crc, map + start, off - start);  // CRC over the cached pages
    }
    munmap(map, total);
    close(p[0]);
    close(p[1]);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  t.join();
  close(s);
  close(ls);
  close(fd);
  *crc_out = crc;
  return total / secs / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE [total_MiB=1024] [piece_KiB=4096]\n", argv[0]);
    return 2;
  }
  uint64_t total = (argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1024) << 20;
  size_t piece = (argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 4096) << 10;
  {  // pre-written, like a volume: the write path never extends the file
    int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0644);
    std::string z(1 << 20, '\0');
    for (uint64_t o = 0; o < total; o += z.size()) pwrite(fd, z.data(), z.size(), o);
    fdatasync(fd);
    close(fd);
  }
  for (int round = 0; round < 3; round++) {
    uint32_t c1, c2;
    double r = Run(argv[1], total, piece, false, &c1);
    double s = Run(argv[1], total, piece, true, &c2);
    std::printf("{\"round\":%d,\"total_mib\":%llu,\"piece_kib\":%zu,\"recv_pwrite_gbps\":%.2f,"
                "\"splice_gbps\":%.2f,\"crc_equal\":%s}\n",
                round, static_cast<unsigned long long>(total >> 20), piece >> 10, r, s,
                c1 == c2 ? "true" : "false");
  }
  return 0;
}
