// HEALTHCHECK: GET /healthz at the URL the CLI would use (the config file's server or http, on the
// --interface's address when the server binds there), so the check follows the configuration.
const { readSettings, cliDefaults } = await import(new URL('../dist/server/config-file.js', import.meta.url).href);
try {
  const { file } = await readSettings(undefined);
  const res = await fetch(`${cliDefaults(file).server}/healthz`, { signal: AbortSignal.timeout(4000) });
  process.exit(res.ok ? 0 : 1);
} catch (e) {
  console.error(`healthcheck: ${e.message}`);
  process.exit(1);
}
