// Telling a hole from allocated space, shared by the POSIX Env and the crash model's testing Env.
#pragma once

#include <cstdint>
#include <string>

#include "cairn/status.h"

namespace cairn {

// Whether byte `offset` of the open file `fd` lies in a hole: no extent behind it
// (FS_IOC_FIEMAP). An allocated but unwritten extent is *not* a hole, although it reads as
// zeros: `lseek(SEEK_DATA)` on ext4 and XFS calls one with no cached page a hole, so it is used
// only where FIEMAP is missing. `path` names the file in errors.
Result<bool> FdInHole(int fd, uint64_t offset, const std::string& path);

}  // namespace cairn
