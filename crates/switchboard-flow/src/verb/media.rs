//! `<Say>` (§7.2), `<Play>` (§7.3) and `<Pause>` (§7.4), top level or nested in `<Gather>`.
//!
//! `loop` is passed through to the media driver, which plays all iterations and reports one
//! `PlaybackFinished` (0 = until interrupted, capped at 1000): one transcript event per verb.
//! `<Pause>` is timed here and needs no media, so a leading `<Pause>` leaves the call ringing.

use switchboard_twiml::verb::{Pause, Play, Say};

use crate::action::{self, Action, PlayMedia, Source};
use crate::call::{Call, Step};
use crate::program::UrlError;

/// Milliseconds in a second, for turning TwiML seconds into deadlines.
pub(crate) const SECOND_MS: u64 = 1000;

/// What a `<Play>` resolves to.
pub(crate) enum PlayPlan {
    Play(action::Play),
    /// Neither URL nor digits (a 12200 warning at parse time): nothing to play.
    Nothing,
    /// The URL cannot be resolved (11100).
    BadUrl(UrlError),
}

/// A `<Say>` of a document whose says are spoken as `source`.
pub(crate) fn say_action(say: &Say, source: Source) -> Action {
    Action::Say(action::Say {
        text: say.text(),
        voice: say.voice.clone(),
        language: say.language.clone(),
        loop_count: say.loop_count,
        source,
    })
}

impl Call {
    pub(crate) fn start_say(&mut self, say: &Say) {
        self.ensure_answered();
        self.emit(say_action(say, self.program.source()));
        self.step = Step::Playing;
    }

    pub(crate) fn start_play(&mut self, play: &Play) {
        match self.plan_play(play) {
            PlayPlan::Play(action) => {
                self.ensure_answered();
                self.emit(Action::Play(action));
                self.step = Step::Playing;
            }
            PlayPlan::Nothing => {}
            PlayPlan::BadUrl(error) => {
                let params = self.params();
                self.execution_failure(error, params);
            }
        }
    }

    /// Digits win over a URL when both are written.
    pub(crate) fn plan_play(&self, play: &Play) -> PlayPlan {
        let media = match (&play.digits, &play.url) {
            (Some(digits), _) => PlayMedia::Digits(digits.clone()),
            (None, Some(url)) => match self.program.resolve(url) {
                Ok(url) => PlayMedia::Url(url),
                Err(error) => return PlayPlan::BadUrl(error),
            },
            (None, None) => return PlayPlan::Nothing,
        };
        PlayPlan::Play(action::Play {
            media,
            loop_count: play.loop_count,
        })
    }

    /// Emits the pause and returns when it ends.
    pub(crate) fn pause_until(&mut self, pause: &Pause) -> u64 {
        self.emit(Action::Pause {
            length_s: pause.length,
        });
        self.now_ms
            .saturating_add(u64::from(pause.length).saturating_mul(SECOND_MS))
    }

    pub(crate) fn start_pause(&mut self, pause: &Pause) {
        let until_ms = self.pause_until(pause);
        self.step = Step::Pausing { until_ms };
    }
}

#[cfg(test)]
mod tests {
    use switchboard_twiml::{Context, Verb, parse};

    fn text_of(say: &str) -> String {
        let body = format!("<Response>{say}</Response>");
        let Ok(parsed) = parse(body.as_bytes(), Context::Voice) else {
            panic!("{say} parses");
        };
        let Some(Verb::Say(say)) = parsed.document.verbs.first() else {
            panic!("a <Say>");
        };
        say.text()
    }

    #[test]
    fn ssml_elements_separate_words() {
        let cases = [
            ("<Say>Hello   world</Say>", "Hello world"),
            (r#"<Say>Hello<break time="1s"/>world</Say>"#, "Hello world"),
            ("<Say><p>One.</p><p>Two.</p></Say>", "One. Two."),
            (
                "<Say>Hello <emphasis>big</emphasis> world</Say>",
                "Hello big world",
            ),
            (
                r#"<Say>See the <sub alias="World Wide Web">WWW</sub>.</Say>"#,
                "See the World Wide Web.",
            ),
            (
                r#"<Say><say-as interpret-as="digits">123</say-as></Say>"#,
                "123",
            ),
        ];
        for (say, expected) in cases {
            assert_eq!(text_of(say), expected, "{say}");
        }
    }
}
