// multipart/form-data REST bodies from Node (the FormData that Node's own fetch sends, as older
// official helper libraries did): Messages.json and Calls.json created from a multipart body
// answer exactly as from a form-encoded one, a missing parameter gets the same Twilio error,
// and a body that is not multipart at all is a 400 with Twilio's error JSON.
//
// Run by crates/switchboard-cli/tests/it/compat.rs with SWITCHBOARD_URL, SID and TOKEN set.
import assert from "node:assert/strict";

const { SWITCHBOARD_URL: BASE, SID, TOKEN } = process.env;
const NUMBER = "+15550470001";
const account = `${BASE}/2010-04-01/Accounts/${SID}`;
const auth = "Basic " + Buffer.from(`${SID}:${TOKEN}`).toString("base64");

async function post(path, body) {
  const headers = { Authorization: auth };
  if (typeof body === "string") headers["Content-Type"] = "application/x-www-form-urlencoded";
  const response = await fetch(`${account}/${path}`, { method: "POST", headers, body });
  const text = await response.text();
  return { status: response.status, type: response.headers.get("content-type"), json: text ? JSON.parse(text) : null };
}

function both(pairs) {
  const form = new URLSearchParams(pairs).toString();
  const multipart = new FormData();
  for (const [name, value] of pairs) multipart.append(name, value);
  return { form, multipart };
}

const created = await post("IncomingPhoneNumbers.json", new URLSearchParams({ PhoneNumber: NUMBER }).toString());
assert.equal(created.status, 201, JSON.stringify(created.json));

// Messages.json
{
  const { form, multipart } = both([["To", "+15558470001"], ["From", NUMBER], ["Body", "héllo & bye = 1+1"]]);
  const a = await post("Messages.json", form);
  const b = await post("Messages.json", multipart);
  assert.equal(a.status, 201, JSON.stringify(a.json));
  assert.equal(b.status, 201, JSON.stringify(b.json));
  for (const field of ["to", "from", "body", "num_segments", "direction", "status", "api_version"]) {
    assert.deepEqual(b.json[field], a.json[field], field);
  }
  assert.notEqual(b.json.sid, a.json.sid);
}

// Calls.json, with a repeated parameter
{
  const twiml = "<Response><Say>multipart</Say></Response>";
  const { form, multipart } = both([
    ["To", "+15558470002"], ["From", NUMBER], ["Twiml", twiml],
    ["StatusCallbackEvent", "initiated"], ["StatusCallbackEvent", "completed"],
  ]);
  const a = await post("Calls.json", form);
  const b = await post("Calls.json", multipart);
  assert.equal(a.status, 201, JSON.stringify(a.json));
  assert.equal(b.status, 201, JSON.stringify(b.json));
  for (const field of ["to", "from", "direction", "api_version"]) {
    assert.deepEqual(b.json[field], a.json[field], field);
  }
}

// The same error for the same missing parameter
{
  const { form, multipart } = both([["From", NUMBER], ["Body", "no one to send to"]]);
  const a = await post("Messages.json", form);
  const b = await post("Messages.json", multipart);
  assert.equal(a.status, 400);
  assert.deepEqual(b, a);
  assert.equal(b.json.code, 21604);
}

// Not multipart at all, though it says so: 400 with Twilio's error JSON
{
  const response = await fetch(`${account}/Messages.json`, {
    method: "POST",
    headers: { Authorization: auth, "Content-Type": "multipart/form-data; boundary=zz" },
    body: "To=%2B15558470001&From=%2B15550470001&Body=x",
  });
  assert.equal(response.status, 400);
  const json = await response.json();
  assert.equal(json.status, 400);
  assert.equal(json.code, 20422);
  assert.match(json.more_info, /twilio\.com\/docs\/errors\/20422/);
}

console.log("all checks passed");
