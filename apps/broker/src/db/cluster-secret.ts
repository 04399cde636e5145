import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { SluiceDb } from './database';
import { clusterSecrets } from './schema';

/** A secret every process of the deployment shares: created by the first to ask, read by the rest. */
export async function clusterSecret(db: SluiceDb, name: string): Promise<string> {
  await db
    .insert(clusterSecrets)
    .values({ name, value: randomBytes(32).toString('hex') })
    .onConflictDoNothing();
  const row = (await db.select().from(clusterSecrets).where(eq(clusterSecrets.name, name)).limit(1))[0];
  if (!row) throw new Error(`cluster secret ${name} could not be stored`);
  return row.value;
}
