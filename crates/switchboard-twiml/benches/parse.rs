//! Parse+validate throughput against a bare quick-xml event scan of the same bytes.
//!
//! `cargo bench -p switchboard-twiml --bench parse`. Two documents: a typical ~1 KiB IVR
//! (Gather with nested Say, Redirect) and a ~60 KiB document (the IVR's verbs repeated). The
//! bare scan reads every event and touches every attribute, which is the least any parser
//! built on quick-xml must do; the target is to stay within 2x of it. The `hostile` group times
//! the refusals of the attack documents the tests check (`-- hostile` runs only those).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
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

fn document(repeat: usize) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response>{}</Response>\n",
        IVR_VERBS.repeat(repeat)
    )
}

/// Reads every event and every attribute of `input` with quick-xml, doing nothing else.
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

fn bench(c: &mut Criterion) {
    let small = document(1);
    let large = document(65);
    for (name, input) in [("ivr_1k", &small), ("doc_60k", &large)] {
        assert!(
            parse(input.as_bytes(), Context::Voice).is_ok_and(|parsed| parsed.warnings.is_empty())
        );
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function("parse_validate", |b| {
            b.iter(|| parse(black_box(input.as_bytes()), Context::Voice))
        });
        group.bench_function("bare_quick_xml_scan", |b| {
            b.iter(|| bare_scan(black_box(input)))
        });
        group.finish();
    }
}

/// The attack documents of `tests/it/hostile.rs`, each with the code it must be refused with.
fn attacks() -> Vec<(&'static str, Vec<u8>)> {
    let mut laughs = String::from("<!DOCTYPE l [<!ENTITY lol \"lol\">");
    for level in 1..10 {
        let previous = if level == 1 {
            "lol".to_owned()
        } else {
            format!("lol{}", level - 1)
        };
        laughs.push_str(&format!(
            "<!ENTITY lol{level} \"{}\">",
            format!("&{previous};").repeat(10)
        ));
    }
    laughs.push_str("]><Response><Say>&lol9;</Say></Response>");
    let xxe = "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><Response><Say>&x;</Say></Response>";
    let attributes: String = (0..40_000).map(|i| format!(" a{i}=\"1\"")).collect();
    let fitting: String = (0..7_000).map(|i| format!(" a{i}=\"\"")).collect();
    let mut ten_mb = b"<Response><Say>".to_vec();
    ten_mb.resize(10 * 1024 * 1024, b'a');
    vec![
        ("billion_laughs", laughs.into_bytes()),
        ("external_entity", xxe.as_bytes().to_vec()),
        ("nesting_100k", "<Response>".repeat(100_000).into_bytes()),
        ("nesting_13k_under_cap", "<Say>".repeat(13_000).into_bytes()),
        (
            "attributes_40k",
            format!("<Response{attributes}/>").into_bytes(),
        ),
        (
            "attributes_7k_under_cap",
            format!("<Response{fitting}/>").into_bytes(),
        ),
        ("body_10mb", ten_mb),
    ]
}

fn hostile(c: &mut Criterion) {
    let mut group = c.benchmark_group("hostile");
    for (name, input) in attacks() {
        assert!(
            parse(&input, Context::Voice).is_err(),
            "{name} must be refused"
        );
        group.bench_function(name, |b| {
            b.iter(|| parse(black_box(&input), Context::Voice))
        });
    }
    group.finish();
}

criterion_group!(benches, bench, hostile);
criterion_main!(benches);
