// npm run bench -w @sluice/tokenizer — time per MB of text, the worst inputs next to ordinary text
// (the baseline, same run), and js-tiktoken's own merge on one 4 KB run for comparison.
import { getEncoding } from 'js-tiktoken';
import { tokenizer } from '../src/index';

const MB = 1_000_000;
const t = tokenizer('o200k_base');
t.count('warm up'); // the vocabulary loads on first use

const words = [
  'the',
  'sluice',
  'gate',
  'opens',
  'at',
  'dawn',
  'and',
  'water',
  'flows',
  'through',
  '—',
  'Ünïcode',
  '42',
];
let seed = 7;
const random = () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
  return seed / 2 ** 31;
};
const ofLength = (n: number, next: () => string) => {
  let s = '';
  while (s.length < n) s += next();
  return s.slice(0, n);
};
const inputs: Record<string, string> = {
  'ordinary text (baseline)': ofLength(MB, () => `${words[Math.floor(random() * words.length)]} `),
  'one letter, repeated': 'a'.repeat(MB),
  'random letters, no space': ofLength(MB, () => String.fromCharCode(97 + Math.floor(random() * 26))),
  'one emoji, repeated': '😀'.repeat(MB / 2),
  digits: ofLength(MB, () => String(Math.floor(random() * 10))),
  'long words (200 letters)': ofLength(
    MB,
    () => `${ofLength(200, () => String.fromCharCode(97 + Math.floor(random() * 26)))} `,
  ),
};

const time = (f: () => void) => {
  const started = performance.now();
  f();
  return performance.now() - started;
};
const rows: Array<Record<string, string>> = [];
let baseline = 0;
for (const [name, text] of Object.entries(inputs)) {
  const ms = Math.min(
    time(() => t.encode(text)),
    time(() => t.encode(text)),
  );
  const perMb = ms / (Buffer.byteLength(text) / MB);
  if (!baseline) baseline = perMb;
  rows.push({
    input: name,
    'ms per MB': perMb.toFixed(0),
    'vs ordinary text': `${(perMb / baseline).toFixed(1)}×`,
  });
}
console.table(rows);

const run = 'a'.repeat(4_000);
const ours = time(() => t.encode(run));
const theirs = time(() => getEncoding('o200k_base').encode(run, [], []));
console.log(
  `one 4,000-letter run: ${ours.toFixed(1)} ms here, ${theirs.toFixed(0)} ms with js-tiktoken's merge (${(theirs / ours).toFixed(0)}× slower, growing with the square of the run)`,
);
