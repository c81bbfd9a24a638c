// An operator opens an order's trace in Zipkin's web UI (ZIPKIN_URL, TRACE_ID) in Debian's chromium
// and sees a row per hop (SPAN_NAMES, comma-separated). Started by tests/test_tracing.py.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { launch, run } from "./browser.mjs";

const ZIPKIN = process.env.ZIPKIN_URL;
const TRACE_ID = process.env.TRACE_ID;
const NAMES = (process.env.SPAN_NAMES ?? "").split(",");
const ARTIFACTS = process.env.ARTIFACTS ?? "../test-artifacts/tracing";
const WAIT_MS = 30_000; // the machine is shared: generous, but bounded

async function main() {
  mkdirSync(ARTIFACTS, { recursive: true });
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(`${ZIPKIN}/zipkin/traces/${TRACE_ID}`);
    await page.getByText(TRACE_ID).first().waitFor({ timeout: WAIT_MS });
    // The timeline names each span "<service>: <span name>".
    for (const name of NAMES) {
      await page.getByText(`shop: ${name}`, { exact: true }).first().waitFor({ timeout: WAIT_MS });
      console.log(`ok - the timeline shows ${name}`);
    }
    await page.screenshot({ path: join(ARTIFACTS, "trace.png"), fullPage: true });
  } finally {
    await browser.close();
  }
}

run(main, "zipkin e2e");
