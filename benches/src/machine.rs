//! A description of the machine the benchmark ran on.

use std::ffi::CStr;
use std::process::Command;

/// Label/value lines: CPU, cores, kernel, C library, compiler.
pub fn describe(cc: &str) -> Vec<(&'static str, String)> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name").map(|r| r.trim_start_matches([' ', '\t', ':']).to_string()))
        })
        .unwrap_or_else(|| "unknown".into());
    // SAFETY: sysconf has no side effects.
    let cores = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().next().map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string()))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or_else(|| "unknown".into(), |kb| format!("{} MiB", kb / 1024));
    let compiler = Command::new(cc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).lines().next().map(str::to_string))
        .unwrap_or_else(|| cc.to_string());
    vec![
        ("cpu", format!("{cpu} ({cores} online)")),
        ("memory", mem),
        ("kernel", kernel()),
        ("libc", glibc()),
        ("cc", format!("{compiler} (-O2)")),
    ]
}

fn kernel() -> String {
    // SAFETY: utsname is plain old data; zeroed is a valid value.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid out-pointer.
    if unsafe { libc::uname(&mut u) } != 0 {
        return "unknown".into();
    }
    // SAFETY: uname fills NUL-terminated strings.
    let field = |f: &[libc::c_char]| unsafe { CStr::from_ptr(f.as_ptr()) }.to_string_lossy().into_owned();
    format!("{} {} {}", field(&u.sysname), field(&u.release), field(&u.machine))
}

fn glibc() -> String {
    // SAFETY: returns a pointer to a static NUL-terminated string.
    let v = unsafe { CStr::from_ptr(libc::gnu_get_libc_version()) };
    format!("glibc {}", v.to_string_lossy())
}

/// Total and stolen CPU time of the whole machine so far, in clock ticks (/proc/stat).
pub fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is included in user).
    let total = v.iter().take(8).sum();
    Some((total, *v.get(7)?))
}

/// The machine's state over a stretch of time: steal and how busy the other processes kept it.
pub fn load_note(before: Option<(u64, u64)>, after: Option<(u64, u64)>) -> String {
    let load =
        std::fs::read_to_string("/proc/loadavg").ok().and_then(|s| s.split_whitespace().next().map(str::to_string));
    let steal = before.zip(after).and_then(|((t0, s0), (t1, s1))| {
        let dt = t1.checked_sub(t0).filter(|&d| d > 0)?;
        Some(format!("{:.1}% of CPU time stolen by the hypervisor", 100.0 * s1.saturating_sub(s0) as f64 / dt as f64))
    });
    match (load, steal) {
        (Some(l), Some(s)) => format!("load average {l}, {s}"),
        (Some(l), None) => format!("load average {l}"),
        (None, Some(s)) => s,
        (None, None) => "unknown".into(),
    }
}
