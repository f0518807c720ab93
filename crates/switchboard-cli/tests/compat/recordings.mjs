// Mid-call recordings with the official twilio npm package (6.x): calls(sid).recordings
// .create / (sid).update({status}) / .fetch() / .remove(), Twilio.CURRENT, record and
// recordingStatusCallback on calls.create, recording status callbacks checked with
// twilio.validateRequest, and the recording as WAV and MP3.
//
// Run by crates/switchboard-cli/tests/it/compat.rs with SWITCHBOARD_URL, SID, TOKEN and
// SWITCHBOARD_NODE_MODULES set.
import assert from "node:assert/strict";
import http from "node:http";
import { createRequire } from "node:module";

const require = createRequire(process.env.SWITCHBOARD_NODE_MODULES + "/");
const twilio = require("twilio");
const { SWITCHBOARD_URL: URL_, SID, TOKEN } = process.env;
const NUMBER = "+15550430001";
const HANDSET = "+15558880043";
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const received = []; // { path, params, valid }
const server = http.createServer((request, response) => {
  let body = "";
  request.on("data", (chunk) => (body += chunk));
  request.on("end", () => {
    const url = `http://127.0.0.1:${server.address().port}${request.url}`;
    const params = Object.fromEntries(new URLSearchParams(body));
    const signature = request.headers["x-twilio-signature"] || "";
    received.push({ path: request.url, params, valid: twilio.validateRequest(TOKEN, signature, url, params) });
    if (request.url === "/hold") {
      response.writeHead(200, { "Content-Type": "application/xml" });
      response.end('<Response><Pause length="20"/></Response>');
    } else {
      response.writeHead(204);
      response.end();
    }
  });
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const APP = `http://127.0.0.1:${server.address().port}`;

const client = twilio(SID, TOKEN);
client.api.baseUrl = URL_;
const basic = "Basic " + Buffer.from(`${SID}:${TOKEN}`).toString("base64");

async function hits(path, count) {
  for (let i = 0; i < 200; i++) {
    const found = received.filter((r) => r.path === path);
    if (found.length >= count) return found;
    await sleep(50);
  }
  throw new Error(`${path}: fewer than ${count} requests`);
}

async function rejects(promise, status, code) {
  try {
    await promise;
  } catch (error) {
    assert.equal(error.status, status, error.message);
    assert.equal(error.code, code, error.message);
    return;
  }
  throw new Error(`expected ${status} / ${code}`);
}

await client.incomingPhoneNumbers.create({ phoneNumber: NUMBER, voiceUrl: `${APP}/hold` });
const call = await client.calls.create({
  to: HANDSET,
  from: NUMBER,
  url: `${APP}/hold`,
  record: true,
  trim: "do-not-trim",
  recordingStatusCallback: `${APP}/whole`,
  recordingStatusCallbackEvent: ["in-progress", "completed"],
});
for (let i = 0; (await client.calls(call.sid).fetch()).status !== "in-progress"; i++) {
  assert.ok(i < 200, "the call was not answered");
  await sleep(50);
}

const recording = await client.calls(call.sid).recordings.create({
  recordingStatusCallback: `${APP}/rec`,
  recordingStatusCallbackEvent: ["in-progress", "completed"],
});
assert.equal(recording.status, "in-progress");
assert.equal(recording.callSid, call.sid);
assert.equal(recording.source, "StartCallRecordingAPI");
const talk = await fetch(`${URL_}/sandbox/Calls/${call.sid}/Audio`, {
  method: "POST",
  headers: { Authorization: basic, "Content-Type": "application/x-www-form-urlencoded" },
  body: "Seconds=1",
});
assert.equal(talk.status, 200);
await sleep(1000);
const paused = await client.calls(call.sid).recordings("Twilio.CURRENT").update({ status: "paused", pauseBehavior: "silence" });
assert.equal(paused.status, "paused");
assert.equal(paused.sid, recording.sid);
await sleep(1000);
assert.equal((await client.calls(call.sid).recordings(recording.sid).update({ status: "in-progress" })).status, "in-progress");
await sleep(1000);
assert.equal((await client.calls(call.sid).recordings(recording.sid).update({ status: "stopped" })).status, "stopped");
const fetched = await client.calls(call.sid).recordings(recording.sid).fetch();
assert.equal(fetched.status, "completed");
assert.equal(fetched.duration, "3", "the pause is kept as silence");
await rejects(client.calls(call.sid).recordings(recording.sid).update({ status: "bogus" }), 400, 20422);

const callbacks = await hits("/rec", 2);
assert.ok(callbacks.every((c) => c.valid), "recording callbacks are signed");
assert.deepEqual(callbacks.map((c) => c.params.RecordingStatus), ["in-progress", "completed"]);
const done = callbacks[1].params;
assert.equal(done.RecordingSid, recording.sid);
assert.equal(done.RecordingDuration, "3");
const wav = await fetch(`${done.RecordingUrl}.wav`);
assert.equal(wav.status, 200);
const mp3 = await fetch(`${done.RecordingUrl}.mp3`);
assert.equal(mp3.status, 200);
assert.equal(mp3.headers.get("content-type"), "audio/mpeg");
const bytes = new Uint8Array(await mp3.arrayBuffer());
assert.ok(bytes[0] === 0xff && (bytes[1] & 0xe0) === 0xe0, "an MPEG audio frame");

const dropped = await client.calls(call.sid).recordings.create();
assert.equal(await client.calls(call.sid).recordings(dropped.sid).remove(), true);
await rejects(client.calls(call.sid).recordings(dropped.sid).fetch(), 404, 20404);

await client.calls(call.sid).update({ status: "completed" });
const whole = await hits("/whole", 2);
assert.ok(whole.every((c) => c.valid));
assert.deepEqual(whole.map((c) => c.params.RecordingSource), ["OutboundAPI", "OutboundAPI"]);
const listed = (await client.calls(call.sid).recordings.list()).map((r) => r.sid).sort();
assert.deepEqual(listed, [recording.sid, whole[1].params.RecordingSid].sort());
await rejects(client.calls(call.sid).recordings.create(), 400, 21220);

console.log("all checks passed");
// The engine keeps its webhook connections alive; do not wait for them to time out.
process.exit(0);
