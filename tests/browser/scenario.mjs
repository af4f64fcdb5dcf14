// Issue 14's "Done when", in a real browser: Debian's Chromium (headless)
// driven by playwright-core, each party with its own dev client
// certificate (the `clientCertificates` context option), axe-core on every
// screen (no serious or critical violation), screenshots as artifacts.
//
// Started by tests/api/web.rs (`web_the_scenario_in_a_real_browser`) against
// a gateway it seeded; everything it needs comes in CAREHUB_* variables.
// Exits non-zero on the first failed check.

import { chromium } from "playwright-core";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createRequire } from "node:module";
import https from "node:https";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const BASE = env("CAREHUB_URL");
const ARTIFACTS = env("CAREHUB_ARTIFACTS");
const INSURER = env("CAREHUB_INSURER");
const PERSON = env("CAREHUB_PERSON");
const MISSING = env("CAREHUB_MISSING_PERSON");
const APPLICATION = env("CAREHUB_APPLICATION");
const BURDEN_ID = env("CAREHUB_BURDEN_RATIO_ID");
const TOKEN = env("CAREHUB_PERSON_TOKEN");
const CA = readFileSync(env("CAREHUB_CA"));
const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

// A party's client certificate: PEM files, or for the care manager the
// PKCS#12 that `carehub dev p12` wrote (as an office imports it).
const cert = (who) => process.env[`CAREHUB_PFX_${who}`]
  ? { pfxPath: env(`CAREHUB_PFX_${who}`), passphrase: env("CAREHUB_PFX_PASSWORD") }
  : { certPath: env(`CAREHUB_CERT_${who}`), keyPath: env(`CAREHUB_KEY_${who}`) };

let checks = 0;
function check(cond, what) {
  if (!cond) throw new Error(`FAILED: ${what}`);
  checks += 1;
}

const browser = await chromium.launch({
  executablePath: process.env.CAREHUB_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-background-networking", "--disable-dev-shm-usage"],
});

const pages = [];
// On a failure: every open page's address, text and a screenshot.
process.on("uncaughtException", async (e) => {
  console.error(e);
  for (const [who, page] of pages) {
    try {
      console.error(`--- ${who} at ${page.url()}:\n${await page.locator("body").innerText()}`);
      await page.screenshot({ path: join(ARTIFACTS, `failed-${who}.png`), fullPage: true });
    } catch (_) { /* the page may be gone */ }
  }
  process.exit(1);
});

async function as(who) {
  const context = await browser.newContext({
    // The dev CA is not in the browser's store: the client certificate
    // goes to the hub's origin only, and the server's certificate is
    // checked below with the dev CA in node (api()).
    ignoreHTTPSErrors: true,
    clientCertificates: [{ origin: BASE, ...cert(who) }],
    viewport: { width: 1280, height: 800 },
    locale: "ja-JP",
  });
  const page = await context.newPage();
  pages.push([who, page]);
  page.on("pageerror", (e) => { throw new Error(`page error on ${page.url()}: ${e}`); });
  return { context, page };
}

let shot = 0;
async function screenshot(page, name) {
  shot += 1;
  await page.screenshot({ path: join(ARTIFACTS, `${String(shot).padStart(2, "0")}-${name}.png`), fullPage: true });
}

// axe-core in the page (evaluated over the DevTools protocol, which the
// page's CSP does not govern; the page itself runs no inline script).
async function accessible(page, name) {
  await page.evaluate(AXE);
  const result = await page.evaluate(async () =>
    // eslint-disable-next-line no-undef
    await axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  for (const v of bad) {
    console.error(`axe ${name}: ${v.id} (${v.impact}): ${v.help}`, v.nodes.map((n) => n.target));
  }
  check(bad.length === 0, `${name}: no serious or critical accessibility violations`);
}

async function visit(page, path, name, expected = 200) {
  const resp = await page.goto(BASE + path);
  check(resp.status() === expected, `${name}: ${path} answers ${expected} (got ${resp.status()})`);
  const h = resp.headers();
  check(!h["content-security-policy"].includes("unsafe-inline"), `${name}: CSP without unsafe-inline`);
  check(h["x-frame-options"] === "DENY", `${name}: X-Frame-Options DENY`);
  check(h["cache-control"] === "no-store", `${name}: no-store`);
  await screenshot(page, name);
  await accessible(page, name);
  return resp;
}

const text = (page, sel = "main") => page.locator(sel).innerText();

// A JSON API call with a party's certificate (the municipality's decision).
function api(who, method, path, body) {
  const c = cert(who);
  return new Promise((resolve, reject) => {
    const req = https.request(BASE + path, {
      method,
      ca: CA,
      cert: readFileSync(c.certPath),
      key: readFileSync(c.keyPath),
      headers: { "content-type": "application/json" },
    }, (res) => {
      let data = "";
      res.on("data", (d) => { data += d; });
      res.on("end", () => resolve({ status: res.statusCode, body: data }));
    });
    req.on("error", reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

const personPath = `/web/office/persons/${INSURER}/${PERSON}`;

// 1. The care manager registers for the person and opens the person's page.
const cm = await as("CARE_MANAGER");
await visit(cm.page, "/web/office/", "cm-home");
await cm.page.getByRole("link", { name: "利用者を登録する" }).click();
await accessible(cm.page, "cm-register-form");
await cm.page.getByLabel("保険者番号（6桁）").fill(INSURER);
await cm.page.getByLabel("被保険者番号（10桁）").fill(PERSON);
await cm.page.getByLabel("確認の記録（照合番号など）").fill("資格確認端末 照合番号 0042");
await cm.page.getByLabel("開始日").fill("2025-04-01");
await screenshot(cm.page, "cm-register-filled");
await cm.page.getByRole("button", { name: "登録する" }).click();
await cm.page.waitForURL(`**${personPath}`);
await screenshot(cm.page, "cm-person");
await accessible(cm.page, "cm-person");

// 2. Survey, opinion and certificate shown as forms; the application is absent.
let body = await text(cm.page);
check(body.includes("介護保険被保険者証"), "cm sees the insurance certificate");
check(body.includes("要介護2（22）"), "the certificate shows the care level in words");
check(body.includes("19705 単位"), "the certificate shows the benefit limit");
check(body.includes("認定調査票"), "cm sees the certification survey");
check(body.includes("主治医意見書"), "cm sees the physician's opinion");
check(!body.includes("要介護認定申請書"), "cm does not see the certification application");
check(await cm.page.locator(".kind-certification_application").count() === 0, "no application sheet, not even greyed out");
check(!body.includes("\"care_level\""), "no raw JSON");

// 3. Past versions of the opinion.
await cm.page.getByRole("link", { name: "主治医意見書の詳細・過去の版" }).click();
await accessible(cm.page, "cm-opinion");
check((await text(cm.page)).includes("夜間の見守りを強化"), "the current opinion is version 2");
await cm.page.getByRole("link", { name: "第1版" }).click();
body = await text(cm.page);
check(body.includes("これは過去の版（第1版）です"), "the past version is marked as such");
await screenshot(cm.page, "cm-opinion-v1");

// 4. Progress, followed to the decision.
await cm.page.goto(BASE + personPath);
check((await text(cm.page, "section:has(#progress)")).includes("介護認定審査会日程決定"), "progress at the committee");
await cm.page.getByRole("link", { name: APPLICATION }).click();
await accessible(cm.page, "cm-progress");
const decided = await api("MUNICIPALITY", "POST", `/api/progress/applications/${APPLICATION}/steps`, {
  step: "decided", care_level: "23", certification_date: "2026-03-20",
  validity_start_date: "2026-04-01", validity_end_date: "2027-03-31", committee_opinion: "なし",
});
check(decided.status === 200, `the municipality decides (${decided.status} ${decided.body})`);
await cm.page.reload();
body = await text(cm.page);
check(body.includes("認定結果"), "the decision is shown");
check(body.includes("要介護3（23）"), "with its care level");
check((await cm.page.locator("ol.timeline > li").count()) === 8, "the timeline from received to decided");
await screenshot(cm.page, "cm-progress-decided");

// 5. The 届出 (care-plan request).
await cm.page.goto(BASE + personPath);
await cm.page.getByRole("link", { name: "届出を作成する" }).click();
await accessible(cm.page, "cm-request-form");
await cm.page.getByLabel("届出年月日").fill("2026-04-03");
await cm.page.getByLabel("被保険者氏名").fill("介護 太郎");
await cm.page.getByLabel("事業所名").fill("霞が関居宅介護支援事業所");
await cm.page.getByLabel("所在地").fill("東京都千代田区霞が関一丁目3番1号");
await cm.page.getByRole("button", { name: "市町村へ送信する" }).click();
await cm.page.waitForURL((u) => u.pathname === personPath);
check((await text(cm.page, "td.state")).includes("受付済"), "the sent 届出 is accepted, not yet answered");
await screenshot(cm.page, "cm-request-sent");

// 6. The municipality sees the application by stage and acknowledges the 届出.
const muni = await as("MUNICIPALITY");
await visit(muni.page, "/web/municipality/", "muni-applications");
check((await text(muni.page)).includes("認定（1件）"), "the decided application, grouped by stage");
await visit(muni.page, "/web/municipality/inbox", "muni-inbox");
await muni.page.getByLabel("受付番号").fill("千代田-2026-0042");
await muni.page.getByRole("button", { name: "受理する" }).click();
await muni.page.waitForURL("**/web/municipality/inbox");
check((await text(muni.page)).includes("未処理の届出はありません"), "the inbox is empty once answered");
await visit(muni.page, `/web/municipality/consent?insured_number=${PERSON}`, "muni-consent");
check((await text(muni.page)).includes("同意あり"), "consent in force");

// 7. The care manager sees the receipt.
await cm.page.goto(BASE + personPath);
check((await text(cm.page, "td.state")).includes("市町村が受理"), "acknowledged");
check((await text(cm.page, "td.receipt")).includes("千代田-2026-0042"), "with the municipality's receipt number");
await screenshot(cm.page, "cm-receipt");
// On a tablet.
await cm.page.setViewportSize({ width: 768, height: 1024 });
await screenshot(cm.page, "cm-receipt-tablet");
await accessible(cm.page, "cm-receipt-tablet");
await cm.page.setViewportSize({ width: 1280, height: 800 });

// 8. A medical institution never sees the burden-ratio certificate.
const med = await as("MEDICAL");
await med.page.goto(BASE + "/web/office/register");
await med.page.getByLabel("保険者番号（6桁）").fill(INSURER);
await med.page.getByLabel("被保険者番号（10桁）").fill(PERSON);
await med.page.getByLabel("確認の記録（照合番号など）").fill("受付 照合番号 7");
await med.page.getByLabel("開始日").fill("2025-04-01");
await med.page.getByRole("button", { name: "登録する" }).click();
await med.page.waitForURL(`**${personPath}`);
await accessible(med.page, "med-person");
await screenshot(med.page, "med-person");
body = await text(med.page);
check(body.includes("介護保険被保険者証"), "medical sees the insurance certificate");
check(!body.includes("負担割合証"), "medical does not see the burden-ratio certificate");
check(!body.includes("要介護認定の進捗") && !body.includes("居宅サービス計画作成依頼届出"), "progress and 届出 are the care manager's");
await visit(med.page, `/web/office/documents/${BURDEN_ID}`, "med-burden-refused", 403);
check(!(await text(med.page)).includes("負担割合"), "the refusal names nothing");
// The medical institution ends its registration; then it reads nothing more.
await med.page.goto(BASE + "/web/office/");
check((await text(med.page, "table.list tbody")).includes("登録中"), "medical is registered");
await med.page.getByRole("button", { name: "登録を終了する" }).click();
await med.page.waitForURL("**/web/office/");
check((await text(med.page, "table.list tbody")).includes("終了"), "its registration ended");
check(await med.page.getByRole("button", { name: "登録を終了する" }).count() === 0, "nothing left to end");
const ended = await med.page.goto(BASE + personPath);
check(ended.status() === 403, "an ended registration reads nothing");

// 9. The person withdraws consent (with a confirmation step).
const person = await as("PORTAL");
await person.page.goto(BASE + "/web/person/");
await person.page.waitForURL("**/web/person/login");
await accessible(person.page, "person-login");
await person.page.getByLabel("本人確認のトークン").fill(TOKEN);
await person.page.getByRole("button", { name: "表示する" }).click();
await person.page.waitForURL("**/web/person/");
await accessible(person.page, "person-home");
await screenshot(person.page, "person-home");
body = await text(person.page);
check(body.includes("同意あり"), "the person sees their consent");
check(body.includes("居宅介護支援事業所 1371234567"), "and their responsible offices");
check(body.includes("介護保険負担割合証"), "and their own documents");
check(body.includes("認定"), "and their certification progress");
const cookies = await person.context.cookies(BASE);
const c = cookies.find((k) => k.name === "__Host-carehub-person");
check(c && c.httpOnly && c.secure && c.sameSite === "Strict", "the person cookie is Secure, HttpOnly, SameSite=Strict");
await person.page.getByRole("link", { name: "同意を撤回する" }).click();
await person.page.waitForURL("**/web/person/withdraw");
await accessible(person.page, "person-withdraw-confirm");
await screenshot(person.page, "person-withdraw-confirm");
await person.page.getByRole("button", { name: "同意を撤回する（確定）" }).click();
await person.page.waitForURL((u) => u.pathname === "/web/person/");
check((await text(person.page)).includes("同意撤回"), "consent withdrawn");

// 10. The care manager's next page view is refused.
const refused = await cm.page.goto(BASE + personPath);
check(refused.status() === 403, `cm refused after the withdrawal (${refused.status()})`);
check(refused.headers()["carehub-problem-type"] === "urn:carehub:problem:forbidden", "with the forbidden problem type");
check(!(await text(cm.page)).includes("介護保険被保険者証"), "and nothing of the person");
await screenshot(cm.page, "cm-refused");
await accessible(cm.page, "cm-refused");

// 11. The person's access log lists those reads and the refusal.
await visit(person.page, "/web/person/accesses", "person-accesses");
const rows = await person.page.locator("table.accesses tbody tr").allInnerTexts();
const byCm = rows.filter((r) => r.includes("居宅介護支援事業所 1371234567"));
check(byCm.some((r) => r.includes("閲覧されました") && r.includes("書類一覧の閲覧")), "the care manager's reads are listed");
check(byCm.some((r) => r.includes("認定の進捗")), "including the progress views");
check(byCm.some((r) => r.includes("拒否されました")), "and the refusal after the withdrawal");
check(rows.filter((r) => r.includes("医療機関 1312345678") && r.includes("拒否されました")).length >= 1, "the medical refusal too");
check((await text(person.page, ".log-status")).includes("改ざんされていないことを確認しました"), "the log's status in plain words");

// 12. A cross-site form POST is refused (another origin's page posting to the hub).
await cm.context.route("https://evil.example/**", (route) => route.fulfill({
  status: 200,
  contentType: "text/html",
  body: `<!doctype html><html lang="en"><title>evil</title><form id="f" method="post" action="${BASE}/web/office/register">
    <input name="insurer_number" value="${INSURER}"><input name="insured_number" value="${MISSING}">
    <input name="verification_method" value="my_number_card"><input name="verification_reference" value="x">
    <input name="start" value="2025-04-01"><button>go</button></form></html>`,
}));
await cm.page.goto("https://evil.example/");
const [posted] = await Promise.all([
  cm.page.waitForNavigation(),
  cm.page.click("button"),
]);
check(posted.status() === 403, `the cross-site post is refused (${posted.status()})`);
check((await text(cm.page)).includes("urn:carehub:problem:cross-site-request"), "with the cross-site-request type");
await screenshot(cm.page, "cross-site-refused");
await cm.page.goto(BASE + "/web/office/");
check(!(await text(cm.page)).includes(MISSING), "and nothing was registered");

// 13. An unregistered office: the same refusal page for an existing and a missing person.
const other = await as("UNREGISTERED");
const a = await other.page.goto(BASE + personPath);
const aText = await text(other.page);
await screenshot(other.page, "unregistered-existing");
const b = await other.page.goto(BASE + `/web/office/persons/${INSURER}/${MISSING}`);
const bText = await text(other.page);
await screenshot(other.page, "unregistered-missing");
check(a.status() === 403 && b.status() === 403, "both refused");
check(aText === bText, "with the same page");

await browser.close();
console.log(`browser scenario: ${checks} checks passed, ${shot} screenshots in ${ARTIFACTS}`);
