// Builds the dashboard into one folder: index.html, app.js, app.css.
//
//   node build.mjs [--out DIR]
//
// --out defaults to server/cronstream_server/web/static (committed as
// generated code; scripts/check-gen.sh builds into a temporary folder and
// compares). The messages come from clients/typescript/src/gen, which the
// same check compares with proto/ first.
//
// The output is deterministic: no timestamps, no hashes in names, and the
// same inputs always make the same bytes.
import { build } from "esbuild";
import { copyFile, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs as parse } from "node:util";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const { values } = parse({
  options: {
    out: { type: "string", default: path.join(root, "server/cronstream_server/web/static") },
  },
});
const out = path.resolve(values.out);
// Built from this one folder: esbuild's output depends on the paths of its
// inputs, so the check builds from the same paths as `make gen` does.
const gen = path.join(root, "clients/typescript/src/gen");

// The generated code and the TypeScript client's errors.ts import these
// packages from outside this folder, where node_modules may be missing or
// hold another copy: resolve them from here, so the bundle holds ONE copy
// (two would break `instanceof ConnectError` and the message registry).
const ownPackages = /^(@bufbuild\/protobuf|@connectrpc\/connect|@connectrpc\/connect-web)(\/.*)?$/;
const singleCopy = {
  name: "single-copy",
  setup(b) {
    b.onResolve({ filter: ownPackages }, (args) => {
      if (args.pluginData === "single-copy") return undefined;
      return b.resolve(args.path, { kind: args.kind, resolveDir: here, pluginData: "single-copy" });
    });
    b.onResolve({ filter: /^@gen\// }, (args) => {
      return b.resolve("./" + args.path.slice("@gen/".length), { kind: args.kind, resolveDir: gen });
    });
  },
};

await mkdir(out, { recursive: true });
await build({
  entryPoints: { app: path.join(here, "src/main.tsx") },
  bundle: true,
  outdir: out,
  format: "esm",
  target: ["chrome120", "firefox120", "safari17"],
  minify: true,
  legalComments: "none",
  charset: "utf8",
  jsx: "automatic",
  jsxImportSource: "preact",
  plugins: [singleCopy],
  logLevel: "warning",
  metafile: true,
}).then(async (result) => {
  await writeFile(path.join(out, "licenses.txt"), await licenses(result.metafile));
});
await copyFile(path.join(here, "src/index.html"), path.join(out, "index.html"));

// The minified bundle drops the packages' comments, so their licenses ship
// beside it: one section per package the bundle holds code of, by name.
async function licenses(metafile) {
  const folders = new Set();
  for (const input of Object.keys(metafile.inputs)) {
    const match = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (match) folders.add(path.resolve(match[1]));
  }
  const sections = [];
  for (const folder of folders) {
    const meta = JSON.parse(await readFile(path.join(folder, "package.json"), "utf8"));
    const files = (await readdir(folder)).filter((name) => /^(licen[cs]e|copying)/i.test(name));
    const texts = await Promise.all(files.sort().map((f) => readFile(path.join(folder, f), "utf8")));
    const text = texts.join("\n").trim() || `License: ${meta.license}`;
    sections.push(`${meta.name} ${meta.version} (${meta.license})\n\n${text}\n`);
  }
  sections.sort();
  const head = "Third-party software in app.js, with its licenses.\n";
  return [head, ...sections].join("\n" + "-".repeat(72) + "\n\n");
}
