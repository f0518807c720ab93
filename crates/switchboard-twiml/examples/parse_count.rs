//! A criterion-free driver for counting instructions and allocations of one parse:
//! `valgrind --tool=callgrind target/release/examples/parse_count parse|bare 1k|60k|webhook N`.
//!
//! It runs `switchboard_twiml::parse` (or the bare quick-xml scan the criterion bench compares
//! with) N times on one of the benchmark documents, so a run with N and a run with 0 give the
//! per-parse cost by subtraction, free of start-up. The documents are the criterion bench's
//! (`benches/parse.rs`) and the webhook bench's.

use std::hint::black_box;

use quick_xml::Reader;
use quick_xml::events::Event;
use switchboard_twiml::{Context, parse};

/// The engine binary's allocator (`switchboard-cli`), so whatever is measured here runs on the
/// same one as the engine.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const IVR_VERBS: &str = r##"
  <Gather action="/ivr/menu?step=1" method="POST" numDigits="1" timeout="6" finishOnKey="#" input="dtmf speech" hints="sales, support, billing" language="en-US">
    <Say voice="Polly.Joanna" language="en-US">Thank you for calling Example Corporation. For sales, press 1 or say sales.
      For support, press 2 or say support. For billing, press 3 or say billing.</Say>
    <Pause length="1"/>
    <Say voice="Polly.Joanna" language="en-US" loop="1">To hear these options again, press <say-as interpret-as="digits">9</say-as>.</Say>
  </Gather>
  <Say voice="Polly.Joanna">We did not receive any input. Please hold while we connect you to an operator.</Say>
  <Play loop="1">https://static.example.com/audio/hold-music-short.mp3</Play>
  <Dial timeout="20" callerId="+15005550006" action="/ivr/after-dial" record="record-from-answer"><Number sendDigits="ww1">+14155551212</Number></Dial>
  <Redirect method="POST">/ivr/start?retry=1</Redirect>
"##;

const WEBHOOK: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Gather numDigits=\"1\" action=\"/menu\"><Say>Press 1 for sales, 2 for support.</Say></Gather><Say>Goodbye.</Say></Response>";

fn bare_scan(input: &str) -> usize {
    let mut reader = Reader::from_str(input);
    let mut count = 0;
    loop {
        match reader.read_event() {
            Ok(Event::Start(tag) | Event::Empty(tag)) => {
                count += tag.attributes().flatten().count() + 1
            }
            Ok(Event::Eof) | Err(_) => return count,
            Ok(_) => count += 1,
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: parse_count parse|bare 1k|60k|webhook N";
    let (Some(mode), Some(which), Some(count)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let document = match which.as_str() {
        "1k" => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response>{IVR_VERBS}</Response>\n"
        ),
        "60k" => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response>{}</Response>\n",
            IVR_VERBS.repeat(65)
        ),
        "webhook" => WEBHOOK.to_owned(),
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    let count: usize = count.parse().unwrap_or(0);
    assert!(parse(document.as_bytes(), Context::Voice).is_ok_and(|p| p.warnings.is_empty()));
    let mut total = 0;
    for _ in 0..count {
        total += match mode.as_str() {
            "bare" => bare_scan(black_box(&document)),
            _ => parse(black_box(document.as_bytes()), Context::Voice)
                .map_or(0, |p| p.document.verbs.len()),
        };
    }
    println!("{total}");
}
