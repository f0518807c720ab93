//! `<Gather>` (§7.5): collect DTMF or speech while nested `<Say>`/`<Play>`/`<Pause>` run.
//!
//! Phases: the prompts play in order (input interrupts them when `bargeIn`, and is ignored
//! otherwise), then the `timeout` clock runs; each digit restarts it. Collection ends on
//! `numDigits`, the finish key, a speech result or the timeout. With input, `action` (default:
//! the document URL) is requested and replaces the document; without, the next verb runs,
//! unless `actionOnEmptyResult`. A finish key with no digits is no input (§10 question 14).

use switchboard_twiml::Method;
use switchboard_twiml::verb::{Gather, GatherInput, GatherPrompt};

use crate::action::{self, Action, FetchPurpose, GatherResult};
use crate::call::{Call, Step};
use crate::params::{Params, push};
use crate::verb::media::{PlayPlan, SECOND_MS, say_action};

/// How long past `maxSpeechTime` a gather whose caller started speaking waits for the result:
/// the end of speech (`speechTimeout`) and its recognition.
const SPEECH_GRACE_MS: u64 = 10_000;

/// What the gather is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// A nested `<Say>`/`<Play>` plays.
    Playing,
    /// A nested `<Pause>` runs.
    Pausing { until_ms: u64 },
    /// Prompts are done (or interrupted): waiting for input.
    Listening { deadline_ms: u64 },
}

/// A running `<Gather>`.
#[derive(Debug)]
pub(crate) struct GatherRun {
    action: Option<String>,
    method: Method,
    action_on_empty_result: bool,
    dtmf: bool,
    speech: bool,
    timeout_ms: u64,
    num_digits: Option<u32>,
    finish_on_key: Option<char>,
    barge_in: bool,
    /// `maxSpeechTime`, in milliseconds.
    max_speech_ms: u64,
    prompts: std::vec::IntoIter<GatherPrompt>,
    phase: Phase,
    digits: String,
    finished_on_key: Option<char>,
    result: Option<(String, f64)>,
}

impl GatherRun {
    pub(crate) fn deadline(&self) -> Option<u64> {
        match self.phase {
            Phase::Playing => None,
            Phase::Pausing { until_ms } => Some(until_ms),
            Phase::Listening { deadline_ms } => Some(deadline_ms),
        }
    }

    pub(crate) fn is_playing(&self) -> bool {
        self.phase == Phase::Playing
    }

    fn has_input(&self) -> bool {
        !self.digits.is_empty() || self.result.is_some()
    }

    fn listen(&mut self, now_ms: u64) {
        self.phase = Phase::Listening {
            deadline_ms: now_ms.saturating_add(self.timeout_ms),
        };
    }
}

fn gather_action(gather: &Gather, partial: Option<(String, Method)>) -> action::Gather {
    action::Gather {
        input: gather.input.clone(),
        timeout_s: gather.timeout,
        num_digits: gather.num_digits,
        finish_on_key: gather.finish_on_key,
        speech_timeout: gather.speech_timeout,
        max_speech_time_s: gather.max_speech_time,
        language: gather.language.clone(),
        hints: gather.hints.clone(),
        speech_model: gather.speech_model.clone(),
        profanity_filter: gather.profanity_filter,
        barge_in: gather.barge_in,
        partial_result_callback: partial,
    }
}

impl Call {
    pub(crate) fn start_gather(&mut self, gather: Gather) {
        self.ensure_answered();
        let partial = self
            .resolve_callback(gather.partial_result_callback.as_deref())
            .map(|url| (url, gather.partial_result_callback_method));
        self.emit(Action::Gather(gather_action(&gather, partial)));
        let run = GatherRun {
            dtmf: gather.input.contains(&GatherInput::Dtmf),
            speech: gather.input.contains(&GatherInput::Speech),
            timeout_ms: u64::from(gather.timeout).saturating_mul(SECOND_MS),
            num_digits: gather.num_digits,
            finish_on_key: gather.finish_on_key,
            barge_in: gather.barge_in,
            max_speech_ms: u64::from(gather.max_speech_time).saturating_mul(SECOND_MS),
            action_on_empty_result: gather.action_on_empty_result,
            method: gather.method,
            action: gather.action,
            prompts: gather.prompts.into_iter(),
            phase: Phase::Playing,
            digits: String::new(),
            finished_on_key: None,
            result: None,
        };
        self.next_prompt(Box::new(run));
    }

    /// Starts the next nested prompt, or listens when there is none left.
    fn next_prompt(&mut self, mut run: Box<GatherRun>) {
        loop {
            match run.prompts.next() {
                Some(GatherPrompt::Say(say)) => {
                    self.emit(say_action(&say, self.program.source()));
                    run.phase = Phase::Playing;
                }
                Some(GatherPrompt::Play(play)) => match self.plan_play(&play) {
                    PlayPlan::Play(play) => {
                        self.emit(Action::Play(play));
                        run.phase = Phase::Playing;
                    }
                    PlayPlan::Nothing => continue,
                    PlayPlan::BadUrl(error) => {
                        let params = self.params();
                        return self.execution_failure(error, params);
                    }
                },
                Some(GatherPrompt::Pause(pause)) => {
                    let until_ms = self.pause_until(&pause);
                    run.phase = Phase::Pausing { until_ms };
                }
                None => run.listen(self.now_ms),
            }
            self.step = Step::Gather(run);
            return;
        }
    }

    /// Stops the prompts for barge-in; `false` when input must be ignored instead.
    fn accept_input(&mut self, run: &mut GatherRun) -> bool {
        if matches!(run.phase, Phase::Listening { .. }) {
            return true;
        }
        if !run.barge_in {
            return false;
        }
        if run.phase == Phase::Playing {
            self.emit(Action::StopMedia);
        }
        run.prompts = Vec::new().into_iter();
        run.listen(self.now_ms);
        true
    }

    pub(crate) fn gather_digits(&mut self, mut run: Box<GatherRun>, digits: &str) {
        let keys = digits
            .chars()
            .filter(|key| key.is_ascii_digit() || matches!(key, '*' | '#'));
        for key in keys {
            if !run.dtmf || !self.accept_input(&mut run) {
                break;
            }
            if Some(key) == run.finish_on_key {
                run.finished_on_key = Some(key);
                return self.finish_gather(run);
            }
            run.digits.push(key);
            let count = run.digits.chars().count();
            if run
                .num_digits
                .is_some_and(|wanted| count >= wanted as usize)
            {
                return self.finish_gather(run);
            }
            run.listen(self.now_ms);
        }
        self.step = Step::Gather(run);
    }

    pub(crate) fn gather_speech(
        &mut self,
        mut run: Box<GatherRun>,
        result: String,
        confidence: f64,
    ) {
        if !run.speech || !self.accept_input(&mut run) {
            self.step = Step::Gather(run);
            return;
        }
        let confidence = if confidence.is_finite() {
            confidence.clamp(0.0, 1.0)
        } else {
            0.0
        };
        run.result = Some((result, confidence));
        self.finish_gather(run);
    }

    /// A real caller started speaking: prompts stop (with `bargeIn`), and the result may take
    /// up to `maxSpeechTime` plus the time to end and recognise it (`SPEECH_GRACE_MS`).
    pub(crate) fn gather_speech_started(&mut self, mut run: Box<GatherRun>) {
        if run.speech && self.accept_input(&mut run) {
            let wait = run.max_speech_ms.saturating_add(SPEECH_GRACE_MS);
            run.phase = Phase::Listening {
                deadline_ms: self.now_ms.saturating_add(wait),
            };
        }
        self.step = Step::Gather(run);
    }

    /// The speech was not words: listening again, the `timeout` running from now.
    pub(crate) fn gather_speech_unrecognised(&mut self, mut run: Box<GatherRun>) {
        if matches!(run.phase, Phase::Listening { .. }) {
            run.listen(self.now_ms);
        }
        self.step = Step::Gather(run);
    }

    pub(crate) fn gather_playback_finished(&mut self, run: Box<GatherRun>) {
        if run.phase == Phase::Playing {
            self.next_prompt(run);
        } else {
            self.step = Step::Gather(run);
        }
    }

    pub(crate) fn gather_timer(&mut self, run: Box<GatherRun>) {
        match run.phase {
            Phase::Pausing { until_ms } if self.now_ms >= until_ms => self.next_prompt(run),
            Phase::Listening { deadline_ms } if self.now_ms >= deadline_ms => {
                self.finish_gather(run)
            }
            _ => self.step = Step::Gather(run),
        }
    }

    /// Decision 14 [I]: with partial input the action is still requested, its answer unused.
    pub(crate) fn gather_caller_hung_up(&mut self, run: Box<GatherRun>) {
        if run.has_input() {
            let params = result_params(&run);
            let action = run.action.as_deref();
            let purpose = FetchPurpose::GatherAction;
            self.request_action_after_hangup(action, run.method, params, purpose, "Gather");
        }
        self.hang_up(crate::action::HangupBy::Caller);
    }

    fn finish_gather(&mut self, run: Box<GatherRun>) {
        self.emit(Action::GatherResult(GatherResult {
            digits: run.digits.clone(),
            speech: run.result.as_ref().map(|(speech, _)| speech.clone()),
            confidence: run.result.as_ref().map(|(_, confidence)| *confidence),
            finished_on_key: run.finished_on_key,
        }));
        if !run.has_input() && !run.action_on_empty_result {
            self.step = Step::Idle;
            return;
        }
        let mut params = self.params();
        params.extend(result_params(&run));
        let purpose = FetchPurpose::GatherAction;
        self.request_action(run.action.as_deref(), run.method, params, purpose, "Gather");
    }
}

/// §3.4: `SpeechResult`/`Confidence` for speech, else `Digits` (without the finish key) and,
/// when DTMF was collected, `FinishedOnKey` (empty unless a finish key ended input).
fn result_params(run: &GatherRun) -> Params {
    let mut params = Params::new();
    match &run.result {
        Some((speech, confidence)) => {
            push(&mut params, "SpeechResult", speech.clone());
            push(&mut params, "Confidence", confidence.to_string());
        }
        None => {
            push(&mut params, "Digits", run.digits.clone());
            if run.dtmf {
                let key = run.finished_on_key.map(String::from).unwrap_or_default();
                push(&mut params, "FinishedOnKey", key);
            }
        }
    }
    params
}
