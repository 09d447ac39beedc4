// Emits dist/sw.js with the exact list of files that make up the app shell of this build, so the service worker
// precaches the shell (HTML, hashed JS/CSS, manifest, icons) and nothing else: API responses are never cached.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Plugin } from "vite";

export function shellServiceWorker(template: string, extra: string[]): Plugin {
  return {
    name: "kalas-shell-service-worker",
    apply: "build",
    generateBundle(_options, bundle) {
      const built = Object.keys(bundle).filter((name) => !name.endsWith(".map"));
      const shell = ["/", ...extra, ...built.filter((name) => name !== "index.html").map((name) => `/${name}`)];
      const version = createHash("sha256").update(shell.join("\n")).digest("hex").slice(0, 12);
      const source = readFileSync(template, "utf8")
        .replace("__SHELL__", JSON.stringify(shell))
        .replace("__VERSION__", JSON.stringify(version));
      this.emitFile({ type: "asset", fileName: "sw.js", source });
    },
  };
}
