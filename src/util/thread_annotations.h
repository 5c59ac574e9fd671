// Clang's thread-safety annotations (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html):
// which lock guards which field, which locks a function needs or takes, and in which order locks
// are taken. Clang builds check them (-Wthread-safety -Wthread-safety-beta, errors: the top-level
// CMakeLists.txt), so CI's clang stage fails on a field touched without its lock or a lock taken
// out of order; other compilers ignore them. STYLE.md habit 23; util/mutex.h has the annotated
// locks.
#pragma once

#if defined(__clang__)
#define CAIRN_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define CAIRN_THREAD_ANNOTATION(x)
#endif

// On a class: its objects are locks (capabilities).
#define CAPABILITY(x) CAIRN_THREAD_ANNOTATION(capability(x))
// On a class: an RAII object that holds a lock for its lifetime.
#define SCOPED_CAPABILITY CAIRN_THREAD_ANNOTATION(scoped_lockable)
// On a field: read and written only with the lock held.
#define GUARDED_BY(x) CAIRN_THREAD_ANNOTATION(guarded_by(x))
// On a pointer field: what it points at is read and written only with the lock held.
#define PT_GUARDED_BY(x) CAIRN_THREAD_ANNOTATION(pt_guarded_by(x))
// On a lock: the locks that must be taken after (before) it when both are held.
#define ACQUIRED_BEFORE(...) CAIRN_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) CAIRN_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
// On a function: the caller holds these locks (exclusively, or at least shared).
#define REQUIRES(...) CAIRN_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) CAIRN_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
// On a function: it takes (releases) these locks and returns holding them (not holding them).
#define ACQUIRE(...) CAIRN_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) CAIRN_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) CAIRN_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) CAIRN_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) CAIRN_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
// On a function: the caller must not hold these locks (the function takes them).
#define EXCLUDES(...) CAIRN_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
// On a function: checks at run time that the lock is held, and tells the analysis so.
#define ASSERT_CAPABILITY(x) CAIRN_THREAD_ANNOTATION(assert_capability(x))
// On a function: it returns (a pointer to) this lock.
#define RETURN_CAPABILITY(x) CAIRN_THREAD_ANNOTATION(lock_returned(x))
// On a function: not analysed. Each use says why the analysis cannot follow it.
#define NO_THREAD_SAFETY_ANALYSIS CAIRN_THREAD_ANNOTATION(no_thread_safety_analysis)
