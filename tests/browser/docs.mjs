// The API reference page in headless Chromium: Redoc renders the OpenAPI
// document, and nothing is fetched from anywhere but the API itself.
// Prints what the browser saw as JSON (tests/api/browser.rs checks it).
import { env, launch } from "./chromium.mjs";

const url = env("DOCS_PAGE");
const browser = await launch();
const seen = { requests: [], blocked: [], errors: [] };
try {
  const page = await browser.newPage();
  page.on("request", (r) => seen.requests.push(r.url()));
  page.on("requestfailed", (r) => seen.blocked.push(r.url()));
  page.on("pageerror", (e) => seen.errors.push(String(e)));
  await page.goto(url);
  // Redoc's title heading, then an operation of the document.
  await page.waitForSelector("h1", { timeout: 30000 });
  seen.title = await page.textContent("h1");
  seen.hasLogin = (await page.content()).includes("/api/v1/auth/login");
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
