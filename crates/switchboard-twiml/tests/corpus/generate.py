"""TwiML corpus from the official `twilio` helper library, and the checker for our printed output.

`python generate.py` prints a JSON list of cases `{"name", "context", "xml"}`: one document per
verb and noun that `VoiceResponse` and `MessagingResponse` build, each builder method called with
every named parameter it takes (values from VALUES, valid per twilio-behaviour.md §7), every nested
builder method too. It fails if any builder method of any class was never called, so a new
twilio release that adds a verb, noun or attribute shows up here.

`python generate.py --check` reads `[{"name", "xml", "printed"}]` on stdin, where `printed` is the
document the Rust parser produced, printed back from its typed values. For every element,
attribute and text the helper library wrote, the printed document must carry the same value
(normalised: hints as a comma list). Because the printer writes typed fields, this checks that
each attribute reached the right field with the right value.
"""

import inspect
import json
import sys
import xml.etree.ElementTree as ET

from twilio.twiml import TwiML
from twilio.twiml import messaging_response as messaging
from twilio.twiml import voice_response as voice

CALL_SID = "CA" + "0" * 32
NUMBER = "+14155551212"
OTHER_NUMBER = "+15005550006"

# Values by (class, method, parameter), then by parameter name.
SPECIFIC = {
    ("Dial", "conference", "status_callback_event"): "start end join leave mute hold modify speaker announcement",
    ("Dial", "conference", "record"): "record-from-start",
    ("Dial", "conference", "trim"): "do-not-trim",
    ("Dial", "conference", "max_participants"): 10,
    ("Enqueue", "task", "timeout"): 30,
    ("MessagingResponse", "message", "body"): "Hello there",
    ("VoiceResponse", "record", "finish_on_key"): "#*",
    ("VoiceResponse", "record", "timeout"): 8,
    ("VoiceResponse", "record", "max_length"): 120,
    ("VoiceResponse", "pay", "input"): "dtmf",
    ("VoiceResponse", "pay", "timeout"): 5,
    ("Start", "recording", "trim"): "trim-silence",
    ("Start", "recording", "track"): "both",
}
BY_NAME = {
    "action": "/next?step=2", "method": "GET", "url": "https://example.com/twiml",
    "timeout": 12, "hangup_on_star": True, "time_limit": 600, "caller_id": OTHER_NUMBER,
    "record": "record-from-answer", "trim": "trim-silence", "recording_status_callback": "/recording",
    "recording_configuration_id": "JZ" + "1" * 32, "recording_status_callback_method": "GET",
    "recording_status_callback_event": "in-progress completed absent", "answer_on_bridge": True,
    "ring_tone": "uk", "recording_track": "inbound", "sequential": True, "refer_url": "/refer",
    "refer_method": "GET", "events": "call-progress-events", "passports": "passport-token",
    "number": NUMBER, "phone_number": NUMBER, "name": "support", "max_queue_size": 100,
    "wait_url": "/wait", "wait_url_method": "GET", "workflow_sid": "WW" + "2" * 32,
    "input": "dtmf speech", "speech_timeout": "auto", "max_speech_time": 30, "profanity_filter": False,
    "finish_on_key": "*", "num_digits": 4, "partial_result_callback": "/partial",
    "partial_result_callback_method": "GET", "language": "en-GB", "hints": "yes, no, operator",
    "barge_in": False, "debug": True, "action_on_empty_result": True, "speech_model": "phone_call",
    "enhanced": True, "length": 2, "loop": 3, "digits": "ww12#", "message": "Hello there",
    "voice": "Polly.Joanna", "reason": "busy", "to": NUMBER, "from_": OTHER_NUMBER,
    "status_callback": "/status", "max_length": 120, "play_beep": False, "transcribe": True,
    "transcribe_callback": "/transcribed", "body": '{"selected_language": "es"}', "priority": 5,
    "identity": "alice", "client_identity": "alice", "status_callback_event": "initiated ringing answered completed",
    "status_callback_method": "GET", "muted": True, "beep": "onEnter", "start_conference_on_enter": False,
    "end_conference_on_exit": True, "wait_method": "GET", "region": "ie1", "coach": CALL_SID,
    "event_callback_url": "/conference-events", "jitter_buffer_size": "small", "participant_label": "agent",
    "send_digits": "ww1", "byoc": "BY" + "3" * 32, "machine_detection": "Enable",
    "amd_status_callback_method": "GET", "amd_status_callback": "/amd", "machine_detection_timeout": 20,
    "machine_detection_speech_threshold": 2000, "machine_detection_speech_end_threshold": 1000,
    "machine_detection_silence_timeout": 4000, "reservation_sid": "WR" + "4" * 32,
    "post_work_activity_sid": "WA" + "5" * 32, "sim_sid": "DE" + "6" * 32, "sip_url": "sip:alice@example.com",
    "username": "user", "password": "secret", "weight": 2, "application_sid": "AP" + "7" * 32,
    "sid": "AP" + "7" * 32, "customer_id": "customer-1", "copy_parent_to": True, "value": "v",
    "words": "hello", "strength": "strong", "time": "1s", "level": "strong", "xml_lang": "fr-FR",
    "alphabet": "ipa", "ph": "pɪˈkɑːn", "volume": "loud", "rate": "slow", "pitch": "high",
    "interpret_as": "cardinal", "format": "mdy", "alias": "World Wide Web", "role": "amazon:VB",
}

CALLED = set()


def value(owner, method, parameter):
    key = (type(owner).__name__, method, parameter)
    if key in SPECIFIC:
        return SPECIFIC[key]
    if parameter in BY_NAME:
        return BY_NAME[parameter]
    # Parameters of the unmodelled verbs (Connect, Start, Pay, …) are kept as written.
    return "x-" + parameter.replace("_", "-")


def call(owner, method, **overrides):
    """Calls `owner.method` with every named parameter filled in, overrides winning."""
    function = getattr(owner, method)
    kwargs = {}
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            continue
        kwargs[parameter.name] = value(owner, method, parameter.name)
    kwargs.update(overrides)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    CALLED.add((type(owner).__name__, method))
    return function(**kwargs)


def call_all(owner, skip=()):
    """Calls every builder method of `owner` once (children of SSML elements and the like)."""
    for method in builder_methods(type(owner)):
        if method not in skip:
            call(owner, method)


def builder_methods(cls):
    names = []
    for name, _ in inspect.getmembers(cls, inspect.isfunction):
        if not name.startswith("_") and name not in ("append", "nest", "add_child", "to_xml", "xml"):
            names.append(name)
    return names


def voice_cases():
    cases = {}

    def case(name, build):
        response = voice.VoiceResponse()
        build(response)
        cases[name] = response

    for verb in ("say", "play", "pause", "hangup", "leave", "redirect", "reject", "record", "sms", "echo"):
        case(verb, lambda r, verb=verb: call(r, verb))
    case("say-ssml", say_with_ssml)
    case("gather", lambda r: call_all(call(r, "gather")))
    case("hangup-parameters", lambda r: call(call(r, "hangup"), "parameter"))
    case("reject-parameters", lambda r: call(call(r, "reject"), "parameter"))
    case("enqueue", lambda r: call(call(r, "enqueue"), "task"))
    case("dial-text", lambda r: call(r, "dial"))
    for noun in ("number", "conference", "queue", "sim", "whats_app"):
        case("dial-" + noun, lambda r, noun=noun: call(call(r, "dial", number=None), noun))
    case("dial-client", lambda r: call(call(r, "dial", number=None), "client"))
    case("dial-client-identity", dial_client_identity)
    case("dial-sip", dial_sip)
    case("dial-application", lambda r: call(call(r, "dial", number=None), "application"))
    case("dial-application-sid", dial_application_sid)
    case("dial-many", dial_many)
    for verb in ("connect", "start", "stop"):
        case(verb, lambda r, verb=verb: call_nested(call(r, verb)))
    case("pay", pay)
    case("refer", lambda r: call(call(r, "refer"), "sip"))
    return cases


def say_with_ssml(response):
    say = call(response, "say")
    for method in builder_methods(voice.Say):
        element = call(say, method)
        call_all(element)


def dial_client_identity(response):
    client = call(call(response, "dial", number=None), "client", identity=None)
    call(client, "identity")
    call(client, "parameter")


def dial_sip(response):
    sip = call(call(response, "dial", number=None), "sip")
    call(sip, "uri")
    call(call(sip, "headers"), "header", name="X-Customer", value="42")


def dial_application_sid(response):
    application = call(call(response, "dial", number=None), "application", application_sid=None)
    call(application, "application_sid")
    call(application, "parameter")


def dial_many(response):
    dial = call(response, "dial", number=None)
    call(dial, "number")
    call(dial, "client")
    call(dial, "sip")


def call_nested(element):
    """Calls each child builder of an unmodelled verb, and each grandchild builder once."""
    for method in builder_methods(type(element)):
        child = call(element, method)
        if isinstance(child, TwiML):
            call_all(child)


def pay(response):
    pay_element = call(response, "pay")
    call(pay_element, "parameter")
    prompt = call(pay_element, "prompt")
    call_all(prompt)


def messaging_cases():
    cases = {}
    response = messaging.MessagingResponse()
    call(response, "message")
    cases["message"] = response
    response = messaging.MessagingResponse()
    message = call(response, "message")
    call(message, "body", message="and more")
    call(message, "media", url="https://example.com/cat.png")
    call(response, "redirect")
    cases["message-body-media"] = response
    response = messaging.MessagingResponse()
    call(call(response, "message", body=None), "body", message="only a body")
    cases["message-body"] = response
    return cases


# Builder methods the corpus deliberately does not call: `<Queue>` and `<Prompt>` are offered at the
# top of a VoiceResponse but are only valid inside `<Dial>` and `<Pay>` (where they are called).
NOT_TOP_LEVEL = {("VoiceResponse", "queue"), ("VoiceResponse", "prompt")}


def check_coverage():
    missing = []
    for module in (voice, messaging):
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__:
                continue
            for method in builder_methods(cls):
                if (name, method) not in CALLED and (name, method) not in NOT_TOP_LEVEL:
                    missing.append(f"{name}.{method}")
    if missing:
        sys.exit("builder methods not covered by the corpus: " + ", ".join(missing))


def generate():
    cases = []
    for context, built in (("voice", voice_cases()), ("messaging", messaging_cases())):
        for name, response in built.items():
            cases.append({"name": name, "context": context, "xml": response.to_xml()})
    check_coverage()
    json.dump(cases, sys.stdout, ensure_ascii=False)


# Text moves between these elements when printed canonically (`<Dial>` text becomes `<Number>`,
# `<Message>` text with media becomes `<Body>`).
TEXT_HOMES = {
    "Dial": ("Dial", "Number"),
    "Message": ("Message", "Body"),
    "Body": ("Body", "Message"),
    "Identity": ("Identity", "Client"),
    "ApplicationSid": ("ApplicationSid", "Application"),
}
# Child elements printed as their parent's text when they are the only content.
ALTERNATES = {"Body": "Message", "Identity": "Client", "ApplicationSid": "Application"}


def normalise(tag, attribute, value):
    if attribute == "hints":
        return ",".join(part.strip() for part in value.split(","))
    return value


def check():
    results = json.load(sys.stdin)
    problems = []
    for result in results:
        original = ET.fromstring(result["xml"])
        printed = ET.fromstring(result["printed"])
        problems += compare(result["name"], original, printed)
    if problems:
        sys.exit("\n".join(problems))
    print(f"{len(results)} documents: every attribute and text matched")


def compare(name, original, printed):
    problems = []
    printed_elements = list(printed.iter())
    for element in original.iter():
        candidates = [p for p in printed_elements if p.tag == element.tag]
        if not candidates and not element.attrib and element.tag in ALTERNATES:
            candidates = [p for p in printed_elements if p.tag == ALTERNATES[element.tag]]
        if not candidates:
            problems.append(f"{name}: <{element.tag}> is missing from the printed document")
            continue
        for attribute, expected in element.attrib.items():
            want = normalise(element.tag, attribute, expected)
            if not any(normalise(p.tag, attribute, p.get(attribute, "")) == want for p in candidates):
                got = [p.get(attribute) for p in candidates]
                problems.append(f"{name}: <{element.tag} {attribute}> expected {want!r}, printed {got!r}")
        text = (element.text or "").strip()
        homes = TEXT_HOMES.get(element.tag, (element.tag,))
        if text and not any(text in "".join(p.itertext()) for p in printed_elements if p.tag in homes):
            problems.append(f"{name}: text {text!r} of <{element.tag}> is missing")
    return problems


if __name__ == "__main__":
    check() if "--check" in sys.argv else generate()
