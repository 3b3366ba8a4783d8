//! `cargo xtask validate`: reads a finished THIN_DIST build as it is, with
//! no make, and checks every artifact of the layout it has.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Result;
use object::ObjectKind;

use crate::checks::modules;
use crate::checks::validation::{Counted, Validation};
use crate::kbuild::artifact::{self, Kind};
use crate::kbuild::layout::Carried;
use crate::kbuild::outputs::Outputs;
use crate::kbuild::session::Session;

/// A finished build as validation reads it.
pub struct Target<'a> {
    pub outputs: Outputs<'a>,
    pub elf_machine: u16,
    pub image: &'a str,
}

impl<'a> Target<'a> {
    pub fn of(session: &'a Session) -> Self {
        Target { outputs: session.outputs(), elf_machine: session.kb.arch.elf_machine, image: &session.kb.arch.image }
    }
}

/// Validates the build a session's object tree holds.
pub fn session(session: &Session) -> Result<Validation> {
    validate(&Target::of(session))
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// The thin-link's inputs: the IR archive's members, plus (v3) the lib.a
/// members it was given; what cannot be read is a failure.
fn thinlink_inputs(t: &Target, v: &mut Validation) -> (Vec<String>, Vec<String>) {
    let layout = t.outputs.layout;
    let members = match t.outputs.archive_members() {
        Ok(m) => m,
        Err(e) => {
            v.fail(&layout.ir_archive, format!("{e:#}"));
            return (vec![], vec![]);
        }
    };
    let libs = t.outputs.lib_members().unwrap_or_else(|| {
        v.fail(&layout.backend_list, "missing: the thin-link did not run");
        Vec::new()
    });
    (members, libs)
}

fn check_native(t: &Target, v: &mut Validation, ir: &str) {
    let ir_path = t.outputs.objtree.join(ir);
    let index = t.outputs.layout.index_of(ir);
    let native = t.outputs.layout.native_of(ir);
    let index_path = t.outputs.objtree.join(&index);
    let native_path = t.outputs.objtree.join(&native);
    if index_path.is_file() {
        v.count(Counted::Index);
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
                v.count(Counted::Native);
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
    v.count(Counted::Carried);
    if t.outputs.layout.carried == Carried::Copy {
        let native = t.outputs.layout.native_of(member);
        let same =
            std::fs::read(t.outputs.objtree.join(member)).ok() == std::fs::read(t.outputs.objtree.join(&native)).ok();
        if !same {
            v.fail(&native, format!("not an exact copy of the non-IR object {member}"));
        }
    }
}

pub fn validate(t: &Target) -> Result<Validation> {
    let mut v = Validation::default();
    let (members, libs) = thinlink_inputs(t, &mut v);
    let mut ir = std::collections::BTreeSet::new();
    for m in members.iter().chain(&libs) {
        match artifact::classify_file(&t.outputs.objtree.join(m)) {
            Ok(Kind::Bitcode) => {
                v.count(if libs.contains(m) { Counted::LibIr } else { Counted::Ir });
                ir.insert(m.clone());
                check_native(t, &mut v, m);
            }
            Ok(Kind::Elf { .. }) => check_carried(t, &mut v, m),
            Ok(Kind::Other) => v.fail(m, "member is neither ELF nor bitcode"),
            Err(_) => v.fail(m, "member listed by the archive is missing"),
        }
    }
    // The natives' archive lists the native counterpart of every member, in order.
    let native_archive = &t.outputs.layout.native_archive;
    match artifact::members(&t.outputs.objtree.join(native_archive)) {
        Ok(got) => {
            let want: Vec<String> = members
                .iter()
                .map(|m| {
                    if ir.contains(m) || t.outputs.layout.carried == Carried::Copy {
                        t.outputs.layout.native_of(m)
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
    for (file, counted, kinds) in [
        ("vmlinux.o", Counted::VmlinuxO, &[ObjectKind::Relocatable][..]),
        ("vmlinux", Counted::Vmlinux, &[ObjectKind::Executable, ObjectKind::Dynamic][..]),
    ] {
        match artifact::classify_file(&t.outputs.objtree.join(file)) {
            Ok(Kind::Elf { machine, kind, has_bitcode_section: false })
                if machine == t.elf_machine && kinds.contains(&kind) =>
            {
                v.count(counted)
            }
            Ok(k) => v.fail(file, format!("is {}, expected a native ELF for machine {}", k.describe(), t.elf_machine)),
            Err(_) => v.fail(file, "missing"),
        }
    }
    modules::validate_modules(&t.outputs, t.elf_machine, &mut v);
    let image: PathBuf = t.outputs.objtree.join(t.image);
    match std::fs::metadata(&image) {
        Ok(m) if m.len() > 0 => v.count(Counted::BootImage),
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
