//! Running other programs: `Cmd` is the one way the tool starts a child.
//! Commands that run to completion go through xshell; make and QEMU, which
//! must be followed while they run, get their own process group (so that
//! Ctrl-C reaches their whole tree, see interrupt) and deliver their output
//! line by line. Arguments are always arguments, never a shell string.

pub mod child;
pub mod daemon;
pub mod interrupt;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};

use anyhow::{bail, Context, Result};
use xshell::Shell;

use child::{Lines, Usage};

/// The directories of PATH, in order.
pub fn path_dirs() -> Vec<PathBuf> {
    std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default()
}

/// A command name as the shell would find it on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    path_dirs().into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

#[derive(Debug, Clone)]
pub struct Cmd {
    argv: Vec<String>,
    env: Vec<(String, String)>,
    dir: Option<PathBuf>,
    /// What the child reads on its standard input (none: /dev/null).
    input: Option<Vec<u8>>,
}

impl Cmd {
    pub fn new(program: impl AsRef<Path>) -> Self {
        Self { argv: vec![program.as_ref().display().to_string()], env: Vec::new(), dir: None, input: None }
    }

    /// From a whole command line (program first).
    pub fn from_argv(argv: &[String]) -> Self {
        Self { argv: argv.to_vec(), env: Vec::new(), dir: None, input: None }
    }

    pub fn arg(mut self, arg: impl AsRef<str>) -> Self {
        self.argv.push(arg.as_ref().to_string());
        self
    }

    pub fn args<S: AsRef<str>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.argv.extend(args.into_iter().map(|a| a.as_ref().to_string()));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn envs(mut self, vars: &[(String, String)]) -> Self {
        self.env.extend_from_slice(vars);
        self
    }

    /// Gives the child these bytes on its standard input (for commands that run to completion).
    pub fn input(mut self, bytes: Vec<u8>) -> Self {
        self.input = Some(bytes);
        self
    }

    pub fn current_dir(mut self, dir: &Path) -> Self {
        self.dir = Some(dir.to_path_buf());
        self
    }

    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    /// This command run by `wrapper` (its argv first: `ip netns exec NS`),
    /// with this command's environment, directory and input.
    pub fn run_by(&self, wrapper: &[&str]) -> Self {
        let argv = wrapper.iter().map(|a| a.to_string()).chain(self.argv.iter().cloned()).collect();
        Self { argv, ..self.clone() }
    }

    /// The command line as a person would type it (for messages and logs).
    pub fn display(&self) -> String {
        // A long value (the launcher's configuration) is cut: the log line stays readable.
        let env = self.env.iter().map(|(k, v)| match v.len() > 60 {
            true => format!("{k}=… "),
            false => format!("{k}={} ", quote(v)),
        });
        env.collect::<String>() + &self.argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
    }

    fn shell(&self) -> Result<Shell> {
        let sh = Shell::new()?;
        if let Some(d) = &self.dir {
            sh.change_dir(d);
        }
        Ok(sh)
    }

    /// The command as std runs it, built by xshell (arguments as arguments).
    fn command(&self) -> Result<Command> {
        let sh = self.shell()?;
        let (prog, args) = self.argv.split_first().context("empty command")?;
        let mut cmd = sh.cmd(prog).args(args);
        for (k, v) in &self.env {
            cmd = cmd.env(k, v);
        }
        Ok(cmd.into())
    }

    /// Runs to completion with its output captured, in a process group of
    /// its own when the tool's handler is installed; a stop signal reaches
    /// it, and is an error.
    fn output(&self) -> Result<Output> {
        let mut c = self.command()?;
        let own_group = interrupt::installed();
        if own_group {
            child::own_group(&mut c);
        }
        let stdin = if self.input.is_some() { Stdio::piped() } else { Stdio::null() };
        c.stdin(stdin).stdout(Stdio::piped()).stderr(Stdio::piped());
        let what = self.display();
        let (mut child, guard) = interrupt::start(&what, own_group, || c.spawn())?;
        if let (Some(bytes), Some(mut pipe)) = (self.input.clone(), child.stdin.take()) {
            // From a thread: a child that writes before it reads all cannot block us.
            std::thread::spawn(move || std::io::Write::write_all(&mut pipe, &bytes));
        }
        let out = child.wait_with_output().with_context(|| format!("cannot run `{what}`"))?;
        guard.check(&what)?;
        Ok(out)
    }

    /// Standard output of a successful run, else an error with its standard error.
    fn output_ok(&self) -> Result<Output> {
        let out = self.output()?;
        if !out.status.success() {
            bail!("`{}` failed ({}):\n{}", self.display(), out.status, String::from_utf8_lossy(&out.stderr));
        }
        Ok(out)
    }

    /// Runs to completion with its output captured; a failure is an error
    /// that carries what it printed.
    pub fn run_quiet(&self) -> Result<()> {
        let out = self.output()?;
        if !out.status.success() {
            bail!(
                "`{}` failed ({}):\n{}{}",
                self.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Standard output of a successful run.
    pub fn read(&self) -> Result<String> {
        Ok(text_of(self.output_ok()?.stdout))
    }

    /// Standard output of a successful run, as bytes, its standard error
    /// dropped (a pass whose warnings the real run prints again).
    pub fn output_silent(&self) -> Result<Vec<u8>> {
        Ok(self.output_ok()?.stdout)
    }

    /// Standard output whatever the exit status (probes such as `--version`).
    pub fn read_any(&self) -> Result<String> {
        Ok(text_of(self.output()?.stdout))
    }

    /// Runs on the terminal's own output (installers, the test runner), in
    /// the tool's process group, so that a terminal's Ctrl-C reaches it too.
    pub fn run(&self) -> Result<()> {
        eprintln!("$ {}", self.display());
        let mut c = self.command()?;
        let what = self.display();
        let (mut child, guard) = interrupt::start(&what, false, || c.spawn())?;
        let status = child.wait().with_context(|| format!("cannot run `{what}`"))?;
        guard.check(&what)?;
        if !status.success() {
            bail!("`{what}` failed ({status})");
        }
        Ok(())
    }

    /// The child with the caller's stdin, stdout and stderr.
    fn inheriting(&self) -> Result<Command> {
        let (prog, args) = self.argv.split_first().context("empty command")?;
        let mut c = Command::new(prog);
        c.args(args).envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some(d) = &self.dir {
            c.current_dir(d);
        }
        Ok(c)
    }

    fn process(&self) -> Result<Command> {
        let mut c = self.inheriting()?;
        c.stdin(Stdio::null());
        Ok(c)
    }

    /// Becomes the program, stdio and all (the compiler launcher's
    /// pass-through); returns only if it could not.
    pub fn exec(&self) -> anyhow::Error {
        use std::os::unix::process::CommandExt;
        match self.inheriting() {
            Ok(mut c) => anyhow::Error::new(c.exec()).context(format!("cannot run {}", self.argv[0])),
            Err(e) => e,
        }
    }

    /// Runs it on the caller's stdio, in the caller's process group (so a
    /// Ctrl-C reaching make reaches it); its exit status.
    pub fn status(&self) -> Result<ExitStatus> {
        let mut c = self.inheriting()?;
        c.status().with_context(|| format!("cannot run {}", self.argv[0]))
    }

    /// Starts it in its own process group with its output delivered line
    /// by line (make, QEMU).
    pub fn follow(&self) -> Result<Lines> {
        child::spawn(self.process()?, &self.display())
    }

    /// Starts a daemon: its own session, all it prints going to `log`; not
    /// waited for. Returns its pid.
    pub fn spawn_daemon(&self, log: File) -> Result<u32> {
        use std::os::unix::process::CommandExt;
        interrupt::refuse_if_interrupted(&format!("starting {}", self.argv[0]))?;
        let mut c = self.process()?;
        c.stdout(log.try_clone()?).stderr(log);
        // SAFETY: setsid is async-signal-safe; the daemon leaves our
        // terminal's session so that Ctrl-C on a build does not stop it.
        unsafe {
            c.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        let child = c.spawn().with_context(|| format!("cannot start {}", self.argv[0]))?;
        Ok(child.id())
    }

    /// Runs it in its own process group with all it prints going to `log`;
    /// returns its status and what it and its descendants used.
    pub fn run_to_file(&self, log: File) -> Result<(ExitStatus, Usage)> {
        let mut c = self.process()?;
        child::own_group(&mut c).stdout(log.try_clone()?).stderr(log);
        let (child, _guard) = interrupt::start(&self.display(), true, || c.spawn())?;
        child::wait_with_usage(&child)
    }
}

/// Output as text, without its last line's newline (as xshell reads it).
fn text_of(bytes: Vec<u8>) -> String {
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if text.ends_with('\n') {
        text.pop();
    }
    if text.ends_with('\r') {
        text.pop();
    }
    text
}

/// An argument as a shell would need it, for display only.
fn quote(a: &str) -> String {
    match a.contains([' ', '"', '\'', '$', '\\']) {
        true => format!("'{}'", a.replace('\'', r"'\''")),
        false => a.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_with_arguments_as_arguments() {
        let out = Cmd::new("printf").args(["%s|", "a b", "$HOME"]).read().unwrap();
        assert_eq!(out, "a b|$HOME|");
        let out = Cmd::new("sh").args(["-c", "echo $THINDIST_X"]).env("THINDIST_X", "given").read().unwrap();
        assert_eq!(out, "given");
        let err = Cmd::new("sh").args(["-c", "echo oops >&2; exit 3"]).run_quiet().unwrap_err().to_string();
        assert!(err.contains("oops") && err.contains("exit status: 3"), "{err}");
        let shown = Cmd::new("make").arg("CC=/x launch clang").env("THINDIST_LAUNCH", &"x".repeat(100)).display();
        assert_eq!(shown, "THINDIST_LAUNCH=… make 'CC=/x launch clang'");
        let lines = Cmd::new("printf").arg("one\\ntwo\\n").follow().unwrap();
        assert_eq!(lines.lines.iter().collect::<Vec<_>>(), ["one", "two"]);
    }

    /// A wrapped command (`ip netns exec NS …`) keeps the variables it was given.
    #[test]
    fn a_wrapper_keeps_the_environment() {
        let inner = Cmd::new("sh").args(["-c", "echo $THINDIST_X"]).env("THINDIST_X", "kept");
        let wrapped = inner.run_by(&["env", "--"]);
        assert_eq!(wrapped.argv()[..3], ["env", "--", "sh"]);
        assert_eq!(wrapped.read().unwrap(), "kept");
    }

    /// Started with SIGINT ignored (in the background, say), the tool still
    /// gives a followed child SIGINT at its default, so it can be stopped.
    #[test]
    fn a_followed_child_can_be_interrupted() {
        // SAFETY: signal(2) on this test process, put back right after.
        let old = unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
        let lines = Cmd::new("grep").args(["^SigIgn:", "/proc/self/status"]).follow().unwrap();
        let line: Vec<String> = lines.lines.iter().collect();
        unsafe { libc::signal(libc::SIGINT, old) };
        let mask = u64::from_str_radix(line[0].split_whitespace().nth(1).unwrap(), 16).unwrap();
        assert_eq!(mask & (1 << (libc::SIGINT - 1)), 0, "SIGINT ignored in the child: {line:?}");
    }

    /// A caller that returns early (make's log could not be written) drops
    /// the child: it and what it started are killed, not left running.
    #[test]
    fn a_dropped_followed_child_is_killed_with_its_group() {
        let lines = Cmd::new("sh").args(["-c", "sleep 300 & echo $!; wait"]).follow().unwrap();
        let grandchild: i32 = lines.lines.recv().unwrap().trim().parse().unwrap();
        let leader = lines.child.id() as i32;
        drop(lines);
        let gone = |pid: i32| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            stat.is_empty() || stat.rsplit_once(')').is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        };
        assert!(gone(leader), "the leader was reaped");
        let t = std::time::Instant::now();
        while !gone(grandchild) && t.elapsed() < std::time::Duration::from_secs(5) {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(gone(grandchild), "sleep, in the leader's group, was killed too");
    }
}
