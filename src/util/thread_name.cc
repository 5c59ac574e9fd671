#include "util/thread_name.h"

#include <pthread.h>

#include <string>

namespace cairn {

void SetThreadName(std::string_view name) {
  const std::string n(name.substr(0, 15));
  (void)pthread_setname_np(pthread_self(), n.c_str());
}

}  // namespace cairn
