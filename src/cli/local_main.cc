// cairn-local: the command-line tool (cli/cairn_main.cc) with the engine linked, which `cairn`
// runs for the commands that work on a local store (cli/local_backend.h). It also runs every
// other command itself, so it can stand in for cairn.
#include "cli/cairn_main.h"
#include "cli/local_backend.h"

int main(int argc, char** argv) {
  return cairn::cli::CairnMain(argc, argv, &cairn::cli::LocalStoreBackend());
}
