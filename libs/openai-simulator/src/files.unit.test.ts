import { describe, expect, it } from 'vitest';
import { createFileStore, FileStorageFullError } from './files';

const input = (text: string, purpose: 'batch' | 'batch_output' = 'batch') => ({
  filename: 'f.jsonl',
  purpose,
  content: Buffer.from(text),
  createdSeconds: 1_700_000_000,
});

describe('file store', () => {
  it('keeps each owner to its own files and pages them with an after cursor', () => {
    const store = createFileStore({ maxStoredBytes: 1_000 });
    const ids = ['a', 'b', 'c'].map((t) => store.upload('k1', input(t)).id);
    store.upload('k2', input('other'));
    const first = store.list('k1', { limit: 2, order: 'desc' });
    expect(first).toEqual({
      data: [expect.objectContaining({ id: ids[2] }), expect.objectContaining({ id: ids[1] })],
      has_more: true,
    });
    expect(store.list('k1', { limit: 2, order: 'desc', after: ids[1] })).toEqual({
      data: [expect.objectContaining({ id: ids[0] })],
      has_more: false,
    });
    expect(store.retrieve('k2', ids[0]!)).toBeUndefined();
    expect(store.delete('k2', ids[0]!)).toBe(false);
    expect(store.delete('k1', ids[0]!)).toBe(true);
    expect(store.content('k1', ids[0]!)).toBeUndefined();
  });

  it('refuses uploads past its size, but always writes batch results and forgets the oldest ones', () => {
    const store = createFileStore({ maxStoredBytes: 10 });
    store.upload('k1', input('12345678'));
    expect(() => store.upload('k1', input('abc'))).toThrow(FileStorageFullError);
    const oldOutput = store.write('k1', input('xx', 'batch_output'));
    const newOutput = store.write('k1', input('yyyy', 'batch_output'));
    expect(store.retrieve('k1', newOutput.id)).toBeDefined();
    expect(store.retrieve('k1', oldOutput.id)).toBeUndefined();
    expect(store.storedBytes()).toBe(12);
  });
});
