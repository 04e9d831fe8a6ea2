// Fault injection (SQLite's tempfault.test, LevelDB's fault_injection_test): a wrapping VFS,
// registered as the process default for one test, fails the WAL fsync of a COMMIT. The group must
// fail as a whole, the database must refuse further writes (poisoned, like LevelDB after a failed
// log sync), and after reopening the file holds all of the failed write or none of it.
#include <doctest/doctest.h>

#include <sqlite3.h>

#include <atomic>
#include <cstring>

#include "engine_test_util.h"

namespace divan::engine::test {
namespace {

std::atomic<bool> g_fail_wal_sync{false};
std::atomic<int> g_failed_syncs{0};
sqlite3_vfs* g_real_vfs = nullptr;

struct FaultFile {
  sqlite3_file base;
  sqlite3_file* real;  // points just past this struct, inside the same allocation
  bool is_wal;
};

sqlite3_file* real_of(sqlite3_file* f) { return reinterpret_cast<FaultFile*>(f)->real; }

int f_close(sqlite3_file* f) {
  int rc = real_of(f)->pMethods ? real_of(f)->pMethods->xClose(real_of(f)) : SQLITE_OK;
  return rc;
}
int f_read(sqlite3_file* f, void* p, int n, sqlite3_int64 off) {
  return real_of(f)->pMethods->xRead(real_of(f), p, n, off);
}
int f_write(sqlite3_file* f, const void* p, int n, sqlite3_int64 off) {
  return real_of(f)->pMethods->xWrite(real_of(f), p, n, off);
}
int f_truncate(sqlite3_file* f, sqlite3_int64 size) {
  return real_of(f)->pMethods->xTruncate(real_of(f), size);
}
int f_sync(sqlite3_file* f, int flags) {
  if (reinterpret_cast<FaultFile*>(f)->is_wal && g_fail_wal_sync.load()) {
    ++g_failed_syncs;
    return SQLITE_IOERR_FSYNC;
  }
  return real_of(f)->pMethods->xSync(real_of(f), flags);
}
int f_file_size(sqlite3_file* f, sqlite3_int64* size) {
  return real_of(f)->pMethods->xFileSize(real_of(f), size);
}
int f_lock(sqlite3_file* f, int l) { return real_of(f)->pMethods->xLock(real_of(f), l); }
int f_unlock(sqlite3_file* f, int l) { return real_of(f)->pMethods->xUnlock(real_of(f), l); }
int f_check_reserved(sqlite3_file* f, int* out) {
  return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}
int f_file_control(sqlite3_file* f, int op, void* arg) {
  return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}
int f_sector_size(sqlite3_file* f) { return real_of(f)->pMethods->xSectorSize(real_of(f)); }
int f_device_chars(sqlite3_file* f) {
  return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}
int f_shm_map(sqlite3_file* f, int i, int sz, int extend, void volatile** pp) {
  return real_of(f)->pMethods->xShmMap(real_of(f), i, sz, extend, pp);
}
int f_shm_lock(sqlite3_file* f, int off, int n, int flags) {
  return real_of(f)->pMethods->xShmLock(real_of(f), off, n, flags);
}
void f_shm_barrier(sqlite3_file* f) { real_of(f)->pMethods->xShmBarrier(real_of(f)); }
int f_shm_unmap(sqlite3_file* f, int del) {
  return real_of(f)->pMethods->xShmUnmap(real_of(f), del);
}
int f_fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** pp) {
  return real_of(f)->pMethods->xFetch(real_of(f), off, n, pp);
}
int f_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
  return real_of(f)->pMethods->xUnfetch(real_of(f), off, p);
}

const sqlite3_io_methods kFaultMethods = {
    3,           f_close,         f_read,           f_write,         f_truncate,
    f_sync,      f_file_size,     f_lock,           f_unlock,        f_check_reserved,
    f_file_control, f_sector_size, f_device_chars,  f_shm_map,       f_shm_lock,
    f_shm_barrier, f_shm_unmap,   f_fetch,          f_unfetch};

int f_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  auto* ff = reinterpret_cast<FaultFile*>(file);
  ff->base.pMethods = nullptr;
  ff->real = reinterpret_cast<sqlite3_file*>(ff + 1);
  ff->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
  int rc = g_real_vfs->xOpen(g_real_vfs, name, ff->real, flags, out_flags);
  if (ff->real->pMethods != nullptr) ff->base.pMethods = &kFaultMethods;
  return rc;
}
int f_delete(sqlite3_vfs*, const char* name, int sync_dir) {
  return g_real_vfs->xDelete(g_real_vfs, name, sync_dir);
}
int f_access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return g_real_vfs->xAccess(g_real_vfs, name, flags, out);
}
int f_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return g_real_vfs->xFullPathname(g_real_vfs, name, n, out);
}
void* f_dl_open(sqlite3_vfs*, const char* name) { return g_real_vfs->xDlOpen(g_real_vfs, name); }
void f_dl_error(sqlite3_vfs*, int n, char* msg) { g_real_vfs->xDlError(g_real_vfs, n, msg); }
void (*f_dl_sym(sqlite3_vfs*, void* h, const char* sym))(void) {
  return g_real_vfs->xDlSym(g_real_vfs, h, sym);
}
void f_dl_close(sqlite3_vfs*, void* h) { g_real_vfs->xDlClose(g_real_vfs, h); }
int f_randomness(sqlite3_vfs*, int n, char* out) {
  return g_real_vfs->xRandomness(g_real_vfs, n, out);
}
int f_sleep(sqlite3_vfs*, int us) { return g_real_vfs->xSleep(g_real_vfs, us); }
int f_current_time(sqlite3_vfs*, double* t) { return g_real_vfs->xCurrentTime(g_real_vfs, t); }
int f_get_last_error(sqlite3_vfs*, int n, char* msg) {
  return g_real_vfs->xGetLastError(g_real_vfs, n, msg);
}
int f_current_time_int64(sqlite3_vfs*, sqlite3_int64* t) {
  return g_real_vfs->xCurrentTimeInt64(g_real_vfs, t);
}

// Installs the fault VFS as the default for its lifetime (the engine opens with the default VFS).
class FaultVfs {
 public:
  FaultVfs() {
    g_real_vfs = sqlite3_vfs_find(nullptr);
    REQUIRE(g_real_vfs != nullptr);
    std::memset(&vfs_, 0, sizeof(vfs_));
    vfs_.iVersion = 2;
    vfs_.szOsFile = static_cast<int>(sizeof(FaultFile)) + g_real_vfs->szOsFile;
    vfs_.mxPathname = g_real_vfs->mxPathname;
    vfs_.zName = "divan-fault";
    vfs_.xOpen = f_open;
    vfs_.xDelete = f_delete;
    vfs_.xAccess = f_access;
    vfs_.xFullPathname = f_full_pathname;
    vfs_.xDlOpen = f_dl_open;
    vfs_.xDlError = f_dl_error;
    vfs_.xDlSym = f_dl_sym;
    vfs_.xDlClose = f_dl_close;
    vfs_.xRandomness = f_randomness;
    vfs_.xSleep = f_sleep;
    vfs_.xCurrentTime = f_current_time;
    vfs_.xGetLastError = f_get_last_error;
    vfs_.xCurrentTimeInt64 = f_current_time_int64;
    REQUIRE(sqlite3_vfs_register(&vfs_, /*makeDflt=*/1) == SQLITE_OK);
  }
  ~FaultVfs() {
    sqlite3_vfs_unregister(&vfs_);
    sqlite3_vfs_register(g_real_vfs, /*makeDflt=*/1);
    g_fail_wal_sync = false;
  }

 private:
  sqlite3_vfs vfs_;
};

TEST_CASE("a failed COMMIT fails the group and poisons the database until reopened") {
  TempDir dir;
  std::string rev_a;
  {
    FaultVfs vfs;
    Catalog catalog(options_for(dir, /*fsync=*/true));
    auto db = *catalog.create("poison");
    rev_a = write_one(*db, edit("a", R"({"v":1})")).rev;

    g_fail_wal_sync = true;
    g_failed_syncs = 0;
    auto failed = db->write({edit("b", "{}"), edit("a", R"({"v":2})", rev_a)});
    g_fail_wal_sync = false;
    CHECK(g_failed_syncs.load() > 0);
    REQUIRE_FALSE(failed.has_value());
    CHECK(failed.error().code == Code::kInternal);
    CHECK(db->update_seq() == 1);  // nothing published

    // Poisoned: even with a healthy disk again, writes are refused until the file is reopened.
    auto refused = db->write({edit("c", "{}")});
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().code == Code::kInternal);
    // Reads still work.
    auto snap = db->snapshot();
    REQUIRE(snap.has_value());
    CHECK(snap->doc("a").has_value());
  }
  // Reopened: the failed group is there entirely or not at all, and writes work again.
  Catalog catalog(options_for(dir, /*fsync=*/true));
  auto db = *catalog.open("poison");
  auto snap = db->snapshot();
  REQUIRE(snap.has_value());
  bool has_b = snap->doc("b").has_value();
  auto a = snap->doc("a");
  REQUIRE(a.has_value());
  bool a_updated = a->tree.winner().rev.pos == 2;
  CHECK(has_b == a_updated);
  DbInfo info = db->info();
  CHECK(info.update_seq == (has_b ? 3u : 1u));
  CHECK(info.doc_count == (has_b ? 2u : 1u));
  MESSAGE("after a failed WAL fsync the group was " << (has_b ? "kept" : "lost") << " on reopen");
  CHECK(write_one(*db, edit("c", "{}")).written);
}

}  // namespace
}  // namespace divan::engine::test
