//! The journals: per pair and copy, an append-only text file of what the copy is missing,
//! `STATE_DIR/NAME.COPY.journal`.
//!
//! One record per line: `KIND COPY PID PATH`, or `W COPY PID OFFSET LENGTH PATH` for bytes of a
//! file written while a copy could not take them. `KIND` is an upper-case letter for what a copy
//! is behind on (`D`, `W`, `M`, `C`, `F`) or a lower-case one for what its file system cannot
//! represent (see [`Kind`]); `PATH` is relative to the pair's roots and percent-encoded (every
//! byte outside `!`..`~`, and `%` itself, becomes `%XX`), so arbitrary bytes in file names,
//! newlines included, survive. The root itself is written as `.`.
//!
//! Writers append whole lines with a single `write` on an `O_APPEND` descriptor ([`Appender`]),
//! so records from concurrent processes never interleave, and a record is in the file before
//! the call that left a copy behind returns: a crash of any process loses none. [`Journal`]
//! adds the pair's `journal_limit`, counted across processes in the shared state file, and
//! follows the daemon taking the journal for replay (the journal epoch, see
//! [`crate::shared::PairState::take_journal`]). [`fold`] merges records into the work a
//! resynchronisation does, coarsening step by step where there is too much of it.

use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use crate::failure::Lack;
use crate::shared::PairState;
use crate::sys::{self, Errno, SysResult};

/// What a record says about its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// The copy may differ from the primary at this path (data, metadata or entries).
    Dirty,
    /// Bytes of the file were written without reaching the copy (the record's range).
    Written,
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
            Kind::Written => b'W',
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
            b'W' => Kind::Written,
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
    /// For [`Kind::Written`]: offset and length of the bytes written.
    pub range: Option<(u64, u64)>,
    /// Path relative to the pair's roots; empty for the root.
    pub path: Vec<u8>,
}

impl Record {
    pub fn new(kind: Kind, copy: usize, pid: u32, path: &[u8]) -> Record {
        Record { kind, copy, pid, range: None, path: path.to_vec() }
    }

    /// The record's line.
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = vec![0u8; 3 * self.path.len() + 96];
        let n = encode_into(self.kind, self.copy, self.pid, self.range, &self.path, &mut buf)
            .expect("buffer sized for the record");
        buf.truncate(n);
        buf
    }
}

/// Longest encoded record: kind, copy, pid, a range, a fully escaped `PATH_MAX` path, newline.
pub const MAX_RECORD: usize = 3 * crate::path::PATH_MAX + 80;

/// Journal file name of copy `copy` of a pair inside the state directory.
pub fn file_name(pair: &str, copy: usize) -> String {
    format!("{pair}.{copy}.journal")
}

fn is_plain(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) && b != b'%'
}

/// Encodes one record into `out` without allocating; returns the length, or `None` when it
/// does not fit. `range` is given with [`Kind::Written`] only.
pub fn encode_into(
    kind: Kind,
    copy: usize,
    pid: u32,
    range: Option<(u64, u64)>,
    path: &[u8],
    out: &mut [u8],
) -> Option<usize> {
    let mut w = Writer { out, len: 0 };
    w.byte(kind.letter())?;
    w.byte(b' ')?;
    w.number(copy as u64)?;
    w.byte(b' ')?;
    w.number(u64::from(pid))?;
    w.byte(b' ')?;
    if kind == Kind::Written {
        let (off, len) = range.unwrap_or((0, 0));
        w.number(off)?;
        w.byte(b' ')?;
        w.number(len)?;
        w.byte(b' ')?;
    }
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

/// Encodes one record (without a range) into a new vector.
pub fn encode(kind: Kind, copy: usize, pid: u32, path: &[u8]) -> Vec<u8> {
    Record::new(kind, copy, pid, path).encode()
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
    /// The journal epoch the kept descriptor was opened in.
    epoch: AtomicU32,
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
        Some(Appender {
            dir: dir.to_owned(),
            path: CString::new(path).ok()?,
            fd: AtomicI32::new(-1),
            epoch: AtomicU32::new(0),
            floor,
            track,
        })
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

    /// The journal was taken for replay since the kept descriptor was opened: point the kept
    /// descriptor's number at a new journal file (in place, so a thread appending through it
    /// right now never writes to a number that was closed and reused).
    #[cold]
    fn follow_epoch(&self, epoch: u32) {
        let fd = self.fd.load(Ordering::Acquire);
        if fd >= 0 {
            if let Ok(new) = self.open_file() {
                let _ = sys::dup3(new, fd, libc::O_CLOEXEC);
                sys::close(new);
            }
        }
        self.epoch.store(epoch, Ordering::Release);
    }

    /// Appends one whole record; with the pair's shared state, into the journal of the
    /// current epoch. Without room above `floor` for a kept descriptor, the record goes
    /// through a descriptor opened and closed for it.
    pub fn append(&self, rec: &[u8], pair: Option<&PairState>) -> SysResult<()> {
        if let Some(p) = pair {
            let epoch = p.begin_append();
            if epoch != self.epoch.load(Ordering::Acquire) {
                self.follow_epoch(epoch);
            }
            let r = self.append_now(rec);
            p.end_append();
            r
        } else {
            self.append_now(rec)
        }
    }

    fn append_now(&self, rec: &[u8]) -> SysResult<()> {
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

/// The journals of one pair: an appender per copy, and `journal_limit` (per copy).
pub struct Journal {
    appenders: Vec<Appender>,
    limit: u64,
}

impl Journal {
    /// `appenders[c]` writes copy `c`'s journal.
    pub fn new(appenders: Vec<Appender>, limit: u64) -> Journal {
        Journal { appenders, limit }
    }

    pub fn appenders(&self) -> &[Appender] {
        &self.appenders
    }

    /// Records that `copy` is behind at `path` (in `range` of it for [`Kind::Written`]), in
    /// that copy's journal. With the pair's shared state at hand the entry is counted against
    /// the limit, across every process using the state directory; the record that crosses it
    /// is replaced by a full-resync record.
    pub fn record(
        &self,
        kind: Kind,
        copy: usize,
        pid: u32,
        range: Option<(u64, u64)>,
        path: &[u8],
        pair: Option<&PairState>,
    ) -> Recorded {
        let Some(appender) = self.appenders.get(copy) else { return Recorded::Failed(Errno(libc::EINVAL)) };
        if let (Some(p), false) = (pair, matches!(kind, Kind::Lacks(_))) {
            let n = p.count_journal(copy);
            if n > self.limit {
                if n != self.limit + 1 {
                    return Recorded::Covered;
                }
                return match self.record_full(copy, pid, pair) {
                    Recorded::Written => Recorded::Overflowed,
                    other => other,
                };
            }
        }
        let mut rec = [0u8; MAX_RECORD];
        match encode_into(kind, copy, pid, range, path, &mut rec) {
            Some(n) => match appender.append(&rec[..n], pair) {
                Ok(()) => Recorded::Written,
                Err(e) => Recorded::Failed(e),
            },
            None => self.record_full(copy, pid, pair),
        }
    }

    /// Records that `copy` needs a full resynchronisation.
    pub fn record_full(&self, copy: usize, pid: u32, pair: Option<&PairState>) -> Recorded {
        let mut rec = [0u8; 64];
        let (Some(n), Some(appender)) =
            (encode_into(Kind::Full, copy, pid, None, b"", &mut rec), self.appenders.get(copy))
        else {
            return Recorded::Failed(Errno(libc::EINVAL));
        };
        match appender.append(&rec[..n], pair) {
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

/// Decodes a journal, skipping lines that cannot be read (a torn or damaged record); returns
/// the records and the number of lines skipped.
pub fn decode_lenient(data: &[u8]) -> (Vec<Record>, usize) {
    let mut out = Vec::new();
    let mut bad = 0;
    let complete = match data.iter().rposition(|&b| b == b'\n') {
        Some(i) => &data[..=i],
        None => return (out, 0),
    };
    for line in complete.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        match decode_line(line) {
            Ok(r) => out.push(r),
            Err(_) => bad += 1,
        }
    }
    (out, bad)
}

fn decode_line(line: &[u8]) -> Result<Record, &'static str> {
    let mut parts = line.splitn(4, |&b| b == b' ');
    let kind =
        parts.next().filter(|k| k.len() == 1).and_then(|k| Kind::from_letter(k[0])).ok_or("unknown record kind")?;
    let copy = parse_num(parts.next().ok_or("missing copy")?).ok_or("bad copy number")? as usize;
    let pid = parse_num(parts.next().ok_or("missing pid")?).ok_or("bad pid")? as u32;
    let mut raw = parts.next().ok_or("missing path")?;
    let mut range = None;
    if kind == Kind::Written {
        let mut rest = raw.splitn(3, |&b| b == b' ');
        let off = parse_num(rest.next().ok_or("missing offset")?).ok_or("bad offset")?;
        let len = parse_num(rest.next().ok_or("missing length")?).ok_or("bad length")?;
        raw = rest.next().ok_or("missing path")?;
        range = Some((off, len));
    }
    let path = if raw == b"." { Vec::new() } else { unescape(raw)? };
    Ok(Record { kind, copy, pid, range, path })
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

/// What a resynchronisation does for one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// Compare the whole object (and, for a directory, everything under it) and repair it.
    Whole,
    /// Only these byte ranges of the file changed: `(offset, length)`, sorted, disjoint and
    /// not adjacent.
    Ranges(Vec<(u64, u64)>),
}

/// What a journal asks of one copy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pending {
    /// The whole tree must be compared.
    pub full: bool,
    /// Paths to repair, each once, in path order (a directory before what is under it).
    pub work: BTreeMap<Vec<u8>, Work>,
}

impl Pending {
    /// The paths to repair, in order.
    pub fn paths(&self) -> Vec<Vec<u8>> {
        self.work.keys().cloned().collect()
    }
}

/// Limits past which [`fold`] coarsens work, one level at a time: a file with more ranges is
/// compared whole; a directory with more pending entries under it is compared whole.
#[derive(Debug, Clone, Copy)]
pub struct Coarsen {
    pub ranges_per_file: usize,
    pub entries_per_directory: usize,
}

impl Default for Coarsen {
    fn default() -> Self {
        Coarsen { ranges_per_file: 4096, entries_per_directory: 50_000 }
    }
}

/// Folds records into the work left for each copy: ranges of one file coalesce, a file marked
/// dirty is compared whole, a mapping counts until its clean record, and what is under a
/// directory compared whole is dropped.
pub fn fold(records: &[Record], limits: Coarsen) -> BTreeMap<usize, Pending> {
    #[derive(Default)]
    struct Acc {
        whole: bool,
        mapped: i64,
        ranges: Vec<(u64, u64)>,
    }
    let mut by_copy: BTreeMap<usize, (bool, BTreeMap<Vec<u8>, Acc>)> = BTreeMap::new();
    for r in records {
        let (full, paths) = by_copy.entry(r.copy).or_default();
        match r.kind {
            Kind::Full => *full = true,
            Kind::Lacks(_) => {}
            Kind::Dirty => paths.entry(r.path.clone()).or_default().whole = true,
            Kind::Written => {
                let (off, len) = r.range.unwrap_or((0, 0));
                paths.entry(r.path.clone()).or_default().ranges.push((off, len));
            }
            Kind::Mapped => paths.entry(r.path.clone()).or_default().mapped += 1,
            Kind::Clean => {
                let a = paths.entry(r.path.clone()).or_default();
                a.mapped = (a.mapped - 1).max(0);
                // A released mapping was synchronised at its release, but what it wrote
                // while the copy was away is not known: compared whole.
                a.whole |= a.mapped == 0 && !a.ranges.is_empty();
            }
        }
    }
    let mut out = BTreeMap::new();
    for (copy, (full, paths)) in by_copy {
        let mut work = BTreeMap::new();
        for (path, a) in paths {
            let w = if a.whole || a.mapped > 0 {
                Work::Whole
            } else if a.ranges.is_empty() {
                continue;
            } else {
                let ranges = coalesce(a.ranges);
                if ranges.len() > limits.ranges_per_file {
                    Work::Whole
                } else {
                    Work::Ranges(ranges)
                }
            };
            work.insert(path, w);
        }
        coarsen_directories(&mut work, limits.entries_per_directory);
        drop_covered(&mut work);
        let p = Pending { full, work };
        if p.full || !p.work.is_empty() {
            out.insert(copy, p);
        }
    }
    out
}

/// Sorts ranges and merges overlapping or adjacent ones.
fn coalesce(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.retain(|r| r.1 > 0);
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (off, len) in ranges {
        let end = off.saturating_add(len);
        match out.last_mut() {
            Some((o, l)) if off <= *o + *l => *l = (*l).max(end - *o),
            _ => out.push((off, len)),
        }
    }
    out
}

fn parent(path: &[u8]) -> &[u8] {
    path.iter().rposition(|&b| b == b'/').map_or(&b""[..], |i| &path[..i])
}

/// A directory with more than `limit` pending entries directly under it is compared whole
/// instead.
fn coarsen_directories(work: &mut BTreeMap<Vec<u8>, Work>, limit: usize) {
    let mut per_dir: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
    for p in work.keys() {
        if !p.is_empty() {
            *per_dir.entry(parent(p).to_vec()).or_default() += 1;
        }
    }
    for (dir, n) in per_dir {
        if n > limit {
            work.insert(dir, Work::Whole);
        }
    }
}

/// Drops entries under a directory (or path) that is compared whole anyway.
fn drop_covered(work: &mut BTreeMap<Vec<u8>, Work>) {
    let mut covering: Option<Vec<u8>> = None;
    work.retain(|path, w| {
        if let Some(c) = &covering {
            let under = c.is_empty() || (path.starts_with(c) && path.get(c.len()) == Some(&b'/'));
            if under {
                return false;
            }
        }
        if *w == Work::Whole {
            covering = Some(path.clone());
        }
        true
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::SharedState;

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
        assert_eq!(encode_into(Kind::Dirty, 1, 1, None, b"abcdefgh", &mut small), None);
        let mut big = [0u8; MAX_RECORD];
        let path = vec![0xffu8; crate::path::PATH_MAX];
        assert!(encode_into(Kind::Written, 7, u32::MAX, Some((u64::MAX, u64::MAX)), &path, &mut big).is_some());
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
        let (recs, bad) = decode_lenient(b"D 1 1 ok\nD 1 1 b\xff\nD 2 1 also\nD 1 1 torn");
        assert_eq!((recs.len(), bad), (2, 1));
    }

    #[test]
    fn pending_folds_records() {
        let recs = vec![
            Record::new(Kind::Dirty, 1, 1, b"b"),
            Record::new(Kind::Dirty, 1, 1, b"a"),
            Record::new(Kind::Dirty, 1, 2, b"a"),
            Record::new(Kind::Mapped, 1, 1, b"m"),
            Record::new(Kind::Clean, 1, 1, b"m"),
            Record::new(Kind::Mapped, 1, 1, b"still"),
            Record::new(Kind::Mapped, 2, 1, b"x"),
            Record::new(Kind::Dirty, 2, 1, b"x"),
            Record::new(Kind::Clean, 2, 1, b"x"),
            Record::new(Kind::Full, 3, 1, b""),
            Record::new(Kind::Lacks(Lack::Xattr), 4, 1, b"n"),
        ];
        let p = fold(&recs, Coarsen::default());
        assert_eq!(p[&1].paths(), vec![b"a".to_vec(), b"b".to_vec(), b"still".to_vec()]);
        assert!(!p[&1].full);
        assert_eq!(p[&2].paths(), vec![b"x".to_vec()]);
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
        let w = Record { kind: Kind::Written, copy: 1, pid: 9, range: Some((4096, 512)), path: b"a b".to_vec() };
        assert_eq!(w.encode(), b"W 1 9 4096 512 a%20b\n");
        assert_eq!(decode(&w.encode()).unwrap(), vec![w]);
        assert!(decode(b"W 1 9 12 p\n").is_err(), "a write record without its length");
    }

    fn write(path: &[u8], off: u64, len: u64) -> Record {
        Record { kind: Kind::Written, copy: 1, pid: 1, range: Some((off, len)), path: path.to_vec() }
    }

    /// Ranges of one file coalesce; a file marked dirty is compared whole; too many ranges
    /// make a file whole, too many entries make their directory whole, and what a whole
    /// directory covers is dropped.
    #[test]
    fn fold_merges_ranges_and_coarsens_step_by_step() {
        let recs = vec![
            write(b"f", 0, 10),
            write(b"f", 10, 5),
            write(b"f", 100, 10),
            write(b"f", 105, 20),
            write(b"f", 50, 0),
            write(b"g", 0, 1),
            Record::new(Kind::Dirty, 1, 1, b"g"),
            write(b"many", 0, 1),
            write(b"many", 10, 1),
            write(b"many", 20, 1),
            write(b"d/1", 0, 1),
            write(b"d/2", 0, 1),
            write(b"d/3", 0, 1),
            write(b"d/4", 0, 1),
            write(b"d/5", 0, 1),
            write(b"e/sub/x", 0, 1),
            Record::new(Kind::Dirty, 1, 1, b"e"),
        ];
        let p = &fold(&recs, Coarsen { ranges_per_file: 2, entries_per_directory: 4 })[&1];
        assert_eq!(p.work[&b"f".to_vec()], Work::Ranges(vec![(0, 15), (100, 25)]));
        assert_eq!(p.work[&b"g".to_vec()], Work::Whole);
        assert_eq!(p.work[&b"many".to_vec()], Work::Whole, "three ranges past a limit of two");
        assert_eq!(p.work[&b"d".to_vec()], Work::Whole, "five entries past a limit of four");
        assert_eq!(p.work[&b"e".to_vec()], Work::Whole);
        let paths = p.paths();
        assert!(!paths.iter().any(|p| p.starts_with(b"d/") || p.starts_with(b"e/")), "{paths:?}");
        assert!(!p.full);
        // The root compared whole covers everything.
        let root = fold(&[write(b"x", 0, 1), Record::new(Kind::Dirty, 1, 1, b"")], Coarsen::default());
        assert_eq!(root[&1].paths(), vec![Vec::<u8>::new()]);
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
                        a.append(&rec, None).unwrap();
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
    /// Past `journal_limit` entries of a copy (counted in the shared state, across processes)
    /// one full-resync record replaces them, and later entries add nothing; each copy's
    /// journal is its own file, with its own count.
    #[test]
    fn the_limit_turns_into_one_full_record() {
        let (dir, state) = scratch("limit");
        std::fs::create_dir_all(dir.join("state")).unwrap();
        let shared = SharedState::open(&state, 3).unwrap();
        let pair = shared.pair(shared.pair_index(crate::shared::name_hash("p")).unwrap());
        let journal = || {
            let appenders = (0..2).map(|c| Appender::new(&state, &file_name("p", c), 3, no_track).unwrap()).collect();
            Journal::new(appenders, 3)
        };
        let (a, b) = (journal(), journal());
        assert_eq!(a.record(Kind::Dirty, 1, 9, None, b"x", Some(pair)), Recorded::Written);
        assert_eq!(b.record(Kind::Dirty, 1, 9, None, b"y", Some(pair)), Recorded::Written);
        assert_eq!(a.record(Kind::Lacks(Lack::Xattr), 1, 9, None, b"l", Some(pair)), Recorded::Written, "not counted");
        assert_eq!(a.record(Kind::Mapped, 1, 9, None, b"z", Some(pair)), Recorded::Written);
        assert_eq!(b.record(Kind::Dirty, 1, 9, None, b"w", Some(pair)), Recorded::Overflowed);
        assert_eq!(a.record(Kind::Dirty, 1, 9, None, b"v", Some(pair)), Recorded::Covered);
        // Without the shared state nothing is counted.
        assert_eq!(a.record(Kind::Dirty, 1, 9, None, b"u", None), Recorded::Written);
        // Copy 0's journal counts on its own.
        assert_eq!(a.record(Kind::Dirty, 0, 9, None, b"p", Some(pair)), Recorded::Written);
        assert_eq!(a.record(Kind::Dirty, 7, 9, None, b"p", Some(pair)), Recorded::Failed(Errno(libc::EINVAL)));
        let zero = decode(&std::fs::read(dir.join("state/p.0.journal")).unwrap()).unwrap();
        assert_eq!(zero, vec![Record::new(Kind::Dirty, 0, 9, b"p")]);
        let recs = decode(&std::fs::read(dir.join("state/p.1.journal")).unwrap()).unwrap();
        let kinds: Vec<_> = recs.iter().map(|r| (r.kind, r.copy, r.path.clone())).collect();
        assert_eq!(
            kinds,
            vec![
                (Kind::Dirty, 1, b"x".to_vec()),
                (Kind::Dirty, 1, b"y".to_vec()),
                (Kind::Lacks(Lack::Xattr), 1, b"l".to_vec()),
                (Kind::Mapped, 1, b"z".to_vec()),
                (Kind::Full, 1, Vec::new()),
                (Kind::Dirty, 1, b"u".to_vec()),
            ]
        );
        let p = fold(&recs, Coarsen::default());
        assert!(p[&1].full);
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// The daemon takes the journal (renames it and bumps the epoch): an appender that kept a
    /// descriptor of the old file appends to a new journal file from its next record on.
    #[test]
    fn appends_follow_the_journal_being_taken() {
        let (dir, state) = scratch("epoch");
        std::fs::create_dir_all(dir.join("state")).unwrap();
        let shared = SharedState::open(&state, 3).unwrap();
        let pair = shared.pair(shared.pair_index(crate::shared::name_hash("p")).unwrap());
        let a = Appender::new(&state, "p.journal", 3, no_track).unwrap();
        a.append(b"D 1 1 before\n", Some(pair)).unwrap();
        let kept = a.fd();
        std::fs::rename(dir.join("state/p.journal"), dir.join("state/p.replay")).unwrap();
        assert!(pair.take_journal(1, std::time::Duration::from_secs(1)));
        a.append(b"D 1 1 after\n", Some(pair)).unwrap();
        assert_eq!(a.fd(), kept, "the same descriptor number");
        assert_eq!(std::fs::read(dir.join("state/p.replay")).unwrap(), b"D 1 1 before\n");
        assert_eq!(std::fs::read(dir.join("state/p.journal")).unwrap(), b"D 1 1 after\n");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_unwritable_journal_reports_the_error() {
        let a = Appender::new(c"/proc/mfs-no-such-dir", "p.journal", 3, no_track).unwrap();
        assert!(matches!(a.append(b"D 1 1 x\n", None), Err(Errno(_))));
        let j = Journal::new(vec![a], 10);
        assert!(matches!(j.record(Kind::Dirty, 1, 1, None, b"x", None), Recorded::Failed(_)));
    }
}
