import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The build goes straight into the Python package, which serves it at `/` (routes/web.py).
// `npm run dev` proxies the API to a `labelbay serve` on port 8000.
export default defineConfig({
  plugins: [react()],
  build: {
    outDir: '../src/labelbay/static/app',
    emptyOutDir: true,
    sourcemap: false,
  },
  server: {
    proxy: {
      '/api': 'http://127.0.0.1:8000',
      '/health': 'http://127.0.0.1:8000',
    },
  },
});
