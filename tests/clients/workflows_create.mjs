// Create, update and close an issue with the beads-workflows SDK, as its users do (needs Bun).
// usage: bun workflows_create.mjs NODE_MODULES_DIR WORKSPACE
// Prints one JSON line: {"create", "update", "close"} (each the SDK's {success, data|error}) and
// "seen": the issue as the SDK reads it back from .beads/issues.jsonl.
import path from 'node:path';

const [nodeModules, workspace] = process.argv.slice(2);
const sdk = await import(path.join(nodeModules, 'beads-workflows', 'dist', 'index.js'));
const opts = { cwd: workspace };
const create = await sdk.createIssue(
  { title: 'From beads-workflows', type: 'feature', priority: 1, description: 'SDK made it', assignee: 'wf' }, opts);
const id = create.success ? create.data.id : 'missing';
const update = await sdk.updateIssue(id, { status: 'in_progress', priority: 2, title: 'Renamed by the SDK' }, opts);
const close = await sdk.closeIssue(id, 'done by the SDK', opts);
// The SDK reads .beads/issues.jsonl itself: wait (bounded) for the write to reach the file.
let seen = null;
for (let i = 0; i < 100 && !seen; i++) {
  const all = await sdk.readIssuesFromJsonl(path.join(workspace, '.beads'));
  seen = all.find((it) => it.id === id && it.status === 'closed') || null;
  if (!seen) await new Promise((r) => setTimeout(r, 100));
}
process.stdout.write(JSON.stringify({ create, update, close, seen }) + '\n');
