//! The machine a benchmark ran on, so its figures can be read in context.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub os: String,
    pub kernel: String,
}

/// The value of `key` in a `key: value` or `KEY=value` text such as /proc/cpuinfo or os-release.
fn field(text: &str, key: &str, sep: char) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(sep)?;
        (k.trim() == key).then(|| v.trim().trim_matches('"').to_string())
    })
}

pub fn describe() -> Machine {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let kib: f64 = field(&read("/proc/meminfo"), "MemTotal", ':')
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    Machine {
        cpu: field(&read("/proc/cpuinfo"), "model name", ':').unwrap_or_else(|| "unknown".into()),
        cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        memory_gib: (kib / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        os: field(&read("/etc/os-release"), "PRETTY_NAME", '=').unwrap_or_else(|| "unknown".into()),
        kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
    }
}

impl std::fmt::Display for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}, {} cores, {} GiB, {} (Linux {})", self.cpu, self.cores, self.memory_gib, self.os, self.kernel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_field_styles() {
        assert_eq!(
            field("processor\t: 0\nmodel name\t: AMD EPYC 7B13\n", "model name", ':').as_deref(),
            Some("AMD EPYC 7B13")
        );
        assert_eq!(
            field("NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n", "PRETTY_NAME", '=').as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(field("a: 1\n", "b", ':'), None);
    }
}
