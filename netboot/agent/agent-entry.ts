// The rescue agent's executable entry: bundled into /lifeboat/agent.js by `lifeboat netboot build`.
import { agentMain } from './main.js';
import { say } from './console.js';

agentMain(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    say(`agent crashed: ${(e as Error).stack ?? String(e)}`);
    process.exit(3);
  },
);
