//! A textual scan of a crate's non-test source for code that reads a clock.
//!
//! Text rather than a parsed syntax tree: the patterns are distinctive paths, and a scan needs no
//! parser. Line comments are left out, and so is test code: a `#[cfg(test)] mod name { … }`
//! up to its closing brace, and the files of a `#[cfg(test)] mod name;` with everything under
//! its directory. Braces are counted without regard to strings; test modules come last in a file
//! (house style), so a string with an unmatched brace can at worst make the scan stop at the end
//! of the file or resume inside the test module, where a hit would be loud, not silent.

use std::path::{Path, PathBuf};

/// What reads a clock, and which clock.
pub const CLOCK_READS: &[(&str, &str)] = &[
    ("SystemTime", "the wall clock"),
    ("Instant::now", "the monotonic clock"),
    ("Utc::now", "the wall clock"),
    ("Local::now", "the wall clock"),
    ("Utc::today", "the wall clock"),
    ("Local::today", "the wall clock"),
    ("tokio::time", "the runtime's clock"),
];

pub struct ClockRead {
    pub file: PathBuf,
    /// One-based.
    pub line: usize,
    pub pattern: &'static str,
    pub what: &'static str,
    pub text: String,
}

/// What a scan of one crate's source found.
pub struct Scan {
    /// How many files were read, so that a scan of the wrong directory cannot pass unnoticed.
    pub files_scanned: usize,
    pub reads: Vec<ClockRead>,
}

/// Every clock read in the `.rs` files under `src`, test modules excepted, in file order.
pub fn clock_reads_in_dir(src: &Path) -> Scan {
    let mut files = Vec::new();
    collect_rust_files(src, &mut files);
    files.sort();
    let sources: Vec<(PathBuf, String)> = files
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|error| panic!("cannot read {}: {error}", file.display()));
            (file, text)
        })
        .collect();
    let test_only: Vec<PathBuf> = sources
        .iter()
        .flat_map(|(file, text)| test_only_paths(file, text))
        .collect();
    let mut scan = Scan {
        files_scanned: 0,
        reads: Vec::new(),
    };
    for (file, text) in &sources {
        if test_only
            .iter()
            .any(|test_path| file.starts_with(test_path))
        {
            continue;
        }
        scan.files_scanned += 1;
        for (line, pattern, what) in clock_reads_in(text) {
            let text = text.lines().nth(line - 1).unwrap_or_default().to_owned();
            scan.reads.push(ClockRead {
                file: file.clone(),
                line,
                pattern,
                what,
                text,
            });
        }
    }
    scan
}

fn collect_rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()))
            .path();
        if path.is_dir() {
            collect_rust_files(&path, files);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            files.push(path);
        }
    }
}

/// The file and the directory of every `#[cfg(test)] mod name;` that `file` declares.
pub fn test_only_paths(file: &Path, source: &str) -> Vec<PathBuf> {
    let parent = file.parent().unwrap_or(Path::new(""));
    let stem = file
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or_default();
    let module_dir = match stem {
        "lib" | "main" | "mod" => parent.to_path_buf(),
        _ => parent.join(stem),
    };
    let lines: Vec<&str> = source.lines().collect();
    let mut paths = Vec::new();
    for index in 0..lines.len() {
        if let Some(TestModule::OutOfLine(name)) = test_module_at(&lines, index) {
            paths.push(module_dir.join(format!("{name}.rs")));
            paths.push(module_dir.join(name));
        }
    }
    paths
}

/// (one-based line, pattern, which clock) for each clock read outside inline test modules.
pub fn clock_reads_in(source: &str) -> Vec<(usize, &'static str, &'static str)> {
    let lines: Vec<&str> = source.lines().collect();
    let mut reads = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        if let Some(TestModule::Inline { declared_at }) = test_module_at(&lines, index) {
            index = end_of_block(&lines, declared_at);
            continue;
        }
        let code = lines[index].split("//").next().unwrap_or_default();
        for &(pattern, what) in CLOCK_READS {
            if code.contains(pattern) {
                reads.push((index + 1, pattern, what));
            }
        }
        index += 1;
    }
    reads
}

enum TestModule<'a> {
    /// `mod name { … }`, whose declaration starts on line `declared_at`.
    Inline { declared_at: usize },
    /// `mod name;`, in a file of its own.
    OutOfLine(&'a str),
}

/// The test module declared by a `#[cfg(test)]` on line `index`, if that line has one; further
/// attributes and blank lines may stand between the two.
fn test_module_at<'a>(lines: &[&'a str], index: usize) -> Option<TestModule<'a>> {
    let after_attribute = lines[index].trim().strip_prefix("#[cfg(test)]")?.trim();
    let (declared_at, declaration) = if after_attribute.is_empty() {
        let offset = lines[index + 1..].iter().position(|line| {
            let line = line.trim();
            !line.is_empty() && !line.starts_with("#[")
        })?;
        (index + 1 + offset, lines[index + 1 + offset].trim())
    } else {
        (index, after_attribute)
    };
    let without_visibility = ["pub(crate) ", "pub(super) ", "pub "]
        .iter()
        .find_map(|visibility| declaration.strip_prefix(visibility))
        .unwrap_or(declaration);
    let rest = without_visibility.strip_prefix("mod ")?.trim_start();
    let name_length = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    let (name, after_name) = rest.split_at(name_length);
    match after_name.trim_start().chars().next() {
        Some(';') => Some(TestModule::OutOfLine(name)),
        Some('{') => Some(TestModule::Inline { declared_at }),
        _ => None,
    }
}

/// The index of the line after the one that closes the block opened on line `start`, or the end
/// of the file when it never closes.
fn end_of_block(lines: &[&str], start: usize) -> usize {
    let mut depth = 0_i64;
    for (index, line) in lines.iter().enumerate().skip(start) {
        let code = line.split("//").next().unwrap_or_default();
        for c in code.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
        }
        if depth <= 0 && code.contains('}') {
            return index + 1;
        }
    }
    lines.len()
}

#[test]
fn clock_reads_are_found_outside_test_modules_only() {
    fn check(source: &str, expect: &[(usize, &str)]) {
        let found: Vec<(usize, &str)> = clock_reads_in(source)
            .into_iter()
            .map(|(line, pattern, _)| (line, pattern))
            .collect();
        assert_eq!(found, expect, "in:\n{source}");
    }
    check("fn now_ms(at: u64) -> u64 { at }", &[]);
    check(
        "let started = std::time::Instant::now();",
        &[(1, "Instant::now")],
    );
    check(
        "use std::time::{SystemTime, UNIX_EPOCH};",
        &[(1, "SystemTime")],
    );
    check("let today = chrono::Utc::now();", &[(1, "Utc::now")]);
    check("let here = Local::now();", &[(1, "Local::now")]);
    check("tokio::time::sleep(delay).await;", &[(1, "tokio::time")]);
    check("let at = now_ms; // never Instant::now: time comes in", &[]);
    check(
        "/// The caller reads `SystemTime`; this takes milliseconds.",
        &[],
    );
    check(
        "fn pure() {}\n\
         #[cfg(test)]\n\
         mod tests {\n\
             fn helper() {\n\
                 let _ = Instant::now();\n\
             }\n\
         }\n\
         fn after() { let _ = SystemTime::now(); }",
        &[(8, "SystemTime")],
    );
    check(
        "#[cfg(test)]\n#[allow(dead_code)]\n\nmod tests {\n Instant::now();\n}",
        &[],
    );
    check(
        "#[cfg(test)] mod tests { fn t() { Utc::now(); } }\nUtc::now();",
        &[(2, "Utc::now")],
    );
    check("#[cfg(test)]\nmod tests {\n Instant::now();\n", &[]);
    check(
        "#[cfg(test)]\nmod oracle;\nfn f() { Instant::now(); }",
        &[(3, "Instant::now")],
    );
    check(
        "#[cfg(test)]\nfn helper() { Instant::now(); }",
        &[(2, "Instant::now")],
    );
    check(
        "#[cfg(not(test))]\nmod tests {\n Instant::now();\n}",
        &[(3, "Instant::now")],
    );
}

#[test]
fn out_of_line_test_modules_name_their_file_and_directory() {
    fn check(file: &str, source: &str, expect: &[&str]) {
        let found = test_only_paths(Path::new(file), source);
        let expect: Vec<PathBuf> = expect.iter().map(PathBuf::from).collect();
        assert_eq!(found, expect, "{file}:\n{source}");
    }
    check(
        "src/lib.rs",
        "#[cfg(test)]\nmod tests;",
        &["src/tests.rs", "src/tests"],
    );
    check(
        "src/parse.rs",
        "#[cfg(test)]\nmod tests;",
        &["src/parse/tests.rs", "src/parse/tests"],
    );
    check(
        "src/tree/mod.rs",
        "#[cfg(test)]\npub(crate) mod oracle;",
        &["src/tree/oracle.rs", "src/tree/oracle"],
    );
    check(
        "src/g711.rs",
        "#[cfg(test)] mod reference;",
        &["src/g711/reference.rs", "src/g711/reference"],
    );
    check(
        "src/lib.rs",
        "mod parse;\n#[cfg(test)]\nmod tests {\n}",
        &[],
    );
}
