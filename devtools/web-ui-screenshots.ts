/**
 * The Web UI pictures of docs/guide/operations.md, taken from a real Web UI: runs the demo (a Temporal dev server with
 * its UI, two MariaDB sandboxes, a worker, a chain and a restore), adds the work the views sort
 * (a verification, a refused backup, read-only listings), then drives Debian's Chromium headless
 * with playwright-core as an operator would: saves each of the guide's views, adds the search
 * attributes as columns, and takes the pictures into docs/images/. Stops the demo whatever happens.
 * Run by `npm run screenshots`.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { chromium, type Page } from 'playwright-core';
import { SAVED_VIEWS } from '../domain/search-attributes.js';
import { repoRoot } from './sandbox/processes.js';

const images = join(repoRoot, 'docs/images');
const demo = join(repoRoot, 'dist/devtools/demo.js');
const cliPath = join(repoRoot, 'dist/client/cli.js');
const COLUMNS = ['BackupCluster', 'BackupType', 'BackupName', 'VerificationResult'];

async function saveView(page: Page, ui: string, view: { name: string; query: string }): Promise<void> {
  await page.goto(`${ui}/namespaces/default/workflows?query=${encodeURIComponent(view.query)}`, { waitUntil: 'networkidle' });
  await page.getByTestId('create-view-button').click();
  await page.getByTestId('save-view-modal-input').fill(view.name);
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.getByRole('button', { name: view.name }).first().waitFor();
}

async function main(): Promise<void> {
  const started = await execa(process.execPath, [demo, '--keep-running'], { all: true, reject: false });
  try {
    if (started.exitCode !== 0) throw new Error(`the demo failed:\n${started.all}`);
    const ui = /Temporal Web UI: (\S+)\/namespaces\/default\/workflows/.exec(started.stdout)?.[1];
    const address = /TEMPORAL_ADDRESS=(\S+)\)/.exec(started.stdout)?.[1];
    if (!ui || !address) throw new Error(`the demo printed no Web UI or Temporal address:\n${started.stdout}`);
    const config = join(repoRoot, '.sandbox/demo/chainbackup.yaml');
    const cli = (...args: string[]) => execa(process.execPath, [cliPath, '--config', config, ...args], { env: { TEMPORAL_ADDRESS: address }, reject: false });
    // Work of every kind the views tell apart: a verification that passes, a refused backup, and read-only looks.
    for (const args of [['verify', 'shop'], ['backup', 'shop-copy', '--type', 'incremental'], ['list', 'shop'], ['status', 'shop']]) await cli(...args);

    await mkdir(images, { recursive: true });
    const browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      // The machine's network is closed: no background connections, no component updates.
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1920, height: 640 } });
      for (const view of SAVED_VIEWS) await saveView(page, ui, view);
      // The columns are configured under a list that has rows: the first view's.
      const openFirstView = async () => {
        await page.getByRole('button', { name: SAVED_VIEWS[0].name }).first().click();
        await page.waitForLoadState('networkidle');
      };
      await openFirstView();
      await page.getByTestId('workflows-summary-table-configuration-button').click();
      for (const column of COLUMNS) await page.getByTestId(`orderable-list-item-${column}-add-button`).click();
      // The workflow type says less than BackupType, and the run id and end time crowd the search attributes out.
      for (const column of ['Run ID', 'Type', 'End']) await page.getByTestId(`orderable-list-item-${column}-remove-button`).click();
      await page.screenshot({ path: join(images, 'web-ui-columns.png') });
      await page.getByTestId('drawer-close-button').click();
      await page.getByTestId('drawer-close-button').waitFor({ state: 'hidden' });
      await openFirstView();
      await page.screenshot({ path: join(images, 'web-ui-backup-work.png') });
      console.log(`saved ${SAVED_VIEWS.length} views and took docs/images/web-ui-columns.png and docs/images/web-ui-backup-work.png from ${ui}`);
    } finally {
      await browser.close();
    }
  } finally {
    await execa(process.execPath, [demo, '--stop'], { reject: false });
  }
}

await main();
