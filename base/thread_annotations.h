// Lock annotations the compiler checks: Clang's thread-safety analysis (-Wthread-safety), run by the
// CTest test `thread_safety` (tests/thread_safety) over every source that includes this header or
// a header that does. Under g++ the macros expand to nothing. A member written `T x GUARDED_BY(mu_);` may only be
// touched with `mu_` held; a function marked `REQUIRES(mu_)` may only be called with it held.
//
// std::mutex carries no annotations, so guarded state uses these thin wrappers (as LevelDB's
// port::Mutex): Mutex, MutexLock (a lock_guard that can also be released and re-taken, like
// unique_lock), MutexUnlock and CondVar. The analysis checks a lambda on its own, not as part of
// the function it is written in: a condition wait is written as a loop (`while (!ready)
// cv.wait(lock);`), not with a predicate, and a lambda run under the lock says so with
// `[&]() REQUIRES(mu) { … }`.
#pragma once

#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define DIVAN_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define DIVAN_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) DIVAN_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY DIVAN_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) DIVAN_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) DIVAN_THREAD_ANNOTATION(pt_guarded_by(x))
#define REQUIRES(...) DIVAN_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define ACQUIRE(...) DIVAN_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) DIVAN_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define EXCLUDES(...) DIVAN_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) DIVAN_THREAD_ANNOTATION(assert_capability(x))
#define NO_THREAD_SAFETY_ANALYSIS DIVAN_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace divan {

class CondVar;
class MutexLock;

// A std::mutex the analysis knows as a capability. Lock it through MutexLock.
class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }
  // Tells the analysis the caller holds it, where it cannot follow (a callback run under the lock).
  void assert_held() const ASSERT_CAPABILITY(this) {}

 private:
  friend class MutexLock;
  std::mutex mu_;
};

// Holds `mu` for its scope. unlock() and lock() release and re-take it inside the scope (work done
// without the lock); the destructor releases it only if held.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : lock_(mu.mu_) {}
  ~MutexLock() RELEASE() {}
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void unlock() RELEASE() { lock_.unlock(); }
  void lock() ACQUIRE() { lock_.lock(); }

 private:
  friend class CondVar;
  std::unique_lock<std::mutex> lock_;
};

// Releases `mu` for its scope and takes it again at the end: work done without the lock, in a
// function that holds it through a MutexLock it was handed (REQUIRES(mu)), where the analysis
// cannot see that the MutexLock is `mu`'s and so cannot follow lock.unlock() / lock.lock().
class SCOPED_CAPABILITY MutexUnlock {
 public:
  MutexUnlock([[maybe_unused]] Mutex& mu, MutexLock& lock) RELEASE(mu) : lock_(lock) {
    lock_.unlock();
  }
  ~MutexUnlock() RELEASE() { lock_.lock(); }
  MutexUnlock(const MutexUnlock&) = delete;
  MutexUnlock& operator=(const MutexUnlock&) = delete;

 private:
  MutexLock& lock_;
};

// A std::condition_variable waited on with a MutexLock: wait() releases the mutex while it sleeps
// and holds it again when it returns, so for the analysis the lock is held throughout.
class CondVar {
 public:
  void wait(MutexLock& lock) { cv_.wait(lock.lock_); }
  void notify_one() { cv_.notify_one(); }
  void notify_all() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace divan
