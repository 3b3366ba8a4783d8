//! What validation found: counts of what passed, and each failure with its
//! path. Filled by the vmlinux checks (`validate`) and the module checks
//! (`modules`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Failure {
    pub path: String,
    pub reason: String,
}

/// What validation counts, named in the report as kbuild's files are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Counted {
    /// An IR object of the IR archive.
    #[serde(rename = "ir")]
    Ir,
    /// An IR object of a lib.a (v3's `--start-lib` members).
    #[serde(rename = "lib-ir")]
    LibIr,
    #[serde(rename = "index")]
    Index,
    #[serde(rename = "native")]
    Native,
    /// A non-IR member (assembly) the final link takes as it is or copied.
    #[serde(rename = "carried")]
    Carried,
    #[serde(rename = "vmlinux.o")]
    VmlinuxO,
    #[serde(rename = "vmlinux")]
    Vmlinux,
    #[serde(rename = "boot image")]
    BootImage,
    #[serde(rename = "module")]
    Module,
    #[serde(rename = "module native")]
    ModuleNative,
}

impl Counted {
    /// The name the summary and the JSON report use.
    pub fn name(self) -> String {
        serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Validation {
    /// How many of each kind passed.
    pub counts: BTreeMap<Counted, usize>,
    pub failures: Vec<Failure>,
}

impl Validation {
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }

    pub(crate) fn fail(&mut self, path: impl Into<String>, reason: impl Into<String>) {
        self.failures.push(Failure { path: path.into(), reason: reason.into() });
    }

    pub(crate) fn count(&mut self, what: Counted) {
        *self.counts.entry(what).or_default() += 1;
    }

    pub fn get(&self, what: Counted) -> usize {
        self.counts.get(&what).copied().unwrap_or(0)
    }

    pub fn summary(&self) -> String {
        let counts: Vec<String> = self.counts.iter().map(|(k, v)| format!("{v} {}", k.name())).collect();
        let mut s = format!("validate: {}", counts.join(", "));
        if self.ok() {
            s.push_str(": all checks passed");
        } else {
            s.push_str(&format!(": {} failure(s)", self.failures.len()));
            for f in &self.failures {
                s.push_str(&format!("\n  FAIL {}: {}", f.path, f.reason));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_keep_the_reports_names() {
        let mut v = Validation::default();
        v.count(Counted::LibIr);
        v.count(Counted::BootImage);
        v.count(Counted::BootImage);
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!((json["counts"]["lib-ir"].as_u64(), json["counts"]["boot image"].as_u64()), (Some(1), Some(2)));
        assert_eq!(v.summary(), "validate: 1 lib-ir, 2 boot image: all checks passed");
        let back: Validation = serde_json::from_value(json).unwrap();
        assert_eq!(back.get(Counted::BootImage), 2);
    }
}
