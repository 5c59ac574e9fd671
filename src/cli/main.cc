// cairn: the command-line tool (cli/cairn_main.cc), without the engine: against a server or a
// cluster it starts fast, and for a local store it runs cairn-local (cli/local_backend.h).
#include "cli/cairn_main.h"

int main(int argc, char** argv) { return cairn::cli::CairnMain(argc, argv, nullptr); }
