//! The detector on real recordings, made at test time with espeak-ng (speech) and sox (tones,
//! silence, resampling to 8 kHz and a round trip through µ-law, as a call's audio arrives):
//! nothing large is committed, and each fixture is what its name says.
//!
//! When espeak-ng or sox is missing the tests print a loud SKIPPED line (and fail under
//! `CI=true`), like the rest of the workspace's tool-dependent tests.

use std::path::{Path, PathBuf};
use std::process::Command;

use switchboard_amd::{AnsweredBy, Detector, Mode, Settings, Verdict};

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "switchboard-amd-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether `program` runs; when it does not, SKIPPED (or a failure under CI).
fn available(program: &str) -> bool {
    let found = Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{program} is required under CI"
        );
        eprintln!("SKIPPED: {program} is not installed");
    }
    found
}

fn tools() -> bool {
    available("espeak-ng") && available("sox")
}

fn run(program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("{program}: {error}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

/// espeak-ng speaking `text` into `name` (its own rate, 22050 Hz).
fn speak(scratch: &Scratch, name: &str, text: &str) -> PathBuf {
    let path = scratch.path(name);
    run("espeak-ng", &["-w", path_str(&path), text]);
    path
}

/// sox's `synth` into `name`: `seconds` of `what` (`sine 1000`, or `sine 0` at zero volume for
/// silence).
fn synth(scratch: &Scratch, name: &str, seconds: f32, what: &[&str]) -> PathBuf {
    let path = scratch.path(name);
    let length = seconds.to_string();
    let mut args = vec!["-n", "-r", "8000", "-c", "1", "-b", "16", path_str(&path)];
    args.extend(["synth", &length]);
    args.extend(what);
    run("sox", &args);
    path
}

fn silence(scratch: &Scratch, name: &str, seconds: f32) -> PathBuf {
    let path = synth(scratch, name, seconds, &["sine", "0"]);
    let quiet = scratch.path(&format!("quiet-{name}"));
    run("sox", &[path_str(&path), path_str(&quiet), "vol", "0"]);
    quiet
}

/// The parts joined, at 8 kHz mono, through µ-law and back: the samples a call receives.
fn line_audio(scratch: &Scratch, parts: &[PathBuf]) -> Vec<i16> {
    let mut resampled = Vec::new();
    for (index, part) in parts.iter().enumerate() {
        let out = scratch.path(&format!("part{index}.wav"));
        run(
            "sox",
            &[
                path_str(part),
                "-r",
                "8000",
                "-c",
                "1",
                "-b",
                "16",
                path_str(&out),
            ],
        );
        resampled.push(out);
    }
    let joined = scratch.path("joined.wav");
    let mut args: Vec<&str> = resampled.iter().map(|p| path_str(p)).collect();
    args.push(path_str(&joined));
    run("sox", &args);
    let ulaw = scratch.path("line.ul");
    run(
        "sox",
        &[
            path_str(&joined),
            "-e",
            "u-law",
            "-t",
            "ul",
            path_str(&ulaw),
        ],
    );
    let raw = scratch.path("line.raw");
    run(
        "sox",
        &[
            "-r",
            "8000",
            "-c",
            "1",
            "-t",
            "ul",
            path_str(&ulaw),
            "-e",
            "signed-integer",
            "-b",
            "16",
            "-t",
            "raw",
            path_str(&raw),
        ],
    );
    let bytes = std::fs::read(&raw).expect("raw audio");
    bytes
        .chunks_exact(2)
        .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
        .collect()
}

/// The verdict on `samples`, fed 20 ms at a time as RTP would bring them; the timeout's if the
/// audio ends first.
fn detect(mode: Mode, samples: &[i16]) -> Verdict {
    let mut detector = Detector::new(Settings::new(mode));
    for packet in samples.chunks(160) {
        if let Some(verdict) = detector.push_samples(packet) {
            return verdict;
        }
    }
    detector.time_out()
}

#[test]
fn a_spoken_hello_is_a_human() {
    if !tools() {
        return;
    }
    let scratch = Scratch::new("human");
    let parts = [
        silence(&scratch, "lead.wav", 0.3),
        speak(&scratch, "hello.wav", "Hello?"),
        silence(&scratch, "tail.wav", 4.0),
    ];
    let audio = line_audio(&scratch, &parts);
    for mode in [Mode::Enable, Mode::DetectMessageEnd] {
        let verdict = detect(mode, &audio);
        assert_eq!(verdict.answered_by, AnsweredBy::Human, "{mode:?}");
        // The greeting (under a second) plus the 1.2 s speech-end threshold.
        assert!((1500..=3000).contains(&verdict.duration_ms), "{verdict:?}");
    }
}

const GREETING: &str = "Hello, you have reached the voicemail of John Smith. \
    I cannot take your call right now. Please leave a message after the tone.";

#[test]
fn a_greeting_and_its_beep_is_a_machine() {
    if !tools() {
        return;
    }
    let scratch = Scratch::new("beep");
    let parts = [
        silence(&scratch, "lead.wav", 0.3),
        speak(&scratch, "greeting.wav", GREETING),
        silence(&scratch, "gap.wav", 0.4),
        synth(&scratch, "beep.wav", 0.5, &["sine", "1000"]),
        silence(&scratch, "tail.wav", 3.0),
    ];
    let audio = line_audio(&scratch, &parts);
    let greeting_ms = (audio.len() / 8) as u32 - 3900;
    let verdict = detect(Mode::DetectMessageEnd, &audio);
    assert_eq!(verdict.answered_by, AnsweredBy::MachineEndBeep);
    // Decided by the beep: after the greeting, within its 500 ms.
    assert!(
        verdict.duration_ms > greeting_ms && verdict.duration_ms <= greeting_ms + 900,
        "{verdict:?} after a {greeting_ms} ms greeting"
    );
    // With Enable the speech threshold decides, long before the greeting ends.
    let verdict = detect(Mode::Enable, &audio);
    assert_eq!(verdict.answered_by, AnsweredBy::MachineStart);
    assert!((2400..=3200).contains(&verdict.duration_ms), "{verdict:?}");
}

#[test]
fn a_greeting_then_silence_is_machine_end_silence() {
    if !tools() {
        return;
    }
    let scratch = Scratch::new("silence");
    let parts = [
        speak(&scratch, "greeting.wav", GREETING),
        silence(&scratch, "tail.wav", 4.0),
    ];
    let audio = line_audio(&scratch, &parts);
    let verdict = detect(Mode::DetectMessageEnd, &audio);
    assert_eq!(verdict.answered_by, AnsweredBy::MachineEndSilence);
}

#[test]
fn a_fax_calling_tone_is_a_fax() {
    if !tools() {
        return;
    }
    let scratch = Scratch::new("fax");
    let mut parts = vec![silence(&scratch, "lead.wav", 0.5)];
    for burst in 0..3 {
        parts.push(synth(
            &scratch,
            &format!("cng{burst}.wav"),
            0.5,
            &["sine", "1100"],
        ));
        parts.push(silence(&scratch, &format!("pause{burst}.wav"), 3.0));
    }
    let audio = line_audio(&scratch, &parts);
    for mode in [Mode::Enable, Mode::DetectMessageEnd] {
        let verdict = detect(mode, &audio);
        assert_eq!(verdict.answered_by, AnsweredBy::Fax, "{mode:?}");
        assert!((800..=1100).contains(&verdict.duration_ms), "{verdict:?}");
    }
}

#[test]
fn silence_is_unknown_at_the_silence_timeout() {
    if !tools() {
        return;
    }
    let scratch = Scratch::new("unknown");
    let audio = line_audio(&scratch, &[silence(&scratch, "quiet.wav", 8.0)]);
    let verdict = detect(Mode::Enable, &audio);
    assert_eq!(
        verdict,
        Verdict {
            answered_by: AnsweredBy::Unknown,
            duration_ms: 5000
        }
    );
}
