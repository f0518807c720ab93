//! `<Redirect>` (§7.8) and the verbs this engine recognises but does not run yet.

use switchboard_twiml::Level;
use switchboard_twiml::verb::Redirect;

use crate::action::{Action, FetchPurpose};
use crate::call::Call;

impl Call {
    /// Fetches the target (relative to the document) and continues there.
    pub(crate) fn redirect(&mut self, redirect: &Redirect) {
        let params = self.params();
        match self.program.resolve(&redirect.url) {
            Ok(url) => {
                self.emit(Action::Redirect { url: url.clone() });
                self.fetch(url, redirect.method, params, FetchPurpose::Redirect);
            }
            Err(error) => self.execution_failure(error, params),
        }
    }

    /// A clear ERROR alert, then the next verb (issue 5: never a silent skip).
    pub(crate) fn unsupported_verb(&mut self, name: &str) {
        let (code, message) = switchboard_twiml::support::unsupported_verb(name);
        let url = self.program.url().map(str::to_owned);
        self.alert(code, Level::Error, message, url);
    }
}
