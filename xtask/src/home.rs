//! Where things live: the project checkout, and the cache (kernel trees,
//! downloaded sources, logs, state) which is never inside the repository.

use std::path::PathBuf;

pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

/// `$THINDIST_HOME`, else `$XDG_CACHE_HOME/thindist`, else `~/.cache/thindist`.
pub fn cache() -> PathBuf {
    if let Some(dir) = std::env::var_os("THINDIST_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    default_cache()
}

fn default_cache() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into())).join(".cache"));
    base.join("thindist")
}

/// Installed tools (the engine's venv): shared by every THINDIST_HOME,
/// as `deps` installs them once per machine.
pub fn tools() -> PathBuf {
    if let Some(dir) = std::env::var_os("THINDIST_TOOLS").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    default_cache().join("tools")
}

pub fn trees() -> PathBuf {
    cache().join("trees")
}

pub fn sources() -> PathBuf {
    cache().join("sources")
}

pub fn logs() -> PathBuf {
    cache().join("logs")
}

/// Front-end dependency scans kept for reuse (`launcher::scan_cache`).
pub fn scans() -> PathBuf {
    cache().join("scans")
}

pub fn default_state_file() -> PathBuf {
    cache().join("state.toml")
}

pub fn configs() -> PathBuf {
    project_root().join("configs")
}
