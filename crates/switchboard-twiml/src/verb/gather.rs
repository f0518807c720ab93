//! `<Gather>` (§7.5): collect DTMF or speech while nested `<Say>`/`<Play>`/`<Pause>` run.

use switchboard_core::error_code::{
    GATHER_AUTO_SPEECH_TIMEOUT_NOT_ALLOWED, GATHER_INVALID_BARGE_IN, GATHER_INVALID_FINISH_ON_KEY,
    GATHER_INVALID_FINISH_ON_KEY_CHARACTER, GATHER_INVALID_HINTS, GATHER_INVALID_INPUT,
    GATHER_INVALID_LANGUAGE, GATHER_INVALID_MAX_SPEECH_TIME, GATHER_INVALID_METHOD,
    GATHER_INVALID_NESTED_VERB, GATHER_INVALID_NUM_DIGITS, GATHER_INVALID_PARTIAL_RESULT_CALLBACK,
    GATHER_INVALID_PROFANITY_FILTER, GATHER_INVALID_SPEECH_MODEL, GATHER_INVALID_SPEECH_TIMEOUT,
    GATHER_INVALID_TIMEOUT,
};

use crate::attributes::{Attributes, WARN};
use crate::keyword::{Method, SpaceList, keyword};
use crate::noun::{plausible_url, valid_language};
use crate::validate::{VOICE_VERBS, Validator};
use crate::verb::{Pause, Play, Say, pause, play, say};
use crate::writer::{WriteXml, XmlWriter};

keyword! {
    /// A kind of input `<Gather input>` accepts.
    pub enum GatherInput { Dtmf = "dtmf", Speech = "speech" }
}

/// `speechTimeout`: seconds of silence, or `auto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpeechTimeout {
    Auto,
    Seconds(u32),
}

/// A prompt nested in `<Gather>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GatherPrompt {
    Say(Say),
    Play(Play),
    Pause(Pause),
}

/// Collect input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gather {
    /// `None` = the current document's URL.
    pub action: Option<String>,
    pub method: Method,
    /// Default `[Dtmf]`.
    pub input: Vec<GatherInput>,
    /// Seconds, default 5.
    pub timeout: u32,
    /// `None` = unlimited.
    pub num_digits: Option<u32>,
    /// Default `#`; `None` when written as the empty string (disabled).
    pub finish_on_key: Option<char>,
    /// Default: `Seconds(timeout)`.
    pub speech_timeout: SpeechTimeout,
    /// Seconds, default 60.
    pub max_speech_time: u32,
    /// Default `en-US`.
    pub language: String,
    /// Comma-separated phrases, trimmed.
    pub hints: Vec<String>,
    /// Default `default`.
    pub speech_model: String,
    pub enhanced: bool,
    /// Default true.
    pub profanity_filter: bool,
    pub partial_result_callback: Option<String>,
    pub partial_result_callback_method: Method,
    pub action_on_empty_result: bool,
    /// Default true.
    pub barge_in: bool,
    pub debug: bool,
    pub prompts: Vec<GatherPrompt>,
}

const SPEECH_MODELS: &[&str] = &[
    "default",
    "numbers_and_commands",
    "phone_call",
    "experimental_conversations",
    "experimental_utterances",
];
const SPEECH_MODEL_PREFIXES: &[&str] = &["googlev2_", "deepgram_"];
/// Models that do not support `speechTimeout="auto"` [I].
const NO_AUTO_MODELS: &[&str] = &["experimental_utterances"];

pub(crate) fn parse(validator: &mut Validator<'_, '_>, index: usize) -> Gather {
    let element = validator.element(index);
    let mut attributes = validator.attributes(element);
    let mut gather = attributes_of(&mut attributes);
    attributes.finish();
    if gather.speech_timeout == SpeechTimeout::Auto
        && NO_AUTO_MODELS.contains(&gather.speech_model.as_str())
    {
        let message = format!(
            "speechTimeout=\"auto\" is not supported with speechModel=\"{}\"",
            gather.speech_model
        );
        validator.findings.error(
            GATHER_AUTO_SPEECH_TIMEOUT_NOT_ALLOWED,
            element.offset,
            message,
        );
    }
    gather.prompts = Vec::with_capacity(validator.child_elements_count(element));
    for child in validator.child_elements(element) {
        if let Some(prompt) = prompt(validator, element, child) {
            gather.prompts.push(prompt);
        }
    }
    gather
}

fn attributes_of(a: &mut Attributes<'_, '_>) -> Gather {
    let timeout = a.integer("timeout", 5, 0..=600, GATHER_INVALID_TIMEOUT);
    Gather {
        action: a.string("action"),
        method: a.method("method", GATHER_INVALID_METHOD),
        input: gather_input(a),
        timeout,
        num_digits: a.optional_integer("numDigits", 1..=u32::MAX, GATHER_INVALID_NUM_DIGITS),
        finish_on_key: finish_on_key(a),
        speech_timeout: speech_timeout(a).unwrap_or(SpeechTimeout::Seconds(timeout)),
        max_speech_time: a.integer("maxSpeechTime", 60, 1..=60, GATHER_INVALID_MAX_SPEECH_TIME),
        language: a
            .checked(
                "language",
                GATHER_INVALID_LANGUAGE,
                "a language tag such as en-US",
                valid_language,
            )
            .unwrap_or_else(|| "en-US".to_owned()),
        hints: hints(a),
        speech_model: a
            .checked(
                "speechModel",
                GATHER_INVALID_SPEECH_MODEL,
                "a supported speech model",
                valid_model,
            )
            .unwrap_or_else(|| "default".to_owned()),
        enhanced: a.boolean("enhanced", false, WARN),
        profanity_filter: a.boolean("profanityFilter", true, GATHER_INVALID_PROFANITY_FILTER),
        partial_result_callback: a.checked(
            "partialResultCallback",
            GATHER_INVALID_PARTIAL_RESULT_CALLBACK,
            "a URL",
            plausible_url,
        ),
        partial_result_callback_method: a
            .method("partialResultCallbackMethod", GATHER_INVALID_METHOD),
        action_on_empty_result: a.boolean("actionOnEmptyResult", false, WARN),
        barge_in: a.boolean("bargeIn", true, GATHER_INVALID_BARGE_IN),
        debug: a.boolean("debug", false, WARN),
        prompts: Vec::new(),
    }
}

fn gather_input(a: &mut Attributes<'_, '_>) -> Vec<GatherInput> {
    let input = a.keyword_list("input", &[GatherInput::Dtmf], GATHER_INVALID_INPUT);
    if !input.is_empty() {
        return input;
    }
    a.refuse("input", GATHER_INVALID_INPUT, "dtmf, speech or both");
    vec![GatherInput::Dtmf]
}

fn finish_on_key(a: &mut Attributes<'_, '_>) -> Option<char> {
    let Some(value) = a.checked_str(
        "finishOnKey",
        GATHER_INVALID_FINISH_ON_KEY,
        "a single key",
        |v| v.chars().count() <= 1,
    ) else {
        return Some('#');
    };
    let key = value.chars().next()?;
    if key.is_ascii_digit() || key == '#' || key == '*' {
        return Some(key);
    }
    a.refuse(
        "finishOnKey",
        GATHER_INVALID_FINISH_ON_KEY_CHARACTER,
        "one of 0-9, # or *",
    );
    Some('#')
}

fn speech_timeout(a: &mut Attributes<'_, '_>) -> Option<SpeechTimeout> {
    let value = a.checked_str(
        "speechTimeout",
        GATHER_INVALID_SPEECH_TIMEOUT,
        "auto or a whole number of seconds",
        |v| v == "auto" || (!v.is_empty() && v.len() <= 9 && v.bytes().all(|b| b.is_ascii_digit())),
    )?;
    Some(
        value
            .parse()
            .map_or(SpeechTimeout::Auto, SpeechTimeout::Seconds),
    )
}

fn hints(a: &mut Attributes<'_, '_>) -> Vec<String> {
    // One pass; characters are counted only for a phrase whose bytes could exceed the limit.
    let valid = |value: &str| {
        let mut phrases = 0;
        value.split(',').all(|phrase| {
            phrases += 1;
            let phrase = phrase.trim_ascii();
            phrases <= 500 && (phrase.len() <= 100 || phrase.chars().count() <= 100)
        })
    };
    let Some(value) = a.checked_str(
        "hints",
        GATHER_INVALID_HINTS,
        "at most 500 phrases of at most 100 characters",
        valid,
    ) else {
        return Vec::new();
    };
    value
        .split(',')
        .map(|phrase| phrase.trim_ascii().to_owned())
        .filter(|phrase| !phrase.is_empty())
        .collect()
}

fn valid_model(model: &str) -> bool {
    SPEECH_MODELS.contains(&model)
        || SPEECH_MODEL_PREFIXES.iter().any(|prefix| {
            model
                .strip_prefix(prefix)
                .is_some_and(|rest| !rest.is_empty())
        })
}

fn prompt(
    validator: &mut Validator<'_, '_>,
    parent: crate::tree::Element<'_, '_>,
    index: usize,
) -> Option<GatherPrompt> {
    let child = validator.element(index);
    match child.name {
        "Say" => Some(GatherPrompt::Say(say::parse(
            validator,
            index,
            say::Place::Gather,
        ))),
        "Play" => Some(GatherPrompt::Play(play::parse(validator, index))),
        "Pause" => Some(GatherPrompt::Pause(pause::parse(validator, index))),
        name if VOICE_VERBS.contains(&name) || crate::noun::NOUNS.contains(&name) => {
            let message = format!(
                "<{name}> cannot be nested in <Gather>; only <Say>, <Play> and <Pause> can"
            );
            validator
                .findings
                .error(GATHER_INVALID_NESTED_VERB, child.offset, message);
            None
        }
        _ => {
            validator.unexpected(parent, index);
            None
        }
    }
}

impl WriteXml for Gather {
    fn write_xml(&self, writer: &mut XmlWriter) {
        let mut e = writer.element("Gather");
        e.opt("action", self.action.as_deref())
            .attr("method", self.method)
            .attr("input", SpaceList(&self.input));
        e.attr("timeout", self.timeout)
            .opt("numDigits", self.num_digits);
        e.attr(
            "finishOnKey",
            self.finish_on_key.map(String::from).unwrap_or_default(),
        );
        match self.speech_timeout {
            SpeechTimeout::Auto => e.attr("speechTimeout", "auto"),
            SpeechTimeout::Seconds(seconds) => e.attr("speechTimeout", seconds),
        };
        e.attr("maxSpeechTime", self.max_speech_time)
            .attr("language", &self.language);
        if !self.hints.is_empty() {
            e.attr("hints", self.hints.join(","));
        }
        e.attr("speechModel", &self.speech_model)
            .attr("enhanced", self.enhanced);
        e.attr("profanityFilter", self.profanity_filter);
        e.opt(
            "partialResultCallback",
            self.partial_result_callback.as_deref(),
        );
        e.attr(
            "partialResultCallbackMethod",
            self.partial_result_callback_method,
        );
        e.attr("actionOnEmptyResult", self.action_on_empty_result)
            .attr("bargeIn", self.barge_in);
        e.attr("debug", self.debug);
        if self.prompts.is_empty() {
            return e.empty();
        }
        e.children(|writer| {
            for prompt in &self.prompts {
                match prompt {
                    GatherPrompt::Say(say) => say.write_xml(writer),
                    GatherPrompt::Play(play) => play.write_xml(writer),
                    GatherPrompt::Pause(pause) => pause.write_xml(writer),
                }
            }
        });
    }
}
