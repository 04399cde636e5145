import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The broker serves the build at /console (apps/broker/src/http/console-route.ts); `npm run dev`
// proxies the API to a broker on 127.0.0.1:8080 (npm start).
export default defineConfig({
  base: '/console/',
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 1_000 },
  server: {
    proxy: {
      '/trpc': 'http://127.0.0.1:8080',
      '/console/session': 'http://127.0.0.1:8080',
    },
  },
});
