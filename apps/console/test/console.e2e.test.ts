import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually, startTestSluice, type TestSluice } from '@sluice/broker/testing';
import OpenAI from 'openai';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The console in Debian's Chromium (CHROMIUM_PATH overrides), driven by playwright-core against a
// broker on the embedded harness and the OpenAI simulator: one browser for every flow, a fresh
// context (cookies) per person, a screenshot of each page into screenshots/ for review.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOTS = fileURLToPath(new URL('../screenshots/', import.meta.url));
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

describe('console in Chromium', () => {
  let s: TestSluice;
  let browser: Browser;
  let beta: { id: string; apiKey: string };
  /** A tenant without a budget, for traffic after beta's budget is spent. */
  let delta: { id: string; apiKey: string };
  /** A request of acme that met two 429s before it completed. */
  let retried: { id: string; idempotencyKey: string };
  let betaRequestId: string;
  /** Every URL the browser asked for or navigated to, and what its pages logged as errors. */
  const urls: string[] = [];
  const pageErrors: string[] = [];
  const contexts: BrowserContext[] = [];

  const openai = (key: string) => new OpenAI({ apiKey: key, baseURL: `${s.url}/v1`, maxRetries: 0 });
  const ask = (key: string, content: string, headers: Record<string, string> = {}) =>
    openai(key).chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content }], max_tokens: 16 },
      { headers },
    );

  /** A person at a browser: a fresh context, every request and navigation recorded. */
  async function person(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    contexts.push(context);
    const page = await context.newPage();
    page.on('request', (r) => urls.push(r.url()));
    page.on('framenavigated', (f) => urls.push(f.url()));
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      // A refused call is logged by the browser as a failed resource: expected on refusal pages.
      if (m.type() === 'error' && !/status of (401|403|404)/.test(m.text())) pageErrors.push(m.text());
    });
    return page;
  }

  async function logIn(page: Page, key: string): Promise<void> {
    await page.goto(`${s.url}/console/`);
    await page.waitForSelector('form.login-card');
    await page.fill('#key', key);
    await page.click('button[type=submit]');
    await page.waitForSelector('.sidebar');
  }

  async function shoot(page: Page, name: string): Promise<void> {
    // Not 'networkidle': the live page polls for good. Nothing loading, then charts laid out.
    await page.waitForFunction("!document.querySelector('.state-loading')");
    await page.mouse.move(0, 0); // no tooltip or hover in the picture
    await page.waitForTimeout(300);
    await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
  }

  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(
        `No Chromium at ${CHROMIUM}: install Debian's package (apt-get install chromium) or set CHROMIUM_PATH`,
      );
    mkdirSync(SCREENSHOTS, { recursive: true });
    s = await startTestSluice({
      simulator: { latency: { baseMs: 15 }, limits: { default: { rpm: 6_000, tpm: 6_000_000 } } },
      retryPolicy: { maxAttempts: 5, baseDelayMs: 20, maxDelayMs: 100 },
    });
    beta = await s.newTenant('beta');
    delta = await s.newTenant('delta');
    for (let i = 0; i < 6; i++) await ask(s.tenant.apiKey, `hello ${i}`);
    for (let i = 0; i < 3; i++)
      betaRequestId = (await ask(beta.apiKey, `beta ${i}`).withResponse()).response.headers.get(
        'x-sluice-request-id',
      )!;
    // One request meets a 429 storm (retried within quota) and then completes.
    s.simulator.configure({ faults: { rateLimitStormUntil: Date.now() + 120, stormRetryAfterMs: 50 } });
    const storm = await ask(s.tenant.apiKey, 'through the storm', {
      'Idempotency-Key': 'order-42',
    }).withResponse();
    s.simulator.configure({ faults: {} });
    retried = { id: storm.response.headers.get('x-sluice-request-id')!, idempotencyKey: 'order-42' };
    await eventually(
      async () => (await s.runtime.store.getRequest(null, retried.id))?.status === 'completed',
    );
    // playwright-core gives each launch a fresh, temporary user-data-dir of its own (and refuses one
    // passed as a flag); every context below is a separate cookie jar on top of it.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
  }, 120_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await s?.close();
  }, 60_000);

  it('logs an administrator in with a key posted once, and shows the overview', async () => {
    const page = await person();
    await page.goto(`${s.url}/dashboard`);
    await page.waitForURL('**/console/login');
    await shoot(page, 'login');
    await page.fill('#key', 'sk-sluice-not-a-real-key');
    await page.click('button[type=submit]');
    await expect.poll(() => page.locator('.form-error').textContent()).toMatch(/Invalid or revoked/);

    await logIn(page, s.adminKey);
    await page.waitForSelector('[data-testid=tenant-totals]');
    const rows = await page.locator('[data-testid=tenant-totals] tbody tr').allTextContents();
    expect(rows.join(' ')).toMatch(/acme\s*7/);
    expect(rows.join(' ')).toMatch(/beta\s*3/);
    expect(await page.locator('[data-chart=cost] .recharts-bar-rectangle').count()).toBeGreaterThan(0);
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === 'sluice_session');
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    expect(await page.evaluate('document.cookie')).not.toContain('sluice_session');
    await shoot(page, 'overview');
  });

  it('finds a request by its idempotency key and reads its timeline: 429s, retries, usage and cost', async () => {
    const page = await person();
    await logIn(page, s.adminKey);
    await page.click('text=Requests');
    await page.waitForSelector('[data-testid=explorer-results]');
    await shoot(page, 'explorer');
    await page.fill('input[name=q]', retried.idempotencyKey);
    await page.click('form[aria-label="Search requests"] button[type=submit]');
    await expect.poll(() => page.locator('[data-testid=explorer-results] tbody tr').count()).toBe(1);
    await page.click(`text=${retried.id}`);
    await page.waitForSelector('[data-testid=timeline]');
    const types = await page.$$eval('[data-testid=timeline] li', (items) =>
      items.map((li) => li.getAttribute('data-type')),
    );
    expect(types[0]).toBe('request.submitted');
    expect(types).toContain('request.retry_scheduled');
    expect(types).toContain('request.completed');
    expect(types).toContain('usage.recorded');
    const retry = await page.locator('[data-type="request.retry_scheduled"]').first().textContent();
    expect(retry).toMatch(/rate_limited/);
    expect(retry).toMatch(/429/);
    expect(await page.locator('[data-testid=usage]').textContent()).toMatch(/\$0\.0000\d\d/);
    expect(await page.locator('[data-chart=attempts] .recharts-bar-rectangle').count()).toBeGreaterThan(0);
    // The bodies are not on the page until asked for.
    expect(await page.locator('[data-testid=request-body]').count()).toBe(0);
    expect(await page.content()).not.toContain('through the storm');
    await shoot(page, 'request');
    await page.click('text=Show request and response bodies');
    await page.waitForSelector('[data-testid=request-body]');
    expect(await page.locator('[data-testid=request-body]').textContent()).toContain('through the storm');
    await shoot(page, 'request-bodies');
    const audit = await s.runtime.database.db.execute(
      "SELECT action, target, via FROM admin_actions WHERE action = 'console.admin.requests.bodies'" as never,
    );
    expect((audit as unknown as { rows: unknown[] }).rows).toEqual([
      { action: 'console.admin.requests.bodies', target: retried.id, via: 'console' },
    ]);
  });

  it('creates a tenant, issues a key shown once, and revokes it', async () => {
    const page = await person();
    await logIn(page, s.adminKey);
    await page.click('text=Tenants');
    await page.fill('input[name=name]', 'gamma');
    await page.click('text=Create tenant');
    await page.waitForSelector('[data-testid=new-key]');
    const firstKey = await page.inputValue('[data-testid=new-key] input');
    expect(firstKey).toMatch(/^sk-sluice-/);
    await shoot(page, 'tenant-created');
    await page.click('text=I have stored it');
    expect(await page.locator('[data-testid=new-key]').count()).toBe(0);
    await page.click('[data-testid=tenants] >> text=gamma');
    await page.waitForSelector('[data-testid=keys]');
    await page.click('text=Issue a key');
    await page.waitForSelector('[data-testid=new-key]');
    const issued = await page.inputValue('[data-testid=new-key] input');
    expect(issued).toMatch(/^sk-sluice-/);
    expect((await ask(issued, 'new key works')).choices.length).toBe(1);
    await page.click('text=I have stored it');
    await expect.poll(() => page.locator('[data-testid=keys] tbody tr').count()).toBe(2);
    // Revoke the newest key (the one just issued).
    page.once('dialog', (d) => void d.accept());
    await page.locator('[data-testid=keys] tbody tr').last().locator('text=Revoke').click();
    await expect
      .poll(() => page.locator('[data-testid=keys] tbody tr').last().textContent())
      .toMatch(/revoked/);
    await expect(ask(issued, 'revoked key')).rejects.toMatchObject({ status: 401 });
    expect((await ask(firstKey, 'first key still works')).choices.length).toBe(1);
    await shoot(page, 'tenant');
    // Shown once: the page no longer holds either key.
    expect(await page.content()).not.toContain(issued);
    expect(await page.content()).not.toContain(firstKey);
  });

  it('sets a budget, and the next request is refused', async () => {
    const page = await person();
    await logIn(page, s.adminKey);
    await page.goto(`${s.url}/console/tenants/beta`);
    await page.waitForSelector('form[aria-label="Set the budget"]');
    await page.fill('form[aria-label="Set the budget"] input[name=tokens]', '10');
    await page.click('text=Set budget');
    await expect.poll(() => page.locator('.policy-budget').textContent()).toMatch(/spent: requests refused/);
    await expect(ask(beta.apiKey, 'over budget')).rejects.toMatchObject({
      status: 429,
      code: 'insufficient_quota',
    });
    await shoot(page, 'budget');
  });

  it('retries a dead letter, which then completes', async () => {
    s.simulator.configure({ faults: { serverErrorRate: 1 } });
    const doomed = await openai(s.tenant.apiKey)
      .chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'doomed' }],
        max_tokens: 8,
      })
      .withResponse()
      .catch((e: { headers?: Headers }) => e);
    s.simulator.configure({ faults: {} });
    const doomedId = (doomed as { headers?: Headers }).headers?.get('x-sluice-request-id');
    expect(doomedId).toMatch(/^req_/);
    await eventually(async () => (await s.runtime.store.getRequest(null, doomedId!))?.deadLettered === true);

    const page = await person();
    await logIn(page, s.adminKey);
    await page.click('text=Dead letters');
    await page.waitForSelector(`[data-request-id="${doomedId}"]`);
    await shoot(page, 'dead-letters');
    await page.locator(`[data-request-id="${doomedId}"]`).locator('text=Retry').click();
    await page.waitForSelector('[data-testid=retried]');
    const retryId = (await page.locator('[data-testid=retried] a').textContent())!;
    await eventually(async () => (await s.runtime.store.getRequest(null, retryId))?.status === 'completed');
    await expect.poll(() => page.locator(`[data-request-id="${doomedId}"]`).count()).toBe(0);
    await shoot(page, 'dead-letter-retried');
  });

  it('shows the live view, refreshing itself, and the audit trail of what was done', async () => {
    const page = await person();
    await logIn(page, s.adminKey);
    await page.click('text=Live');
    await page.waitForSelector('[data-testid=queues]');
    // The dispatcher's heartbeat carries the limits it learned from the simulator's headers.
    await expect
      .poll(() => page.locator('[data-testid=quota]').textContent(), { timeout: 20_000 })
      .toMatch(/learned/);
    const before = await page.locator('.subtitle').textContent();
    await expect.poll(() => page.locator('.subtitle').textContent(), { timeout: 10_000 }).not.toBe(before);
    // Traffic meets a 429 storm: requests wait and retry, the model is paused, the page shows it.
    s.simulator.configure({ faults: { rateLimitStormUntil: Date.now() + 6_000, stormRetryAfterMs: 3_000 } });
    const traffic = Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        ask(i % 3 ? s.tenant.apiKey : delta.apiKey, `live ${i}`).catch(() => null),
      ),
    );
    await expect.poll(() => page.locator('[data-testid=by-tenant]').count(), { timeout: 10_000 }).toBe(1);
    await expect
      .poll(() => page.locator('[data-testid=quota]').textContent(), { timeout: 10_000 })
      .toMatch(/paused/);
    await page.waitForTimeout(2_500); // a few points on the queue-depth chart
    await shoot(page, 'live');
    s.simulator.configure({ faults: {} });
    await traffic;

    await page.click('text=Audit trail');
    await page.waitForSelector('[data-testid=audit]');
    const audit = await page.locator('[data-testid=audit]').textContent();
    for (const action of [
      'admin.tenants.create',
      'admin.keys.create',
      'admin.keys.revoke',
      'admin.budgets.set',
      'admin.dlq.retry',
    ])
      expect(audit).toContain(action);
    expect(audit).toMatch(/ses_/); // which session did it
    await expect
      .poll(() => page.locator('[data-testid=chain-status]').textContent())
      .toMatch(/Admin actions: \d+ verified/);
    expect(await page.locator('[data-testid=chain-status] .badge-bad').count()).toBe(0);
    await shoot(page, 'audit');
  });

  it("shows a tenant its own data only, and refuses it the operators' pages", async () => {
    const page = await person();
    await logIn(page, s.tenant.apiKey);
    expect(await page.locator('.who').textContent()).toMatch(/acme/);
    await page.waitForSelector('[data-testid=budget]');
    await shoot(page, 'tenant-overview');
    await page.click('text=Requests');
    await page.waitForSelector('[data-testid=explorer-results]');
    const listed = await page.locator('[data-testid=explorer-results]').textContent();
    expect(listed).toContain(retried.id);
    expect(listed).not.toContain(betaRequestId);
    await shoot(page, 'tenant-requests');
    // Its own request's timeline, without bodies; another tenant's request is not found.
    await page.goto(`${s.url}/console/requests/${retried.id}`);
    await page.waitForSelector('[data-testid=timeline]');
    expect(await page.locator('text=Show request and response bodies').count()).toBe(0);
    await page.goto(`${s.url}/console/requests/${betaRequestId}`);
    await page.waitForSelector('[data-error-code=NOT_FOUND]');
    expect(await page.content()).not.toContain('beta 2');
    await page.click('text=Keys');
    await page.waitForSelector('[data-testid=own-keys]');
    await shoot(page, 'tenant-keys');
    // An operators' page with a tenant session: the server refuses it.
    await page.goto(`${s.url}/console/tenants`);
    await page.waitForSelector('[data-error-code=FORBIDDEN]');
    expect(await page.locator('[data-error-code=FORBIDDEN]').textContent()).toMatch(/needs an admin key/);
    expect(await page.content()).not.toContain('gamma');
    await shoot(page, 'tenant-refused');
  });

  it('never put a key in a URL, a request the browser made, or a server log line', () => {
    const keys = [s.adminKey, s.tenant.apiKey, beta.apiKey];
    expect(urls.length).toBeGreaterThan(50);
    for (const key of keys) {
      for (const url of urls) expect(url.includes(key) || url.includes(encodeURIComponent(key))).toBe(false);
      for (const line of s.logs) expect(line.includes(key)).toBe(false);
    }
    expect(pageErrors).toEqual([]);
  });
});
