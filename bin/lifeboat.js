#!/usr/bin/env node
// Entry point: runs the compiled CLI (npm run build, or any npm start/test, compiles it).
// Commands other than the server log only warnings unless LIFEBOAT_LOG_LEVEL says otherwise, so
// the terminal shows progress, not log lines; the level must be set before any logger exists.
if (process.argv[2] !== 'serve') process.env.LIFEBOAT_LOG_LEVEL ??= 'warn';
const { main } = await import('../dist/cli/main.js');
process.exitCode = await main(process.argv.slice(2));
