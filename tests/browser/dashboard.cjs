// The dashboard in headless Chromium (run by scripts/test-dashboard).
//
// Starts `pinpoint devnet --keep` with a cheating trainer, loads the dashboard it serves,
// waits for the dispute to appear (a screenshot mid-dispute) and to resolve, checks that the
// verdict the page shows equals the API's /api/v1/disputes/{id} and the chain's ruling, that
// the page raised no script error and shows no API error, saves a screenshot, then stops the
// devnet with Ctrl-C (SIGINT) and expects its summary's checks to have passed (exit 0).
//
// usage: BROWSER_MODULES=<node_modules> node dashboard.cjs <pinpoint binary> <spec> <artifacts dir>
"use strict";
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const { chromium } = require(path.resolve(process.env.BROWSER_MODULES || "node_modules", "playwright-core"));

const [binary, spec, artifacts] = process.argv.slice(2);
if (!binary || !spec || !artifacts) {
  console.error("usage: node dashboard.cjs <pinpoint binary> <spec> <artifacts dir>");
  process.exit(2);
}
/** Seconds for the devnet to print its dashboard URL, then for the dispute to resolve. */
const START_S = 120, RESOLVE_S = 300, SUMMARY_S = 120;
const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  // Containers often give /dev/shm 64 MiB; Chromium's renderer then crashes ("Target crashed")
  // on a full-page screenshot. Shared memory goes to /tmp instead.
  "--disable-dev-shm-usage",
];
/** How many renderer crashes the test survives by reopening the page (each is reported). */
const MAX_RENDERER_CRASHES = 1;

let failures = 0;
function check(ok, what) {
  console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
  if (!ok) failures += 1;
}

/** Resolves with the first stderr match of `re` within `secs`. */
function waitFor(devnet, re, secs, log) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${re} within ${secs} s:\n${log.text}`)), secs * 1000);
    const look = () => {
      const m = log.text.match(re);
      if (m) { clearTimeout(timer); log.listeners.delete(look); resolve(m); }
    };
    log.listeners.add(look);
    devnet.once("exit", code => { clearTimeout(timer); reject(new Error(`the devnet exited (${code}) before ${re}:\n${log.text}`)); });
    look();
  });
}

async function main() {
  fs.mkdirSync(artifacts, { recursive: true });
  const devnet = spawn(binary, ["devnet", "--keep", "--spec", spec, "--cheat", "wrong-node:3:2", "--verifiers", "0"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const log = { text: "", listeners: new Set() };
  const append = chunk => { log.text += chunk.toString(); for (const l of [...log.listeners]) l(); };
  devnet.stdout.on("data", append);
  devnet.stderr.on("data", append);
  const exited = new Promise(resolve => devnet.on("exit", (code, signal) => resolve({ code, signal })));
  const userData = fs.mkdtempSync(path.join(os.tmpdir(), "pinpoint-chromium-"));
  let context;
  try {
    const [, url] = await waitFor(devnet, /dashboard and API of [\w-]+: (http:\/\/127\.0\.0\.1:\d+\/)/, START_S, log);
    console.log(`dashboard at ${url}`);
    context = await chromium.launchPersistentContext(userData, {
      executablePath: "/usr/bin/chromium",
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 900 },
    });
    const scriptErrors = [];
    const outside = [];
    // The page, reopened if its renderer crashes: the dashboard keeps no state of its own (it
    // polls the node's API), so a reopened page must show the same thing.
    let page, crashes = 0;
    const open = async () => {
      const p = context.pages().find(q => !q.isClosed()) || (await context.newPage());
      // What a crashed renderer reports on its way down (its aborted requests) is not the page's.
      let dead = false;
      const report = what => { if (!dead) scriptErrors.push(what); };
      p.on("pageerror", e => report(String(e)));
      p.on("console", m => { if (m.type() === "error") report(m.text()); });
      p.on("requestfailed", r => report(`request failed: ${r.url()}`));
      p.on("request", r => { if (!r.url().startsWith(url)) outside.push(r.url()); });
      p.on("crash", () => { dead = true; crashes += 1; });
      page = p;
      await page.goto(url);
    };
    /** Runs `step(page)`; after a renderer crash, reports it, reopens the page and runs it again. */
    const onPage = async (what, step) => {
      for (;;) {
        const before = crashes;
        try {
          return await step(page);
        } catch (e) {
          if (crashes === before || crashes > MAX_RENDERER_CRASHES) throw e;
          console.log(`note the renderer crashed (${crashes}) while ${what}; reopening the dashboard`);
          await page.close().catch(() => {});
          await open();
        }
      }
    };
    await open();
    // The node's own status shows (the first poll succeeded).
    await onPage("waiting for the first poll", p => p.waitForFunction(() => /^0x[0-9a-fA-F]{40} /.test(document.getElementById("me").textContent), null, { timeout: 20000 }));
    check(true, "the dashboard shows the node (its first poll succeeded)");

    await onPage("waiting for the dispute", async p => {
      await p.waitForSelector("#disputes [data-dispute] .track", { timeout: RESOLVE_S * 1000 });
      await p.screenshot({ path: path.join(artifacts, "dashboard-mid-dispute.png"), fullPage: true });
    });
    check(true, "a dispute with its bisection appears");

    const shown = await onPage("waiting for the verdict", async p => {
      // This referee's verdict, or its withdrawal when the chain decided the dispute first
      // (the other two referees voted before it finished; the parties then stop answering).
      const verdict = await p.waitForSelector("#disputes [data-dispute] .verdict[data-ruling], #disputes [data-dispute] .verdict[data-withdrawn]", { timeout: RESOLVE_S * 1000 });
      // The chain's ruling follows the referees' votes; wait until the page shows it too.
      await p.waitForSelector("#disputes [data-dispute][data-chain-ruling]:not([data-chain-ruling=''])", { timeout: RESOLVE_S * 1000 });
      return verdict.evaluate(el => ({
        id: Number(el.closest("[data-dispute]").dataset.dispute),
        chain: el.closest("[data-dispute]").dataset.chainRuling,
        ruling: el.dataset.ruling, step: Number(el.dataset.step), node: Number(el.dataset.node),
        rounds: Number(el.dataset.rounds), text: el.textContent,
        withdrawn: el.dataset.withdrawn === undefined ? null : Number(el.dataset.withdrawn),
      }));
    });
    console.log(`shown: ${JSON.stringify(shown)}`);
    const api = await (await fetch(new URL(`/api/v1/disputes/${shown.id}`, url))).json();
    const v = api.bisection && api.bisection.verdict;
    const w = api.bisection && api.bisection.withdrawn;
    if (shown.withdrawn !== null) {
      // Not a failure: a third referee can be slower than the committee's majority.
      check(!!w && w.rounds === shown.withdrawn && !v,
        `this referee withdrew after ${shown.withdrawn} rounds, as the API says (${JSON.stringify(w)}), with no verdict`);
      check(api.chain && api.chain.ruling_name === "challenger_wins" && shown.chain === "challenger_wins",
        `the cheater (wrong operator 2 in step 2 → 3) lost on chain (this referee: withdrawn, the chain decided first)`);
    } else {
      check(!!v, `the API has dispute ${shown.id}'s verdict`);
      if (v) {
        check(shown.ruling === v.ruling_name, `ruling shown ${shown.ruling} = API ${v.ruling_name}`);
        check(shown.step === v.step && shown.node === v.node, `step ${shown.step}, operator ${shown.node} shown = API step ${v.step}, operator ${v.node}`);
        check(shown.rounds === v.rounds, `rounds shown ${shown.rounds} = API ${v.rounds}`);
        check(shown.text.includes(v.ruling_name.replace(/_/g, " ")) && shown.text.includes(`operator ${v.node}`), `the verdict's text names them: ${shown.text}`);
      }
      check(api.chain && shown.chain === api.chain.ruling_name, `chain ruling shown ${shown.chain} = API ${api.chain && api.chain.ruling_name}`);
      check(shown.ruling === "challenger_wins" && shown.step === 2 && shown.node === 2,
        `the cheater (wrong operator 2 in step 2 → 3) lost (this referee: ${v ? v.settled : "no verdict"})`);
    }

    // The job reaches `finalized` on the page.
    const totals = await onPage("waiting for the job to finalize", async p => {
      await p.waitForFunction(() => [...document.querySelectorAll("#jobs td")].some(td => td.textContent === "finalized"), null, { timeout: RESOLVE_S * 1000 });
      // Totals come from a second request after the others; wait for them to fill in.
      await p.waitForFunction(() => /burned/.test(document.getElementById("totals").textContent), null, { timeout: 20000 }).catch(() => {});
      await p.screenshot({ path: path.join(artifacts, "dashboard.png"), fullPage: true });
      return p.textContent("#totals");
    });
    check(true, "the job shows finalized");
    check(/supply/.test(totals) && /burned/.test(totals), "chain totals show");
    const err = await page.textContent("#err");
    check(err === "", `no API error on the page${err ? ": " + err : ""}`);
    check(scriptErrors.length === 0, `no script error${scriptErrors.length ? ": " + scriptErrors.join("; ") : ""}`);
    check(outside.length === 0, `no request leaves the node${outside.length ? ": " + outside.join(", ") : ""}`);

    await waitFor(devnet, /Ctrl-C stops it/, SUMMARY_S, log);
    check(/all checks passed/.test(log.text), "the devnet's summary: all checks passed");
    devnet.kill("SIGINT");
    const { code, signal } = await exited;
    check(code === 0, `the devnet stops on Ctrl-C with exit 0 (got ${code ?? signal})`);
  } finally {
    if (context) await context.close().catch(() => {});
    if (devnet.exitCode === null && devnet.signalCode === null) devnet.kill("SIGKILL");
    fs.rmSync(userData, { recursive: true, force: true });
    fs.writeFileSync(path.join(artifacts, "devnet.log"), log.text);
  }
  console.log(`screenshots and the devnet's log in ${artifacts}`);
  if (failures) throw new Error(`${failures} check(s) failed`);
}

main().then(() => console.log("dashboard test passed"), e => {
  console.error(`dashboard test FAILED: ${e.stack || e}`);
  process.exit(1);
});
