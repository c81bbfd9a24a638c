// What every browser script shares: Debian's chromium (CHROMIUM) through playwright-core, and a
// run that prints the script's verdict and fails the process on any error.
import { chromium } from "playwright-core";

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
    timeout: 60_000,
  });
}

export function run(main, name) {
  main().then(
    () => console.log(`${name}: all passed`),
    (error) => {
      console.error(`not ok - ${error.stack ?? error}`);
      process.exit(1);
    },
  );
}
