// A WebSocket peer for beads-ui's server, speaking what its browser app speaks.
// usage: node ws_driver.mjs NODE_MODULES_DIR ws://127.0.0.1:PORT/ws
// Each stdin line is a JSON message sent as one text frame; each frame received is printed
// as one stdout line. Exits when stdin closes or the socket does.
import { createRequire } from 'node:module';
import path from 'node:path';
import readline from 'node:readline';

const [nodeModules, url] = process.argv.slice(2);
const require = createRequire(path.join(nodeModules, 'beads-ui', 'package.json'));
const WebSocket = require('ws');

const ws = new WebSocket(url);
const pending = [];
let open = false;
ws.on('open', () => {
  open = true;
  process.stdout.write(JSON.stringify({ driver: 'open' }) + '\n');
  for (const m of pending.splice(0)) ws.send(m);
});
ws.on('message', (data) => process.stdout.write(data.toString().replace(/\n/g, ' ') + '\n'));
ws.on('close', () => process.exit(0));
ws.on('error', (err) => {
  process.stdout.write(JSON.stringify({ driver: 'error', message: String(err) }) + '\n');
  process.exit(1);
});
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (!line.trim()) return;
  if (open) ws.send(line); else pending.push(line);
}).on('close', () => ws.close());
