import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * Files the embedded mode keeps beside its PGlite data: the running server's address (so the CLI
 * talks to it instead of opening the directory PGlite allows only one process to hold), and the
 * operator's admin key and the demo tenant's key, readable by the owner only.
 */
export function localState(dataDir: string) {
  const root = dirname(dataDir);
  const file = (name: string) => join(root, name);

  async function writePrivate(name: string, content: string): Promise<void> {
    await mkdir(root, { recursive: true });
    await writeFile(file(name), content, { mode: 0o600 });
    await chmod(file(name), 0o600);
  }
  async function read(name: string): Promise<string | undefined> {
    try {
      return (await readFile(file(name), 'utf8')).trim();
    } catch {
      return undefined;
    }
  }

  return {
    root,
    async writeServer(info: { url: string; pid: number }) {
      await writePrivate('server.json', JSON.stringify(info));
    },
    async clearServer() {
      await rm(file('server.json'), { force: true });
    },
    /** The running server of this data directory, if its process is alive. */
    async runningServer(): Promise<{ url: string; pid: number } | undefined> {
      const raw = await read('server.json');
      if (!raw) return undefined;
      try {
        const info = JSON.parse(raw) as { url: string; pid: number };
        process.kill(info.pid, 0);
        return info;
      } catch {
        return undefined;
      }
    },
    readAdminKey: () => read('admin.key'),
    writeAdminKey: (key: string) => writePrivate('admin.key', `${key}\n`),
    readDemoKey: () => read('demo-tenant.key'),
    writeDemoKey: (key: string) => writePrivate('demo-tenant.key', `${key}\n`),
  };
}
