//! Extracting a kernel source tarball into the cache; the caller shows
//! the progress (a bar it hands in counts the bytes read).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use indicatif::ProgressBar;

pub fn is_tarball(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    path.is_file() && (name.ends_with(".tar.xz") || name.ends_with(".tar.gz") || name.ends_with(".tgz"))
}

/// The directory name a tarball's tree gets under the cache: its file name
/// without the compression suffix (`linux-source-6.12.tar.xz` → `linux-source-6.12`).
pub fn tree_name(tarball: &Path) -> String {
    let name = tarball.file_name().and_then(|n| n.to_str()).unwrap_or("linux");
    [".tar.xz", ".tar.gz", ".tgz"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .map(|s| s.trim_end_matches('.').to_string())
        .unwrap_or_else(|| name.to_string())
}

/// Extracts `tarball` so that its single top-level directory becomes `dest`.
/// Extraction happens beside `dest` and is renamed into place at the end, so
/// an interrupted run never leaves a half tree where a whole one is expected.
/// `read` counts the compressed bytes read, out of the tarball's size.
pub fn extract(tarball: &Path, dest: &Path, read: &ProgressBar) -> Result<PathBuf> {
    if dest.exists() {
        bail!("{} already exists", dest.display());
    }
    let parent = dest.parent().context("destination has no parent directory")?;
    std::fs::create_dir_all(parent)?;
    let staging = parent.join(format!(".extract-{}", dest.file_name().unwrap().to_string_lossy()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).with_context(|| format!("cannot remove stale {}", staging.display()))?;
    }
    std::fs::create_dir_all(&staging)?;

    let size = std::fs::metadata(tarball).with_context(|| format!("cannot open {}", tarball.display()))?.len();
    read.set_length(size);
    if let Err(e) = unpack_into(tarball, &staging, dest, read) {
        // Nothing half-extracted stays behind.
        let _ = std::fs::remove_dir_all(&staging);
        let _ = std::fs::remove_dir_all(dest);
        if is_disk_full(&e) {
            bail!(
                "no space left on the device of {} while extracting {}; free some space and run setup again (the partial extraction was removed)",
                parent.display(),
                tarball.display()
            );
        }
        return Err(e);
    }
    Ok(dest.to_path_buf())
}

/// Whether an error comes from a full disk (ENOSPC, or EDQUOT for a quota).
fn is_disk_full(e: &anyhow::Error) -> bool {
    e.chain().filter_map(|c| c.downcast_ref::<std::io::Error>()).any(|io| {
        io.kind() == std::io::ErrorKind::StorageFull || matches!(io.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
    })
}

/// Unpacks into `staging`, then moves the single top directory to `dest`.
fn unpack_into(tarball: &Path, staging: &Path, dest: &Path, read: &ProgressBar) -> Result<()> {
    let file = File::open(tarball).with_context(|| format!("cannot open {}", tarball.display()))?;
    let reader = read.wrap_read(file);
    let name = tarball.to_string_lossy();
    let decoder: Box<dyn Read> = if name.ends_with(".xz") {
        Box::new(xz2::read::XzDecoder::new_multi_decoder(reader))
    } else {
        Box::new(flate2::read::GzDecoder::new(reader))
    };
    let mut archive = tar::Archive::new(decoder);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive
        .unpack(staging)
        .with_context(|| format!("cannot extract {} (is it a complete tarball?)", tarball.display()))?;
    let tops: Vec<PathBuf> = std::fs::read_dir(staging)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    let [top] = tops.as_slice() else {
        bail!("{} does not hold a single top-level directory", tarball.display());
    };
    std::fs::rename(top, dest)?;
    std::fs::remove_dir(staging)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_trees_after_tarballs() {
        assert_eq!(tree_name(Path::new("/usr/src/linux-source-6.12.tar.xz")), "linux-source-6.12");
        assert_eq!(tree_name(Path::new("linux-7.3.tar.gz")), "linux-7.3");
    }

    #[test]
    fn extracts_single_top_directory() {
        let dir = tempfile::tempdir().unwrap();
        let tarball = dir.path().join("k.tar.gz");
        {
            let enc = flate2::write::GzEncoder::new(File::create(&tarball).unwrap(), flate2::Compression::fast());
            let mut b = tar::Builder::new(enc);
            let mut h = tar::Header::new_gnu();
            h.set_size(4);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, "linux-x/Makefile", &b"all\n"[..]).unwrap();
            b.into_inner().unwrap().finish().unwrap();
        }
        let dest = dir.path().join("cache/k");
        extract(&tarball, &dest, &ProgressBar::hidden()).unwrap();
        assert_eq!(std::fs::read_to_string(dest.join("Makefile")).unwrap(), "all\n");
        assert!(extract(&tarball, &dest, &ProgressBar::hidden()).is_err(), "refuses to overwrite");
    }
}
