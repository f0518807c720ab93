// Messaging Services and scheduled messages with the official twilio npm package (6.x): the REST
// client's `messaging` and `api` domains pointed at the engine (`Domain.baseUrl`), and the
// customer's app (MessagingResponse, validateRequest) answering the service's inbound URLs; the
// engine's sandbox plays the handsets.
//
// Run by crates/switchboard-cli/tests/it/compat.rs with NODE_PATH set to the node_modules folder,
// SWITCHBOARD_URL, SID and TOKEN, on an engine started with `--schedule-min-ahead 1`.
"use strict";

const http = require("node:http");
const assert = require("node:assert/strict");
const twilio = require("twilio");

const { SWITCHBOARD_URL: URL_, SID, TOKEN } = process.env;
const received = []; // { path, params, valid }

function replyFor(path, params) {
  const response = new twilio.twiml.MessagingResponse();
  if (path === "/service-in") response.message(`service got: ${params.Body}`);
  else if (path === "/service-fallback") response.message(`service fallback (${params.ErrorCode})`);
  else if (path === "/down") return [500, "text/html", "<h1>boom</h1>"];
  else if (path === "/status") return [204, "text/plain", ""];
  return [200, "application/xml", response.toString()];
}

const app = http.createServer((request, response) => {
  let body = "";
  request.on("data", (chunk) => (body += chunk));
  request.on("end", () => {
    const params = Object.fromEntries(new URLSearchParams(body));
    const url = `http://127.0.0.1:${app.address().port}${request.url}`;
    const valid = twilio.validateRequest(TOKEN, request.headers["x-twilio-signature"] || "", url, params);
    const path = new URL(url).pathname;
    received.push({ path, params, valid });
    const [status, type, text] = replyFor(path, params);
    response.writeHead(status, { "Content-Type": type });
    response.end(text);
  });
});

const hits = (path) => received.filter((hit) => hit.path === path).map((hit) => hit.params);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const auth = "Basic " + Buffer.from(`${SID}:${TOKEN}`).toString("base64");

async function expectCode(code, action) {
  try {
    await action();
  } catch (error) {
    assert.equal(error.code, code, `${error.code}: ${error.message}`);
    return;
  }
  assert.fail(`expected ${code}`);
}

async function waitForStatus(client, sid, status) {
  const deadline = Date.now() + 15000;
  for (;;) {
    const message = await client.messages(sid).fetch();
    if (message.status === status) return message;
    if (Date.now() > deadline) assert.fail(`${sid} is ${message.status}, not ${status}`);
    await sleep(50);
  }
}

async function textIn(to, body) {
  const form = new URLSearchParams({ To: to, From: "+15005550006", Body: body });
  const sent = await fetch(`${URL_}/sandbox/Messages`, { method: "POST", headers: { Authorization: auth }, body: form });
  assert.equal(sent.status, 201, await sent.clone().text());
  const sid = (await sent.json()).message_sid;
  const done = await fetch(`${URL_}/sandbox/Messages/${sid}?WaitFor=done&Timeout=20`, { headers: { Authorization: auth } });
  assert.equal(done.status, 200);
  return [sid, await done.json()];
}

async function main() {
  await new Promise((resolve) => app.listen(0, "127.0.0.1", resolve));
  const APP = `http://127.0.0.1:${app.address().port}`;
  const client = twilio(SID, TOKEN);
  client.api.baseUrl = URL_;
  client.messaging.baseUrl = URL_;

  // A service with a pool of one number.
  const service = await client.messaging.v1.services.create({
    friendlyName: "Deliveries",
    inboundRequestUrl: `${APP}/service-in`,
    fallbackUrl: `${APP}/service-fallback`,
    statusCallback: `${APP}/status`,
    useInboundWebhookOnNumber: false,
  });
  assert.match(service.sid, /^MG[0-9a-f]{32}$/);
  assert.equal(service.useInboundWebhookOnNumber, false);
  assert.ok(service.dateCreated instanceof Date && !isNaN(service.dateCreated));
  const number = await client.incomingPhoneNumbers.create({ phoneNumber: "+15550180001" });
  const pool = client.messaging.v1.services(service.sid).phoneNumbers;
  const added = await pool.create({ phoneNumberSid: number.sid });
  assert.equal(added.sid, number.sid);
  assert.equal(added.phoneNumber, "+15550180001");
  assert.deepEqual((await pool.list()).map((n) => n.sid), [number.sid]);
  assert.equal((await pool(number.sid).fetch()).serviceSid, service.sid);
  assert.deepEqual((await client.messaging.v1.services.list()).map((s) => s.sid), [service.sid]);

  // Sent through the service: the sender from the pool, the service's status callback.
  const message = await client.messages.create({ to: "+15557790001", messagingServiceSid: service.sid, body: "on its way" });
  assert.equal(message.from, "+15550180001");
  assert.equal(message.messagingServiceSid, service.sid);
  await waitForStatus(client, message.sid, "delivered");
  const deadline = Date.now() + 10000;
  while (hits("/status").filter((p) => p.MessageSid === message.sid).length < 3 && Date.now() < deadline) await sleep(50);
  assert.deepEqual(hits("/status").filter((p) => p.MessageSid === message.sid).map((p) => p.MessageStatus), ["sending", "sent", "delivered"]);

  // Scheduled: one canceled, one sent at its time.
  await expectCode(35118, () => client.messages.create({
    to: "+15557790001", from: "+15550180001", body: "x", scheduleType: "fixed", sendAt: new Date(Date.now() + 3600e3),
  }));
  const canceled = await client.messages.create({
    to: "+15557790002", messagingServiceSid: service.sid, body: "never", scheduleType: "fixed", sendAt: new Date(Date.now() + 3600e3),
  });
  assert.equal(canceled.status, "scheduled");
  assert.equal((await client.messages(canceled.sid).update({ status: "canceled" })).status, "canceled");
  await expectCode(20422, () => client.messages(canceled.sid).update({ status: "canceled" }));
  const sendAt = new Date(Math.ceil((Date.now() + 3000) / 1000) * 1000);
  const scheduled = await client.messages.create({
    to: "+15557790003", messagingServiceSid: service.sid, body: "later", scheduleType: "fixed", sendAt,
  });
  assert.equal(scheduled.status, "scheduled");
  const sent = await waitForStatus(client, scheduled.sid, "delivered");
  assert.ok(sent.dateSent >= sendAt && sent.dateSent - sendAt <= 3000, `${sent.dateSent} vs ${sendAt}`);
  assert.equal((await client.messages(canceled.sid).fetch()).status, "canceled");

  // Inbound to the pool number: the service's URL, then its fallback when that fails.
  let [sid, transcript] = await textIn("+15550180001", "hello");
  assert.deepEqual(transcript.replies.map((r) => r.body), ["service got: hello"]);
  assert.equal(hits("/service-in").at(-1).MessagingServiceSid, service.sid);
  await client.messaging.v1.services(service.sid).update({ inboundRequestUrl: `${APP}/down` });
  [sid, transcript] = await textIn("+15550180001", "again");
  assert.deepEqual(transcript.replies.map((r) => r.body), ["service fallback (11200)"]);
  assert.equal(hits("/service-fallback").at(-1).MessageSid, sid);

  // Removing the number and the service.
  assert.equal(await pool(number.sid).remove(), true);
  assert.deepEqual(await pool.list(), []);
  assert.equal(await client.messaging.v1.services(service.sid).remove(), true);
  await expectCode(20404, () => client.messaging.v1.services(service.sid).fetch());

  const invalid = received.filter((hit) => !hit.valid);
  assert.deepEqual(invalid, []);
  console.log(`messaging_services.js: all checks passed (${received.length} signed webhooks validated)`);
  app.close();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
