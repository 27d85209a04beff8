/** How often this machine stops a running thread: one busy thread per core reads the clock in
 * a loop, and every gap of 1 ms or more between two readings is time the thread did not run
 * (the kernel or the hypervisor had the core). Nothing else of ours runs meanwhile. A
 * webhook thread stopped that way delays every request it holds, all at once, which is what
 * sets p99 at 64 connections (docs/benchmarks.md).
 * Run: deno run -A scripts/bench/stalls.ts [seconds] */

const seconds = Number(Deno.args[0] ?? 10);

/** The loop run in each thread; posts its gaps (ms) of 1 ms or more. */
const loop = `self.onmessage = (e) => {
  const gaps = [];
  const end = performance.now() + e.data;
  let last = performance.now();
  while (last < end) {
    const now = performance.now();
    if (now - last >= 1) gaps.push(now - last);
    last = now;
  }
  self.postMessage(gaps);
};`;

const url = URL.createObjectURL(new Blob([loop], { type: "application/javascript" }));
const cores = navigator.hardwareConcurrency;
const gaps =
  (await Promise.all(Array.from({ length: cores }, () =>
    new Promise<number[]>((resolve) => {
      const w = new Worker(url, { type: "module" });
      w.onmessage = (e) => {
        resolve(e.data);
        w.terminate();
      };
      w.postMessage(seconds * 1000);
    })))).flat().sort((a, b) => a - b);

const perSecond = (min: number) =>
  (gaps.filter((g) => g >= min).length / seconds / cores).toFixed(1);
console.log(
  `${cores} busy threads for ${seconds} s: stopped for 1 ms or more ${
    perSecond(1)
  } times a second ` +
    `per core, 2 ms or more ${perSecond(2)}, 5 ms or more ${perSecond(5)}; longest ${
      (gaps.at(-1) ?? 0).toFixed(1)
    } ms`,
);
