// A public lead form in headless Chromium: the page on the allowed origin
// posts it as a plain HTML form and with fetch; the same page served from
// another origin tries both. Prints what the browser saw as JSON; the Rust
// test (tests/api/browser.rs) checks the database.
import { env, launch } from "./chromium.mjs";

const browser = await launch();

async function postForm(page, url, email) {
  await page.goto(url);
  await page.fill("input[name=email]", email);
  await page.fill("input[name=firstName]", "Paula");
  await page.check("input[name=consent]");
  const [response] = await Promise.all([
    page.waitForNavigation(),
    page.click("button[type=submit]"),
  ]);
  return { status: response.status(), url: page.url(), text: await page.textContent("body") };
}

// From the page's own script, as a site would: JSON (preflighted) or a
// URL-encoded body (a "simple" request that reaches the server unasked).
async function fetchForm(page, url, email, kind) {
  await page.goto(url);
  return page.evaluate(
    async ([email, kind]) => {
      const json = kind === "json";
      try {
        const r = await fetch(window.FORM_URL, {
          method: "POST",
          headers: { "content-type": json ? "application/json" : "application/x-www-form-urlencoded" },
          body: json
            ? JSON.stringify({ email, firstName: "Fritz", consent: { given: true, text: "ok" } })
            : new URLSearchParams({ email, firstName: "Fritz" }).toString(),
        });
        return { status: r.status, body: await r.text() };
      } catch (e) {
        return { error: String(e) };
      }
    },
    [email, kind],
  );
}

const results = {};
try {
  const page = await browser.newPage();
  results.allowedPost = await postForm(page, env("ALLOWED_PAGE"), env("EMAIL_ALLOWED_POST"));
  results.allowedFetch = await fetchForm(page, env("ALLOWED_PAGE"), env("EMAIL_ALLOWED_FETCH"), "json");
  results.otherPost = await postForm(page, env("OTHER_PAGE"), env("EMAIL_OTHER_POST"));
  results.otherFetch = await fetchForm(page, env("OTHER_PAGE"), env("EMAIL_OTHER_FETCH"), "json");
  results.otherSimpleFetch = await fetchForm(page, env("OTHER_PAGE"), env("EMAIL_OTHER_SIMPLE"), "urlencoded");
} finally {
  await browser.close();
}
console.log(JSON.stringify(results));
