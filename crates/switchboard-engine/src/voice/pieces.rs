//! A recording's audio as stored (`engine_tracks`): per channel, a list of `Piece`s. Silence
//! and sandbox tones are kept as lengths and captured audio as base64 samples, so an hour of a
//! quiet sandbox call costs a few bytes while a real call keeps what it heard. It also holds
//! what call recordings do with them: mixing two tracks, trimming silence by the media
//! recorder's talk threshold, and the sandbox's inbound track (the caller's talk inside the
//! recorded stretches).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use switchboard_media::session::is_talk;

use crate::voice::recording::{Clip, tone_sample};

const SAMPLE_RATE: u32 = 8000;

/// A stretch of a recording's audio as stored (`engine_tracks`): silence and tones are kept as
/// lengths, captured audio as its samples (8 kHz PCM16 little-endian, base64), so a long
/// recording of a quiet sandbox call costs a few bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Piece {
    Silence { ms: u64 },
    Tone { ms: u64 },
    Samples { pcm: String },
}

impl Piece {
    /// Captured samples as a piece.
    pub fn samples(pcm: &[i16]) -> Piece {
        let bytes: Vec<u8> = pcm.iter().flat_map(|sample| sample.to_le_bytes()).collect();
        Piece::Samples {
            pcm: BASE64.encode(bytes),
        }
    }

    /// Its length in samples.
    pub fn len(&self) -> usize {
        match self {
            Piece::Silence { ms } | Piece::Tone { ms } => {
                (ms * u64::from(SAMPLE_RATE) / 1000) as usize
            }
            Piece::Samples { pcm } => {
                let padding = pcm.bytes().rev().take_while(|byte| *byte == b'=').count();
                (pcm.len() / 4 * 3).saturating_sub(padding) / 2
            }
        }
    }

    /// Whether it holds no audio.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn render_into(&self, out: &mut Vec<i16>) {
        match self {
            Piece::Silence { .. } => out.resize(out.len() + self.len(), 0),
            Piece::Tone { .. } => out.extend((0..self.len()).map(tone_sample)),
            Piece::Samples { pcm } => {
                let bytes = BASE64.decode(pcm).unwrap_or_default();
                out.extend(
                    bytes
                        .chunks_exact(2)
                        .map(|pair| i16::from_le_bytes([pair[0], pair[1]])),
                );
            }
        }
    }
}

/// The samples of `pieces`, one after another.
pub fn render(pieces: &[Piece]) -> Vec<i16> {
    let mut out = Vec::with_capacity(pieces.iter().map(Piece::len).sum());
    for piece in pieces {
        piece.render_into(&mut out);
    }
    out
}

/// Samples per 20 ms frame, the unit silence is judged and trimmed in.
const FRAME: usize = 160;

fn is_silent(pieces: &[Piece]) -> bool {
    pieces
        .iter()
        .all(|piece| matches!(piece, Piece::Silence { .. }))
}

/// Captured samples as pieces: runs of digital silence (whole frames of zeros) are kept as
/// lengths, the rest as samples.
pub fn pieces_of(pcm: &[i16]) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut run_start = 0;
    let mut run_silent = None;
    for (index, chunk) in pcm.chunks(FRAME).enumerate() {
        let silent = chunk.iter().all(|sample| *sample == 0);
        if run_silent.is_some_and(|run| run != silent) {
            pieces.push(piece_of(
                &pcm[run_start..index * FRAME],
                run_silent == Some(true),
            ));
            run_start = index * FRAME;
        }
        run_silent = Some(silent);
    }
    if let Some(silent) = run_silent {
        pieces.push(piece_of(&pcm[run_start..], silent));
    }
    pieces
}

fn piece_of(pcm: &[i16], silent: bool) -> Piece {
    if silent {
        Piece::Silence {
            ms: (pcm.len() / 8) as u64,
        }
    } else {
        Piece::samples(pcm)
    }
}

/// Two tracks of the same call time as one (their samples added, saturating).
pub fn mix(inbound: &[Piece], outbound: &[Piece]) -> Vec<Piece> {
    if is_silent(outbound) {
        return inbound.to_vec();
    }
    if is_silent(inbound) {
        return outbound.to_vec();
    }
    let (mut mixed, other) = (render(inbound), render(outbound));
    mixed.resize(mixed.len().max(other.len()), 0);
    for (sample, added) in mixed.iter_mut().zip(other) {
        *sample = sample.saturating_add(added);
    }
    pieces_of(&mixed)
}

/// Cuts the silence before the first and after the last frame of talk (RMS above the media
/// recorder's threshold) in any channel, the same amount from each; a recording without talk
/// becomes empty.
pub fn trim(channels: &mut [Vec<Piece>]) {
    let total = channels
        .first()
        .map_or(0, |pieces| pieces.iter().map(Piece::len).sum());
    let lead = channels
        .iter()
        .map(|c| silence_at(c, false))
        .min()
        .unwrap_or(0);
    let trail = channels
        .iter()
        .map(|c| silence_at(c, true))
        .min()
        .unwrap_or(0);
    for channel in channels.iter_mut() {
        let keep_until = total.saturating_sub(trail).max(lead);
        *channel = cut(channel, lead, keep_until);
    }
}

/// Samples of silence at the start (or the end) of `pieces`, in whole frames.
fn silence_at(pieces: &[Piece], from_end: bool) -> usize {
    let mut silent = 0;
    let ordered: Vec<&Piece> = if from_end {
        pieces.iter().rev().collect()
    } else {
        pieces.iter().collect()
    };
    for piece in ordered {
        match piece {
            Piece::Silence { .. } => silent += piece.len(),
            Piece::Tone { .. } => return silent,
            Piece::Samples { .. } => {
                let pcm = render(std::slice::from_ref(piece));
                let frames: Vec<&[i16]> = pcm.chunks(FRAME).collect();
                let talk = if from_end {
                    frames
                        .iter()
                        .rposition(|frame| is_talk(frame))
                        .map(|last| pcm.len() - ((last + 1) * FRAME).min(pcm.len()))
                } else {
                    frames
                        .iter()
                        .position(|frame| is_talk(frame))
                        .map(|first| first * FRAME)
                };
                match talk {
                    Some(quiet) => return silent + quiet,
                    None => silent += pcm.len(),
                }
            }
        }
    }
    silent
}

/// The samples `[from, until)` of `pieces`.
fn cut(pieces: &[Piece], from: usize, until: usize) -> Vec<Piece> {
    let mut kept = Vec::new();
    let mut at = 0;
    for piece in pieces {
        let (start, end) = (at, at + piece.len());
        at = end;
        let (first, last) = (start.max(from), end.min(until));
        if last <= first {
            continue;
        }
        if (first, last) == (start, end) {
            kept.push(piece.clone());
            continue;
        }
        let ms = ((last - first) / 8) as u64;
        kept.push(match piece {
            Piece::Silence { .. } => Piece::Silence { ms },
            Piece::Tone { .. } => Piece::Tone { ms },
            Piece::Samples { .. } => {
                let pcm = render(std::slice::from_ref(piece));
                Piece::samples(&pcm[first - start..last - start])
            }
        });
    }
    kept
}

/// The sandbox's inbound track over `spans`: the caller's talk where it falls inside a kept
/// stretch, silence elsewhere and in stretches paused with `silence`.
pub(crate) fn sandbox_track(spans: &[(u64, u64, bool)], talk: &[(u64, Clip)]) -> Vec<Piece> {
    let mut pieces = Vec::new();
    for &(from, until, silent) in spans {
        let mut at = from;
        if !silent {
            for (clip_from, clip) in talk {
                let start = (*clip_from).max(at);
                let end = (clip_from + clip.ms).min(until);
                if end <= start {
                    continue;
                }
                push_silence(&mut pieces, start - at);
                pieces.push(clip_piece(clip, *clip_from, start, end));
                at = end;
            }
        }
        push_silence(&mut pieces, until.saturating_sub(at));
    }
    pieces
}

fn push_silence(pieces: &mut Vec<Piece>, ms: u64) {
    if ms > 0 {
        pieces.push(Piece::Silence { ms });
    }
}

/// The part `[start, end)` of `clip`, which began at `clip_from`.
fn clip_piece(clip: &Clip, clip_from: u64, start: u64, end: u64) -> Piece {
    match &clip.pcm {
        None => Piece::Tone { ms: end - start },
        Some(pcm) => {
            let first = ((start - clip_from) * 8) as usize;
            let last = (((end - clip_from) * 8) as usize).min(pcm.len());
            Piece::samples(&pcm[first.min(last)..last])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::voice::recording::clips_pcm;

    fn tone_ms(ms: u64) -> Piece {
        Piece::Tone { ms }
    }

    fn silence(ms: u64) -> Piece {
        Piece::Silence { ms }
    }

    #[test]
    fn pieces_keep_silence_as_lengths_and_audio_as_samples() {
        let mut pcm = vec![0i16; 320];
        pcm.extend(clips_pcm(&[Clip::tone(1)], 100));
        pcm.extend(vec![0i16; 170]);
        let pieces = pieces_of(&pcm);
        assert!(matches!(pieces[0], Piece::Silence { ms: 40 }), "{pieces:?}");
        assert!(matches!(pieces[1], Piece::Samples { .. }));
        assert_eq!(
            pieces.iter().map(Piece::len).sum::<usize>(),
            pcm.len() / 8 * 8
        );
        assert_eq!(render(&pieces)[320..1120], pcm[320..1120]);
        assert_eq!(Piece::samples(&[1, 2, 3]).len(), 3);
    }

    #[test]
    fn trim_cuts_silence_around_talk_in_every_channel_alike() {
        let check = |channels: Vec<Vec<Piece>>, expect_ms: &[u64]| {
            let mut channels = channels;
            trim(&mut channels);
            let lengths: Vec<u64> = channels
                .iter()
                .map(|c| c.iter().map(Piece::len).sum::<usize>() as u64 / 8)
                .collect();
            assert_eq!(lengths, expect_ms, "{channels:?}");
        };
        check(
            vec![vec![silence(500), tone_ms(1000), silence(300)]],
            &[1000],
        );
        check(vec![vec![silence(800)]], &[0]);
        check(
            vec![
                vec![silence(500), tone_ms(1000), silence(500)],
                vec![tone_ms(200), silence(1800)],
            ],
            &[1500, 1500],
        );
        let speech = Piece::samples(&[vec![0i16; 480], clips_pcm(&[Clip::tone(1)], 60)].concat());
        check(vec![vec![silence(100), speech]], &[60]);
    }

    #[test]
    fn mixing_a_silent_track_keeps_the_other() {
        let talk = vec![silence(100), tone_ms(200)];
        assert_eq!(mix(&talk, &[silence(300)]), talk);
        assert_eq!(mix(&[silence(300)], &talk), talk);
        let both = mix(&talk, &talk);
        let mixed = render(&both);
        let single = render(&talk);
        assert_eq!(mixed.len(), single.len());
        assert_eq!(mixed[1000], single[1000].saturating_mul(2));
    }

    fn lengths(pieces: &[Piece]) -> Vec<(&'static str, usize)> {
        pieces
            .iter()
            .map(|piece| {
                let kind = match piece {
                    Piece::Silence { .. } => "silence",
                    Piece::Tone { .. } => "tone",
                    Piece::Samples { .. } => "samples",
                };
                (kind, piece.len() / 8)
            })
            .collect()
    }

    #[test]
    fn the_sandbox_track_is_the_talk_inside_the_kept_stretches() {
        let talk = vec![
            (1_000, Clip::tone(2)),
            (3_000, Clip::samples(vec![100; 8_000])),
        ];
        // Recorded 0..2500, paused (skip) 2500..3500, recorded 3500..5000.
        let skip = sandbox_track(&[(0, 2_500, false), (3_500, 5_000, false)], &talk);
        assert_eq!(
            lengths(&skip),
            [
                ("silence", 1000),
                ("tone", 1500),
                ("samples", 500),
                ("silence", 1000)
            ]
        );
        // Paused with silence: the talk in the pause is not kept, the time is.
        let silence = sandbox_track(
            &[
                (0, 2_500, false),
                (2_500, 3_500, true),
                (3_500, 5_000, false),
            ],
            &talk,
        );
        assert_eq!(
            lengths(&silence),
            [
                ("silence", 1000),
                ("tone", 1500),
                ("silence", 1000),
                ("samples", 500),
                ("silence", 1000)
            ]
        );
        assert!(sandbox_track(&[], &talk).is_empty());
    }
}
