// Opens each report in headless Chromium (playwright-core + Debian's /usr/bin/chromium; no browser
// download) and fails when:
//   - the page logs a console error, throws, or makes any network request (reports are offline);
//   - a chart failed to embed, or rendered an SVG without size or without any data mark.
// Saves a full-page screenshot next to each report (<name>.png).
//   node check_reports.cjs WEB_DIR OUT_DIR REPORT.html...
"use strict";
const path = require("path");
const [webDir, outDir, ...reports] = process.argv.slice(2);
const { chromium } = require(path.join(path.resolve(webDir), "node_modules", "playwright-core"));

const executablePath = process.env.TXGUARD_CHROMIUM || "/usr/bin/chromium";
const args = ["--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"];

async function checkReport(browser, file) {
  const problems = [];
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on("console", (m) => { if (m.type() === "error") problems.push("console error: " + m.text()); });
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("request", (r) => {
    if (!/^(file|data|blob|about):/.test(r.url())) problems.push("network request: " + r.url());
  });
  await page.goto("file://" + path.resolve(file), { waitUntil: "load", timeout: 60000 });
  await page.waitForFunction(() => window.txguardReport !== undefined, null, { timeout: 30000 });
  const failed = await page.evaluate(() => window.txguardReport.ready);
  if (failed !== 0) problems.push(failed + " chart(s) failed to embed");
  const charts = await page.evaluate(() => window.txguardReport.charts.map((id) => {
    const el = document.getElementById("chart-" + id);
    const svg = el && el.querySelector("svg");
    const canvas = el && el.querySelector("canvas");
    const box = (svg || canvas || el).getBoundingClientRect();
    const marks = svg ? svg.querySelectorAll("g.role-mark > path, g.role-mark > line, " +
                                             "g.role-mark > text, g.role-mark > rect").length : 0;
    return { id, svg: !!svg, canvas: !!canvas, width: box.width, height: box.height, marks };
  }));
  if (charts.length === 0) problems.push("the report has no charts");
  for (const c of charts) {
    if (!c.svg && !c.canvas) problems.push(`chart ${c.id}: no svg or canvas`);
    else if (c.width < 10 || c.height < 10) problems.push(`chart ${c.id}: empty (${c.width}x${c.height})`);
    else if (c.svg && c.marks === 0) problems.push(`chart ${c.id}: no data marks drawn`);
  }
  const shot = path.join(outDir, path.basename(file, ".html") + ".png");
  // A full-page screenshot of a large report can take over the default 30 s when other work
  // holds the cores (seen once while benchmarks ran); 120 s.
  await page.screenshot({ path: shot, fullPage: true, timeout: 120000 });
  await page.close();
  return { file, charts: charts.length, marks: charts.reduce((s, c) => s + c.marks, 0), shot,
           problems };
}

(async () => {
  const browser = await chromium.launch({ executablePath, args, headless: true });
  let bad = 0;
  try {
    for (const file of reports) {
      const r = await checkReport(browser, file);
      console.log(`${path.basename(r.file)}: ${r.charts} charts, ${r.marks} marks, screenshot ${r.shot}`);
      for (const p of r.problems) console.log("  FAIL " + p);
      if (r.problems.length) bad++;
    }
  } finally {
    await browser.close();
  }
  if (bad) {
    console.log(`${bad} report(s) failed`);
    process.exit(1);
  }
  console.log("all reports rendered without errors");
})().catch((e) => { console.error(e); process.exit(1); });
