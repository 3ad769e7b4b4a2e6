// Drives Debian's Chromium through GraphiQL as a person would: signs in
// with the page's own bar, runs a query and reads its data, starts a
// subscription, makes a change and waits for its event, and saves a
// screenshot. Any request to another origin is refused and reported, so
// the page passes only when it works offline. Prints one JSON object.
//
//   node deploy/dev/js/graphiql-browser.mjs http://127.0.0.1:8080 shot.png
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, screenshot] = process.argv.slice(2);
if (!base || !screenshot) {
  console.error('usage: node graphiql-browser.mjs BASE_URL SCREENSHOT.png');
  process.exit(2);
}
const origin = new URL(base).origin;
// The execute button while nothing runs (it offers "Stop" while a query or
// subscription runs).
const executeButton = '.graphiql-execute-button[aria-label^="Execute"]';
const report = { foreignRequests: [], consoleErrors: [], steps: [] };
const step = (s) => report.steps.push(s);

const profile = mkdtempSync(join(tmpdir(), 'issuegraph-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
  viewport: { width: 1400, height: 900 },
});
try {
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(60000);
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('data:') || new URL(url).origin === origin) return route.continue();
    report.foreignRequests.push(url);
    return route.abort();
  });
  page.on('console', (m) => { if (m.type() === 'error') report.consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => report.consoleErrors.push(String(e)));

  await page.goto(base + '/');
  await page.waitForSelector('.graphiql-container');
  step('GraphiQL rendered');

  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('Signed in as').waitFor();
  const headers = await editorHolding(page, 'Bearer eyJ');
  const token = JSON.parse(headers).Authorization.replace('Bearer ', '');
  step('signed in; the Headers tab holds the token');

  await setQuery(page, '{ project(organization: "acme", key: "ENG") { id issues(first: 3) { totalCount edges { node { key title } } } } }');
  const first = JSON.parse(await runQuery(page, ['totalCount']));
  const project = first.data.project.id;
  report.query = first;
  step('query answered with data');

  await setQuery(page, `subscription { projectEvents(projectId: "${project}") { type issue { key title } } }`);
  const title = `Seen from GraphiQL ${Date.now()}`;
  // Retry the change until its event shows: the subscription may still be
  // starting on the server, or (see runQuery) may not have started at all.
  let event = '';
  for (let i = 0; i < 15 && !event.includes(title); i++) {
    if (await page.locator(executeButton).isVisible()) {
      await page.locator(executeButton).click();
    }
    await createIssue(token, project, title + (i ? ` #${i}` : ''));
    event = await waitForResponse(page, ['issue.created', title], 3000).catch(() => '');
  }
  if (!event) throw new Error('no event reached GraphiQL');
  report.event = JSON.parse(event);
  step('subscription delivered the event');

  await page.screenshot({ path: screenshot });
  step('screenshot saved');
  report.ok = true;
} catch (err) {
  report.ok = false;
  report.error = String(err && err.stack || err);
  try {
    report.editors = await context.pages()[0].evaluate(() => [...document.querySelectorAll('.CodeMirror')].map((el) => el.CodeMirror.getValue()));
  } catch {}
  try { await context.pages()[0].screenshot({ path: screenshot }); } catch {}
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(report));

// editorHolding returns the text of the first editor that contains needle
// (the Headers tab's, for the token).
async function editorHolding(page, needle) {
  const handle = await page.waitForFunction((n) => [...document.querySelectorAll('.CodeMirror')]
    .map((el) => el.CodeMirror.getValue()).find((v) => v.includes(n)) || false, needle);
  return handle.jsonValue();
}

async function setQuery(page, text) {
  await page.locator('.graphiql-query-editor .CodeMirror').evaluate((el, t) => el.CodeMirror.setValue(t), text);
}

// runQuery runs the query editor's document until the result pane holds
// needles. GraphiQL takes the operation name from the document a moment
// after it changes; a click before that (a loaded machine) sends the old
// name and gets "operation ... not found", so it clicks again, within a
// deadline.
async function runQuery(page, needles) {
  const deadline = Date.now() + 60000;
  for (;;) {
    await page.locator(executeButton).click();
    try {
      return await waitForResponse(page, needles, 5000);
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
  }
}

// waitForResponse returns the result pane's text once it holds every one
// of needles.
async function waitForResponse(page, needles, timeout = 60000) {
  const handle = await page.waitForFunction((want) => {
    const cm = document.querySelector('.graphiql-response .CodeMirror');
    const text = cm && cm.CodeMirror.getValue();
    return text && want.every((w) => text.includes(w)) ? text : false;
  }, needles, { timeout });
  return handle.jsonValue();
}

async function createIssue(token, projectId, title) {
  const res = await fetch(origin + '/graphql', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({
      query: 'mutation($input: CreateIssueInput!) { createIssue(input: $input) { issue { key } userErrors { message } } }',
      variables: { input: { projectId, title } },
    }),
  });
  const body = await res.json();
  if (!body.data || !body.data.createIssue || !body.data.createIssue.issue) throw new Error('createIssue: ' + JSON.stringify(body));
}
