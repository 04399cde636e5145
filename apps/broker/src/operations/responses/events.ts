import type { Response, ResponseStreamEvent } from 'openai/resources/responses/responses';

type Item = Response['output'][number];

/**
 * A whole response as the typed events the upstream would have streamed, in OpenAI's order, each
 * with its `sequence_number`: `response.created`, `response.in_progress`, per output item
 * `output_item.added`, its parts (text and refusals in one delta each, function-call arguments,
 * reasoning summaries) and `output_item.done`, then `response.completed` / `response.incomplete` /
 * `response.failed` with the usage.
 *
 * The buffered replay of today's stream policy (the answer is taken whole, then replayed); the
 * streaming transport passes the upstream's own events through instead.
 */
export function responseToEvents(r: Response): ResponseStreamEvent[] {
  const events: Array<Record<string, unknown>> = [];
  const emit = (type: string, fields: Record<string, unknown>) =>
    events.push({ type, sequence_number: events.length, ...fields });
  const started = {
    ...r,
    status: 'in_progress',
    output: [],
    usage: null,
    incomplete_details: null,
    error: null,
  };
  emit('response.created', { response: started });
  emit('response.in_progress', { response: started });
  r.output.forEach((item, output_index) => {
    emit('response.output_item.added', { output_index, item: itemAtStart(item) });
    const item_id = item.id;
    switch (item.type) {
      case 'message':
        item.content.forEach((part, content_index) => {
          const at = { item_id, output_index, content_index };
          if (part.type === 'output_text') {
            emit('response.content_part.added', { ...at, part: { ...part, text: '', annotations: [] } });
            emit('response.output_text.delta', { ...at, delta: part.text, logprobs: [] });
            part.annotations.forEach((annotation, annotation_index) => {
              emit('response.output_text.annotation.added', { ...at, annotation_index, annotation });
            });
            emit('response.output_text.done', { ...at, text: part.text, logprobs: [] });
          } else {
            emit('response.content_part.added', { ...at, part: { ...part, refusal: '' } });
            emit('response.refusal.delta', { ...at, delta: part.refusal });
            emit('response.refusal.done', { ...at, refusal: part.refusal });
          }
          emit('response.content_part.done', { ...at, part });
        });
        break;
      case 'function_call':
        emit('response.function_call_arguments.delta', { item_id, output_index, delta: item.arguments });
        emit('response.function_call_arguments.done', {
          item_id,
          output_index,
          name: item.name,
          arguments: item.arguments,
        });
        break;
      case 'reasoning':
        item.summary.forEach((part, summary_index) => {
          const at = { item_id, output_index, summary_index };
          emit('response.reasoning_summary_part.added', { ...at, part: { ...part, text: '' } });
          emit('response.reasoning_summary_text.delta', { ...at, delta: part.text });
          emit('response.reasoning_summary_text.done', { ...at, text: part.text });
          emit('response.reasoning_summary_part.done', { ...at, part });
        });
        break;
      default:
        // Built-in tool calls and other items: added, then done, as whole items.
        break;
    }
    emit('response.output_item.done', { output_index, item });
  });
  emit(END_EVENT[r.status ?? 'completed'] ?? 'response.completed', { response: r });
  return events as unknown as ResponseStreamEvent[];
}

const END_EVENT: Record<string, string> = {
  completed: 'response.completed',
  incomplete: 'response.incomplete',
  failed: 'response.failed',
};

/** An output item as `output_item.added` announces it: in progress, before its content. */
function itemAtStart(item: Item): Record<string, unknown> {
  switch (item.type) {
    case 'message':
      return { ...item, status: 'in_progress', content: [] };
    case 'function_call':
      return { ...item, status: 'in_progress', arguments: '' };
    case 'reasoning':
      return { ...item, summary: [] };
    default:
      return { ...item, ...('status' in item ? { status: 'in_progress' } : {}) };
  }
}
