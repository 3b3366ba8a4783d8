//! Reading a compiler command line the way the launcher needs: is it a
//! ThinLTO back-end job (`-x ir … -fthinlto-index=`), a compile, or anything
//! else; and for a back-end job, exactly which files it reads and writes.

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

/// Flags that name a file a back-end reads (profiles, lists): `prefix` + path.
const READS_FILE: &[&str] = &[
    "-fprofile-sample-use=",
    "-fprofile-use=",
    "-fprofile-instr-use=",
    "-fprofile-list=",
    "-fsanitize-ignorelist=",
    "-fsanitize-blacklist=",
    "-fbasic-block-sections=list=",
];

/// Flags that make the compiler write more than `-o`: such a job's outputs
/// could not be named exactly, so it stays local.
const WRITES_MORE: &[&str] = &["-MD", "-MMD", "-Wp,", "-save-temps", "-ftime-trace", "-fdump-", "-gsplit-dwarf", "-MF"];

#[derive(Debug, PartialEq)]
pub enum Kind {
    /// A ThinLTO back-end compile the engine can run.
    BackEnd(BackEndJob),
    /// A back-end compile that cannot be described exactly, and why.
    BackEndLocal { output: String, why: String },
    /// Any other `-c` compile (a front-end), writing `output`.
    Compile { output: String },
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

/// `args` without the compiler itself.
pub fn classify(args: &[String]) -> Kind {
    let mut output = None;
    let mut index = None;
    let mut ir = false;
    let mut compile = false;
    let mut positionals = Vec::new();
    let mut files = Vec::new();
    let mut extra_outputs = None;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        let next = args.get(i + 1).map(String::as_str);
        if TAKES_VALUE.contains(&a) {
            match a {
                "-o" => output = next.map(str::to_string),
                "-x" => ir = next == Some("ir"),
                "-MF" => extra_outputs = Some(a.to_string()),
                _ => {}
            }
            i += 2;
            continue;
        }
        if let Some(v) = a.strip_prefix("-fthinlto-index=") {
            index = Some(v.to_string());
        } else if let Some(lang) = a.strip_prefix("-x") {
            if !lang.is_empty() {
                ir = lang == "ir";
            }
        } else if a == "-c" {
            compile = true;
        } else if let Some(o) = a.strip_prefix("-o").filter(|o| !o.is_empty() && a.len() > 2) {
            output = Some(o.to_string());
        } else if let Some(p) = READS_FILE.iter().find_map(|p| a.strip_prefix(p)) {
            files.push(p.to_string());
        } else if WRITES_MORE.iter().any(|w| a.starts_with(w)) {
            extra_outputs = Some(a.to_string());
        } else if !a.starts_with('-') || a == "-" {
            positionals.push(a.to_string());
        }
        i += 1;
    }
    let Some(output) = output.filter(|_| compile) else { return Kind::Other };
    if !(ir && index.is_some()) {
        // Probes compile /dev/null or stdin: not part of the build's work.
        return match positionals.iter().any(|p| p != "-" && p != "/dev/null") {
            true => Kind::Compile { output },
            false => Kind::Other,
        };
    }
    if let Some(flag) = extra_outputs {
        return Kind::BackEndLocal { output, why: format!("`{flag}` writes files besides -o") };
    }
    let [input] = positionals.as_slice() else {
        let why = format!("{} inputs where one IR object was expected", positionals.len());
        return Kind::BackEndLocal { output, why };
    };
    Kind::BackEnd(BackEndJob { input: input.clone(), index: index.expect("checked"), output, files })
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
        assert_eq!(classify(&v("-Wp,-MMD,mm/.x.o.d -c -o mm/x.o mm/x.c")), Kind::Compile { output: "mm/x.o".into() });
        let dep = classify(&v("-x ir -fthinlto-index=a.o.thinlto.bc -MD -c -o a.n a.o"));
        assert!(matches!(dep, Kind::BackEndLocal { why, .. } if why.contains("-MD")));
        let two = classify(&v("-x ir -fthinlto-index=a.o.thinlto.bc -c -o a.n a.o b.o"));
        assert!(matches!(two, Kind::BackEndLocal { why, .. } if why.contains("2 inputs")));
    }
}
