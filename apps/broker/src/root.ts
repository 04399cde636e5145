import { adminRouter } from './router/admin';
import { chatRouter } from './router/chat';
import { consoleRouter } from './router/console';
import { requestsRouter } from './router/requests';
import { usageRouter } from './router/usage';
import { createTRPCRouter } from './trpc';

export const appRouter = createTRPCRouter({
  requests: requestsRouter,
  chat: chatRouter,
  usage: usageRouter,
  admin: adminRouter,
  console: consoleRouter,
});

/** The router's type: all the SDK imports from the broker. */
export type AppRouter = typeof appRouter;
