# The speech recogniser worker that switchboard-media's `asr` module runs as a long-lived
# process (one per pool slot): CMU PocketSphinx 5 (BSD-2) with the US English model its PyPI
# wheel ships. Protocol on stdin/stdout, one request at a time:
#   startup:  the worker writes {"ready": true, "model": PATH} (or {"error": ...} and exits)
#   request:  one JSON line {"samples": N, "phrases": [..] or null}, then N 16-bit little-endian
#             samples of 16 kHz mono audio
#   answer:   one JSON line {"text": ..., "confidence": 0..1, "grammar": bool} or {"error": ...}
# With `phrases`, the utterance is decoded against a JSGF grammar of those phrases (words the
# dictionary lacks are dropped; a phrase left empty is dropped; none left: the open model).
import json
import math
import os
import sys


def reply(value):
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


try:
    from pocketsphinx import Decoder, get_model_path
    model = os.path.join(get_model_path(), "en-us")
    # No second (flat-lexicon) pass: 1.5 times faster with the open model and no more word
    # errors on espeak-ng sentences (BENCHMARKS.md); grammars do not use it.
    decoder = Decoder(samprate=16000, loglevel="FATAL", fwdflat=False)
except Exception as error:  # the package or its model is missing
    reply({"error": "pocketsphinx could not start: %s" % error})
    sys.exit(1)

reply({"ready": True, "model": model})
stdin = sys.stdin.buffer
grammars = {}


def clean_word(word):
    return "".join(c for c in word.lower() if c.isalpha() or c == "'")


def grammar_of(phrases):
    """The search name and phrases of a grammar of `phrases`, or None when none is usable."""
    kept = []
    for phrase in phrases[:500]:
        words = [clean_word(w) for w in str(phrase)[:100].split()]
        words = [w for w in words if w]
        if words and all(decoder.lookup_word(w) is not None for w in words):
            kept.append(" ".join(words))
    kept = sorted(set(kept))
    if not kept:
        return None
    key = "\n".join(kept)
    name = grammars.get(key)
    if name is None:
        if len(grammars) > 64:
            for old in list(grammars.values()):
                decoder.remove_search(old)
            grammars.clear()
        name = "g%d" % (len(grammars) + 1)
        jsgf = "#JSGF V1.0;\ngrammar %s;\npublic <phrase> = %s;\n" % (name, " | ".join(kept))
        decoder.add_jsgf_string(name, jsgf)
        grammars[key] = name
    return name, kept


def complete(text, kept):
    """A grammar search that did not reach the end of a phrase gives the words it got ("change
    my" for "change my address"): the phrase that shares the most of them, in order."""
    if not text or text in kept:
        return text, 1.0
    words = text.split()

    def shared(phrase):
        candidate = phrase.split()
        return sum(1 for a, b in zip(words, candidate) if a == b), -len(candidate)

    best = max(kept, key=shared)
    return (best, 0.5) if shared(best)[0] > 0 else (text, 1.0)


while True:
    line = stdin.readline()
    if not line:
        break
    try:
        request = json.loads(line)
        samples = int(request["samples"])
        audio = stdin.read(samples * 2)
        if len(audio) != samples * 2:
            break
        grammar = grammar_of(request["phrases"]) if request.get("phrases") else None
        decoder.activate_search(grammar[0] if grammar else "_default")
        decoder.start_utt()
        decoder.process_raw(audio, full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        text = hyp.hypstr if hyp is not None else ""
        words = max(1, len(text.split()))
        prob = hyp.prob if hyp is not None else 0.0
        confidence = math.pow(min(max(prob, 0.0), 1.0), 1.0 / words) if text else 0.0
        if grammar:
            text, factor = complete(text, grammar[1])
            confidence *= factor
        reply({"text": text, "confidence": round(confidence, 4), "grammar": grammar is not None})
    except Exception as error:
        reply({"error": str(error)})
