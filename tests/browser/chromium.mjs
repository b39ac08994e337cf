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

/** Headless Chromium ($CHROMIUM), with nothing of its own on the network. */
export const launch = () =>
  chromium.launch({
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
