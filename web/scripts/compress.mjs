// Compresses the built storefront once, at build: beside each text file its brotli (.br, quality 11)
// and gzip (.gz, level 9) forms, where they are smaller. The shop serves the one a browser accepts.
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, extname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../shop/static");
const TEXT = new Set([".html", ".js", ".css", ".svg", ".json", ".txt", ".webmanifest"]);
const MIN_BYTES = 1024; // below this, compression saves less than a packet

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (TEXT.has(extname(path))) yield path;
  }
}

for (const path of files(root)) {
  const body = readFileSync(path);
  if (body.length < MIN_BYTES) continue;
  const forms = {
    ".br": brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }),
    ".gz": gzipSync(body, { level: 9 }),
  };
  for (const [suffix, compressed] of Object.entries(forms))
    if (compressed.length < body.length) writeFileSync(path + suffix, compressed);
}
