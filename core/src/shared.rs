//! The shared state file, `STATE_DIR/locks.v3`: mapped by every process of the user that
//! mirrors (and by the daemon), it holds per-pair journal counters and the coherency lock
//! slots.
//!
//! The file is created 0600 and initialised once, under an `flock` of it, by the first process
//! that maps it; a magic number tells an initialised file. Everything in it is an atomic, so
//! processes use it without any further locking.

use std::ffi::CStr;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::locks::{self, Held, LockSlot, SLOTS};
use crate::sys;

const MAGIC: u64 = 0x4d46_534c_4f43_4b33; // "MFSLOCK3"
/// Name of the shared state file in the state directory.
pub const FILE_NAME: &CStr = c"locks.v3";

/// Journal entry counters: one per pair name in use.
const JOURNAL_COUNTERS: usize = 255;

#[repr(C)]
struct Header {
    magic: AtomicU64,
    slots: u64,
    journals: [JournalCounter; JOURNAL_COUNTERS],
}

#[repr(C)]
struct JournalCounter {
    /// Hash of the pair name owning this counter, 0 when free.
    owner: AtomicU64,
    entries: AtomicU64,
}

#[repr(C)]
struct Layout {
    header: Header,
    slots: [LockSlot; SLOTS],
}

const _: () = assert!(std::mem::size_of::<Header>() == 4096);

/// The mapped shared state file.
pub struct SharedState {
    map: *mut Layout,
}

// SAFETY: the mapping is shared memory designed for concurrent use through atomics only.
unsafe impl Send for SharedState {}
// SAFETY: as above.
unsafe impl Sync for SharedState {}

impl SharedState {
    /// Opens (creating and initialising when needed) the shared state file in `dir`. The
    /// descriptor is used only while mapping; `fd_floor` keeps it out of the program's range.
    pub fn open(dir: &CStr, fd_floor: i32) -> Option<SharedState> {
        let dirfd = sys::openat(libc::AT_FDCWD, dir, libc::O_PATH | libc::O_DIRECTORY, 0).ok()?;
        let fd = sys::openat(dirfd, FILE_NAME, libc::O_RDWR | libc::O_CREAT | libc::O_NOFOLLOW, 0o600);
        sys::close(dirfd);
        let fd = sys::move_high(fd.ok()?, fd_floor);
        let table = Self::map(fd);
        sys::close(fd);
        table
    }

    fn map(fd: i32) -> Option<SharedState> {
        let size = std::mem::size_of::<Layout>();
        sys::flock(fd, libc::LOCK_EX).ok()?;
        let st = sys::fstat(fd).ok();
        if st.is_none_or(|s| (s.st_size as usize) < size) && sys::ftruncate(fd, size as libc::off_t).is_err() {
            let _ = sys::flock(fd, libc::LOCK_UN);
            return None;
        }
        // SAFETY: a shared mapping of a file just sized to `size` bytes.
        let p = unsafe {
            libc::mmap(std::ptr::null_mut(), size, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0)
        };
        if p == libc::MAP_FAILED {
            let _ = sys::flock(fd, libc::LOCK_UN);
            return None;
        }
        let shared = SharedState { map: p.cast() };
        let header = shared.header();
        if header.magic.load(Ordering::Acquire) != MAGIC {
            // We hold the file's flock, so no other process initialises concurrently, and no
            // process uses the slots before the magic is published.
            for slot in shared.slots() {
                slot.reset();
            }
            for c in &header.journals {
                c.owner.store(0, Ordering::Relaxed);
                c.entries.store(0, Ordering::Relaxed);
            }
            header.magic.store(MAGIC, Ordering::Release);
        }
        let _ = sys::flock(fd, libc::LOCK_UN);
        Some(shared)
    }

    fn header(&self) -> &Header {
        // SAFETY: the mapping is as large as `Layout` and stays for the life of `self`.
        unsafe { &(*self.map).header }
    }

    /// The coherency lock slots.
    #[inline(always)]
    pub fn slots(&self) -> &[LockSlot; SLOTS] {
        // SAFETY: as in `header`.
        unsafe { &(*self.map).slots }
    }

    /// Takes the coherency lock of the file with key `key` (see [`crate::locks`]).
    #[inline(always)]
    pub fn lock(&self, key: u64) -> Held<'_> {
        locks::lock(self.slots(), key)
    }

    /// Counts one more journal entry for the pair whose name hashes to `name_hash`; returns
    /// the new count. Counters are shared by every process using this state directory, so the
    /// journal limit holds across processes. A full counter table counts in the last slot.
    pub fn count_journal(&self, name_hash: u64) -> u64 {
        let h = name_hash.max(1);
        let counters = &self.header().journals;
        let start = (h % JOURNAL_COUNTERS as u64) as usize;
        for i in 0..JOURNAL_COUNTERS {
            let c = &counters[(start + i) % JOURNAL_COUNTERS];
            match c.owner.compare_exchange(0, h, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return c.entries.fetch_add(1, Ordering::AcqRel) + 1,
                Err(o) if o == h => return c.entries.fetch_add(1, Ordering::AcqRel) + 1,
                Err(_) => continue,
            }
        }
        counters[start].entries.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Resets the journal counter of a pair (after its journal was replayed and emptied).
    pub fn reset_journal(&self, name_hash: u64) {
        let h = name_hash.max(1);
        for c in self.header().journals.iter().filter(|c| c.owner.load(Ordering::Acquire) == h) {
            c.entries.store(0, Ordering::Release);
        }
    }
}

/// FNV-1a hash of a pair name, the key of its journal counter.
pub fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    fn dir(name: &str) -> (std::path::PathBuf, CString) {
        let dir = std::env::temp_dir().join(format!("mfs-shared-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let c = CString::new(dir.to_str().unwrap()).unwrap();
        (dir, c)
    }

    /// Two mappings of one file are one state: a lock taken through one is seen held through
    /// the other, and journal counters add up across them.
    #[test]
    fn two_mappings_share_locks_and_counters() {
        let (d, c) = dir("two");
        let a = SharedState::open(&c, 100).expect("first mapping");
        let b = SharedState::open(&c, 100).expect("second mapping");
        let h = name_hash("data");
        assert_eq!(a.count_journal(h), 1);
        assert_eq!(b.count_journal(h), 2);
        assert_eq!(a.count_journal(name_hash("other")), 1);
        b.reset_journal(h);
        assert_eq!(a.count_journal(h), 1);

        let held = a.lock(5);
        assert!(held.exclusive());
        // The same thread taking the same slot through the other mapping is a nested take.
        assert!(matches!(b.lock(5), Held::Covered));
        std::thread::scope(|s| {
            s.spawn(|| {
                let start = std::time::Instant::now();
                let h2 = b.lock(5);
                assert!(h2.exclusive());
                assert!(start.elapsed() >= std::time::Duration::from_millis(150), "not serialised");
            });
            std::thread::sleep(std::time::Duration::from_millis(200));
            drop(held);
        });
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn an_unusable_directory_gives_no_state() {
        assert!(SharedState::open(c"/nonexistent/mfs", 100).is_none());
    }
}
