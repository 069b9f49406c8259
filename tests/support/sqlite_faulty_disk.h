// A disk that can fill up or turn read-only, for SQLite tests, without root:
// a VFS over the default one, installed as the default VFS while a
// FaultyDisk exists, so every connection opened meanwhile (a SqliteStore's
// too) reads and writes through it.
//
//  - Healthy: every call goes straight to the real VFS.
//  - Full: a write that would make a file larger fails with SQLITE_FULL, as
//    the unix VFS answers ENOSPC; writes inside a file's current size (e.g.
//    a WAL being reused from its start) still succeed, as on a real disk.
//  - ReadOnly: every write fails with SQLITE_IOERR_WRITE, as after the file
//    system was remounted read-only (EROFS).
// Reads are never affected. Connections opened through it must be closed
// before the FaultyDisk is destroyed.
#pragma once
#include <sqlite3.h>

#include <atomic>
#include <cstring>
#include <stdexcept>

namespace qc::testing {

class FaultyDisk {
 public:
  enum class Mode { Healthy, Full, ReadOnly };

  FaultyDisk() : real_(sqlite3_vfs_find(nullptr)) {
    if (!real_) throw std::runtime_error("no default SQLite VFS");
    if (instance_) throw std::runtime_error("one FaultyDisk at a time");
    std::memset(&vfs_, 0, sizeof vfs_);
    vfs_.iVersion = 2;
    vfs_.szOsFile = static_cast<int>(sizeof(File)) + real_->szOsFile;
    vfs_.mxPathname = real_->mxPathname;
    vfs_.zName = "qc-faulty-disk";
    vfs_.pAppData = this;
    vfs_.xOpen = &FaultyDisk::open;
    vfs_.xDelete = [](sqlite3_vfs* v, const char* name, int sync) {
      return real(v)->xDelete(real(v), name, sync);
    };
    vfs_.xAccess = [](sqlite3_vfs* v, const char* name, int flags, int* out) {
      return real(v)->xAccess(real(v), name, flags, out);
    };
    vfs_.xFullPathname = [](sqlite3_vfs* v, const char* name, int n, char* out) {
      return real(v)->xFullPathname(real(v), name, n, out);
    };
    vfs_.xDlOpen = [](sqlite3_vfs* v, const char* name) { return real(v)->xDlOpen(real(v), name); };
    vfs_.xDlError = [](sqlite3_vfs* v, int n, char* out) { real(v)->xDlError(real(v), n, out); };
    vfs_.xDlSym = [](sqlite3_vfs* v, void* h, const char* sym) {
      return real(v)->xDlSym(real(v), h, sym);
    };
    vfs_.xDlClose = [](sqlite3_vfs* v, void* h) { real(v)->xDlClose(real(v), h); };
    vfs_.xRandomness = [](sqlite3_vfs* v, int n, char* out) {
      return real(v)->xRandomness(real(v), n, out);
    };
    vfs_.xSleep = [](sqlite3_vfs* v, int us) { return real(v)->xSleep(real(v), us); };
    vfs_.xCurrentTime = [](sqlite3_vfs* v, double* out) {
      return real(v)->xCurrentTime(real(v), out);
    };
    vfs_.xGetLastError = [](sqlite3_vfs* v, int n, char* out) {
      return real(v)->xGetLastError(real(v), n, out);
    };
    vfs_.xCurrentTimeInt64 = [](sqlite3_vfs* v, sqlite3_int64* out) {
      return real(v)->xCurrentTimeInt64(real(v), out);
    };
    instance_ = this;
    if (sqlite3_vfs_register(&vfs_, 1) != SQLITE_OK) {
      instance_ = nullptr;
      throw std::runtime_error("cannot register the faulty-disk VFS");
    }
  }
  ~FaultyDisk() {
    sqlite3_vfs_unregister(&vfs_);
    sqlite3_vfs_register(real_, 1);
    instance_ = nullptr;
  }
  FaultyDisk(const FaultyDisk&) = delete;
  FaultyDisk& operator=(const FaultyDisk&) = delete;

  void set(Mode mode) { mode_ = mode; }
  // Writes refused so far.
  int refused_writes() const { return refused_; }

 private:
  // The wrapper's file: our header, then the real VFS's file object.
  struct File {
    sqlite3_file base;
    FaultyDisk* disk;
    sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
  };
  static_assert(sizeof(File) % 8 == 0);

  static sqlite3_vfs* real(sqlite3_vfs* v) { return static_cast<FaultyDisk*>(v->pAppData)->real_; }
  static sqlite3_file* inner(sqlite3_file* f) { return reinterpret_cast<File*>(f)->real(); }

  static int open(sqlite3_vfs* v, const char* name, sqlite3_file* f, int flags, int* out) {
    auto* file = reinterpret_cast<File*>(f);
    file->base.pMethods = nullptr;
    file->disk = static_cast<FaultyDisk*>(v->pAppData);
    int rc = real(v)->xOpen(real(v), name, file->real(), flags, out);
    if (file->real()->pMethods) file->base.pMethods = &kMethods;
    return rc;
  }

  static int write(sqlite3_file* f, const void* data, int amount, sqlite3_int64 offset) {
    auto* file = reinterpret_cast<File*>(f);
    sqlite3_file* r = file->real();
    switch (file->disk->mode_.load()) {
      case Mode::Healthy:
        break;
      case Mode::ReadOnly:
        ++file->disk->refused_;
        return SQLITE_IOERR_WRITE;
      case Mode::Full: {
        sqlite3_int64 size = 0;
        if (r->pMethods->xFileSize(r, &size) != SQLITE_OK || offset + amount > size) {
          ++file->disk->refused_;
          return SQLITE_FULL;
        }
        break;
      }
    }
    return r->pMethods->xWrite(r, data, amount, offset);
  }

  static inline const sqlite3_io_methods kMethods = {
      3,
      [](sqlite3_file* f) { return inner(f)->pMethods->xClose(inner(f)); },
      [](sqlite3_file* f, void* p, int n, sqlite3_int64 o) {
        return inner(f)->pMethods->xRead(inner(f), p, n, o);
      },
      &FaultyDisk::write,
      [](sqlite3_file* f, sqlite3_int64 size) {
        return inner(f)->pMethods->xTruncate(inner(f), size);
      },
      [](sqlite3_file* f, int flags) { return inner(f)->pMethods->xSync(inner(f), flags); },
      [](sqlite3_file* f, sqlite3_int64* size) {
        return inner(f)->pMethods->xFileSize(inner(f), size);
      },
      [](sqlite3_file* f, int lock) { return inner(f)->pMethods->xLock(inner(f), lock); },
      [](sqlite3_file* f, int lock) { return inner(f)->pMethods->xUnlock(inner(f), lock); },
      [](sqlite3_file* f, int* out) {
        return inner(f)->pMethods->xCheckReservedLock(inner(f), out);
      },
      [](sqlite3_file* f, int op, void* arg) {
        return inner(f)->pMethods->xFileControl(inner(f), op, arg);
      },
      [](sqlite3_file* f) { return inner(f)->pMethods->xSectorSize(inner(f)); },
      [](sqlite3_file* f) { return inner(f)->pMethods->xDeviceCharacteristics(inner(f)); },
      [](sqlite3_file* f, int region, int size, int extend, void volatile** out) {
        return inner(f)->pMethods->xShmMap(inner(f), region, size, extend, out);
      },
      [](sqlite3_file* f, int offset, int n, int flags) {
        return inner(f)->pMethods->xShmLock(inner(f), offset, n, flags);
      },
      [](sqlite3_file* f) { inner(f)->pMethods->xShmBarrier(inner(f)); },
      [](sqlite3_file* f, int del) { return inner(f)->pMethods->xShmUnmap(inner(f), del); },
      [](sqlite3_file* f, sqlite3_int64 o, int n, void** out) {
        return inner(f)->pMethods->xFetch(inner(f), o, n, out);
      },
      [](sqlite3_file* f, sqlite3_int64 o, void* p) {
        return inner(f)->pMethods->xUnfetch(inner(f), o, p);
      },
  };

  sqlite3_vfs* real_;
  sqlite3_vfs vfs_;
  std::atomic<Mode> mode_{Mode::Healthy};
  std::atomic<int> refused_{0};
  static inline FaultyDisk* instance_ = nullptr;
};

}  // namespace qc::testing
