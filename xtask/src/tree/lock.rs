//! One run at a time per tree or object tree: an flock(2) on a lock file in
//! the cache (never in the user's tree), held until the run ends. The
//! file says who holds it, so a second run can name them.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::home;

#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// The lock file for a directory: its absolute path, flattened, under a cache's locks/.
pub fn path_for(cache: &Path, dir: &Path) -> PathBuf {
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let flat: String = abs.to_string_lossy().chars().map(|c| if c == '/' { '%' } else { c }).collect();
    cache.join("locks").join(format!("{flat}.lock"))
}

fn flock(file: &File, wait: bool) -> std::io::Result<()> {
    let op = if wait { libc::LOCK_EX } else { libc::LOCK_EX | libc::LOCK_NB };
    // SAFETY: flock on a file descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

impl Lock {
    /// Takes the lock on `dir` for `what` (a command); another holder makes
    /// this fail naming it, or, with `wait`, wait for it.
    pub fn acquire(dir: &Path, what: &str, wait: bool) -> Result<Lock> {
        Self::acquire_in(&home::cache(), dir, what, wait)
    }

    /// As acquire, with the locks under another cache (the tests').
    pub fn acquire_in(cache: &Path, dir: &Path, what: &str, wait: bool) -> Result<Lock> {
        let path = path_for(cache, dir);
        std::fs::create_dir_all(path.parent().expect("under the cache"))?;
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open the lock {}", path.display()))?;
        if let Err(e) = flock(&file, false) {
            if e.kind() != std::io::ErrorKind::WouldBlock {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()));
            }
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            if !wait {
                bail!(
                    "another thindist run is using {} ({holder}); wait for it to finish, or pass --wait",
                    dir.display()
                );
            }
            eprintln!("waiting for another thindist run using {} ({holder}) to finish", dir.display());
            flock(&file, true).with_context(|| format!("cannot lock {}", path.display()))?;
        }
        file.set_len(0)?;
        file.rewind()?;
        write!(file, "pid {}: {what}", std::process::id())?;
        file.flush()?;
        Ok(Lock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_name() {
        let dir = tempfile::tempdir().unwrap();
        let first = Lock::acquire(dir.path(), "build --arch riscv", false).unwrap();
        let err = Lock::acquire(dir.path(), "setup", false).unwrap_err().to_string();
        assert!(err.contains(&format!("pid {}: build --arch riscv", std::process::id())), "{err}");
        assert!(err.contains("--wait"), "{err}");
        drop(first);
        Lock::acquire(dir.path(), "setup", false).unwrap();
        assert!(path_for(Path::new("/c"), Path::new("/src/linux")).ends_with("locks/%src%linux.lock"));
    }

    #[test]
    fn wait_takes_the_lock_once_it_is_free() {
        let dir = tempfile::tempdir().unwrap();
        let first = Lock::acquire(dir.path(), "build", false).unwrap();
        let released = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            drop(first);
        });
        let started = std::time::Instant::now();
        Lock::acquire(dir.path(), "build", true).unwrap();
        assert!(started.elapsed() >= std::time::Duration::from_millis(250));
        released.join().unwrap();
    }
}
