//! The per-pair journal: an append-only text file of paths that a copy is missing changes for.
//!
//! One record per line: `KIND COPY PID PATH`, where `KIND` is an upper-case letter for what a
//! copy is behind on (`D`, `M`, `C`, `F`) or a lower-case one for what its file system cannot
//! represent (see [`Kind`]), and `PATH` is relative to the pair's roots and
//! percent-encoded (every byte outside `!`..`~`, and `%` itself, becomes `%XX`), so arbitrary
//! bytes in file names, newlines included, survive. The root itself is written as `.`.
//! Writers append whole lines with a single `write` on an `O_APPEND` descriptor ([`Appender`]),
//! so records from concurrent processes never interleave. [`Journal`] adds the pair's
//! `journal_limit`, counted across processes in the shared state file.

use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};

use crate::failure::Lack;
use crate::shared::SharedState;
use crate::sys::{self, Errno, SysResult};

/// What a record says about its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// The copy may differ from the primary at this path (data, metadata or entries).
    Dirty,
    /// The path is mapped writable: dirty until a matching [`Kind::Clean`].
    Mapped,
    /// A mapping of the path was synchronised and released.
    Clean,
    /// The copy needs a full resynchronisation (journal overflow, or an unknown path).
    Full,
    /// The copy's file system cannot represent this of the path (see [`Lack`]): nothing to
    /// resynchronise, a fact to report.
    Lacks(Lack),
}

impl Kind {
    fn letter(self) -> u8 {
        match self {
            Kind::Dirty => b'D',
            Kind::Mapped => b'M',
            Kind::Clean => b'C',
            Kind::Full => b'F',
            Kind::Lacks(Lack::Xattr) => b'x',
            Kind::Lacks(Lack::Acl) => b'a',
            Kind::Lacks(Lack::Special) => b'n',
            Kind::Lacks(Lack::Owner) => b'o',
            Kind::Lacks(Lack::Times) => b't',
            Kind::Lacks(Lack::Mode) => b'm',
            Kind::Lacks(Lack::Feature) => b'f',
        }
    }

    fn from_letter(b: u8) -> Option<Kind> {
        Some(match b {
            b'D' => Kind::Dirty,
            b'M' => Kind::Mapped,
            b'C' => Kind::Clean,
            b'F' => Kind::Full,
            b'x' => Kind::Lacks(Lack::Xattr),
            b'a' => Kind::Lacks(Lack::Acl),
            b'n' => Kind::Lacks(Lack::Special),
            b'o' => Kind::Lacks(Lack::Owner),
            b't' => Kind::Lacks(Lack::Times),
            b'm' => Kind::Lacks(Lack::Mode),
            b'f' => Kind::Lacks(Lack::Feature),
            _ => return None,
        })
    }
}

/// One decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: Kind,
    /// Index of the copy that is behind (0 = primary).
    pub copy: usize,
    /// Process that wrote the record.
    pub pid: u32,
    /// Path relative to the pair's roots; empty for the root.
    pub path: Vec<u8>,
}

/// Longest encoded record: kind, copy, pid, a fully escaped `PATH_MAX` path, newline.
pub const MAX_RECORD: usize = 3 * crate::path::PATH_MAX + 32;

/// Journal file name for a pair inside the state directory.
pub fn file_name(pair: &str) -> String {
    format!("{pair}.journal")
}

fn is_plain(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) && b != b'%'
}

/// Encodes one record into `out` without allocating; returns the length, or `None` when it
/// does not fit.
pub fn encode_into(kind: Kind, copy: usize, pid: u32, path: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut w = Writer { out, len: 0 };
    w.byte(kind.letter())?;
    w.byte(b' ')?;
    w.number(copy as u64)?;
    w.byte(b' ')?;
    w.number(u64::from(pid))?;
    w.byte(b' ')?;
    if path.is_empty() {
        w.byte(b'.')?;
    }
    for &b in path {
        if is_plain(b) {
            w.byte(b)?;
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            w.byte(b'%')?;
            w.byte(HEX[(b >> 4) as usize])?;
            w.byte(HEX[(b & 15) as usize])?;
        }
    }
    w.byte(b'\n')?;
    Some(w.len)
}

/// Encodes one record into a new vector.
pub fn encode(kind: Kind, copy: usize, pid: u32, path: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 3 * path.len() + 48];
    let n = encode_into(kind, copy, pid, path, &mut buf).expect("buffer sized for the record");
    buf.truncate(n);
    buf
}

struct Writer<'a> {
    out: &'a mut [u8],
    len: usize,
}

impl Writer<'_> {
    fn byte(&mut self, b: u8) -> Option<()> {
        *self.out.get_mut(self.len)? = b;
        self.len += 1;
        Some(())
    }

    fn number(&mut self, n: u64) -> Option<()> {
        let mut digits = [0u8; 20];
        for &d in sys::decimal(n, &mut digits) {
            self.byte(d)?;
        }
        Some(())
    }
}

/// Appends records to one journal file through a descriptor kept open above `floor` (so that
/// recording a failure never needs a free descriptor of the program's), opened on first use
/// when it could not be opened up front. Every record is one `write` on an `O_APPEND`
/// descriptor. Uses raw system calls only: safe to call from inside any hook.
pub struct Appender {
    dir: CString,
    path: CString,
    fd: AtomicI32,
    floor: RawFd,
    /// Told of each descriptor the appender keeps (`true`) or gives back (`false`): the shim
    /// marks its own descriptors so the program never sees them.
    track: fn(RawFd, bool),
}

impl Appender {
    /// An appender for `dir/name`; nothing is opened yet.
    pub fn new(dir: &CStr, name: &str, floor: RawFd, track: fn(RawFd, bool)) -> Option<Appender> {
        let mut path = dir.to_bytes().to_vec();
        path.push(b'/');
        path.extend_from_slice(name.as_bytes());
        Some(Appender { dir: dir.to_owned(), path: CString::new(path).ok()?, fd: AtomicI32::new(-1), floor, track })
    }

    pub fn path(&self) -> &CStr {
        &self.path
    }

    /// The kept descriptor, opening it (and the state directory) when it is not open yet.
    pub fn open(&self) -> SysResult<RawFd> {
        let fd = self.fd.load(Ordering::Acquire);
        if fd >= 0 {
            return Ok(fd);
        }
        let new = sys::move_high(self.open_file()?, self.floor);
        if new < self.floor {
            sys::close(new);
            return Err(Errno(libc::EMFILE));
        }
        (self.track)(new, true);
        match self.fd.compare_exchange(-1, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => Ok(new),
            Err(cur) => {
                (self.track)(new, false);
                sys::close(new);
                Ok(cur)
            }
        }
    }

    fn open_file(&self) -> SysResult<RawFd> {
        sys::mkdir_all(&self.dir, 0o700);
        let flags = libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_NOFOLLOW;
        sys::openat(libc::AT_FDCWD, &self.path, flags, 0o600)
    }

    /// Appends one whole record. Without room above `floor` for a kept descriptor, the
    /// record goes through a descriptor opened and closed for it.
    pub fn append(&self, rec: &[u8]) -> SysResult<()> {
        let (fd, transient) = match self.open() {
            Ok(fd) => (fd, false),
            Err(_) => (self.open_file()?, true),
        };
        let r = sys::write(fd, rec).and_then(|n| if n == rec.len() { Ok(()) } else { Err(Errno(libc::EIO)) });
        if transient {
            sys::close(fd);
        }
        r
    }

    /// The kept descriptor, -1 when none is open.
    pub fn fd(&self) -> RawFd {
        self.fd.load(Ordering::Acquire)
    }

    /// Moves the kept descriptor from `from` to `to` (the program is taking the number);
    /// false when the appender does not keep `from`.
    pub fn relocate(&self, from: RawFd, to: RawFd) -> bool {
        self.fd.compare_exchange(from, to, Ordering::AcqRel, Ordering::Relaxed).is_ok()
    }
}

/// What became of a record given to [`Journal::record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Written,
    /// This record crossed `journal_limit`: a [`Kind::Full`] record was written for every
    /// copy instead, and the caller says so once.
    Overflowed,
    /// The journal is past its limit already: the full resync it asks for covers this.
    Covered,
    /// The journal could not be written.
    Failed(Errno),
}

/// The journal of one pair: its appender, the number of copies, and `journal_limit`.
pub struct Journal {
    appender: Appender,
    name_hash: u64,
    limit: u64,
    copies: usize,
}

impl Journal {
    pub fn new(appender: Appender, pair_name: &str, limit: u64, copies: usize) -> Journal {
        Journal { appender, name_hash: crate::shared::name_hash(pair_name), limit, copies }
    }

    pub fn appender(&self) -> &Appender {
        &self.appender
    }

    /// Records that `copy` is behind at `path`. With the shared state at hand the entry is
    /// counted against the pair's limit, across every process using the state directory; the
    /// record that crosses it is replaced by a full-resync record for every copy.
    pub fn record(&self, kind: Kind, copy: usize, pid: u32, path: &[u8], shared: Option<&SharedState>) -> Recorded {
        if let Some(t) = shared {
            let n = t.count_journal(self.name_hash);
            if n > self.limit {
                if n != self.limit + 1 {
                    return Recorded::Covered;
                }
                let mut first = Recorded::Overflowed;
                for c in 0..self.copies {
                    if let Recorded::Failed(e) = self.record_full(c, pid) {
                        first = Recorded::Failed(e);
                    }
                }
                return first;
            }
        }
        let mut rec = [0u8; MAX_RECORD];
        match encode_into(kind, copy, pid, path, &mut rec) {
            Some(n) => match self.appender.append(&rec[..n]) {
                Ok(()) => Recorded::Written,
                Err(e) => Recorded::Failed(e),
            },
            None => self.record_full(copy, pid),
        }
    }

    /// Records that `copy` needs a full resynchronisation.
    pub fn record_full(&self, copy: usize, pid: u32) -> Recorded {
        let mut rec = [0u8; 64];
        let Some(n) = encode_into(Kind::Full, copy, pid, b"", &mut rec) else {
            return Recorded::Failed(Errno(libc::EINVAL));
        };
        match self.appender.append(&rec[..n]) {
            Ok(()) => Recorded::Written,
            Err(e) => Recorded::Failed(e),
        }
    }
}

/// Why a journal line could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("journal line {line}: {msg}")]
pub struct DecodeError {
    pub line: usize,
    pub msg: &'static str,
}

/// Decodes a whole journal. A final line without its newline (a writer that died mid-append)
/// is ignored; any other malformed line is an error.
pub fn decode(data: &[u8]) -> Result<Vec<Record>, DecodeError> {
    let mut out = Vec::new();
    let complete = match data.iter().rposition(|&b| b == b'\n') {
        Some(i) => &data[..=i],
        None => return Ok(out),
    };
    for (i, line) in complete.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        out.push(decode_line(line).map_err(|msg| DecodeError { line: i + 1, msg })?);
    }
    Ok(out)
}

fn decode_line(line: &[u8]) -> Result<Record, &'static str> {
    let mut parts = line.splitn(4, |&b| b == b' ');
    let kind =
        parts.next().filter(|k| k.len() == 1).and_then(|k| Kind::from_letter(k[0])).ok_or("unknown record kind")?;
    let copy = parse_num(parts.next().ok_or("missing copy")?).ok_or("bad copy number")? as usize;
    let pid = parse_num(parts.next().ok_or("missing pid")?).ok_or("bad pid")? as u32;
    let raw = parts.next().ok_or("missing path")?;
    let path = if raw == b"." { Vec::new() } else { unescape(raw)? };
    Ok(Record { kind, copy, pid, path })
}

fn parse_num(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

fn unescape(raw: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == b'%' {
            let hex = raw.get(i + 1..i + 3).ok_or("truncated escape")?;
            let s = std::str::from_utf8(hex).map_err(|_| "bad escape")?;
            out.push(u8::from_str_radix(s, 16).map_err(|_| "bad escape")?);
            i += 3;
        } else if is_plain(b) {
            out.push(b);
            i += 1;
        } else {
            return Err("unescaped byte in path");
        }
    }
    Ok(out)
}

/// What a journal asks of one copy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pending {
    /// The whole tree must be compared.
    pub full: bool,
    /// Paths to compare and repair, each once, in path order.
    pub paths: Vec<Vec<u8>>,
}

/// Folds records into the work left for each copy: a path is pending when it was marked dirty,
/// or mapped without a matching clean record.
pub fn pending(records: &[Record]) -> BTreeMap<usize, Pending> {
    let mut dirty: BTreeMap<usize, BTreeMap<Vec<u8>, i64>> = BTreeMap::new();
    let mut full: BTreeMap<usize, bool> = BTreeMap::new();
    for r in records {
        let paths = dirty.entry(r.copy).or_default();
        match r.kind {
            Kind::Full => {
                full.insert(r.copy, true);
            }
            Kind::Lacks(_) => {}
            Kind::Dirty => {
                // A dirty mark never goes away by itself: pin it far above any mapping count.
                *paths.entry(r.path.clone()).or_default() += 1 << 40;
            }
            Kind::Mapped => *paths.entry(r.path.clone()).or_default() += 1,
            Kind::Clean => {
                let c = paths.entry(r.path.clone()).or_default();
                if *c > 0 && *c < (1 << 40) {
                    *c -= 1;
                } else if *c > (1 << 40) {
                    // Still dirty; the clean only releases a mapping count.
                    *c -= 1;
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    for (copy, paths) in dirty {
        let p = Pending {
            full: full.get(&copy).copied().unwrap_or(false),
            paths: paths.into_iter().filter(|(_, c)| *c > 0).map(|(p, _)| p).collect(),
        };
        if p.full || !p.paths.is_empty() {
            out.insert(copy, p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_arbitrary_bytes() {
        let names: [&[u8]; 5] = [b"a/b.txt", b"", b"sp ace/n\nl", b"\xff\x00%/x", b"caf\xc3\xa9"];
        let mut all = Vec::new();
        for (i, n) in names.iter().enumerate() {
            all.extend(encode(Kind::Dirty, i, 42, n));
        }
        let recs = decode(&all).unwrap();
        assert_eq!(recs.len(), names.len());
        for (r, n) in recs.iter().zip(names) {
            assert_eq!(r.path, n);
            assert_eq!(r.pid, 42);
        }
        assert_eq!(recs[3].copy, 3);
        // One record per line, printable.
        assert_eq!(all.iter().filter(|&&b| b == b'\n').count(), names.len());
        assert!(all.iter().all(|&b| b == b'\n' || (0x20..0x7f).contains(&b)));
    }

    #[test]
    fn encode_into_reports_overflow() {
        let mut small = [0u8; 8];
        assert_eq!(encode_into(Kind::Dirty, 1, 1, b"abcdefgh", &mut small), None);
        let mut big = [0u8; MAX_RECORD];
        let path = vec![0xffu8; crate::path::PATH_MAX];
        assert!(encode_into(Kind::Dirty, 7, u32::MAX, &path, &mut big).is_some());
    }

    #[test]
    fn torn_last_line_is_ignored_and_garbage_is_refused() {
        let mut data = encode(Kind::Dirty, 1, 1, b"ok");
        data.extend_from_slice(b"D 1 1 torn");
        assert_eq!(decode(&data).unwrap().len(), 1);
        assert!(decode(b"X 1 1 p\n").is_err());
        assert!(decode(b"D x 1 p\n").is_err());
        assert!(decode(b"D 1 1 a%4\n").is_err());
        assert!(decode(b"D 1 1\n").is_err());
        let e = decode(b"D 1 1 ok\nD 1 1 b\xff\n").unwrap_err();
        assert_eq!(e.line, 2);
    }

    #[test]
    fn pending_folds_records() {
        let recs = vec![
            Record { kind: Kind::Dirty, copy: 1, pid: 1, path: b"b".to_vec() },
            Record { kind: Kind::Dirty, copy: 1, pid: 1, path: b"a".to_vec() },
            Record { kind: Kind::Dirty, copy: 1, pid: 2, path: b"a".to_vec() },
            Record { kind: Kind::Mapped, copy: 1, pid: 1, path: b"m".to_vec() },
            Record { kind: Kind::Clean, copy: 1, pid: 1, path: b"m".to_vec() },
            Record { kind: Kind::Mapped, copy: 1, pid: 1, path: b"still".to_vec() },
            Record { kind: Kind::Mapped, copy: 2, pid: 1, path: b"x".to_vec() },
            Record { kind: Kind::Dirty, copy: 2, pid: 1, path: b"x".to_vec() },
            Record { kind: Kind::Clean, copy: 2, pid: 1, path: b"x".to_vec() },
            Record { kind: Kind::Full, copy: 3, pid: 1, path: Vec::new() },
            Record { kind: Kind::Lacks(Lack::Xattr), copy: 4, pid: 1, path: b"n".to_vec() },
        ];
        let p = pending(&recs);
        assert_eq!(p[&1], Pending { full: false, paths: vec![b"a".to_vec(), b"b".to_vec(), b"still".to_vec()] });
        assert_eq!(p[&2].paths, vec![b"x".to_vec()]);
        assert!(p[&3].full);
        assert!(!p.contains_key(&4), "what a copy cannot represent is not work for a resync");
    }

    #[test]
    fn every_kind_round_trips() {
        let mut kinds = vec![Kind::Dirty, Kind::Mapped, Kind::Clean, Kind::Full];
        kinds.extend(Lack::ALL.map(Kind::Lacks));
        for k in kinds {
            assert_eq!(decode(&encode(k, 1, 2, b"p")).unwrap()[0].kind, k);
        }
    }

    fn scratch(tag: &str) -> (std::path::PathBuf, CString) {
        let dir = std::env::temp_dir().join(format!("mfs-journal-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let c = CString::new(dir.join("state").to_str().unwrap()).unwrap();
        (dir, c)
    }

    fn no_track(_: RawFd, _: bool) {}

    /// Records appended concurrently from many threads, through one kept descriptor and
    /// through descriptors opened for one record, come out whole: none torn, none lost. The
    /// state directory is created on first use.
    #[test]
    fn concurrent_appends_keep_every_record_whole() {
        let (dir, state) = scratch("append");
        let kept = Appender::new(&state, "p.journal", 3, no_track).unwrap();
        // A floor no descriptor can reach: every record goes through a transient open.
        let transient = Appender::new(&state, "p.journal", i32::MAX, no_track).unwrap();
        std::thread::scope(|s| {
            for t in 0..8u32 {
                let a = if t % 2 == 0 { &kept } else { &transient };
                s.spawn(move || {
                    for i in 0..500u32 {
                        let path = format!("dir {t}/file\n{i}").into_bytes();
                        let rec = encode(Kind::Dirty, 1, t, &path);
                        a.append(&rec).unwrap();
                    }
                });
            }
        });
        assert!(kept.fd() >= 3);
        assert_eq!(transient.fd(), -1);
        let recs = decode(&std::fs::read(dir.join("state/p.journal")).unwrap()).unwrap();
        assert_eq!(recs.len(), 8 * 500);
        for t in 0..8u32 {
            let mine: Vec<_> = recs.iter().filter(|r| r.pid == t).map(|r| r.path.clone()).collect();
            let want: Vec<_> = (0..500).map(|i| format!("dir {t}/file\n{i}").into_bytes()).collect();
            assert_eq!(mine, want, "records of thread {t}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Past `journal_limit` (counted in the shared state, across journals of the same pair),
    /// one full-resync record per copy replaces the entries, and later entries add nothing.
    #[test]
    fn the_limit_turns_into_one_full_record_per_copy() {
        let (dir, state) = scratch("limit");
        std::fs::create_dir_all(dir.join("state")).unwrap();
        let shared = SharedState::open(&state, 3).unwrap();
        let journal = || Journal::new(Appender::new(&state, "p.journal", 3, no_track).unwrap(), "p", 3, 2);
        let (a, b) = (journal(), journal());
        assert_eq!(a.record(Kind::Dirty, 1, 9, b"x", Some(&shared)), Recorded::Written);
        assert_eq!(b.record(Kind::Dirty, 1, 9, b"y", Some(&shared)), Recorded::Written);
        assert_eq!(a.record(Kind::Mapped, 1, 9, b"z", Some(&shared)), Recorded::Written);
        assert_eq!(b.record(Kind::Dirty, 1, 9, b"w", Some(&shared)), Recorded::Overflowed);
        assert_eq!(a.record(Kind::Dirty, 1, 9, b"v", Some(&shared)), Recorded::Covered);
        // Without the shared state nothing is counted.
        assert_eq!(a.record(Kind::Dirty, 1, 9, b"u", None), Recorded::Written);
        let recs = decode(&std::fs::read(dir.join("state/p.journal")).unwrap()).unwrap();
        let kinds: Vec<_> = recs.iter().map(|r| (r.kind, r.copy, r.path.clone())).collect();
        assert_eq!(
            kinds,
            vec![
                (Kind::Dirty, 1, b"x".to_vec()),
                (Kind::Dirty, 1, b"y".to_vec()),
                (Kind::Mapped, 1, b"z".to_vec()),
                (Kind::Full, 0, Vec::new()),
                (Kind::Full, 1, Vec::new()),
                (Kind::Dirty, 1, b"u".to_vec()),
            ]
        );
        let p = pending(&recs);
        assert!(p[&0].full && p[&1].full);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_unwritable_journal_reports_the_error() {
        let a = Appender::new(c"/proc/mfs-no-such-dir", "p.journal", 3, no_track).unwrap();
        assert!(matches!(a.append(b"D 1 1 x\n"), Err(Errno(_))));
        let j = Journal::new(a, "p", 10, 2);
        assert!(matches!(j.record(Kind::Dirty, 1, 1, b"x", None), Recorded::Failed(_)));
    }
}
