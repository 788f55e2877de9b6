/** What the agent prints on the machine's console (tty and serial): one line per step, for the person watching. */
export function say(message: string): void {
  process.stdout.write(`lifeboat-agent: ${message}\n`);
}
