// A browser client of the API in headless Chromium: the page on the
// allowed origin (CLIENT_PAGE) signs in, is reloaded and resumes its
// session through the refresh cookie, lists and creates accounts, uploads
// a file with the presigned PUT straight to the storage server and
// downloads it. The same client served from an origin the API does not
// allow (OTHER_PAGE) tries the same. Prints what the browser saw as JSON;
// the Rust test (tests/api/browser.rs) checks the database and the bucket.
import { env, launch } from "./chromium.mjs";

const browser = await launch();

const seen = {};
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  // Every request the page makes, to show it reached only the API and the bucket.
  const hosts = new Set();
  page.on("request", (r) => hosts.add(new URL(r.url()).host));

  await page.goto(env("CLIENT_PAGE"));
  seen.signIn = await page.evaluate(([e, p]) => window.client.signIn(e, p), [env("EMAIL"), env("PASSWORD")]);
  const cookies = await context.cookies(`${env("API")}/api/v1/auth/refresh`);
  const refresh = cookies.find((c) => c.name === "refresh_token");
  seen.cookie = refresh
    ? { httpOnly: refresh.httpOnly, secure: refresh.secure, sameSite: refresh.sameSite, path: refresh.path }
    : null;
  seen.scriptSeesCookie = await page.evaluate(() => document.cookie.includes("refresh_token"));

  // A reload loses the access token (it lived in memory only); the
  // session comes back through the cookie.
  await page.reload();
  seen.afterReload = await page.evaluate(() => window.client.hasToken());
  seen.resume = await page.evaluate(() => window.client.resume());
  seen.listBefore = await page.evaluate(() => window.client.listAccounts());
  seen.create = await page.evaluate((name) => window.client.createAccount(name), env("ACCOUNT_NAME"));
  seen.listAfter = await page.evaluate(() => window.client.listAccounts());
  seen.revalidate = await page.evaluate(() => window.client.revalidate());
  seen.upload = await page.evaluate((text) => window.client.upload("notes.txt", text), env("FILE_TEXT"));
  seen.download = await page.evaluate((id) => window.client.download(id), seen.upload.documentId);
  seen.hosts = [...hosts].sort();

  // Someone else's page: the same client, from an origin the API does
  // not allow, even holding a valid access token and a fresh upload URL.
  const other = await browser.newPage();
  await other.goto(env("OTHER_PAGE"));
  seen.other = {
    signIn: await other.evaluate(([e, p]) => window.client.signIn(e, p), [env("EMAIL"), env("PASSWORD")]),
    resume: await other.evaluate(() => window.client.resume()),
    list: await other.evaluate((t) => { window.client.setToken(t); return window.client.listAccounts(); }, seen.resume.token),
    create: await other.evaluate((name) => window.client.createAccount(name), env("OTHER_ACCOUNT_NAME")),
    put: await other.evaluate(
      ([url, headers, text]) => window.client.putTo(url, headers, text),
      [env("OTHER_UPLOAD_URL"), JSON.parse(env("OTHER_UPLOAD_HEADERS")), "not from the workshop"],
    ),
  };
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
