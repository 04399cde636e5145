import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestSluice, type TestSluice } from './__tests__/harness';

// The dashboard in a real headless Chromium (Debian's `chromium`; CHROMIUM_PATH overrides):
// the page loads behind the admin key, its charts draw the run's real usage, and a screenshot
// is kept as a test artifact.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../test-results/', import.meta.url));

describe('dashboard', () => {
  let s: TestSluice;
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(
        `No Chromium at ${CHROMIUM}: install Debian's package (apt-get install chromium) or set CHROMIUM_PATH`,
      );
    s = await startTestSluice({ simulator: { latency: { baseMs: 10 } } });
    const beta = await s.newTenant('beta');
    for (const [key, n] of [
      [s.tenant.apiKey, 4],
      [beta.apiKey, 2],
    ] as const) {
      const openai = new OpenAI({ apiKey: key, baseURL: `${s.url}/v1`, maxRetries: 0 });
      for (let i = 0; i < n; i++)
        await openai.chat.completions.create({
          model: i % 2 ? 'gpt-4o' : 'gpt-4o-mini',
          messages: [{ role: 'user', content: `dashboard ${i}` }],
          max_tokens: 20,
        });
    }
    await eventually(async () => {
      const res = await fetch(`${s.url}/dashboard/data`, {
        headers: { authorization: `Bearer ${s.adminKey}` },
      });
      const data = (await res.json()) as { tenants: Array<{ requests: number[] }> };
      return data.tenants.flatMap((t) => t.requests).reduce((a, b) => a + b, 0) === 6;
    });
    // The dispatcher's next heartbeat carries what its limiter learned from this traffic.
    await eventually(async () => {
      const res = await fetch(`${s.url}/dashboard/data`, {
        headers: { authorization: `Bearer ${s.adminKey}` },
      });
      return ((await res.json()) as { live: Array<{ learned: boolean }> }).live.some((l) => l.learned);
    }, 20_000);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await s?.close();
  }, 60_000);

  it('refuses without an admin key, and a tenant key', async () => {
    const none = await fetch(`${s.url}/dashboard`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    const tenant = await fetch(`${s.url}/dashboard/data`, {
      headers: { authorization: `Bearer ${s.tenant.apiKey}` },
    });
    expect(tenant.status).toBe(403);
    const bad = await fetch(`${s.url}/dashboard/data?hours=0`, {
      headers: { authorization: `Bearer ${s.adminKey}` },
    });
    expect(bad.status).toBe(400);
  });

  it('draws usage, cost, queue depth and quota charts from real data in Chromium', async () => {
    const context = await browser.newContext({
      httpCredentials: { username: 'admin', password: s.adminKey },
      viewport: { width: 1280, height: 1000 },
    });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    const res = await page.goto(`${s.url}/dashboard`);
    expect(res?.status()).toBe(200);
    await page.waitForSelector('body[data-loaded="true"]', { timeout: 15_000 });

    // One cost and one token line per tenant, each with a point per hour and some non-zero.
    const series = await page.$$eval('svg[data-chart="cost"] path[data-series]', (paths) =>
      paths.map((p) => ({
        name: p.getAttribute('data-series'),
        points: Number(p.getAttribute('data-points')),
      })),
    );
    expect(series.map((x) => x.name).sort()).toEqual(['acme', 'beta']);
    expect(series.every((x) => x.points === 48)).toBe(true);
    expect(await page.locator('svg[data-chart="cost"] circle').count()).toBeGreaterThanOrEqual(2);
    expect(await page.locator('svg[data-chart="tokens"] path[data-series]').count()).toBe(2);
    // Queue depth: a bar group per priority (empty now: everything completed), labelled with its total.
    const queueLabels = await page.locator('svg[data-chart="queue"] text').allTextContents();
    expect(queueLabels).toEqual(expect.arrayContaining(['interactive (0)', 'standard (0)', 'batch (0)']));
    // Quota: a line per model used.
    const models = await page.$$eval('svg[data-chart="quota"] path[data-series]', (paths) =>
      paths.map((p) => p.getAttribute('data-series')),
    );
    expect(models.sort()).toEqual(['gpt-4o (default)', 'gpt-4o-mini (default)']);
    const rows = await page.locator('#tenants tbody tr').allTextContents();
    expect(rows).toHaveLength(2);
    expect(rows.join(' ')).toMatch(/acme\s*4/);
    // Live quota: the dispatcher's heartbeat carries the limits it learned from the simulator.
    const live = await page.locator('#live tbody tr').allTextContents();
    expect(live.join(' ')).toMatch(/default\s*gpt-4o-mini.*% of .*learned/);
    expect(errors).toEqual([]);

    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}dashboard.png`, fullPage: true });
    expect(existsSync(`${ARTIFACTS}dashboard.png`)).toBe(true);
    await context.close();
  }, 60_000);
});
