// The chat page in a real browser: Debian's Chromium driven by playwright-core, against the real binary
// and the Bedrock simulator (its own process, so replies stream slowly enough to watch and to stop).
//   node tests/browser/chat_page.mjs BINARY [--screenshots DIR]
// Prints one line per check and exits 0 only when all passed. Every process it starts is stopped on the
// way out (the simulator, three agents, the browser), also when a check throws or the time runs out.
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createServer } from 'node:http';

const binary = process.argv[2];
const shotsAt = process.argv.indexOf('--screenshots');
const shots = shotsAt > 0 ? process.argv[shotsAt + 1] : null;
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
if (!binary || !existsSync(binary)) {
  console.error('usage: node tests/browser/chat_page.mjs BINARY [--screenshots DIR]');
  process.exit(2);
}

const children = [];
const work = mkdtempSync(join(tmpdir(), 'ba-browser-'));
let browser = null;
function cleanup() {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(1));
const deadline = setTimeout(() => {
  console.error('FAIL: the browser test took more than 240 s');
  process.exit(1);
}, 240_000);

// Starts `args` and resolves with the port of its "listening" log line.
function start(args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    const lines = [];
    const onLine = (line) => {
      lines.push(line);
      try {
        const j = JSON.parse(line);
        if (/listening/.test(j.msg) && j.port) resolve({ child, port: j.port, lines });
      } catch { /* not a log line */ }
    };
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', onLine);
    child.on('exit', (code) => reject(new Error(`${args[0]} exited (${code}) before listening: ${lines.join('\n')}`)));
  });
}

async function stop(proc) {
  if (proc.child.exitCode !== null) return;
  const gone = new Promise((r) => proc.child.once('exit', r));
  proc.child.kill('SIGTERM');
  const t = setTimeout(() => proc.child.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(t);
}

async function agent(name, extra = []) {
  const dir = join(work, name);
  mkdirSync(dir);
  return start(['serve', '--port', '0', '--history', `sqlite:${dir}/history.db`, '--files', `${dir}/files`, ...extra], {
    AWS_ENDPOINT_URL_BEDROCK_RUNTIME: `http://127.0.0.1:${sim.port}`,
    AWS_ACCESS_KEY_ID: 'AKIDBROWSERTEST',
    AWS_SECRET_ACCESS_KEY: 'browser-test-secret',
    AWS_REGION: 'us-east-1',
  });
}

let failed = 0;
async function check(name, fn) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}: ${err.stack || err}`);
  }
}
function assert(cond, message) {
  if (!cond) throw new Error(message);
}

async function newPage(port, viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.problems = [];
  page.on('console', (m) => { if (m.type() === 'error') page.problems.push(m.text()); });
  page.on('pageerror', (e) => page.problems.push(String(e)));
  await page.goto(`http://127.0.0.1:${port}/`);
  return page;
}

const lastReply = (page) => page.locator('.message.assistant').last();

async function sendAndWait(page, text) {
  const before = await page.locator('.message.assistant').count();
  await page.fill('#input', text);
  await page.press('#input', 'Enter');
  await page.locator('.message.assistant').nth(before).locator('.info').filter({ hasText: /tokens|Stopped/ })
    .waitFor({ timeout: 20_000 });
}

// --- the run -----------------------------------------------------------------------------------------------

const sim = await start(['simulate-bedrock', '--port', '0', '--ttft-ms', '50', '--per-token-ms', '40']);
browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

const open = await agent('open');
const base = `http://127.0.0.1:${open.port}`;
let page;

await check('the page loads with its model and no script or policy error', async () => {
  page = await newPage(open.port);
  await page.locator('#model').filter({ hasText: 'anthropic.claude' }).waitFor({ timeout: 5000 });
  assert(await page.getByRole('button', { name: 'New conversation' }).isVisible(), 'no New conversation button');
  assert(await page.getByLabel('Message', { exact: true }).isVisible(), 'the message box has no label');
  assert(await page.getByLabel('Attach files', { exact: true }).count() === 1, 'the file input has no label');
});

await check('a reply streams in token by token', async () => {
  await page.fill('#input', 'Tell me something [[tokens=40]]');
  await page.press('#input', 'Enter');
  const reply = lastReply(page);
  const lengths = new Set();
  for (let i = 0; i < 200; i++) {
    const text = await reply.locator('.body').innerText();
    lengths.add(text.length);
    if (await reply.locator('.info').innerText()) break;
    await page.waitForTimeout(25);
  }
  assert(lengths.size >= 4, `the reply grew in only ${lengths.size} steps`);
  const words = (await reply.locator('.body').innerText()).trim().split(/\s+/).length;
  assert(words === 40, `expected 40 words, got ${words}`);
  assert(/anthropic\.claude.*40 tokens/.test(await reply.locator('.info').innerText()), 'the model and usage are not shown');
});

await check('Shift+Enter makes a new line and Enter sends', async () => {
  const count = await page.locator('.message.user').count();
  await page.fill('#input', 'line one');
  await page.press('#input', 'Shift+Enter');
  await page.keyboard.type('line two');
  assert((await page.inputValue('#input')) === 'line one\nline two', 'Shift+Enter did not add a line');
  assert((await page.locator('.message.user').count()) === count, 'Shift+Enter sent the message');
  await page.fill('#input', '');
});

await check('Stop ends a reply mid-stream and nothing is saved', async () => {
  const listed = (await (await fetch(`${base}/conversations`)).json()).conversations.length;
  await page.click('#new-chat');
  await page.fill('#input', 'A long story please [[tokens=400]]');
  await page.press('#input', 'Enter');
  const reply = lastReply(page);
  await page.waitForFunction(() => {
    const b = [...document.querySelectorAll('.message.assistant .body')].pop();
    return b && b.innerText.trim().split(/\s+/).length >= 5;
  }, null, { timeout: 10_000 });
  assert(await page.locator('#stop').isVisible(), 'no Stop button while streaming');
  await page.click('#stop');
  await reply.locator('.info').filter({ hasText: 'Stopped' }).waitFor({ timeout: 5000 });
  const at = (await reply.locator('.body').innerText()).length;
  await page.waitForTimeout(400);
  const later = (await reply.locator('.body').innerText()).length;
  assert(later === at, 'the reply kept growing after Stop');
  assert(at > 0 && at < 400 * 3, 'the reply was not cut');
  assert(await page.locator('#stop').isHidden(), 'Stop still shown');
  await page.waitForTimeout(300);
  const after = (await (await fetch(`${base}/conversations`)).json()).conversations.length;
  assert(after === listed, `a stopped reply was saved (${listed} -> ${after} conversations)`);
});

await check('after a reload the conversation is in the list with its turns', async () => {
  await page.reload();
  const item = page.locator('#conversations li', { hasText: 'Tell me something' });
  await item.waitFor({ timeout: 5000 });
  assert(/1 turn/.test(await item.innerText()), 'the turn count is not shown');
  await item.locator('.open').click();
  await page.locator('.message.user', { hasText: 'Tell me something' }).waitFor({ timeout: 5000 });
  const words = (await lastReply(page).locator('.body').innerText()).trim().split(/\s+/).length;
  assert(words === 40, `the saved reply has ${words} words`);
  assert(await item.evaluate((li) => li.classList.contains('active')), 'the selected conversation is not marked');
});

const hostile = 'echo: <script>window.__pwned = "script"</script> <img src=x onerror="window.__pwned = \'img\'"> ' +
  '[click me](javascript:window.__pwned=\'link\') <a href="javascript:window.__pwned=\'a\'">raw link</a> ' +
  '<iframe src="javascript:alert(1)"></iframe> **bold** and `code`';
await check('a reply with script, event handler and javascript: markup renders inert', async () => {
  await page.click('#new-chat');
  await sendAndWait(page, hostile);
  const reply = lastReply(page);
  for (const root of [reply]) {
    assert(await root.locator('strong').count() === 1, 'Markdown was not rendered');
    assert(await root.locator('script, iframe, [onerror], [onclick]').count() === 0, 'active markup survived');
    assert(await root.locator('a[href^="javascript:" i]').count() === 0, 'a javascript: link survived');
    assert(await root.locator('img').count() === 0, 'raw HTML became an element');
    assert((await root.innerText()).includes('<script>'), 'the markup is not shown as text');
  }
  for (const link of await reply.locator('a').all()) await link.click({ trial: true });
  assert(await page.evaluate(() => window.__pwned) === undefined, 'hostile markup ran');
  // The same reply read back from the history renders the same way.
  await page.reload();
  await page.locator('#conversations li .open', { hasText: 'echo:' }).first().click();
  await page.locator('.message.assistant strong').waitFor({ timeout: 5000 });
  assert(await page.locator('.messages script, .messages [onerror], .messages a[href^="javascript:" i]').count() === 0,
    'active markup survived in the history');
  assert(await page.evaluate(() => window.__pwned) === undefined, 'hostile markup ran from the history');
});

const documentsSeen = async () =>
  (await (await fetch(`http://127.0.0.1:${sim.port}/sim/stats`)).json()).content_blocks?.document ?? 0;

await check('a text file is uploaded, attached to the next message and reaches the model as a document', async () => {
  await page.click('#new-chat');
  const documentsBefore = await documentsSeen();
  let chatBody = null;
  page.on('request', (r) => { if (r.url().endsWith('/chat')) chatBody = JSON.parse(r.postData()); });
  await page.setInputFiles('#file-input', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('the launch code is 0000\n') });
  await page.locator('#attachments li', { hasText: 'notes.txt' }).filter({ hasNotText: 'uploading' }).waitFor({ timeout: 5000 });
  await sendAndWait(page, 'echo: read the attachment');
  assert(chatBody && Array.isArray(chatBody.files) && chatBody.files.length === 1, `files not sent: ${JSON.stringify(chatBody)}`);
  assert(await page.locator('#attachments li').count() === 0, 'the attachment was not cleared after sending');
  const file = await (await fetch(`${base}/files/${chatBody.files[0]}`)).text();
  assert(file === 'the launch code is 0000\n', 'the stored file differs');
  const conv = (await (await fetch(`${base}/conversations`)).json()).conversations[0];
  const turns = (await (await fetch(`${base}/conversations/${conv.id}`)).json()).turns;
  assert(turns[0].input.includes(`[attached files: notes.txt (${chatBody.files[0]})]`), `not attached: ${turns[0].input}`);
  assert(await documentsSeen() === documentsBefore + 1, 'the simulator did not receive one document block');
});

// A 1x1 PNG.
const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
await check('an image is previewed before sending and reaches the model as an image', async () => {
  await page.click('#new-chat');
  const stats = async () => (await (await fetch(`http://127.0.0.1:${sim.port}/sim/stats`)).json()).content_blocks?.image ?? 0;
  const before = await stats();
  await page.setInputFiles('#file-input', { name: 'dot.png', mimeType: 'image/png', buffer: png });
  const preview = page.getByRole('img', { name: 'Preview of dot.png' });
  await preview.waitFor({ timeout: 5000 });
  assert((await preview.getAttribute('src')).startsWith('blob:'), 'the preview is not the local file');
  await page.waitForFunction(() => document.querySelector('#attachments img')?.naturalWidth === 1, null, { timeout: 5000 });
  await page.locator('#attachments li', { hasText: 'dot.png' }).filter({ hasNotText: 'uploading' }).waitFor({ timeout: 5000 });
  await sendAndWait(page, 'echo: what is in the picture?');
  assert(await stats() === before + 1, 'the simulator did not receive one image block');
});

await check('delete removes a conversation from the list', async () => {
  // The list is refreshed after each reply; the active item appears once the refresh has landed.
  const item = page.locator('#conversations li.active');
  await item.waitFor({ timeout: 5000 });
  const id = await item.getAttribute('data-id');
  await item.getByRole('button', { name: /Delete conversation/ }).click();
  await page.locator(`#conversations li[data-id="${id}"]`).waitFor({ state: 'detached', timeout: 5000 });
  const listed = await (await page.request.get(`http://127.0.0.1:${open.port}/conversations?limit=100`)).json();
  assert(!listed.conversations.some((c) => c.id === id), 'the server still lists the deleted conversation');
});

await check('a list refresh answered late does not bring a deleted conversation back', async () => {
  // The refresh after a reply is answered (by the server) at once but delivered to the page only after a
  // delete's own refresh: the page must keep the newer list, which no longer has the deleted conversation.
  let release;
  const released = new Promise((r) => { release = r; });
  let fetched;
  const held = new Promise((r) => { fetched = r; });
  let holdNext = false;
  await page.route('**/conversations?*', async (route) => {
    if (!holdNext) return route.continue();
    holdNext = false;
    const response = await route.fetch();
    fetched();
    await released;
    await route.fulfill({ response });
  });
  const id = await page.locator('#conversations li').first().getAttribute('data-id');
  const victim = page.locator(`#conversations li[data-id="${id}"]`);
  await page.click('#new-chat');
  holdNext = true;
  await sendAndWait(page, 'echo: one more');
  await held;
  await victim.getByRole('button', { name: /Delete conversation/ }).click();
  await victim.waitFor({ state: 'detached', timeout: 5000 });
  const late = page.waitForResponse((r) => r.url().includes('/conversations?'));
  release();
  await late;
  await page.waitForTimeout(300);  // let the page handle the late answer (a wait that can only hide a failure)
  await page.unroute('**/conversations?*');
  assert(await victim.count() === 0, 'the late list brought it back');
});

const markdown = 'echo: Three steps:\n\n1. Build it with `make run`\n2. Open **the chat page**\n3. Ask away\n\n' +
  '```sh\ncurl -X POST http://127.0.0.1:8080/chat -d \'{"input": "Hello"}\'\n```\n\nSee [the API](https://example.com/api).';
await check('Markdown replies get lists, code with a Copy button and safe links', async () => {
  await page.click('#new-chat');
  await sendAndWait(page, markdown);
  const reply = lastReply(page);
  assert(await reply.locator('ol li').count() === 3, 'no ordered list');
  assert(await reply.locator('pre code').count() === 1, 'no code block');
  await reply.getByRole('button', { name: 'Copy code' }).waitFor({ timeout: 5000 });
  const rel = await reply.locator('a').getAttribute('rel');
  assert(/noopener/.test(rel || ''), `the link has rel=${rel}`);
});

await check('readable at 375 px wide', async () => {
  const small = await newPage(open.port, { width: 375, height: 740 });
  await small.locator('#conversations li .open', { hasText: 'Three steps' }).click();
  await small.locator('.message.assistant pre').waitFor({ timeout: 5000 });
  const overflow = await small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert(overflow <= 0, `the page is ${overflow} px wider than the screen`);
  assert(await small.locator('#send').isVisible() && await small.locator('#input').isVisible(), 'the composer is hidden');
  if (shots) {
    await small.screenshot({ path: join(shots, 'chat-page-375.png') });
    await page.screenshot({ path: join(shots, 'chat-page.png') });
  }
  assert(small.problems.length === 0, `console errors: ${small.problems.join(' | ')}`);
  await small.context().close();
});

await check('no console errors (scripts, the Content-Security-Policy) on the way', async () => {
  assert(page.problems.length === 0, page.problems.join(' | '));
});
await page.context().close();
await stop(open);

// With --api-keys-file the page asks for a key, keeps it for the tab and sends it.
const keysFile = join(work, 'keys.txt');
writeFileSync(keysFile, 'browser-test-key-1\n');
const keyed = await agent('keyed', ['--api-keys-file', keysFile]);
await check('with --api-keys-file the page asks for a key once', async () => {
  const p = await newPage(keyed.port);
  const dialog = p.locator('#key-dialog');
  await dialog.waitFor({ state: 'visible', timeout: 5000 });
  await p.getByRole('textbox', { name: 'API key' }).fill('wrong-key');
  await p.getByRole('button', { name: 'Continue' }).click();
  await p.locator('#key-error', { hasText: 'not accepted' }).waitFor({ timeout: 5000 });
  await p.getByRole('textbox', { name: 'API key' }).fill('browser-test-key-1');
  await p.getByRole('button', { name: 'Continue' }).click();
  await dialog.waitFor({ state: 'hidden', timeout: 5000 });
  await sendAndWait(p, 'echo: hello with a key');
  assert((await lastReply(p).locator('.body').innerText()).includes('hello with a key'), 'no reply');
  assert(await p.evaluate(() => sessionStorage.getItem('bedrock-agent.api-key')) === 'browser-test-key-1', 'key not kept');
  assert(await p.evaluate(() => localStorage.length) === 0, 'something went to localStorage');
  await p.reload();
  await p.locator('#conversations li', { hasText: 'hello with a key' }).waitFor({ timeout: 5000 });
  assert(await dialog.isHidden(), 'asked again after a reload');
  await p.context().close();
});
await stop(keyed);

// A 429 from our own rate limiter shows how long to wait.
const limited = await agent('limited', ['--max-rpm', '1']);
await check('a 429 is explained with its Retry-After wait', async () => {
  const p = await newPage(limited.port);
  await sendAndWait(p, 'echo: first');
  await p.fill('#input', 'echo: second');
  await p.press('#input', 'Enter');
  const error = p.locator('#error');
  await error.filter({ hasText: /Try again in \d+ s/ }).waitFor({ timeout: 10_000 });
  const text = await error.innerText();
  assert(/Too many requests/.test(text), `unexpected error text: ${text}`);
  assert(Number(/in (\d+) s/.exec(text)[1]) >= 1, 'no wait shown');
  assert(await p.inputValue('#input') === 'echo: second', 'the refused message was not given back');
  assert(await p.locator('.message.user').count() === 1, 'the refused message stayed in the conversation');
  if (shots) await p.screenshot({ path: join(shots, 'chat-page-429.png') });
  await p.context().close();
});
await stop(limited);

// CORS, judged by the browser itself: a page from another origin (a bare page on a port of its own: the chat
// page's policy allows it no other origin) reads the answers of an agent that lists that origin
// (--cors-origin: preflight, then the chat and its headers), and none from one that does not.
const site = createServer((req, res) => { res.writeHead(200, { 'content-type': 'text/html' }); res.end('<!doctype html><title>app</title>'); });
await new Promise((r) => site.listen(0, '127.0.0.1', r));
const siteOrigin = `http://127.0.0.1:${site.address().port}`;
const haiku = ['--model-id', 'anthropic.claude-3-haiku-20240307-v1:0'];
const plain = await agent('cors-off', ['--api-keys-file', keysFile, ...haiku]);
const shared = await agent('cors-on', ['--api-keys-file', keysFile, '--cors-origin', siteOrigin, ...haiku]);
const crossFetch = (p, port, key) => p.evaluate(async ({ port, key }) => {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ model: 'anthropic.claude-3-haiku-20240307-v1:0', messages: [{ role: 'user', content: 'echo: across origins' }] }),
    });
    return { status: r.status, requestId: r.headers.get('x-request-id'), body: await r.text() };
  } catch (e) {
    return { error: String(e) };
  }
}, { port, key });
await check('--cors-origin lets a listed origin\'s page call the API, and only that origin', async () => {
  const context = await browser.newContext();
  const p = await context.newPage();
  await p.goto(`${siteOrigin}/`);
  const ok = await crossFetch(p, shared.port, 'browser-test-key-1');
  assert(ok.status === 200, `listed origin: ${JSON.stringify(ok)}`);
  assert(ok.body.includes('across origins') && ok.requestId, `answer or x-request-id not readable: ${JSON.stringify(ok)}`);
  const denied = await crossFetch(p, shared.port, 'wrong-key');
  assert(denied.status === 401, `a 401 is readable too: ${JSON.stringify(denied)}`);
  const blocked = await crossFetch(p, plain.port, 'browser-test-key-1');
  assert(blocked.error && /Failed to fetch/.test(blocked.error), `CORS off, yet readable: ${JSON.stringify(blocked)}`);
  await context.close();
});
await stop(shared);
await stop(plain);
site.close();

await browser.close();
await stop(sim);
clearTimeout(deadline);
console.log(failed ? `${failed} check(s) failed` : 'all checks passed');
process.exit(failed ? 1 : 0);
