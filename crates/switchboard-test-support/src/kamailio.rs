//! `kamailio` (Debian package) as a real SIP proxy in front of the engine.
//!
//! The proxy is a small stateful relay: it record-routes initial INVITEs, forwards initial
//! requests to the engine's SIP address (`$du`, so the Request-URI stays the caller's), and
//! routes in-dialog requests by their Route headers (`loose_route`). Every in-dialog request it
//! sees is logged with its source and Route header, so a test can prove that the engine's BYE
//! followed the route set instead of going straight to the caller's Contact.
//!
//! It runs in the foreground (`-DD -E`) with its own runtime directory, in a process group of
//! its own so that dropping it ends the main process and its children, and nothing else. When
//! kamailio is missing the suite prints a loud `SKIPPED` line; under `CI=true` it fails instead.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The prefix of the log line the proxy writes for every in-dialog request.
pub const IN_DIALOG_LOG: &str = "switchboard-proxy: in-dialog";

/// The kamailio binary, or `None` after printing why the proxy tests are skipped.
pub fn kamailio() -> Option<PathBuf> {
    let found = ["/usr/sbin", "/usr/local/sbin"]
        .iter()
        .map(|dir| Path::new(dir).join("kamailio"))
        .chain(std::env::var_os("PATH").into_iter().flat_map(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("kamailio"))
                .collect::<Vec<_>>()
        }))
        .find(|candidate| candidate.is_file());
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "kamailio is required under CI=true (Debian package kamailio)"
        );
        eprintln!(
            "!!!!! SKIPPED: kamailio not found (apt-get install kamailio); SIP proxy tests did not run !!!!!"
        );
    }
    found
}

/// A running kamailio relaying to one engine.
#[derive(Debug)]
pub struct Kamailio {
    child: Child,
    dir: PathBuf,
    pub addr: SocketAddr,
}

/// The proxy's configuration, with `@LISTEN@` and `@ENGINE@` to fill in. The xlog line starts
/// with [`IN_DIALOG_LOG`].
const CONFIG: &str = r#"#!KAMAILIO
debug=2
log_stderror=yes
children=1
disable_tcp=yes
auto_aliases=no
listen=udp:@LISTEN@

mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"

request_route {
    if (!mf_process_maxfwd_header("10")) {
        sl_send_reply("483", "Too Many Hops");
        exit;
    }
    if (has_totag()) {
        xlog("L_NOTICE", "switchboard-proxy: in-dialog $rm from $si:$sp route=$hdr(Route)\n");
        if (loose_route()) {
            t_relay();
            exit;
        }
        if (is_method("ACK") && t_check_trans()) {
            t_relay();
            exit;
        }
        sl_send_reply("404", "Not Here");
        exit;
    }
    if (is_method("CANCEL")) {
        if (t_check_trans()) {
            t_relay();
        }
        exit;
    }
    if (is_method("INVITE")) {
        record_route();
    }
    $du = "sip:@ENGINE@";
    if (!t_relay()) {
        sl_reply_error();
    }
    exit;
}
"#;

/// The configuration for a proxy on `listen` relaying initial requests to `engine`.
fn config(listen: SocketAddr, engine: SocketAddr) -> String {
    CONFIG
        .replace("@LISTEN@", &listen.to_string())
        .replace("@ENGINE@", &engine.to_string())
}

impl Kamailio {
    /// Starts kamailio on a free loopback UDP port relaying to `engine`, and returns once it
    /// holds that port.
    pub fn start(binary: &Path, engine: SocketAddr) -> Kamailio {
        let dir = crate::engine::scratch_dir("kamailio");
        let addr = SocketAddr::from(([127, 0, 0, 1], crate::sipp::free_udp_port()));
        let cfg = dir.join("kamailio.cfg");
        std::fs::write(&cfg, config(addr, engine)).expect("writing kamailio.cfg");
        Kamailio::spawn(binary, dir, addr, &cfg, &[])
    }

    /// Starts kamailio with the project's own deployment configuration
    /// (`deploy/kamailio/kamailio.cfg`: dispatcher over `nodes`, OPTIONS probing, failover on
    /// `503` or silence) on a free loopback UDP port.
    pub fn start_dispatcher(binary: &Path, nodes: &[SocketAddr]) -> Kamailio {
        let dir = crate::engine::scratch_dir("kamailio");
        let addr = SocketAddr::from(([127, 0, 0, 1], crate::sipp::free_udp_port()));
        let list = dir.join("dispatcher.list");
        let lines: String = nodes.iter().map(|node| format!("1 sip:{node}\n")).collect();
        std::fs::write(&list, lines).expect("writing dispatcher.list");
        let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kamailio/kamailio.cfg");
        let defines = [
            format!("LISTEN=udp:{addr}"),
            format!("DISPATCHER_LIST=\"{}\"", list.display()),
        ];
        Kamailio::spawn(binary, dir, addr, &cfg, &defines)
    }

    fn spawn(
        binary: &Path,
        dir: PathBuf,
        addr: SocketAddr,
        cfg: &Path,
        defines: &[String],
    ) -> Kamailio {
        let log = std::fs::File::create(dir.join("kamailio.log")).expect("creating the log");
        let mut command = Command::new(binary);
        command
            .arg("-DD")
            .arg("-E")
            .arg("-f")
            .arg(cfg)
            .arg("-Y")
            .arg(&dir)
            .args(["-m", "16", "-M", "4"]);
        for define in defines {
            command.arg("-A").arg(define);
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().expect("running kamailio");
        let mut proxy = Kamailio { child, dir, addr };
        proxy.wait_until_listening();
        proxy
    }

    /// Ready when its port is taken: binding it ourselves then fails.
    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::UdpSocket::bind(self.addr).is_ok() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("kamailio exited with {status}:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "kamailio did not bind {}:\n{}",
                self.addr,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything kamailio logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("kamailio.log")).unwrap_or_default()
    }

    /// The log lines of in-dialog requests (`BYE from 127.0.0.1:5060 route=<sip:…;lr>`).
    pub fn in_dialog_requests(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter_map(|line| line.split_once(IN_DIALOG_LOG))
            .map(|(_, rest)| rest.trim().to_owned())
            .collect()
    }

    fn signal_group(&self, signal: &str) {
        // The group id is the main process's id (`process_group(0)`), so this reaches
        // kamailio's children and nothing else.
        Command::new("kill")
            .args([signal, "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status()
            .ok();
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        self.signal_group("-TERM");
        let deadline = Instant::now() + Duration::from_secs(3);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            self.signal_group("-KILL");
            self.child.kill().ok();
            self.child.wait().ok();
        }
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_names_both_addresses_and_logs_in_dialog_requests() {
        let listen = SocketAddr::from(([127, 0, 0, 1], 5070));
        let engine = SocketAddr::from(([127, 0, 0, 1], 5080));
        let config = config(listen, engine);
        assert!(config.contains("listen=udp:127.0.0.1:5070\n"), "{config}");
        assert!(
            config.contains(r#"$du = "sip:127.0.0.1:5080";"#),
            "{config}"
        );
        assert!(config.contains(IN_DIALOG_LOG), "{config}");
        assert!(!config.contains('@'), "every placeholder filled: {config}");
    }
}
