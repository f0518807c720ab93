//! The workspace's resolved packages as `cargo metadata` reports them, reduced to normal
//! dependencies, and the shortest chain from a member to a package it must not reach.
//!
//! `cargo metadata` rather than `cargo tree`: its JSON is a versioned format, and it resolves
//! every target platform at once, so a dependency declared only under
//! `[target.'cfg(…)'.dependencies]` is still seen. Its features are unified over the whole
//! workspace, so a chain it reports may exist only when another member is built alongside; that
//! errs towards reporting, never towards silence.
//!
//! It runs without `--offline`: the metadata needs the manifests of packages for every platform,
//! which a plain `cargo build` never downloads. With those in the cache and `Cargo.lock` up to
//! date it touches no network; `CARGO_NET_OFFLINE=true` forbids it anyway.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

pub struct DependencyGraph {
    pub workspace_root: PathBuf,
    /// Package id to package name, for every resolved package.
    names: HashMap<String, String>,
    /// Package id to its normal dependencies; dev and build dependencies are left out.
    normal_deps: HashMap<String, Vec<Edge>>,
    /// Workspace members by package name.
    members: HashMap<String, Member>,
}

pub struct Member {
    pub id: String,
    pub manifest_path: PathBuf,
}

impl Member {
    pub fn manifest_dir(&self) -> &Path {
        // A manifest path always names a file inside the package's directory.
        self.manifest_path
            .parent()
            .expect("a manifest path has a parent")
    }
}

/// A normal dependency; `platform` is set when it is declared only for some targets.
struct Edge {
    to: String,
    platform: Option<String>,
}

impl DependencyGraph {
    /// Runs `cargo metadata` on the workspace this crate belongs to.
    pub fn load() -> DependencyGraph {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        let output = Command::new(&cargo)
            .args(["metadata", "--format-version", "1", "--manifest-path"])
            .arg(&manifest)
            .output()
            .unwrap_or_else(|error| panic!("cannot run {cargo:?} metadata: {error}"));
        assert!(
            output.status.success(),
            "cargo metadata failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
        );
        let metadata: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|error| panic!("cargo metadata printed invalid JSON: {error}"));
        DependencyGraph::from_metadata(&metadata)
    }

    /// Reads the JSON of `cargo metadata --format-version 1`.
    pub fn from_metadata(metadata: &Value) -> DependencyGraph {
        let member_ids: Vec<&str> = array(metadata, "workspace_members")
            .iter()
            .map(|id| {
                id.as_str()
                    .expect("cargo metadata: a workspace member id is a string")
            })
            .collect();
        let mut names = HashMap::new();
        let mut members = HashMap::new();
        for package in array(metadata, "packages") {
            let (id, name) = (string(package, "id"), string(package, "name"));
            names.insert(id.to_owned(), name.to_owned());
            if member_ids.contains(&id) {
                let manifest_path = PathBuf::from(string(package, "manifest_path"));
                members.insert(
                    name.to_owned(),
                    Member {
                        id: id.to_owned(),
                        manifest_path,
                    },
                );
            }
        }
        let resolve = &metadata["resolve"];
        let normal_deps = array(resolve, "nodes")
            .iter()
            .map(|node| (string(node, "id").to_owned(), normal_edges(node)))
            .collect();
        DependencyGraph {
            workspace_root: PathBuf::from(string(metadata, "workspace_root")),
            names,
            normal_deps,
            members,
        }
    }

    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.get(name)
    }

    /// The shortest chain of normal dependencies from the package `from_id` to any package named
    /// `to`, written `a -> b -> c`; a hop declared only for some targets carries its `cfg`.
    pub fn normal_path(&self, from_id: &str, to: &str) -> Option<String> {
        let mut reached_through: HashMap<&str, (&str, &Edge)> = HashMap::new();
        let mut queue = VecDeque::from([from_id]);
        while let Some(id) = queue.pop_front() {
            if id != from_id && self.name(id) == to {
                return Some(self.render_path(from_id, id, &reached_through));
            }
            for edge in self.normal_deps.get(id).into_iter().flatten() {
                let next = edge.to.as_str();
                if next != from_id && !reached_through.contains_key(next) {
                    reached_through.insert(next, (id, edge));
                    queue.push_back(next);
                }
            }
        }
        None
    }

    fn render_path(
        &self,
        from_id: &str,
        to_id: &str,
        through: &HashMap<&str, (&str, &Edge)>,
    ) -> String {
        let mut hops = Vec::new();
        let mut id = to_id;
        while id != from_id {
            let (previous, edge) = through[id];
            hops.push(match &edge.platform {
                Some(platform) => format!("{} ({platform})", self.name(id)),
                None => self.name(id).to_owned(),
            });
            id = previous;
        }
        hops.push(self.name(from_id).to_owned());
        hops.reverse();
        hops.join(" -> ")
    }

    fn name<'a>(&'a self, id: &'a str) -> &'a str {
        self.names.get(id).map_or(id, String::as_str)
    }
}

/// The dependencies of one `resolve.nodes[]` entry that are normal on at least one platform:
/// `dep_kinds[].kind` is null for a normal dependency, "dev" or "build" otherwise.
fn normal_edges(node: &Value) -> Vec<Edge> {
    let mut edges = Vec::new();
    for dep in array(node, "deps") {
        let normal: Vec<&Value> = array(dep, "dep_kinds")
            .iter()
            .filter(|kind| kind["kind"].is_null())
            .collect();
        if normal.is_empty() {
            continue;
        }
        // Declared without a target anywhere means on every platform.
        let platforms: Option<Vec<&str>> =
            normal.iter().map(|kind| kind["target"].as_str()).collect();
        edges.push(Edge {
            to: string(dep, "pkg").to_owned(),
            platform: platforms.map(|platforms| platforms.join(" or ")),
        });
    }
    edges
}

fn string<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("cargo metadata: `{key}` is not a string"))
}

fn array<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value[key]
        .as_array()
        .unwrap_or_else(|| panic!("cargo metadata: `{key}` is not an array"))
}

#[test]
fn normal_path_follows_normal_dependencies_on_any_platform_and_names_every_hop() {
    let metadata = serde_json::json!({
        "workspace_root": "/w",
        "workspace_members": ["pure"],
        "packages": [
            { "id": "pure", "name": "pure", "manifest_path": "/w/crates/pure/Cargo.toml" },
            { "id": "helper", "name": "helper", "manifest_path": "/r/helper/Cargo.toml" },
            { "id": "tester", "name": "tester", "manifest_path": "/r/tester/Cargo.toml" },
            { "id": "builder", "name": "builder", "manifest_path": "/r/builder/Cargo.toml" },
            { "id": "tokio", "name": "tokio", "manifest_path": "/r/tokio/Cargo.toml" },
            { "id": "http", "name": "http", "manifest_path": "/r/http/Cargo.toml" },
        ],
        "resolve": { "nodes": [
            { "id": "pure", "deps": [
                { "pkg": "helper", "dep_kinds": [{ "kind": null, "target": null }] },
                { "pkg": "tester", "dep_kinds": [{ "kind": "dev", "target": null }] },
                { "pkg": "builder", "dep_kinds": [{ "kind": "build", "target": null }] },
            ] },
            { "id": "helper", "deps": [
                { "pkg": "tokio", "dep_kinds": [
                    { "kind": "dev", "target": null },
                    { "kind": null, "target": "cfg(unix)" },
                ] },
            ] },
            { "id": "tester", "deps": [
                { "pkg": "http", "dep_kinds": [{ "kind": null, "target": null }] },
            ] },
            { "id": "builder", "deps": [
                { "pkg": "http", "dep_kinds": [{ "kind": null, "target": null }] },
            ] },
            { "id": "tokio", "deps": [] },
            { "id": "http", "deps": [] },
        ] },
    });
    let graph = DependencyGraph::from_metadata(&metadata);
    let cases = [
        ("tokio", Some("pure -> helper -> tokio (cfg(unix))")),
        ("helper", Some("pure -> helper")),
        ("tester", None),
        ("builder", None),
        ("http", None),
        ("pure", None),
    ];
    for (to, expect) in cases {
        assert_eq!(
            graph.normal_path("pure", to).as_deref(),
            expect,
            "path to {to}"
        );
    }
    assert_eq!(
        graph.member("pure").map(|m| m.manifest_dir()),
        Some(Path::new("/w/crates/pure"))
    );
    assert!(graph.member("helper").is_none());
}
