import { defineConfig } from "vite";
import { shellServiceWorker } from "./vite-shell-worker";

const PUBLIC_SHELL = [
  "/manifest.webmanifest",
  "/icons/icon.svg",
  "/icons/icon-192.png",
  "/icons/icon-512.png",
  "/icons/icon-maskable-512.png",
];

// TSX is compiled by Vite's own esbuild (automatic JSX runtime): no React plugin is needed for a production build,
// which keeps the install to packages that work with both npm 10 and npm 11.
export default defineConfig({
  esbuild: { jsx: "automatic" },
  plugins: [shellServiceWorker("sw-template.js", PUBLIC_SHELL)],
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false, target: "es2022" },
  server: { proxy: { "/api": process.env.KALAS_API ?? "http://127.0.0.1:8000" } },
});
