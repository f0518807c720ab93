//! Decoding of files made at test time by sox, lame and espeak-ng: every WAV encoding, MP3, and
//! espeak's streaming WAV with placeholder sizes, all resampled to 8 kHz.

use std::path::PathBuf;
use std::process::Command;

use switchboard_media::decode::decode_to_8k;

use crate::{have_tool, zero_crossings};

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sbmedia-decode-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn run(program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .status()
        .expect("tool runs");
    assert!(status.success(), "{program} {args:?} failed");
}

/// A 1 s 440 Hz sine made by sox with the given output options.
fn sox_sine(name: &str, options: &[&str]) -> Vec<u8> {
    let path = scratch().join(name);
    let path_text = path.to_str().expect("utf-8 path");
    let mut args = vec!["-D", "-n"];
    args.extend_from_slice(options);
    args.extend_from_slice(&[path_text, "synth", "1", "sine", "440", "vol", "0.5"]);
    run("sox", &args);
    std::fs::read(&path).expect("sox output")
}

/// Checks one second of a 440 Hz tone at 8 kHz.
fn check_tone(name: &str, pcm: &[i16], length_slack: usize) {
    let length = pcm.len();
    assert!(
        length.abs_diff(8_000) <= length_slack,
        "{name}: {length} samples"
    );
    let middle = &pcm[800..7_200];
    let per_second = zero_crossings(middle) as f64 / 0.8;
    assert!(
        (860.0..900.0).contains(&per_second),
        "{name}: {per_second} crossings/s"
    );
    let peak = middle.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
    assert!((12_000..20_000).contains(&peak), "{name}: peak {peak}");
}

#[test]
fn wav_in_every_encoding_rate_and_channel_count() {
    if !have_tool("sox", "wav_in_every_encoding") {
        return;
    }
    let cases: [(&str, &[&str]); 7] = [
        (
            "s16-22k-stereo.wav",
            &["-r", "22050", "-c", "2", "-b", "16"],
        ),
        ("ulaw-8k.wav", &["-r", "8000", "-c", "1", "-e", "u-law"]),
        ("alaw-16k.wav", &["-r", "16000", "-c", "1", "-e", "a-law"]),
        ("s24-44k.wav", &["-r", "44100", "-c", "1", "-b", "24"]),
        ("s32-48k-3ch.wav", &["-r", "48000", "-c", "3", "-b", "32"]),
        (
            "f32-32k.wav",
            &["-r", "32000", "-c", "1", "-e", "floating-point", "-b", "32"],
        ),
        ("u8-11k.wav", &["-r", "11025", "-c", "1", "-b", "8"]),
    ];
    for (name, options) in cases {
        let bytes = sox_sine(name, options);
        let pcm = decode_to_8k(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        check_tone(name, &pcm, 2);
    }
}

#[test]
fn mp3_made_by_lame() {
    if !have_tool("sox", "mp3_made_by_lame") || !have_tool("lame", "mp3_made_by_lame") {
        return;
    }
    sox_sine("for-mp3.wav", &["-r", "44100", "-c", "1", "-b", "16"]);
    let dir = scratch();
    let (wav, mp3) = (dir.join("for-mp3.wav"), dir.join("tone.mp3"));
    run(
        "lame",
        &[
            "--quiet",
            "-b",
            "64",
            wav.to_str().expect("path"),
            mp3.to_str().expect("path"),
        ],
    );
    let bytes = std::fs::read(&mp3).expect("mp3");
    let pcm = decode_to_8k(&bytes).expect("mp3 decodes");
    check_tone("mp3", &pcm, 600);
}

#[test]
fn espeak_streaming_wav_with_placeholder_sizes() {
    if !have_tool("espeak-ng", "espeak_streaming_wav") {
        return;
    }
    let output = Command::new("espeak-ng")
        .args(["-v", "en-us", "--stdout", "testing one two three"])
        .output()
        .expect("espeak-ng runs");
    let bytes = output.stdout;
    assert_eq!(
        &bytes[40..44],
        &[0x00, 0xF0, 0xFF, 0x7F],
        "a placeholder data size"
    );
    let pcm = decode_to_8k(&bytes).expect("decodes to EOF");
    let expected = (bytes.len() - 44) / 2 * 8_000 / 22_050;
    assert!(
        pcm.len().abs_diff(expected) <= 2,
        "{} vs {expected}",
        pcm.len()
    );
}

#[test]
fn truncated_and_corrupt_files_do_not_panic() {
    if !have_tool("sox", "truncated_and_corrupt") {
        return;
    }
    let bytes = sox_sine("truncate-me.wav", &["-r", "8000", "-c", "1", "-b", "16"]);
    let half = decode_to_8k(&bytes[..bytes.len() / 2]).expect("the first half decodes");
    let expected = (bytes.len() / 2 - 44) / 2;
    assert!(
        half.len().abs_diff(expected) <= 1,
        "{} vs {expected}",
        half.len()
    );
    let mut corrupt = bytes.clone();
    for (i, byte) in corrupt.iter_mut().enumerate().skip(20).step_by(7) {
        *byte = (i * 31) as u8;
    }
    let _ = decode_to_8k(&corrupt);
    for cut in [0, 4, 12, 30, 43, 44, 45] {
        let _ = decode_to_8k(&bytes[..cut]);
    }
}
