import {
  badRequest,
  isTokenArray,
  missingModel,
  modelRefusal,
  type RequestBody,
  type RequestError,
  type SimulatedEndpoint,
  unsupportedValue,
} from '../endpoint';
import { fnv1a } from '../internal/logprobs';
import { seededRandom } from '../internal/seeded-random';
import { decodeTokens, encodeText } from '../internal/tokenizer';
import { simulatedModelInfo } from '../models';

/** OpenAI's bounds of one embeddings request. */
export const EMBEDDING_LIMITS = {
  maxInputs: 2048,
  maxTokensPerInput: 8192,
  maxTokensPerRequest: 300_000,
} as const;

const INVALID_INPUT =
  "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.";

/** One input as the model reads it: its text (token inputs decoded) and its token count. */
interface EmbeddingInput {
  text: string;
  tokens: number;
}

/** Inputs of one body, read once: refuse, charge and answer all need them, and a big body takes a while to tokenise. */
const inputsOfBody = new WeakMap<RequestBody, EmbeddingInput[] | RequestError>();
function inputsOf(body: RequestBody): EmbeddingInput[] | RequestError {
  let inputs = inputsOfBody.get(body);
  if (!inputs) {
    inputs = embeddingInputs(String(body.model ?? ''), body.input);
    inputsOfBody.set(body, inputs);
  }
  return inputs;
}

/**
 * The inputs of a body (a string, strings, token ids, or arrays of token ids), or the refusal of an
 * empty or malformed `input`. Tokens are counted with the model's encoding (cl100k_base).
 */
export function embeddingInputs(model: string, input: unknown): EmbeddingInput[] | RequestError {
  const fromText = (text: string): EmbeddingInput => ({ text, tokens: encodeText(model, text).length });
  const fromTokens = (tokens: number[]): EmbeddingInput | undefined => {
    const text = decodeTokens(model, tokens);
    return text === undefined ? undefined : { text, tokens: tokens.length };
  };
  if (input === undefined || input === null) {
    return badRequest("Missing required parameter: 'input'.", 'input', 'missing_required_parameter');
  }
  let inputs: Array<EmbeddingInput | undefined>;
  if (typeof input === 'string') inputs = input === '' ? [undefined] : [fromText(input)];
  else if (isTokenArray(input)) inputs = [fromTokens(input)];
  else if (Array.isArray(input) && input.length > 0 && input.every((i) => typeof i === 'string' && i !== ''))
    inputs = (input as string[]).map(fromText);
  else if (Array.isArray(input) && input.length > 0 && input.every(isTokenArray))
    inputs = input.map(fromTokens);
  else return badRequest(INVALID_INPUT, 'input');
  if (inputs.length > EMBEDDING_LIMITS.maxInputs) {
    return badRequest(
      `Invalid 'input': array too long. Expected an array with maximum length ${EMBEDDING_LIMITS.maxInputs}, but got an array with length ${inputs.length} instead.`,
      'input',
      'array_above_max_length',
    );
  }
  if (inputs.some((i) => i === undefined)) return badRequest(INVALID_INPUT, 'input');
  return inputs as EmbeddingInput[];
}

function limitRefusal(inputs: EmbeddingInput[]): RequestError | null {
  const tooLong = inputs.find((i) => i.tokens > EMBEDDING_LIMITS.maxTokensPerInput);
  if (tooLong) {
    return badRequest(
      `This model's maximum context length is ${EMBEDDING_LIMITS.maxTokensPerInput} tokens, however you requested ${tooLong.tokens} tokens (${tooLong.tokens} in your prompt; 0 for the completion). Please reduce your prompt; or completion length.`,
      'input',
    );
  }
  const total = inputs.reduce((sum, i) => sum + i.tokens, 0);
  if (total > EMBEDDING_LIMITS.maxTokensPerRequest) {
    return badRequest(
      `Requested ${total} tokens, max ${EMBEDDING_LIMITS.maxTokensPerRequest} tokens per request`,
      'input',
      'max_tokens_per_request',
    );
  }
  return null;
}

function dimensionsRefusal(model: string, dimensions: unknown): RequestError | null {
  if (dimensions === undefined || dimensions === null) return null;
  if (model === 'text-embedding-ada-002') {
    return badRequest('This model does not support specifying dimensions.', 'dimensions');
  }
  const native = simulatedModelInfo(model)?.dimensions ?? 0;
  if (
    typeof dimensions !== 'number' ||
    !Number.isInteger(dimensions) ||
    dimensions < 1 ||
    dimensions > native
  ) {
    return badRequest(
      `Invalid value for 'dimensions': ${JSON.stringify(dimensions)}. ${model} supports 1 to ${native} dimensions.`,
      'dimensions',
      'invalid_value',
    );
  }
  return null;
}

/**
 * A deterministic unit vector for (model, text): the model's native-length vector seeded by both,
 * cut to `dimensions` and renormalised, as OpenAI shortens text-embedding-3 vectors. Values are
 * float32, so the `float` and `base64` forms agree exactly.
 */
export function embeddingVector(model: string, text: string, dimensions?: number): number[] {
  const native = simulatedModelInfo(model)?.dimensions ?? 1536;
  const length = Math.min(dimensions ?? native, native);
  const random = seededRandom(fnv1a(text, fnv1a(model)));
  const raw = Array.from({ length }, () => random() * 2 - 1);
  let squares = 0;
  for (const v of raw) squares += v * v;
  const norm = Math.sqrt(squares) || 1;
  return raw.map((v) => Math.fround(v / norm));
}

/** Little-endian float32, base64: OpenAI's `encoding_format: 'base64'` (the openai SDK decodes it). */
export function embeddingToBase64(vector: readonly number[]): string {
  const bytes = Buffer.alloc(vector.length * 4);
  vector.forEach((v, i) => {
    bytes.writeFloatLE(v, i * 4);
  });
  return bytes.toString('base64');
}

const ENCODINGS = ['float', 'base64'];

/** `/v1/embeddings`: deterministic unit vectors; TPM charge = the input tokens. */
export const embeddings: SimulatedEndpoint = {
  name: 'embeddings',
  method: 'POST',
  path: '/v1/embeddings',
  model: (body) => String(body.model ?? ''),
  refuse(body: RequestBody): RequestError | null {
    const missing = missingModel(body);
    if (missing) return missing;
    const model = String(body.model);
    const wrong = modelRefusal(model, 'embedding', (right) =>
      badRequest(
        `You are not allowed to generate embeddings from this model. This model is served by ${right}; embeddings need an embedding model such as text-embedding-3-small.`,
        'model',
      ),
    );
    if (wrong) return wrong;
    const inputs = inputsOf(body);
    if (!Array.isArray(inputs)) return inputs;
    if (
      body.encoding_format !== undefined &&
      body.encoding_format !== null &&
      !ENCODINGS.includes(String(body.encoding_format))
    ) {
      return unsupportedValue('encoding_format', body.encoding_format, ENCODINGS);
    }
    return limitRefusal(inputs) ?? dimensionsRefusal(model, body.dimensions);
  },
  charge(body) {
    const inputs = inputsOf(body);
    return Array.isArray(inputs) ? inputs.reduce((sum, i) => sum + i.tokens, 0) : 0;
  },
  answer(body) {
    const model = String(body.model);
    const inputs = inputsOf(body) as EmbeddingInput[];
    const tokens = inputs.reduce((sum, i) => sum + i.tokens, 0);
    const dimensions = typeof body.dimensions === 'number' ? body.dimensions : undefined;
    const base64 = body.encoding_format === 'base64';
    return {
      promptTokens: tokens,
      outputTokens: 0,
      body: () => ({
        object: 'list',
        data: inputs.map((input, index) => {
          const vector = embeddingVector(model, input.text, dimensions);
          return { object: 'embedding', index, embedding: base64 ? embeddingToBase64(vector) : vector };
        }),
        model,
        usage: { prompt_tokens: tokens, total_tokens: tokens },
      }),
    };
  },
};
