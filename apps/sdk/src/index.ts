export {
  type ChatCompletion,
  type ChatCompletionParams,
  createSluiceClient,
  type Priority,
  type RequestView,
  type RouterInputs,
  type RouterOutputs,
  type SluiceClient,
  SluiceClientError,
  type SluiceClientOptions,
  type SubmitOptions,
  type UsageQuery,
} from './client';
