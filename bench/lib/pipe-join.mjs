// The plain-pipe hop of the baselines (bench/lib/e2e-paths.mjs in process, bench/lib/pipe-process.mjs
// as a process of its own): nothing but node:net, so that it loads nothing of mproxy.

/** Joins two sockets both ways with `pipe`; either closing destroys both. */
export function join(a, b) {
  a.pipe(b).pipe(a);
  const kill = () => {
    a.destroy();
    b.destroy();
  };
  a.once('close', kill);
  b.once('close', kill);
}
