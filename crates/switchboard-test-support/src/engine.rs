//! Spawning the real `switchboard` binary on port 0 with a fresh database, as a user would run it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running engine process and the credentials of its main account.
#[derive(Debug)]
pub struct Engine {
    binary: PathBuf,
    child: Option<Child>,
    dir: PathBuf,
    pub database_url: String,
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: String,
    extra_env: Vec<(String, String)>,
    /// Extra `serve` flags (`--sip` among them turns SIP on instead of `--sip off`).
    extra_args: Vec<String>,
    /// The SIP address the engine printed (`sip listening on udp …`), when SIP is on.
    pub sip_addr: Option<std::net::SocketAddr>,
    /// The metrics address the engine printed (`metrics listening on …`), with `--metrics`.
    pub metrics_addr: Option<std::net::SocketAddr>,
}

/// A fresh scratch directory under the system temp dir.
pub fn scratch_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "switchboard-{label}-{:016x}",
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).expect("creating a scratch directory");
    dir
}

impl Engine {
    /// Starts `binary serve` on 127.0.0.1:0 with a new SQLite database and a random account.
    pub fn start(binary: &Path) -> Engine {
        let dir = scratch_dir("engine");
        let database_url = format!("sqlite://{}", dir.join("switchboard.db").display());
        Engine::start_on(binary, dir, database_url, Vec::new())
    }

    /// Starts `binary serve` like `start`, with `args` added to `serve`.
    pub fn start_with_args(binary: &Path, args: &[&str]) -> Engine {
        let dir = scratch_dir("engine");
        let database_url = format!("sqlite://{}", dir.join("switchboard.db").display());
        let args = args.iter().map(|arg| (*arg).to_owned()).collect();
        Engine::launched(binary, dir, database_url, Vec::new(), args)
    }

    /// Starts the engine on a given database URL with extra environment variables.
    pub fn start_on(
        binary: &Path,
        dir: PathBuf,
        database_url: String,
        extra_env: Vec<(String, String)>,
    ) -> Engine {
        Engine::launched(binary, dir, database_url, extra_env, Vec::new())
    }

    /// Starts the engine with SIP on 127.0.0.1:0 and `args` added to `serve`.
    pub fn start_with_sip(binary: &Path, args: &[&str]) -> Engine {
        let dir = scratch_dir("engine");
        let database_url = format!("sqlite://{}", dir.join("switchboard.db").display());
        let mut extra_args = vec!["--sip".to_owned(), "127.0.0.1:0".to_owned()];
        extra_args.extend(args.iter().map(|arg| (*arg).to_owned()));
        Engine::launched(binary, dir, database_url, Vec::new(), extra_args)
    }

    /// Starts the engine on `database_url` with `extra_env` and `extra_args` (`--sip` among them
    /// turns SIP on).
    pub fn launched(
        binary: &Path,
        dir: PathBuf,
        database_url: String,
        extra_env: Vec<(String, String)>,
        extra_args: Vec<String>,
    ) -> Engine {
        let mut engine = Engine {
            binary: binary.to_owned(),
            child: None,
            dir,
            database_url,
            base_url: String::new(),
            account_sid: format!("AC{:032x}", rand::random::<u128>()),
            auth_token: format!("{:032x}", rand::random::<u128>()),
            extra_env,
            extra_args,
            sip_addr: None,
            metrics_addr: None,
        };
        engine.launch();
        engine
    }

    fn launch(&mut self) {
        let mut command = Command::new(&self.binary);
        command.args([
            "serve",
            "--http",
            "127.0.0.1:0",
            "--database",
            &self.database_url,
        ]);
        if !self.extra_args.iter().any(|arg| arg == "--sip") {
            command.args(["--sip", "off"]);
        }
        command
            .args(&self.extra_args)
            .current_dir(&self.dir)
            .env("SWITCHBOARD_ACCOUNT_SID", &self.account_sid)
            .env("SWITCHBOARD_AUTH_TOKEN", &self.auth_token)
            .env_remove("SWITCHBOARD_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in &self.extra_env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("spawning switchboard serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, receiver) = mpsc::channel();
        let wants_sip = self.extra_args.iter().any(|arg| arg == "--sip");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(address) = line.strip_prefix("http listening on ") {
                    sender.send(("http", address.to_owned())).ok();
                }
                if let Some(address) = line.strip_prefix("sip listening on udp ") {
                    sender.send(("sip", address.to_owned())).ok();
                }
                if let Some(address) = line.strip_prefix("metrics listening on ") {
                    sender.send(("metrics", address.to_owned())).ok();
                }
            }
        });
        // The metrics line, when there is one, comes before the HTTP line, so it is in by then.
        let mut wanted = if wants_sip { 2 } else { 1 };
        while wanted > 0 {
            let (kind, address) = receiver
                .recv_timeout(Duration::from_secs(30))
                .expect("engine printed its listening addresses");
            match kind {
                "metrics" => {
                    self.metrics_addr = Some(address.parse().expect("a metrics address"));
                    continue;
                }
                "http" => self.base_url = format!("http://{address}"),
                _ => self.sip_addr = Some(address.parse().expect("a SIP address")),
            }
            wanted -= 1;
        }
        self.child = Some(child);
    }

    /// `/2010-04-01/Accounts/{sid}/{rest}` on this engine.
    pub fn account_url(&self, rest: &str) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/{rest}",
            self.base_url, self.account_sid
        )
    }

    /// A request builder with the main account's Basic auth.
    pub fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .request(method, url)
            .basic_auth(&self.account_sid, Some(&self.auth_token))
    }

    /// SIGKILL: the process gets no chance to flush or clean up.
    pub fn kill_hard(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }

    /// SIGTERM, then waits for the process to exit; returns whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .ok();
        child.wait().map(|status| status.success()).unwrap_or(false)
    }

    /// Starts the engine again on the same database (after `kill_hard` or `terminate`).
    pub fn restart(&mut self) {
        self.kill_hard();
        self.launch();
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.kill_hard();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}
