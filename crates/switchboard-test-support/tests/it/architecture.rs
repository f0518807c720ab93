//! The dependency and purity rules of ARCHITECTURE.md, checked against the workspace as it is.
//!
//! Each rule is a row of data: the crates it binds, what they must not reach, and why. Dependency
//! rules follow normal dependencies only (dev-dependencies may do IO: tests spawn engines), on
//! every target platform; the clock rule scans the pure crates' non-test source as text.

mod dependency_graph;
mod source_scan;

use std::sync::OnceLock;

use dependency_graph::DependencyGraph;

/// The crates that never do IO and never read the clock (ARCHITECTURE.md, "Code map").
const PURE_CRATES: &[&str] = &[
    "switchboard-core",
    "switchboard-twiml",
    "switchboard-flow",
    "switchboard-messaging",
    "switchboard-sip",
    "switchboard-rtp",
    "switchboard-amd",
    "switchboard-geo",
];

/// A package a crate must not reach, and what it stands for.
struct Forbidden {
    name: &'static str,
    what: &'static str,
}

struct DependencyRule {
    crates: &'static [&'static str],
    forbidden: &'static [Forbidden],
    because: &'static str,
}

const PURE_CRATES_DO_NO_IO: DependencyRule = DependencyRule {
    crates: PURE_CRATES,
    forbidden: &[
        Forbidden {
            name: "tokio",
            what: "the async runtime",
        },
        Forbidden {
            name: "sqlx",
            what: "SQL",
        },
        Forbidden {
            name: "axum",
            what: "an HTTP crate",
        },
        Forbidden {
            name: "hyper",
            what: "an HTTP crate",
        },
        Forbidden {
            name: "reqwest",
            what: "an HTTP crate",
        },
        Forbidden {
            name: "http",
            what: "an HTTP crate",
        },
        Forbidden {
            name: "tower",
            what: "an HTTP crate",
        },
        Forbidden {
            name: "switchboard-sip-ua",
            what: "an IO crate",
        },
        Forbidden {
            name: "switchboard-media",
            what: "an IO crate",
        },
        Forbidden {
            name: "switchboard-store",
            what: "an IO crate",
        },
        Forbidden {
            name: "switchboard-api",
            what: "an IO crate",
        },
        Forbidden {
            name: "switchboard-server",
            what: "an IO crate",
        },
        Forbidden {
            name: "switchboard-engine",
            what: "an IO crate",
        },
    ],
    because: "pure crates never do IO; IO lives in thin drivers around them",
};

const ENGINE_SITS_BELOW_THE_API: DependencyRule = DependencyRule {
    crates: &["switchboard-engine"],
    forbidden: &[
        Forbidden {
            name: "switchboard-api",
            what: "the REST API",
        },
        Forbidden {
            name: "axum",
            what: "the HTTP framework",
        },
    ],
    because: "the API drives the engine, never the other way round",
};

#[test]
fn pure_crates_reach_no_runtime_store_http_or_io_crate() {
    assert_dependency_rule(&PURE_CRATES_DO_NO_IO);
}

#[test]
fn engine_reaches_neither_the_api_nor_axum() {
    assert_dependency_rule(&ENGINE_SITS_BELOW_THE_API);
}

#[test]
fn pure_crates_read_no_clock_outside_tests() {
    let graph = workspace_graph();
    let mut violations = Vec::new();
    for name in PURE_CRATES {
        let Some(member) = graph.member(name) else {
            violations.push(format!("{name} is missing from the workspace"));
            continue;
        };
        let src = member.manifest_dir().join("src");
        let scan = source_scan::clock_reads_in_dir(&src);
        assert!(
            scan.files_scanned > 0,
            "no Rust source found under {}",
            src.display()
        );
        for read in scan.reads {
            let file = read
                .file
                .strip_prefix(&graph.workspace_root)
                .unwrap_or(&read.file);
            violations.push(format!(
                "{}:{}: `{}` ({}) in {name}, a pure crate; time must come in as an argument: {}",
                file.display(),
                read.line,
                read.pattern,
                read.what,
                read.text.trim(),
            ));
        }
    }
    assert!(
        violations.is_empty(),
        "architecture rule broken:\n{}",
        violations.join("\n")
    );
}

fn assert_dependency_rule(rule: &DependencyRule) {
    let violations = dependency_violations(workspace_graph(), rule);
    assert!(
        violations.is_empty(),
        "architecture rule broken:\n{}",
        violations.join("\n")
    );
}

/// One line per crate of `rule` that is missing, and per forbidden package it reaches, with the
/// shortest chain of normal dependencies through which it arrives.
fn dependency_violations(graph: &DependencyGraph, rule: &DependencyRule) -> Vec<String> {
    let mut violations = Vec::new();
    for name in rule.crates {
        let Some(member) = graph.member(name) else {
            violations.push(format!("{name} is missing from the workspace"));
            continue;
        };
        for forbidden in rule.forbidden {
            if let Some(path) = graph.normal_path(&member.id, forbidden.name) {
                violations.push(format!(
                    "{name} must not depend on {} ({}; {}): {path}",
                    forbidden.name, forbidden.what, rule.because,
                ));
            }
        }
    }
    violations
}

/// `cargo metadata` once per test binary: every test reads the same graph.
fn workspace_graph() -> &'static DependencyGraph {
    static GRAPH: OnceLock<DependencyGraph> = OnceLock::new();
    GRAPH.get_or_init(DependencyGraph::load)
}
