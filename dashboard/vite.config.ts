// Vite build configuration: relative asset paths so dist/ can be served from any folder.
import { defineConfig } from 'vite';

export default defineConfig({
  base: './',
  build: { outDir: 'dist', sourcemap: false },
});
