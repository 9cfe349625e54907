//! Reads a server's CPU time and memory from /proc, for the server process and every
//! descendant (vsftpd and Pure-FTPd fork per session; pocketftpd is one process).
//!
//! CPU: utime + stime + cutime + cstime of the root, plus utime + stime + cutime + cstime
//! of each live descendant. A child that ended and was reaped has moved into its parent's
//! cutime/cstime, so a before/after difference counts every process that did the work.

use std::collections::HashMap;
use std::fs;
use std::process::Command;

/// Clock ticks per second for /proc/<pid>/stat times (sysconf(_SC_CLK_TCK)).
pub fn clock_ticks_per_sec() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// Fields of /proc/<pid>/stat we need.
struct Stat {
    ppid: u32,
    /// utime + stime + cutime + cstime, in clock ticks.
    ticks: u64,
}

fn read_stat(pid: u32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in brackets and may hold spaces: split after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): ppid is field 4, utime..cstime are fields 14..17.
    let num = |field: usize| f.get(field - 3).and_then(|v| v.parse::<u64>().ok());
    Some(Stat {
        ppid: num(4)? as u32,
        ticks: num(14)? + num(15)? + num(16)? + num(17)?,
    })
}

/// The root and all its live descendants.
pub fn process_tree(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(stat) = read_stat(pid) {
                children.entry(stat.ppid).or_default().push(pid);
            }
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    // Bounded: each pid is visited once, and /proc holds finitely many.
    while i < tree.len() {
        if let Some(kids) = children.get(&tree[i]) {
            tree.extend(kids.iter().copied().filter(|k| *k != root));
        }
        i += 1;
    }
    tree
}

/// CPU seconds used so far by the tree under `root` (see the module doc).
pub fn tree_cpu_secs(root: u32, ticks_per_sec: f64) -> f64 {
    let ticks: u64 = process_tree(root)
        .into_iter()
        .filter_map(read_stat)
        .map(|s| s.ticks)
        .sum();
    ticks as f64 / ticks_per_sec
}

/// Memory of a server, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    /// Processes in the tree.
    pub processes: usize,
    /// VmRSS summed over the tree (counts shared pages once per process).
    pub rss_kib: u64,
    /// Pss summed over the tree (shared pages split between the processes sharing them).
    pub pss_kib: u64,
}

impl Memory {
    /// The figure we compare: VmRSS for a single process, PSS for a process tree.
    pub fn figure_kib(&self) -> u64 {
        if self.processes <= 1 {
            self.rss_kib
        } else {
            self.pss_kib
        }
    }
}

fn kib_field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// VmRSS and PSS summed over the tree under `root`.
pub fn tree_memory(root: u32) -> Memory {
    let mut m = Memory::default();
    for pid in process_tree(root) {
        let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let rollup = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
        if let Some(rss) = kib_field(&status, "VmRSS:") {
            m.processes += 1;
            m.rss_kib += rss;
            m.pss_kib += kib_field(&rollup, "Pss:").unwrap_or(rss);
        }
    }
    m
}

/// One line describing the machine, for the table's heading.
pub fn machine_description() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = kib_field(&meminfo, "MemTotal:").unwrap_or(0) as f64 / (1024.0 * 1024.0);
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{model}, {cores} cores, {mem_gib:.0} GiB RAM, Linux {}",
        kernel.trim()
    )
}
