import { randomBytes } from 'node:crypto';
import {
  badRequest,
  isJsonObject as isObject,
  missingParameter,
  modelRefusal,
  type RequestBody,
  type RequestError,
  type SimulatedEndpoint,
} from '../endpoint';
import { fnv1a } from '../internal/logprobs';
import { encodeText } from '../internal/tokenizer';

const DEFAULT_MODEL = 'omni-moderation-latest';

/** OpenAI's moderation categories, and the words that make the simulator flag each (lower case, whole words). */
const CATEGORY_WORDS: Record<string, readonly string[]> = {
  harassment: ['idiot', 'stupid', 'loser', 'moron'],
  'harassment/threatening': ['kill you', 'hurt you', 'find you'],
  hate: ['hate', 'racist', 'bigot'],
  'hate/threatening': ['exterminate'],
  illicit: ['steal', 'cocaine', 'heroin', 'counterfeit'],
  'illicit/violent': ['bomb', 'gun'],
  'self-harm': ['suicide', 'kill myself', 'self-harm'],
  'self-harm/intent': ['kill myself', 'end my life'],
  'self-harm/instructions': ['how to kill myself'],
  sexual: ['sex', 'porn', 'nude'],
  'sexual/minors': ['child porn'],
  violence: ['kill', 'murder', 'shoot', 'stab', 'attack', 'bomb'],
  'violence/graphic': ['gore', 'dismember', 'blood'],
};
const CATEGORIES = Object.keys(CATEGORY_WORDS);
/** Categories omni models also judge in images; the others apply to text only. */
const IMAGE_CATEGORIES = new Set([
  'self-harm',
  'self-harm/intent',
  'self-harm/instructions',
  'sexual',
  'violence',
  'violence/graphic',
]);

/** What one result judges: the text of its inputs, and whether an image was among them. */
interface ModerationInput {
  text: string;
  hasText: boolean;
  hasImage: boolean;
}

/** A string (one result), strings (one each), or a multimodal array of text / image_url parts (one result). */
function inputsOf(input: unknown): ModerationInput[] | undefined {
  if (typeof input === 'string') return [{ text: input, hasText: true, hasImage: false }];
  if (!Array.isArray(input) || input.length === 0) return undefined;
  if (input.every((i) => typeof i === 'string'))
    return input.map((text) => ({ text, hasText: true, hasImage: false }));
  const parts = input.filter(isObject);
  if (parts.length !== input.length) return undefined;
  const texts: string[] = [];
  let hasImage = false;
  for (const part of parts) {
    if (part.type === 'text' && typeof part.text === 'string') texts.push(part.text);
    else if (part.type === 'image_url' && isObject(part.image_url) && typeof part.image_url.url === 'string')
      hasImage = true;
    else return undefined;
  }
  return [{ text: texts.join('\n'), hasText: texts.length > 0, hasImage }];
}

function modelOf(body: RequestBody): string {
  return typeof body.model === 'string' ? body.model : DEFAULT_MODEL;
}

/** A deterministic result: a category scores high (and flags) when its words are in the text, else near zero. */
export function moderationResult(model: string, input: ModerationInput) {
  const text = ` ${input.text.toLowerCase().replace(/[^\p{L}\p{N}'\s-]/gu, ' ')} `;
  const omni = model.startsWith('omni');
  const categories: Record<string, boolean> = {};
  const scores: Record<string, number> = {};
  const applied: Record<string, string[]> = {};
  for (const category of CATEGORIES) {
    const hit = CATEGORY_WORDS[category]!.some((w) => text.includes(` ${w} `) || text.includes(` ${w}s `));
    const noise = (fnv1a(`${category}\u0000${input.text}`) % 1000) / 1_000_000;
    scores[category] = hit ? 0.9 + noise * 50 : noise;
    categories[category] = hit;
    applied[category] = [
      ...(input.hasText ? ['text'] : []),
      ...(omni && input.hasImage && IMAGE_CATEGORIES.has(category) ? ['image'] : []),
    ];
  }
  return {
    flagged: Object.values(categories).some(Boolean),
    categories,
    category_scores: scores,
    ...(omni ? { category_applied_input_types: applied } : {}),
  };
}

/** `/v1/moderations`: deterministic results, no usage (as OpenAI); counts against RPM, charged its input tokens. */
export const moderations: SimulatedEndpoint = {
  name: 'moderations',
  method: 'POST',
  path: '/v1/moderations',
  model: modelOf,
  refuse(body): RequestError | null {
    const model = modelOf(body);
    const wrong = modelRefusal(model, 'moderation', (right) =>
      badRequest(
        `The model '${model}' is not a moderation model and cannot be used with v1/moderations (it is served by ${right}). Use omni-moderation-latest or text-moderation-latest.`,
        'model',
        'invalid_value',
      ),
    );
    if (wrong) return wrong;
    if (body.input === undefined || body.input === null) return missingParameter('input');
    const inputs = inputsOf(body.input);
    if (!inputs) {
      return badRequest(
        "Invalid type for 'input': expected a string, an array of strings, or an array of 'text' and 'image_url' parts.",
        'input',
        'invalid_type',
      );
    }
    if (!model.startsWith('omni') && inputs.some((i) => i.hasImage)) {
      return badRequest(
        `The model '${model}' does not support image inputs; use omni-moderation-latest.`,
        'input',
        'invalid_value',
      );
    }
    return null;
  },
  charge(body) {
    const model = modelOf(body);
    return (inputsOf(body.input) ?? []).reduce((sum, i) => sum + encodeText(model, i.text).length, 0);
  },
  answer(body) {
    const model = modelOf(body);
    const inputs = inputsOf(body.input)!;
    return {
      promptTokens: 0,
      outputTokens: 0,
      body: () => ({
        id: `modr-${randomBytes(12).toString('hex')}`,
        model,
        results: inputs.map((input) => moderationResult(model, input)),
      }),
    };
  },
};
