import { chatCompletions } from './operations/chat-completions';
import { completions } from './operations/completions';
import { embeddings } from './operations/embeddings';
import { moderations } from './operations/moderations';
import { responsesRouter } from './operations/responses/router';
import { adminRouter } from './router/admin';
import { consoleRouter } from './router/console';
import { operationRouter } from './router/operations';
import { requestsRouter } from './router/requests';
import { usageRouter } from './router/usage';
import { createTRPCRouter } from './trpc';

export const appRouter = createTRPCRouter({
  requests: requestsRouter,
  // One line per operation, named as the openai SDK names it.
  chat: { completions: operationRouter(chatCompletions) },
  embeddings: operationRouter(embeddings),
  completions: operationRouter(completions),
  moderations: operationRouter(moderations),
  responses: responsesRouter,
  usage: usageRouter,
  admin: adminRouter,
  console: consoleRouter,
});

/** The router's type: all the SDK imports from the broker. */
export type AppRouter = typeof appRouter;
