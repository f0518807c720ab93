//! `<Number>` inside `<Dial>` (§7.7): a phone number to ring, and the phone-number checks
//! (13223 format warning, 13224 invalid, 13226 country code) also used for plain-text `<Dial>`.

use switchboard_core::error_code::{
    NUMBER_INVALID, NUMBER_INVALID_COUNTRY_CODE, NUMBER_INVALID_FORMAT, NUMBER_INVALID_METHOD,
    NUMBER_INVALID_SEND_DIGITS,
};

use crate::attributes::WARN;
use crate::noun::{AnsweringMachineDetection, LegCallbacks, valid_dtmf};
use crate::validate::Validator;
use crate::writer::{WriteXml, XmlWriter};

/// A phone number to ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Number {
    /// As written (trimmed); E.164 unless a 13223 warning said otherwise.
    pub phone_number: String,
    /// DTMF sent after the callee answers.
    pub send_digits: Option<String>,
    pub callbacks: LegCallbacks,
    pub byoc: Option<String>,
    pub machine_detection: AnsweringMachineDetection,
}

impl Number {
    /// A number with every attribute at its default (a plain-text `<Dial>` body).
    pub fn plain(phone_number: String) -> Self {
        let callbacks = LegCallbacks {
            url: None,
            method: crate::Method::Post,
            status_callback_event: vec![crate::keyword::CallProgressEvent::Completed],
            status_callback: None,
            status_callback_method: crate::Method::Post,
        };
        let machine_detection = AnsweringMachineDetection {
            machine_detection: None,
            timeout: 30,
            speech_threshold: 2400,
            speech_end_threshold: 1200,
            silence_timeout: 5000,
            amd_status_callback: None,
            amd_status_callback_method: crate::Method::Post,
        };
        Number {
            phone_number,
            send_digits: None,
            callbacks,
            byoc: None,
            machine_detection,
        }
    }
}

pub(crate) fn parse(validator: &mut Validator<'_, '_>, index: usize) -> Number {
    let element = validator.element(index);
    let mut a = validator.attributes(element);
    let send_digits = a.checked(
        "sendDigits",
        NUMBER_INVALID_SEND_DIGITS,
        "digits 0-9, *, # and w",
        valid_dtmf,
    );
    let callbacks = LegCallbacks::parse(&mut a, NUMBER_INVALID_METHOD);
    let byoc = a.string("byoc");
    let machine_detection = AnsweringMachineDetection::parse(&mut a, WARN);
    a.finish();
    let phone_number = validator.text(element);
    check_phone_number(validator, &phone_number, element.offset);
    Number {
        phone_number,
        send_digits,
        callbacks,
        byoc,
        machine_detection,
    }
}

/// Records 13223 (warning), 13224 or 13226 for a number that is not plain E.164.
pub(crate) fn check_phone_number(validator: &mut Validator<'_, '_>, number: &str, offset: usize) {
    let is_format = |c: char| matches!(c, ' ' | '-' | '(' | ')' | '.');
    let plus = number.starts_with('+');
    let digits = number
        .chars()
        .skip(usize::from(plus))
        .filter(|c| !is_format(*c));
    let (mut count, mut all_digits, mut first) = (0, true, None);
    for digit in digits {
        count += 1;
        all_digits &= digit.is_ascii_digit();
        first.get_or_insert(digit);
    }
    let findings = &mut validator.findings;
    if !all_digits || count == 0 || count > 15 {
        let message = format!("\"{}\" is not a phone number", number.escape_debug());
        findings.error(NUMBER_INVALID, offset, message);
    } else if plus && first == Some('0') {
        let message = format!("\"{number}\": country codes never start with 0");
        findings.error(NUMBER_INVALID_COUNTRY_CODE, offset, message);
    } else if !plus || number.contains(is_format) {
        let message = format!(
            "\"{number}\" is not in E.164 format (+ and digits only); dialling it as written"
        );
        findings.warning(NUMBER_INVALID_FORMAT, offset, message);
    }
}

impl WriteXml for Number {
    fn write_xml(&self, writer: &mut XmlWriter) {
        let mut e = writer.element("Number");
        e.opt("sendDigits", self.send_digits.as_deref());
        self.callbacks.write(&mut e);
        e.opt("byoc", self.byoc.as_deref());
        self.machine_detection.write(&mut e);
        e.text(&self.phone_number);
    }
}
