//! Reading a compiler command line the way the launcher needs: is it a
//! ThinLTO back-end job (`-x ir … -fthinlto-index=`), a front-end compile
//! of one source, or anything else; and exactly which files it writes and
//! (for a back-end job) reads.

/// Options whose value is the next argument (clang's separate-value forms).
const TAKES_VALUE: &[&str] = &[
    "-o",
    "-x",
    "-I",
    "-D",
    "-U",
    "-include",
    "-imacros",
    "-isystem",
    "-idirafter",
    "-iquote",
    "-iprefix",
    "-iwithprefix",
    "-isysroot",
    "-MF",
    "-MT",
    "-MQ",
    "-Xclang",
    "-mllvm",
    "-target",
    "-arch",
    "-Xassembler",
    "-Xlinker",
    "-Xpreprocessor",
    "--param",
    "-z",
    "-L",
    "-l",
    "-u",
    "-e",
];

/// Flags that name a file a compile reads (profiles, lists): `prefix` + path.
const READS_FILE: &[&str] = &[
    "-fprofile-sample-use=",
    "-fprofile-use=",
    "-fprofile-instr-use=",
    "-fprofile-list=",
    "-fsanitize-ignorelist=",
    "-fsanitize-blacklist=",
    "-fsanitize-coverage-allowlist=",
    "-fsanitize-coverage-ignorelist=",
    "-fbasic-block-sections=list=",
];

/// Flags that make the compiler write more than `-o` (the dependency file
/// aside): such a job's outputs could not be named exactly, so it stays local.
const WRITES_MORE: &[&str] = &[
    "-Wp,",
    "-save-temps",
    "-ftime-trace",
    "-fdump-",
    "-gsplit-dwarf",
    "-ftest-coverage",
    "--coverage",
    "-fstack-usage",
    "-fsave-optimization-record",
    "-foptimization-record-file=",
    "-MJ",
];

/// Debug information records the working directory and the sources'
/// absolute paths: such a compile's output depends on where it runs.
fn debug_info(flag: &str) -> bool {
    flag.starts_with("-g") && flag != "-g0" && !flag.starts_with("-gno-") && !flag.starts_with("-gz")
}

/// Dependency-file flags: `-MD`/`-MMD` with `-MF <file>`, or kbuild's
/// `-Wp,-MMD,<file>`. `-MT`/`-MQ` only change what the file says.
pub const DEPFILE_FLAGS: &[&str] = &["-MD", "-MMD"];
pub const WP_DEPFILE: &[&str] = &["-Wp,-MMD,", "-Wp,-MD,"];

#[derive(Debug, PartialEq)]
pub enum Kind {
    /// A ThinLTO back-end compile the engine can run.
    BackEnd(BackEndJob),
    /// A back-end compile that cannot be described exactly, and why.
    BackEndLocal { output: String, why: String },
    /// A compile of one C or assembler source the engine can run.
    FrontEnd(FrontEndJob),
    /// A compile of a source that cannot be described exactly, and why.
    FrontEndLocal { output: String, why: String },
    /// Probes, `--version`, preprocessing, linking: not a compile job.
    Other,
}

#[derive(Debug, PartialEq)]
pub struct BackEndJob {
    pub input: String,
    pub index: String,
    pub output: String,
    /// Files named by flags, as written on the command line.
    pub files: Vec<String>,
}

#[derive(Debug, PartialEq)]
pub struct FrontEndJob {
    pub source: String,
    pub output: String,
    /// The dependency file kbuild's fixdep reads, when one is asked for.
    pub depfile: Option<String>,
    /// Files named by flags, as written on the command line.
    pub files: Vec<String>,
}

/// `args` without the compiler itself.
/// What one pass over a compiler's arguments found.
#[derive(Default)]
struct Scanned {
    output: Option<String>,
    index: Option<String>,
    ir: bool,
    compile: bool,
    positionals: Vec<String>,
    files: Vec<String>,
    extra_outputs: Option<String>,
    depfile: Option<String>,
    dep_flag: Option<String>,
    debug: Option<String>,
}

impl Scanned {
    fn of(args: &[String]) -> Self {
        let mut s = Scanned::default();
        let mut i = 0;
        while i < args.len() {
            let a = args[i].as_str();
            let next = args.get(i + 1).map(String::as_str);
            if TAKES_VALUE.contains(&a) {
                match a {
                    "-o" => s.output = next.map(str::to_string),
                    "-x" => s.ir = next == Some("ir"),
                    "-MF" => s.depfile = next.map(str::to_string),
                    _ => {}
                }
                i += 2;
                continue;
            }
            if let Some(f) = WP_DEPFILE.iter().find_map(|p| a.strip_prefix(p)).filter(|f| !f.contains(',')) {
                s.depfile = Some(f.to_string());
                s.dep_flag = Some(a.to_string());
            } else {
                s.flag(a);
            }
            i += 1;
        }
        s
    }

    /// One argument that takes no value of its own.
    fn flag(&mut self, a: &str) {
        if let Some(v) = a.strip_prefix("-fthinlto-index=") {
            self.index = Some(v.to_string());
        } else if let Some(lang) = a.strip_prefix("-x") {
            if !lang.is_empty() {
                self.ir = lang == "ir";
            }
        } else if a == "-c" {
            self.compile = true;
        } else if let Some(o) = a.strip_prefix("-o").filter(|o| !o.is_empty() && a.len() > 2) {
            self.output = Some(o.to_string());
        } else if let Some(p) = READS_FILE.iter().find_map(|p| a.strip_prefix(p)) {
            self.files.push(p.to_string());
        } else if debug_info(a) {
            self.debug = Some(a.to_string());
        } else if DEPFILE_FLAGS.contains(&a) {
            self.dep_flag = Some(a.to_string());
        } else if WRITES_MORE.iter().any(|w| a.starts_with(w)) {
            self.extra_outputs = Some(a.to_string());
        } else if !a.starts_with('-') || a == "-" {
            self.positionals.push(a.to_string());
        }
    }
}

pub fn classify(args: &[String]) -> Kind {
    let s = Scanned::of(args);
    let Some(output) = s.output.filter(|_| s.compile) else { return Kind::Other };
    let (positionals, files) = (s.positionals, s.files);
    if !(s.ir && s.index.is_some()) {
        // Probes compile /dev/null or stdin: not part of the build's work.
        if !positionals.iter().any(|p| p != "-" && p != "/dev/null") {
            return Kind::Other;
        }
        let local = |why: String| Kind::FrontEndLocal { output: output.clone(), why };
        if let Some(flag) = s.extra_outputs {
            return local(format!("`{flag}` writes files besides -o"));
        }
        if let Some(g) = s.debug {
            return local(format!("`{g}`: debug information records where the compile ran"));
        }
        if s.dep_flag.is_some() != s.depfile.is_some() {
            return local("a dependency file without both -MD/-MMD and -MF".into());
        }
        let [source] = positionals.as_slice() else {
            return local(format!("{} inputs where one source was expected", positionals.len()));
        };
        return Kind::FrontEnd(FrontEndJob { source: source.clone(), output, depfile: s.depfile, files });
    }
    if let Some(flag) = s.extra_outputs.or(s.dep_flag).or(s.depfile.map(|_| "-MF".to_string())) {
        return Kind::BackEndLocal { output, why: format!("`{flag}` writes files besides -o") };
    }
    let [input] = positionals.as_slice() else {
        let why = format!("{} inputs where one IR object was expected", positionals.len());
        return Kind::BackEndLocal { output, why };
    };
    Kind::BackEnd(BackEndJob { input: input.clone(), index: s.index.expect("checked"), output, files })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn kernel_backend_jobs_are_recognised() {
        // The v3 layout's back-end rule, abridged.
        let a = v("-nostdinc --target=x86_64-linux-gnu -fmacro-prefix-map=/s/= -I/s/mm -Imm -mllvm -import-instr-limit=5 -x ir -fthinlto-index=mm/show_mem.o.thinlto.bc -c -o mm/show_mem.o_thinlto_native mm/show_mem.o");
        assert_eq!(
            classify(&a),
            Kind::BackEnd(BackEndJob {
                input: "mm/show_mem.o".into(),
                index: "mm/show_mem.o.thinlto.bc".into(),
                output: "mm/show_mem.o_thinlto_native".into(),
                files: vec![],
            })
        );
        // Mainline's rule: -xir glued, -o glued.
        let a = v("-O2 -fthinlto-index=kernel/fork.o.thinlto.bc -xir -c kernel/fork.o -okernel/fork.thinlto-native.o -fprofile-sample-use=/p/prof.afdo");
        let Kind::BackEnd(j) = classify(&a) else { panic!() };
        assert_eq!((j.output.as_str(), j.files), ("kernel/fork.thinlto-native.o", vec!["/p/prof.afdo".to_string()]));
    }

    #[test]
    fn other_calls_are_not_sent() {
        assert_eq!(classify(&v("--version")), Kind::Other);
        assert_eq!(classify(&v("-E -x c /dev/null -o /dev/null")), Kind::Other);
        assert_eq!(classify(&v("-Werror -mno-sse -c -x c /dev/null -o .tmp_12/tmp")), Kind::Other);
        let dep = classify(&v("-x ir -fthinlto-index=a.o.thinlto.bc -MD -MF a.d -c -o a.n a.o"));
        assert!(matches!(dep, Kind::BackEndLocal { why, .. } if why.contains("-MD")));
        let two = classify(&v("-x ir -fthinlto-index=a.o.thinlto.bc -c -o a.n a.o b.o"));
        assert!(matches!(two, Kind::BackEndLocal { why, .. } if why.contains("2 inputs")));
    }

    #[test]
    fn front_end_compiles_name_their_outputs() {
        let job = |s| match classify(&v(s)) {
            Kind::FrontEnd(j) => j,
            k => panic!("{s}: {k:?}"),
        };
        let j = job("-Wp,-MMD,mm/.x.o.d -nostdinc -I/s/include -c -o mm/x.o /s/mm/x.c");
        let want = FrontEndJob {
            source: "/s/mm/x.c".into(),
            output: "mm/x.o".into(),
            depfile: Some("mm/.x.o.d".into()),
            files: vec![],
        };
        assert_eq!(j, want);
        let j = job("-MD -MF a.d -fsanitize-ignorelist=/s/ign.txt -c a.S -o a.o");
        assert_eq!((j.depfile.as_deref(), j.files), (Some("a.d"), vec!["/s/ign.txt".to_string()]));
        assert_eq!(job("-c -o a.o a.c").depfile, None);
        let local = |s| match classify(&v(s)) {
            Kind::FrontEndLocal { why, .. } => why,
            k => panic!("{s}: {k:?}"),
        };
        assert!(local("-Wp,-MMD,a.d,-MP -c -o a.o a.c").contains("-Wp,"), "other preprocessor options");
        assert!(local("-MD -c -o a.o a.c").contains("-MF"), "-MD names its file after -o");
        assert!(local("-gsplit-dwarf -c -o a.o a.c").contains("-gsplit-dwarf"));
        assert!(local("--coverage -c -o a.o a.c").contains("--coverage"));
        assert!(local("-c -o a.o a.c b.c").contains("2 inputs"));
        assert!(local("-gdwarf-5 -c -o a.o a.c").contains("debug information"));
        assert!(matches!(classify(&v("-g0 -gz=zlib -c -o a.o a.c")), Kind::FrontEnd(_)));
    }
}
