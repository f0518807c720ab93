// The web console in headless Chromium (playwright-core), against a real engine started by
// tests/console.rs. Prints "all checks passed" at the end; any failed check throws.
//
// Environment: SWITCHBOARD_URL, SID, TOKEN (the main account), SUB_SID, SUB_TOKEN (a
// subaccount, the "other account"), PRIMARY_URL (a URL nobody answers), FALLBACK_URL (valid
// TwiML with a pause, so the call is still running when its page opens), SCREENSHOTS (a folder),
// NODE_MODULES (playwright-core, axe-core, twilio).
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import assert from "node:assert/strict";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const require = createRequire(path.join(env("NODE_MODULES"), "noop.js"));
const { chromium } = require("playwright-core");
const twilio = require("twilio");
const AXE = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

const BASE = env("SWITCHBOARD_URL");
const SID = env("SID");
const TOKEN = env("TOKEN");
const SHOTS = env("SCREENSHOTS");
fs.mkdirSync(SHOTS, { recursive: true });

const WIDTHS = [375, 1440];
const checked = [];

function step(name) {
  console.log(`-- ${name}`);
}

// axe-core's WCAG 2.1 A and AA rules on the page as it is now, at each width, with a screenshot
// per width; the page must not scroll sideways at either width.
async function audit(page, name) {
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: 900 });
    await page.addScriptTag({ content: AXE });
    const result = await page.evaluate(async () =>
      // eslint-disable-next-line no-undef
      axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } }),
    );
    const violations = result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`);
    assert.deepEqual(violations, [], `axe on ${name} at ${width}px`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${name} scrolls sideways by ${overflow}px at ${width}px`);
    await page.screenshot({ path: path.join(SHOTS, `${name}-${width}.png`), fullPage: true });
  }
  checked.push(name);
}

async function signIn(page, sid, token) {
  await page.goto(`${BASE}/console/signin`);
  await page.fill("#AccountSid", sid);
  await page.fill("#AuthToken", token);
  await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
try {
  const context = await browser.newContext();
  const page = await context.newPage();

  step("a wrong token is refused, and says nothing about the SID");
  await page.goto(`${BASE}/console/signin`);
  await audit(page, "signin");
  await page.fill("#AccountSid", SID);
  await page.fill("#AuthToken", "0".repeat(32));
  const [refused] = await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
  assert.equal(refused.status(), 401);
  const wrongToken = await page.textContent("#signin-problem");
  await page.fill("#AccountSid", "AC" + "0".repeat(32));
  await page.fill("#AuthToken", "0".repeat(32));
  const [unknown] = await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
  assert.equal(unknown.status(), 401);
  assert.equal(await page.textContent("#signin-problem"), wrongToken, "an unknown SID gets the same answer");
  assert.ok(!(await context.cookies()).some((c) => c.name === "sb_session"), "no session after a refusal");

  step("sign in");
  await signIn(page, SID, TOKEN);
  assert.equal(new URL(page.url()).pathname, "/console/numbers");
  const session = (await context.cookies()).find((c) => c.name === "sb_session");
  assert.ok(session, "a session cookie");
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, "Strict");
  await audit(page, "numbers-empty");

  step("provision a number; a refused value shows the API's error next to its input");
  await page.fill("#PhoneNumber", "not a number");
  const [bad] = await Promise.all([page.waitForNavigation(), page.click("form[action='/console/numbers'] button[type=submit]")]);
  assert.equal(bad.status(), 400);
  assert.match(await page.textContent("#PhoneNumber-error"), /Error 21421/);
  await audit(page, "numbers-error");
  await page.fill("#PhoneNumber", "");
  await page.fill("#AreaCode", "415");
  await page.fill("#FriendlyName", "Console line");
  await Promise.all([page.waitForNavigation(), page.click("form[action='/console/numbers'] button[type=submit]")]);
  const numberPath = new URL(page.url()).pathname;
  assert.match(numberPath, /^\/console\/numbers\/PN[0-9a-f]{32}$/);
  const numberSid = numberPath.split("/").pop();
  const phoneNumber = (await page.textContent("h1")).trim();
  assert.match(phoneNumber, /^\+1415\d{7}$/);

  step("set the Voice URL and Voice Fallback URL through the form");
  await page.fill("#VoiceUrl", "ftp://nowhere");
  const [badUrl] = await Promise.all([page.waitForNavigation(), page.click("form[action$='" + numberSid + "'] button[type=submit]")]);
  assert.equal(badUrl.status(), 400);
  assert.match(await page.textContent("#VoiceUrl-error"), /Error \d{5}/);
  assert.equal(await page.inputValue("#VoiceUrl"), "ftp://nowhere", "what was typed is kept");
  await page.fill("#VoiceUrl", env("PRIMARY_URL"));
  await page.selectOption("#VoiceMethod", "POST");
  await page.fill("#VoiceFallbackUrl", env("FALLBACK_URL"));
  await page.selectOption("#VoiceFallbackMethod", "POST");
  // Nobody answers the status callback either: its delivery fails (the engine makes one attempt).
  await page.fill("#StatusCallback", env("PRIMARY_URL") + "/status");
  await Promise.all([page.waitForNavigation(), page.click("form[action$='" + numberSid + "'] button[type=submit]")]);
  assert.equal(await page.inputValue("#VoiceUrl"), env("PRIMARY_URL"));
  step("the fallback probe's last result is on the number's page");
  for (let i = 0; i < 50 && !(await page.locator("p.ok", { hasText: "answered the last probe" }).count()); i++) {
    await page.waitForTimeout(200);
    await page.reload();
  }
  assert.equal(await page.locator("p.ok", { hasText: "answered the last probe" }).count(), 1, "a probe result");
  await audit(page, "number");

  step("read them back through the official twilio client");
  const client = twilio(SID, TOKEN);
  client.api.baseUrl = BASE;
  const fetched = await client.incomingPhoneNumbers(numberSid).fetch();
  assert.equal(fetched.voiceUrl, env("PRIMARY_URL"));
  assert.equal(fetched.voiceFallbackUrl, env("FALLBACK_URL"));
  assert.equal(fetched.friendlyName, "Console line");
  assert.equal(fetched.phoneNumber, phoneNumber);

  step("a form posted without its CSRF token is refused");
  await page.evaluate(() => document.querySelector("form[action$='/release'] input[name=csrf]").remove());
  const [forged] = await Promise.all([page.waitForNavigation(), page.click("form[action$='/release'] button[type=submit]")]);
  assert.equal(forged.status(), 403);
  await audit(page, "csrf-refused");
  const still = await client.incomingPhoneNumbers(numberSid).fetch();
  assert.equal(still.sid, numberSid, "the number was not released");

  step("the debugger is open before the failing call");
  const debuggerPage = await context.newPage();
  await debuggerPage.goto(`${BASE}/console/alerts`);
  await debuggerPage.waitForFunction(() => true);
  const alertsBefore = await debuggerPage.locator("#alerts tr").count();

  step("a test call whose primary is down shows the fallback request in its transcript");
  await page.goto(`${BASE}${numberPath}`);
  await page.fill("#Digits", "1");
  await Promise.all([page.waitForNavigation(), page.click("form[action$='/call'] button:has-text('Place a test call')")]);
  const callPath = new URL(page.url()).pathname;
  assert.match(callPath, /^\/console\/calls\/CA[0-9a-f]{32}$/);
  const callSid = callPath.split("/").pop();
  const fallbackItem = page.locator("li.event[data-type=webhook]", { has: page.locator(".badge.fallback") });
  await fallbackItem.first().waitFor({ timeout: 20000 });
  const params = await fallbackItem.first().evaluate((li) => {
    const out = {};
    const dts = li.querySelectorAll("dl.params dt");
    for (const dt of dts) out[dt.textContent] = dt.nextElementSibling.textContent;
    return out;
  });
  assert.match(params.ErrorCode || "", /^1\d{4}$/, JSON.stringify(params));
  assert.equal(params.ErrorUrl, env("PRIMARY_URL"));
  const primaryItem = page.locator("li.event[data-type=webhook]").first();
  assert.match(await primaryItem.textContent(), /error 11\d{3}/);
  step("the transcript is live: the event after the pause arrives without a reload");
  await page.locator("li.event[data-type=say]", { hasText: "after the pause" }).waitFor({ timeout: 20000 });
  await page.waitForFunction(() => document.getElementById("call-status").textContent === "completed", null, { timeout: 20000 });
  await audit(page, "call");

  step("the alert appears in the open debugger without a reload");
  await debuggerPage.locator("#alerts tr").nth(alertsBefore).waitFor({ timeout: 20000 });
  const alertRow = debuggerPage.locator("#alerts tr").first();
  assert.match(await alertRow.textContent(), /error/);
  const alertHref = await alertRow.locator("a").getAttribute("href");
  await audit(debuggerPage, "alerts");
  await debuggerPage.goto(`${BASE}${alertHref}`);
  assert.match(await debuggerPage.textContent("main"), new RegExp(callSid));
  await audit(debuggerPage, "alert");

  step("a drill from the number's page: the primary is not asked, the fallback is");
  await page.goto(`${BASE}${numberPath}`);
  await Promise.all([page.waitForNavigation(), page.click("form[action$='/call'] button:has-text('Run a drill')")]);
  const drillPath = new URL(page.url()).pathname;
  assert.notEqual(drillPath, callPath);
  const drillFallback = page.locator("li.event[data-type=webhook]", { has: page.locator(".badge.fallback") });
  await drillFallback.first().waitFor({ timeout: 20000 });
  assert.equal(await page.locator("li.event[data-type=webhook]").first().locator(".badge.fallback").count(), 1,
    "the drill's first request is the fallback");
  const drillParams = await drillFallback.first().evaluate((li) => {
    const out = {};
    for (const dt of li.querySelectorAll("dl.params dt")) out[dt.textContent] = dt.nextElementSibling.textContent;
    return out;
  });
  assert.equal(drillParams.ErrorCode, "11200");
  assert.equal(drillParams.ErrorUrl, env("PRIMARY_URL"));

  step("the numbers list");
  await page.goto(`${BASE}/console/numbers`);
  assert.equal(await page.locator(`a[href='${numberPath}']`).textContent(), phoneNumber);
  await audit(page, "numbers");

  step("lists, filters and the other pages");
  await page.goto(`${BASE}/console/calls?Status=completed`);
  assert.ok((await page.locator(`a[href='${callPath}']`).count()) === 1, "the call is in the filtered list");
  await audit(page, "calls");
  await page.goto(`${BASE}/console/calls?Status=busy`);
  assert.equal(await page.locator(`a[href='${callPath}']`).count(), 0, "a filter that excludes it");
  const today = new Date().toISOString().slice(0, 10);
  await page.goto(`${BASE}/console/calls?StartTime=${today}&To=${encodeURIComponent(phoneNumber)}`);
  assert.equal(await page.locator(`a[href='${callPath}']`).count(), 1, "today's calls to the number");
  await page.goto(`${BASE}/console/calls?StartTime=2001-01-01`);
  assert.equal(await page.locator(`a[href='${callPath}']`).count(), 0, "a day without calls");
  const texted = await page.request.post(`${BASE}/sandbox/Messages`, {
    headers: { Authorization: "Basic " + Buffer.from(`${SID}:${TOKEN}`).toString("base64") },
    form: { To: phoneNumber, From: "+15005550006", Body: "Hello from the sandbox" },
  });
  assert.equal(texted.status(), 201);
  const messageSid = (await texted.json()).message_sid;
  await page.goto(`${BASE}/console/messages`);
  await page.locator(`a[href='/console/messages/${messageSid}']`).waitFor();
  await audit(page, "messages");
  await page.goto(`${BASE}/console/messages/${messageSid}`);
  assert.match(await page.textContent("main"), /Hello from the sandbox/);
  await audit(page, "message");
  step("the call's failed status callback is under deliveries, and is sent again on request");
  const deliveryRow = () => page.locator("tbody tr", { hasText: callSid });
  for (let i = 0; i < 50 && !(await deliveryRow().count()); i++) {
    await page.waitForTimeout(200);
    await page.goto(`${BASE}/console/deliveries?Status=failed`);
  }
  await page.goto(`${BASE}/console/deliveries?Status=failed`);
  assert.ok((await deliveryRow().count()) >= 1, "a failed delivery for the call");
  await audit(page, "deliveries");
  const attemptsBefore = Number(await deliveryRow().first().locator("td").nth(3).textContent());
  await Promise.all([page.waitForNavigation(), deliveryRow().first().locator("button").click()]);
  assert.equal(new URL(page.url()).pathname, "/console/deliveries");
  let attemptsAfter = attemptsBefore;
  for (let i = 0; i < 50 && attemptsAfter <= attemptsBefore; i++) {
    await page.waitForTimeout(200);
    await page.goto(`${BASE}/console/deliveries?Status=failed`);
    if (await deliveryRow().count()) attemptsAfter = Number(await deliveryRow().first().locator("td").nth(3).textContent());
  }
  assert.ok(attemptsAfter > attemptsBefore, `the replay made another attempt (${attemptsBefore} → ${attemptsAfter})`);
  await page.goto(`${BASE}/console/settings`);
  await audit(page, "settings");
  await page.fill("#DebuggerWebhookUrl", "not a url");
  const [badHook] = await Promise.all([page.waitForNavigation(), page.click("form[action='/console/settings'] button[type=submit]")]);
  assert.equal(badHook.status(), 400);
  assert.match(await page.textContent("#DebuggerWebhookUrl-error"), /Error \d{5}/);

  step("another account's call answers 404");
  const other = await browser.newContext();
  const otherPage = await other.newPage();
  await signIn(otherPage, env("SUB_SID"), env("SUB_TOKEN"));
  const foreign = await otherPage.goto(`${BASE}${callPath}`);
  assert.equal(foreign.status(), 404);
  const foreignNumber = await otherPage.goto(`${BASE}${numberPath}`);
  assert.equal(foreignNumber.status(), 404);
  await audit(otherPage, "not-found");
  await other.close();

  step("release a number");
  await page.goto(`${BASE}/console/numbers`);
  await page.fill("#PhoneNumber", "+14155550199");
  await Promise.all([page.waitForNavigation(), page.click("form[action='/console/numbers'] button[type=submit]")]);
  const releasedSid = new URL(page.url()).pathname.split("/").pop();
  await Promise.all([page.waitForNavigation(), page.click("form[action$='/release'] button[type=submit]")]);
  assert.equal(new URL(page.url()).pathname, "/console/numbers");
  await assert.rejects(client.incomingPhoneNumbers(releasedSid).fetch(), (error) => error.status === 404);

  step("sign out ends the session");
  await page.goto(`${BASE}/console/numbers`);
  await Promise.all([page.waitForNavigation(), page.click("form[action='/console/signout'] button")]);
  assert.equal(new URL(page.url()).pathname, "/console/signin");
  const after = await page.goto(`${BASE}/console/numbers`);
  assert.equal(new URL(after.url()).pathname, "/console/signin", "signed out pages send to the sign-in form");
} finally {
  await browser.close();
}
console.log(`pages audited at ${WIDTHS.join(" and ")} px: ${checked.join(", ")}`);
console.log("all checks passed");
