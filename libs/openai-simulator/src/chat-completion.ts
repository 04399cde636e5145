import { randomBytes } from 'node:crypto';
import { promptTokens, simulatedAnswer } from './completion';
import { SIMULATED_MODELS } from './models';

/** A request OpenAI refuses before running it, as status + OpenAI error fields. */
export interface ChatRequestError {
  status: 400 | 404;
  message: string;
  type: 'invalid_request_error';
  code: string | null;
  param: string | null;
}

/** Why OpenAI would refuse this chat-completions body (the checks the synchronous endpoint makes), or null. */
export function chatRequestError(body: Record<string, unknown>): ChatRequestError | null {
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    return {
      status: 400,
      message: "Missing required parameter: 'messages'.",
      type: 'invalid_request_error',
      code: 'missing_required_parameter',
      param: 'messages',
    };
  }
  const model = String(body.model ?? '');
  if (!(SIMULATED_MODELS as readonly string[]).includes(model)) {
    return {
      status: 404,
      message: `The model \`${model}\` does not exist or you do not have access to it.`,
      type: 'invalid_request_error',
      code: 'model_not_found',
      param: null,
    };
  }
  return null;
}

export interface CompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number; audio_tokens: number };
  completion_tokens_details: {
    reasoning_tokens: number;
    audio_tokens: number;
    accepted_prediction_tokens: number;
    rejected_prediction_tokens: number;
  };
}

export function completionUsage(prompt: number, completion: number): CompletionUsage {
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

/** The answer a (valid) body gets: the simulated text cut at its max tokens, with real token counts. */
export function answerChat(model: string, body: Record<string, unknown>) {
  const maxTokens = Number(body.max_completion_tokens ?? body.max_tokens ?? 64) || 64;
  const answer = simulatedAnswer(model, maxTokens);
  const prompt = promptTokens(model, body.messages as Array<Record<string, unknown>>);
  return { answer, usage: completionUsage(prompt, answer.tokens) };
}

export function newCompletionId(): string {
  return `chatcmpl-${randomBytes(12).toString('base64url')}`;
}

/** The non-streaming `chat.completion` object, as the synchronous endpoint and batch output lines carry it. */
export function chatCompletionObject(args: {
  id: string;
  model: string;
  createdSeconds: number;
  answer: { content: string; finish: 'stop' | 'length' };
  usage: CompletionUsage;
}) {
  return {
    id: args.id,
    object: 'chat.completion' as const,
    created: args.createdSeconds,
    model: args.model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: args.answer.content, refusal: null, annotations: [] },
        logprobs: null,
        finish_reason: args.answer.finish,
      },
    ],
    usage: args.usage,
    service_tier: 'default',
    system_fingerprint: 'fp_sluice_sim',
  };
}
