/** Starting `wrangler dev` (the real workerd runtime) on a free local port: for the end-to-end tests and the load benchmark. */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once wrangler prints "Ready on"; the process group is killed with stopWrangler. */
export async function startWrangler(port: number, state: string, vars: Record<string, string> = {}): Promise<ChildProcess> {
  const args = ['dev', '--port', String(port), '--ip', '127.0.0.1', '--persist-to', state];
  for (const [k, v] of Object.entries(vars)) args.push('--var', `${k}:${v}`);
  const proc = spawn('node_modules/.bin/wrangler', args, {
    env: { ...process.env, CI: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`wrangler dev did not start:\n${log}`)), 60_000);
    const onData = (d: Buffer) => {
      log += d.toString();
      if (/Ready on/.test(log)) {
        clearTimeout(timer);
        resolve();
      }
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    proc.on('exit', (code) => reject(new Error(`wrangler dev exited with ${code}:\n${log}`)));
  });
  return proc;
}

export function stopWrangler(proc: ChildProcess | undefined): void {
  if (proc?.pid && proc.exitCode === null) process.kill(-proc.pid, 'SIGTERM');
}
