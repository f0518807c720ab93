//! MP3 encoding of recordings (`Recordings/{Sid}.mp3`) by the `lame` program, run as a separate
//! process: LAME is LGPL, and a process keeps it out of the engine's binary (as espeak-ng is
//! for `tts`). Raw 8 kHz PCM16 little-endian goes in on stdin, MP3 comes out on stdout; stdin is
//! written by a task of its own so a full stdout pipe cannot deadlock the two. The program runs
//! under a timeout and is killed when it passes.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The encoder program, looked up on `PATH`.
pub const PROGRAM: &str = "lame";

/// Longest an encoding may take: about an hour of 8 kHz audio encodes in under a minute.
const TIMEOUT: Duration = Duration::from_secs(120);

/// Why no MP3 came out.
#[derive(Debug, thiserror::Error)]
pub enum Mp3Error {
    /// `lame` is not installed (not found on `PATH`).
    #[error("the MP3 encoder `lame` is not installed on this engine (Debian: apt install lame)")]
    NotInstalled,
    /// It ran and failed, timed out or wrote nothing.
    #[error("the MP3 encoder `lame` failed: {0}")]
    Failed(String),
}

/// Encodes interleaved 8 kHz PCM of `channels` (1 or 2) channels as a constant 32 kbit/s MP3
/// (16 kbit/s per channel is what speech at 8 kHz needs; LAME resamples nothing at this rate).
pub async fn encode(pcm: &[i16], channels: u16) -> Result<Vec<u8>, Mp3Error> {
    let mode = if channels >= 2 { "j" } else { "m" };
    let mut child = tokio::process::Command::new(PROGRAM)
        .args(["--quiet", "-r", "-s", "8", "--bitwidth", "16", "--signed"])
        .args(["--little-endian", "-m", mode, "-b", "32", "-", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| match error.kind() {
            std::io::ErrorKind::NotFound => Mp3Error::NotInstalled,
            _ => Mp3Error::Failed(error.to_string()),
        })?;
    let bytes: Vec<u8> = pcm.iter().flat_map(|sample| sample.to_le_bytes()).collect();
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| Mp3Error::Failed("no stdin".into()))?;
    let writer = tokio::spawn(async move {
        // A write error means the program went away; its exit status says why.
        let _ = stdin.write_all(&bytes).await;
    });
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| Mp3Error::Failed("no stdout".into()))?;
    let mut mp3 = Vec::new();
    let read = tokio::time::timeout(TIMEOUT, stdout.read_to_end(&mut mp3)).await;
    writer.abort();
    match read {
        Err(_) => return Err(Mp3Error::Failed("timed out".into())),
        Ok(Err(error)) => return Err(Mp3Error::Failed(error.to_string())),
        Ok(Ok(_)) => {}
    }
    let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .map_err(|_| Mp3Error::Failed("did not exit".into()))?
        .map_err(|error| Mp3Error::Failed(error.to_string()))?;
    if !status.success() || mp3.is_empty() {
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr).await;
        }
        return Err(Mp3Error::Failed(format!("{status}: {}", stderr.trim())));
    }
    Ok(mp3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_of_tone_becomes_a_second_of_mp3() {
        let tone: Vec<i16> = (0..8000)
            .map(|i| {
                ((f64::from(i) * 440.0 * std::f64::consts::TAU / 8000.0).sin() * 8000.0) as i16
            })
            .collect();
        let mp3 = match encode(&tone, 1).await {
            Err(Mp3Error::NotInstalled) => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "lame is missing under CI"
                );
                eprintln!("!!!!! SKIPPED mp3 test: lame is not installed !!!!!");
                return;
            }
            other => other.expect("encodes"),
        };
        // An MPEG audio frame header: 11 set sync bits.
        assert_eq!(mp3[0], 0xFF);
        assert_eq!(mp3[1] & 0xE0, 0xE0);
        let decoded = crate::decode::decode_to_8k(&mp3).expect("decodes");
        // MP3 adds the encoder's delay and pads the last frame (576 samples at 8 kHz): a little
        // longer, never shorter.
        let ms = decoded.len() / 8;
        assert!((1000..1300).contains(&ms), "{ms} ms");
    }
}
