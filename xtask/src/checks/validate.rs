//! `cargo xtask validate`: reads a finished THIN_DIST build as it is, with
//! no make, and checks every artifact of the layout it has.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Result;
use object::ObjectKind;
use serde::Serialize;

use crate::checks::artifact::{self, Kind};
use crate::kbuild::layout::{Carried, Layout};

#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub path: String,
    pub reason: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Validation {
    /// Counts per kind: ir, native, index, carried (non-IR members), lib_ir…
    pub counts: BTreeMap<String, usize>,
    pub failures: Vec<Failure>,
}

impl Validation {
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }

    pub(crate) fn fail(&mut self, path: impl Into<String>, reason: impl Into<String>) {
        self.failures.push(Failure { path: path.into(), reason: reason.into() });
    }

    pub(crate) fn count(&mut self, what: &str) {
        *self.counts.entry(what.to_string()).or_default() += 1;
    }

    pub fn summary(&self) -> String {
        let counts: Vec<String> = self.counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
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

pub struct Target<'a> {
    pub objtree: &'a Path,
    pub layout: &'static Layout,
    pub elf_machine: u16,
    pub image: &'a str,
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// The thin-link's inputs: the IR archive's members, plus (v3) the lib.a
/// members it was given between --start-lib and --end-lib.
fn thinlink_inputs(t: &Target, v: &mut Validation) -> (Vec<String>, Vec<String>) {
    let archive = t.objtree.join(&t.layout.ir_archive);
    let members = match artifact::members(&archive) {
        Ok(m) => m,
        Err(e) => {
            v.fail(&t.layout.ir_archive, format!("{e:#}"));
            return (vec![], vec![]);
        }
    };
    let mut libs = Vec::new();
    if t.layout.lib_members {
        let list_name = &t.layout.backend_list;
        if let Ok(list) = std::fs::read_to_string(t.objtree.join(list_name)) {
            let mut in_lib = false;
            for line in list.lines().map(str::trim) {
                match line {
                    "--start-lib" => in_lib = true,
                    "--end-lib" => in_lib = false,
                    l if in_lib && !l.is_empty() => libs.push(l.to_string()),
                    _ => {}
                }
            }
        } else {
            v.fail(list_name, "missing: the thin-link did not run");
        }
    }
    (members, libs)
}

fn check_native(t: &Target, v: &mut Validation, ir: &str) {
    let ir_path = t.objtree.join(ir);
    let index = t.layout.index_of(ir);
    let native = t.layout.native_of(ir);
    let index_path = t.objtree.join(&index);
    let native_path = t.objtree.join(&native);
    if index_path.is_file() {
        v.count("index");
    } else {
        v.fail(&index, "missing ThinLTO index: the thin-link did not see this IR object");
    }
    let kind = match artifact::classify_file(&native_path) {
        Ok(k) => k,
        Err(_) => {
            v.fail(&native, "missing native object");
            return;
        }
    };
    match kind {
        Kind::Elf { machine, kind: ObjectKind::Relocatable, has_bitcode_section } if machine == t.elf_machine => {
            if has_bitcode_section {
                v.fail(&native, "native object still carries an embedded bitcode section");
            } else {
                v.count("native");
            }
        }
        Kind::Elf { machine, .. } if machine != t.elf_machine => {
            v.fail(&native, format!("ELF for machine {machine}, expected {} (wrong architecture)", t.elf_machine))
        }
        other => v.fail(&native, format!("is {}, not a native relocatable object", other.describe())),
    }
    let (n, i, x) = (mtime(&native_path), mtime(&ir_path), mtime(&index_path));
    if let (Some(n), Some(i)) = (n, i) {
        if n < i {
            v.fail(&native, format!("older than its IR object {ir}"));
        }
    }
    match recorded_index_sha1(&native_path) {
        // Built from the index's content (series linux-7, 6.12 patch 0009):
        // lld rewrites every index, so only the content says it is current.
        Some(recorded) => {
            if std::fs::read(&index_path).ok().map(|b| hex_sha1(&b)).as_deref() != Some(recorded.as_str()) {
                v.fail(&native, format!("built from another content of its index {index}"));
            }
        }
        None => {
            if let (Some(n), Some(x)) = (n, x) {
                if n < x {
                    v.fail(&native, format!("older than its index {index}"));
                }
            }
        }
    }
}

/// The index SHA-1 a native's kbuild command recorded (": index sha1 <hex>").
fn recorded_index_sha1(native: &Path) -> Option<String> {
    let name = native.file_name()?.to_str()?;
    let cmd = std::fs::read_to_string(native.with_file_name(format!(".{name}.cmd"))).ok()?;
    let hex = cmd.split(": index sha1 ").nth(1)?.get(..40)?;
    hex.bytes().all(|b| b.is_ascii_hexdigit()).then(|| hex.to_string())
}

fn hex_sha1(data: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    hex::encode(Sha1::digest(data))
}

/// v3 copies non-IR objects into their native name; mainline uses them as they are.
fn check_carried(t: &Target, v: &mut Validation, member: &str) {
    v.count("carried");
    if t.layout.carried == Carried::Copy {
        let native = t.layout.native_of(member);
        let same = std::fs::read(t.objtree.join(member)).ok() == std::fs::read(t.objtree.join(&native)).ok();
        if !same {
            v.fail(&native, format!("not an exact copy of the non-IR object {member}"));
        }
    }
}

/// The IR objects the thin-link saw (archive members and, for v3, lib members).
pub fn ir_objects(t: &Target) -> Vec<String> {
    let mut scratch = Validation::default();
    let (members, libs) = thinlink_inputs(t, &mut scratch);
    members
        .into_iter()
        .chain(libs)
        .filter(|m| matches!(artifact::classify_file(&t.objtree.join(m)), Ok(Kind::Bitcode)))
        .collect()
}

pub fn validate(t: &Target) -> Result<Validation> {
    let mut v = Validation::default();
    let (members, libs) = thinlink_inputs(t, &mut v);
    let mut ir = std::collections::BTreeSet::new();
    for m in members.iter().chain(&libs) {
        match artifact::classify_file(&t.objtree.join(m)) {
            Ok(Kind::Bitcode) => {
                v.count(if libs.contains(m) { "lib-ir" } else { "ir" });
                ir.insert(m.clone());
                check_native(t, &mut v, m);
            }
            Ok(Kind::Elf { .. }) => check_carried(t, &mut v, m),
            Ok(Kind::Other) => v.fail(m, "member is neither ELF nor bitcode"),
            Err(_) => v.fail(m, "member listed by the archive is missing"),
        }
    }
    // The natives' archive lists the native counterpart of every member, in order.
    let native_archive = &t.layout.native_archive;
    match artifact::members(&t.objtree.join(native_archive)) {
        Ok(got) => {
            let want: Vec<String> = members
                .iter()
                .map(|m| {
                    if ir.contains(m) || t.layout.carried == Carried::Copy {
                        t.layout.native_of(m)
                    } else {
                        m.clone()
                    }
                })
                .collect();
            if got != want {
                let missing: Vec<&String> = want.iter().filter(|w| !got.contains(w)).take(5).collect();
                let extra: Vec<&String> = got.iter().filter(|g| !want.contains(g)).take(5).collect();
                v.fail(native_archive, format!("members differ from the IR archive's natives (missing {missing:?}, unexpected {extra:?}, {} vs {} members)", got.len(), want.len()));
            }
        }
        Err(e) => v.fail(native_archive, format!("{e:#}")),
    }
    for (file, kinds) in
        [("vmlinux.o", &[ObjectKind::Relocatable][..]), ("vmlinux", &[ObjectKind::Executable, ObjectKind::Dynamic][..])]
    {
        match artifact::classify_file(&t.objtree.join(file)) {
            Ok(Kind::Elf { machine, kind, has_bitcode_section: false })
                if machine == t.elf_machine && kinds.contains(&kind) =>
            {
                v.count(file)
            }
            Ok(k) => v.fail(file, format!("is {}, expected a native ELF for machine {}", k.describe(), t.elf_machine)),
            Err(_) => v.fail(file, "missing"),
        }
    }
    crate::checks::modules::validate_modules(t.objtree, t.elf_machine, t.layout, &mut v);
    let image: PathBuf = t.objtree.join(t.image);
    match std::fs::metadata(&image) {
        Ok(m) if m.len() > 0 => v.count("boot image"),
        _ => v.fail(t.image, "boot image missing or empty"),
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_index_sha1_a_native_was_built_from() {
        let dir = tempfile::tempdir().unwrap();
        let sum = hex_sha1(b"abc");
        assert_eq!(sum, "a9993e364706816aba3e25717850c26c9cd0d89d");
        let cmd =
            format!("savedcmd_k/f.o_thinlto_native := clang -c -o k/f.o_thinlto_native k/f.o; : index sha1 {sum}\n");
        std::fs::write(dir.path().join(".f.o_thinlto_native.cmd"), cmd).unwrap();
        assert_eq!(recorded_index_sha1(&dir.path().join("f.o_thinlto_native")), Some(sum));
        std::fs::write(dir.path().join(".g.o_thinlto_native.cmd"), "savedcmd_g := clang -c g.o\n").unwrap();
        assert_eq!(recorded_index_sha1(&dir.path().join("g.o_thinlto_native")), None);
    }
}
