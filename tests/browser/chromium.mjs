// What every browser test script shares: its settings from the
// environment (tests/api/browser.rs sets them) and Debian's Chromium,
// headless, launched by playwright-core.
import { chromium } from "playwright-core";

/** The environment variable `name`; a script without it cannot run. */
export const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

const options = () => ({
  executablePath: env("CHROMIUM"),
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

/**
 * Headless Chromium ($CHROMIUM), with nothing of its own on the network.
 * A browser that dies while starting (it happens on a loaded 2-core
 * machine running the rest of the suite) is started again, up to three
 * times: the tests are about the page, not about Chromium's start.
 */
export const launch = async () => {
  let last;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await chromium.launch(options());
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 500 * (attempt + 1)));
    }
  }
  throw last;
};
