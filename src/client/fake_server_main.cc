// cairn_fake_server: FakeServer as a process, for the CLI's remote-mode tests when no cairnd is
// built. Prints its port on stdout, then serves until stdin closes (or it is killed).
#include <cstdio>
#include <unistd.h>

#include "client/fake_server.h"

int main() {
  cairn::client::FakeServer server;
  std::printf("%u\n", server.port());
  std::fflush(stdout);
  char c;
  while (::read(STDIN_FILENO, &c, 1) > 0) {
  }
  return 0;
}
