// Drives headless Debian Chromium with playwright-core: opens the test page and waits until it
// reports a received MESSAGE (document.title "GOT:..."), printing one JSON line per step:
//   {"event":"status","status":"subscribed"}   once the page subscribed and its SEND was receipted
//   {"event":"done","title":...,"version":...,"received":...} at the end (or {"event":"error",...}).
// Usage: node driver.js <page url> <timeout ms>
const fs = require("fs");
const os = require("os");
const path = require("path");
const { chromium } = require("playwright-core");

const [url, timeoutArg] = process.argv.slice(2);
const timeout = Number(timeoutArg || 20000);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");

(async () => {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "stomp-chromium-"));
  let ctx;
  try {
    ctx = await chromium.launchPersistentContext(userDataDir, {
      executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
      headless: true,
      timeout,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    const page = ctx.pages()[0] || (await ctx.newPage());
    page.on("console", (m) => out({ event: "console", text: m.text() }));
    await page.goto(url, { timeout });
    const deadline = Date.now() + timeout;
    let last = "";
    for (;;) {
      const title = await page.title();
      if (title !== last) { out({ event: "status", status: title }); last = title; }
      if (title.startsWith("GOT:") || title.startsWith("ERROR:")) break;
      if (Date.now() > deadline) break;
      await page.waitForTimeout(50);
    }
    const received = await page.textContent("#received");
    const version = await page.textContent("#version");
    out({ event: "done", title: await page.title(), version, received });
  } catch (e) {
    out({ event: "error", error: String(e) });
    process.exitCode = 1;
  } finally {
    if (ctx) await ctx.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
})();
