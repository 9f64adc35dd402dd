// Builds dist/ when the package is installed from a folder or a git
// checkout (npm runs `prepare` then). npm links a folder install without
// installing the folder's own dependencies, so the linked package could
// neither compile nor import @bufbuild/protobuf at run time: this installs
// them first, from package-lock.json, when they are missing.
import { execFileSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const needed = ["typescript/bin/tsc", "@bufbuild/protobuf/package.json", "@connectrpc/connect-node/package.json"];

function npm(args) {
  // The installing npm's own settings (--global, --omit=dev, ...) are meant
  // for the consumer's project, not for this one.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([key]) => !/^npm_config_(global|location|prefix|local_prefix|omit|include|production|only|install_links|dry_run|save.*)$/i.test(key),
    ),
  );
  const execPath = process.env.npm_execpath;
  const [command, commandArgs] = execPath ? [process.execPath, [execPath, ...args]] : ["npm", args];
  execFileSync(command, commandArgs, { cwd: root, env, stdio: "inherit", shell: !execPath && process.platform === "win32" });
}

if (!needed.every((path) => existsSync(join(root, "node_modules", path)))) {
  npm(["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--include=dev"]);
}
rmSync(join(root, "dist"), { recursive: true, force: true });
execFileSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", join(root, "tsconfig.build.json")], {
  cwd: root,
  stdio: "inherit",
});
