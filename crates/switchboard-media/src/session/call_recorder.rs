//! A recording of the whole call (REST `Calls/{Sid}/Recordings`, `Record=true`), beside the
//! `<Record>` verb's recorder: it keeps both directions, what the peer sends (inbound: the
//! receive buffer's playout, loss filled with silence) and what the session sends (outbound:
//! every 20 ms frame, prompts, bridged audio and silence alike), and it can be paused.
//!
//! The two tracks are kept apart, not mixed here: the engine chooses mono or dual channels and
//! which track to keep. Inbound audio arrives in packet time and outbound audio in slot time,
//! so they are aligned by position; the shorter is padded with silence at the end. Pausing
//! with `skip` drops what arrives until resumed; with `silence` it keeps the time, as zeros.

/// What a finished call recording captured, 8 kHz each.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CallAudio {
    /// What the peer sent.
    pub inbound: Vec<i16>,
    /// What this session sent.
    pub outbound: Vec<i16>,
}

/// How a paused call recording treats the time it is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pause {
    /// Nothing of the paused time is kept.
    Skip,
    /// The paused time is kept as silence.
    Silence,
}

/// One call recording in progress.
#[derive(Debug)]
pub(crate) struct CallRecorder {
    pub(crate) id: u64,
    paused: Option<Pause>,
    audio: CallAudio,
}

impl CallRecorder {
    pub(crate) fn new(id: u64) -> Self {
        CallRecorder {
            id,
            paused: None,
            audio: CallAudio::default(),
        }
    }

    pub(crate) fn pause(&mut self, pause: Option<Pause>) {
        self.paused = pause;
    }

    /// Received audio.
    pub(crate) fn push_inbound(&mut self, samples: &[i16]) {
        push(
            &mut self.audio.inbound,
            self.paused,
            samples.len(),
            Some(samples),
        );
    }

    /// `count` samples of loss in the received audio.
    pub(crate) fn push_inbound_silence(&mut self, count: usize) {
        push(&mut self.audio.inbound, self.paused, count, None);
    }

    /// One frame this session sent.
    pub(crate) fn push_outbound(&mut self, samples: &[i16]) {
        push(
            &mut self.audio.outbound,
            self.paused,
            samples.len(),
            Some(samples),
        );
    }

    /// The captured tracks, padded to the same length.
    pub(crate) fn finish(mut self) -> CallAudio {
        let length = self.audio.inbound.len().max(self.audio.outbound.len());
        self.audio.inbound.resize(length, 0);
        self.audio.outbound.resize(length, 0);
        self.audio
    }
}

/// Appends `samples` (`None`: `count` of silence) unless paused.
fn push(track: &mut Vec<i16>, paused: Option<Pause>, count: usize, samples: Option<&[i16]>) {
    match (paused, samples) {
        (Some(Pause::Skip), _) => {}
        (None, Some(samples)) => track.extend_from_slice(samples),
        _ => track.resize(track.len() + count, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_skip_or_keep_the_time_and_tracks_are_padded() {
        let mut recorder = CallRecorder::new(1);
        recorder.push_inbound(&[5; 160]);
        recorder.push_outbound(&[7; 160]);
        recorder.pause(Some(Pause::Skip));
        recorder.push_inbound(&[5; 160]);
        recorder.push_outbound(&[7; 160]);
        recorder.pause(Some(Pause::Silence));
        recorder.push_inbound(&[5; 160]);
        recorder.pause(None);
        recorder.push_inbound_silence(80);
        recorder.push_outbound(&[7; 160]);
        let audio = recorder.finish();
        assert_eq!(audio.inbound.len(), 400);
        assert_eq!(audio.outbound.len(), 400);
        assert!(audio.inbound[..160].iter().all(|s| *s == 5));
        assert!(audio.inbound[160..].iter().all(|s| *s == 0));
        assert!(audio.outbound[..160].iter().all(|s| *s == 7));
        assert!(audio.outbound[160..320].iter().all(|s| *s == 7));
        assert!(audio.outbound[320..].iter().all(|s| *s == 0));
    }
}
